package compiler

import (
	"github.com/sgde-project/sgde/compiler/teacher"
	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/runtime/trace"
)

// maxEvidence bounds the examples per node and outcome handed to a teacher.
const maxEvidence = 24

// evidence turns a training eval into per-node examples: every execution of a node on an item
// the plan got wrong is failing evidence, on an item it got right passing evidence. Consensus
// members contribute their first sample. Credit is assigned by the plan's outcome because the
// data label only the plan's output; the teacher's critique does the finer attribution.
func evidence(p *plans.Plan, ev Scores, items []runtime.Item) []teacher.NodeEvidence {
	labels := map[string]runtime.Item{}
	for _, it := range items {
		labels[it.ID] = it
	}
	byNode := map[string]*teacher.NodeEvidence{}
	order := make([]string, 0, len(p.Nodes))
	for _, n := range p.Nodes {
		byNode[n.ID] = &teacher.NodeEvidence{Node: n.ID}
		order = append(order, n.ID)
	}
	for i, o := range ev.Results {
		tr := ev.Traces[i]
		if tr == nil {
			continue
		}
		it := labels[o.ID]
		var visit func(nodes []*trace.Node)
		visit = func(nodes []*trace.Node) {
			for _, tn := range nodes {
				if tn == nil {
					continue
				}
				ne := byNode[tn.ID]
				if ne != nil {
					ex := example(tn, o, it)
					if o.Correct {
						if len(ne.Passing) < maxEvidence {
							ne.Passing = append(ne.Passing, ex)
						}
					} else if len(ne.Failing) < maxEvidence {
						ne.Failing = append(ne.Failing, ex)
					}
				}
				if tn.Consensus != nil && len(tn.Consensus.Samples) > 0 {
					visit(tn.Consensus.Samples[0].Nodes)
				}
			}
		}
		visit(tr.Nodes)
	}
	out := make([]teacher.NodeEvidence, 0, len(order))
	for _, id := range order {
		out = append(out, *byNode[id])
	}
	return out
}

func example(tn *trace.Node, o runtime.ItemResult, it runtime.Item) teacher.Example {
	ex := teacher.Example{
		Item: o.ID, Inputs: it.Inputs, Input: tn.Input, Value: tn.Value,
		Error: tn.Error, ErrorKind: tn.ErrorKind, PlanOutput: o.Prediction, Expected: it.Label,
	}
	for i := len(tn.Prompt) - 1; i >= 0; i-- {
		if tn.Prompt[i].Role == "user" {
			ex.Prompt = tn.Prompt[i].Content
			break
		}
	}
	if tn.Raw != nil {
		ex.Raw = *tn.Raw
	}
	return ex
}
