package compiler

import (
	"fmt"

	"github.com/sgde-project/sgde/plans"
)

// Inline returns a copy of a validated plan whose code nodes carry their source inline instead
// of a path, so that candidates derived from it are self-contained and can be written anywhere.
func Inline(p *plans.Plan) (*plans.Plan, error) {
	q, err := clonePlan(p)
	if err != nil {
		return nil, err
	}
	for i, n := range p.Nodes {
		if n.Code != nil && n.Code.Path != "" {
			src := n.Code.SourceText()
			if src == "" {
				return nil, fmt.Errorf("code node %q: source %s was not read (validate the plan first)", n.ID, n.Code.Path)
			}
			q.Nodes[i].Code.Source, q.Nodes[i].Code.Path = src, ""
		}
	}
	if err := q.Validate(); err != nil {
		return nil, fmt.Errorf("inline code sources: %w", err)
	}
	return q, nil
}
