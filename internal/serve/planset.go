package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/sgde-project/sgde/plans"
)

// planName is what a served plan may be called: it is the "model" of the chat API and a path
// segment of the run API.
var planName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// planSet is one generation of the plans folder. It is immutable: a reload builds a new one.
type planSet struct {
	byName  map[string]*plans.Plan
	digests map[string]string
	engines map[string]string // the engine of each plan's code nodes, from Options.EngineFor
	names   []string          // sorted
	loaded  time.Time
}

// loadPlans reads every *.yaml, *.yml and *.json file directly in dir. A plan is served under its
// metadata.name and runs on the engine engineFor names (nil: ""). Any invalid plan, unservable
// name, duplicate name or engine refused fails the whole load, so a reload never serves half a
// folder.
func loadPlans(dir string, engineFor EngineChooser) (*planSet, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("plans folder: %w", err)
	}
	ps := &planSet{byName: map[string]*plans.Plan{}, digests: map[string]string{}, engines: map[string]string{}, loaded: time.Now()}
	from := map[string]string{}
	var errs []error
	for _, e := range ents {
		ext := strings.ToLower(filepath.Ext(e.Name()))
		if e.IsDir() || (ext != ".yaml" && ext != ".yml" && ext != ".json") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		p, err := plans.Load(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
			continue
		}
		name := p.Metadata.Name
		switch {
		case !planName.MatchString(name):
			errs = append(errs, fmt.Errorf("%s: metadata.name %q cannot be served: use 1-128 of A-Z, a-z, 0-9, '.', '_' and '-'", path, name))
			continue
		case from[name] != "":
			errs = append(errs, fmt.Errorf("%s: plan %q is already defined in %s", path, name, from[name]))
			continue
		}
		d, err := plans.Digest(p)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
			continue
		}
		engine := ""
		if engineFor != nil {
			if engine, err = engineFor(p); err != nil {
				errs = append(errs, fmt.Errorf("%s: plan %q: %w", path, name, err))
				continue
			}
		}
		from[name] = path
		ps.byName[name], ps.digests[name], ps.engines[name] = p, d, engine
		ps.names = append(ps.names, name)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	sort.Strings(ps.names)
	return ps, nil
}

// preparePlans refuses the plans of ps that cannot run (llm nodes without a student) and builds
// the code nodes of the others through opts.PreparePlan. Any failure fails the whole set.
func preparePlans(ctx context.Context, log *slog.Logger, ps *planSet, opts Options) error {
	var errs []error
	start := time.Now()
	built := 0
	for _, name := range ps.names {
		p := ps.byName[name]
		llm, code := false, false
		p.Walk(func(_ *plans.Plan, n *plans.Node) { // router branches included
			switch n.Substrate {
			case plans.SubstrateLLM:
				llm = true
			case plans.SubstrateCode:
				code = true
			}
		})
		if llm && opts.NoStudent {
			errs = append(errs, fmt.Errorf("plan %q has llm nodes but no student is configured (set --student-url and --student-model): every call would fail", name))
			continue
		}
		if code && opts.PreparePlan != nil {
			if built == 0 {
				log.Info("building the code nodes of the served plans before serving them")
			}
			built++
			if err := opts.PreparePlan(ctx, p, ps.engines[name]); err != nil {
				errs = append(errs, fmt.Errorf("plan %q: %w", name, err))
			}
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if built > 0 {
		log.Info("code nodes built", "plans", built, "seconds", time.Since(start).Seconds())
	}
	return nil
}

// clampPlan returns a copy of p whose code nodes run under at most the tenant's fuel and memory
// ceilings: each node's effective limit (its own, else the plan default, else the package
// default) is lowered to the ceiling. The copy is made through the canonical form, which
// inlines code sources, so it shares nothing with p.
func clampPlan(p *plans.Plan, fuel *uint64, memMiB *uint32) (*plans.Plan, error) {
	canon, err := plans.Canonical(p)
	if err != nil {
		return nil, err
	}
	cp, err := plans.Parse(canon, p.Metadata.Name+".json")
	if err != nil {
		return nil, fmt.Errorf("copy plan %q: %w", p.Metadata.Name, err)
	}
	if fuel == nil && memMiB == nil {
		return cp, nil
	}
	// Router branches are clamped too; their digests pinned the unclamped sub-plans, and this
	// copy is the server's own, so they are dropped rather than left to fail validation.
	cp.Walk(func(owner *plans.Plan, n *plans.Node) {
		if r := n.Router; r != nil {
			for j := range r.Branches {
				r.Branches[j].Digest = ""
			}
		}
		c := n.Code
		if c == nil {
			return
		}
		eff := owner.EffectiveLimits(n)
		lim := plans.Limits{}
		if c.Limits != nil {
			lim = *c.Limits
		}
		if fuel != nil {
			v := min(*eff.Fuel, *fuel)
			lim.Fuel = &v
		}
		if memMiB != nil {
			v := min(*eff.MemoryMiB, *memMiB)
			lim.MemoryMiB = &v
		}
		c.Limits = &lim
	})
	return cp, nil
}
