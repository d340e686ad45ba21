package edit

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sgde-project/sgde/plans"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestRouteGolden parses each teacher reply under testdata/route, applies every candidate to the
// zero-shot plan and compares what came out (the schema errors, the apply error, or the routed
// plan in YAML) with the reply's .golden file.
func TestRouteGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/route/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no replies under testdata/route (%v)", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			reply, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			var out strings.Builder
			r, err := Parse(string(reply), nil)
			var se *SchemaError
			switch {
			case errors.As(err, &se):
				out.WriteString("schema errors:\n")
				for _, p := range se.Problems {
					out.WriteString("  " + p + "\n")
				}
			case err != nil:
				t.Fatalf("Parse: %v", err)
			default:
				for i, c := range r.Candidates {
					for _, e := range c.Edits {
						out.WriteString("edit: " + e.Summary() + "\n")
					}
					q, err := Apply(zeroShot(), c.Edits...)
					if err != nil {
						if !errors.Is(err, ErrInvalid) {
							t.Errorf("candidate %d: apply error %v does not wrap ErrInvalid", i, err)
						}
						out.WriteString("apply error: " + err.Error() + "\n")
						continue
					}
					if len(q.Routers()) != 1 {
						t.Errorf("candidate %d: %d routers, want 1", i, len(q.Routers()))
					}
					y, err := plans.Marshal(q, plans.FormatYAML)
					if err != nil {
						t.Fatal(err)
					}
					out.Write(y)
				}
			}
			golden := strings.TrimSuffix(f, ".txt") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(out.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update)", err)
			}
			if out.String() != string(want) {
				t.Errorf("%s differs (run with -update after checking):\n%s", golden, out.String())
			}
		})
	}
}

// TestRouteApply: each branch is the plan with its own edits, the classifier feeds the router,
// the original is untouched, and a routed plan can be routed again (a nested router).
func TestRouteApply(t *testing.T) {
	e := Edit{Action: Route, Default: "plain",
		Classifier: &Classifier{Substrate: plans.SubstrateCode, Source: src, Inputs: map[string]string{"q": "inputs.question"}, Field: "kind"},
		Branches: []RouteBranch{
			{Name: "pal", Edits: []Edit{palOffload}},
			{Name: "plain"},
		}}
	orig := zeroShot()
	q, err := Apply(orig, e)
	if err != nil {
		t.Fatal(err)
	}
	if len(orig.Nodes) != 1 || orig.Output != "answer" {
		t.Fatal("Apply changed its input")
	}
	r := q.Node("route")
	if q.Output != "route" || r == nil || r.Router.On != "classify.kind" || q.Node("classify").Code.Outputs["kind"] != plans.TypeString {
		t.Fatalf("routed plan: %+v", q)
	}
	pal, plain := r.Router.Branch("pal").SubPlan(), r.Router.Branch("plain").SubPlan()
	if pal.Output != "eval.answer" || len(pal.Nodes) != 2 || plain.Output != "answer" || len(plain.Nodes) != 1 {
		t.Fatalf("branches: pal %+v, plain %+v", pal, plain)
	}
	if pal.Metadata.Name != "zs-pal" || r.Router.Branch("pal").Inputs["question"] != "inputs.question" {
		t.Errorf("branch metadata %q, inputs %v", pal.Metadata.Name, r.Router.Branch("pal").Inputs)
	}
	nested := e
	nested.ID = "outer"
	nested.Branches = []RouteBranch{{Name: "pal"}, {Name: "plain", Edits: []Edit{{Action: Offload, Node: "classify", Source: src + "// v2\n", Inputs: map[string]string{"q": "inputs.question"}, Outputs: map[string]plans.Type{"kind": plans.TypeString}}}}}
	q2, err := Apply(q, nested)
	if err != nil {
		t.Fatal(err)
	}
	if q2.Output != "outer" || q2.Node("outer_classify") == nil || len(q2.Routers()) != 1 {
		t.Fatalf("nested route: %+v", q2.Nodes)
	}
	if inner := q2.Node("outer").Router.Branch("pal").SubPlan(); len(inner.Routers()) != 1 {
		t.Errorf("the outer router's branch is not the routed plan: %+v", inner)
	}
	// The pal branch of the outer router offloads the inner plan's node "answer": which is a
	// router's branch node, not a top-level one, so it fails and names the branch.
	if _, err := Apply(q, Edit{Action: Route, Default: "a", Classifier: e.Classifier,
		Branches: []RouteBranch{{Name: "a", Edits: []Edit{palOffload}}, {Name: "b"}}}); err == nil ||
		!strings.Contains(err.Error(), `branch "a"`) || !errors.Is(err, ErrInvalid) {
		t.Errorf("edit of a node inside a branch: err = %v, want one naming branch a", err)
	}
}

// TestRouteTooBig: a route whose branches would not fit in a plan file together is rejected
// before the routed plan exists (each branch repeats the plan).
func TestRouteTooBig(t *testing.T) {
	big := zeroShot()
	big.Nodes[0].LLM.System = strings.Repeat("x", plans.MaxPlanBytes/6)
	var bs []RouteBranch
	for i := range MaxRouteBranches {
		bs = append(bs, RouteBranch{Name: fmt.Sprintf("b%d", i)})
	}
	e := Edit{Action: Route, Default: "b0", Branches: bs, Classifier: &Classifier{Substrate: plans.SubstrateLLM, Prompt: "{{ inputs.question }}"}}
	if _, err := Apply(big, e); err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "more than a plan file may") {
		t.Fatalf("err = %v", err)
	}
	e.Branches = bs[:2]
	if _, err := Apply(big, e); err != nil {
		t.Fatalf("two branches of the same plan: %v", err)
	}
}
