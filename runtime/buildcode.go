package runtime

import (
	"context"
	"fmt"

	"github.com/sgde-project/sgde/plans"
)

// BuildCode builds every code node of p with b, so that a caller can refuse a plan whose code
// does not build before it serves or accepts it, and so that the first run does not wait for a
// build (b's artefact cache then answers the Runner's build). It returns how many nodes it
// built and how many of those came from b's cache.
func BuildCode(ctx context.Context, b Builder, p *plans.Plan) (built, cached int, err error) {
	// Router branches' code nodes too: a served routed plan must not build on its first request.
	var nodes []*plans.Node
	p.Walk(func(_ *plans.Plan, n *plans.Node) { nodes = append(nodes, n) })
	for _, n := range nodes {
		if n.Substrate != plans.SubstrateCode || n.Code == nil {
			continue
		}
		src, err := readSource(n.Code)
		if err != nil {
			return built, cached, nodeErr(n.ID, KindPlan, err)
		}
		art, err := b.Build(ctx, src, n.ID)
		if err != nil {
			if isContextErr(err) {
				return built, cached, err
			}
			return built, cached, nodeErr(n.ID, KindBuild, fmt.Errorf("build: %w", err))
		}
		built++
		if art.CacheHit {
			cached++
		}
	}
	return built, cached, nil
}
