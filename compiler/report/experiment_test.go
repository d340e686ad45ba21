package report

import (
	"bytes"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestExperimentHTML draws a curve whose sizes are all below the PAC bound: the bound's line
// must still be inside the plot and to the right of the largest size, every series must have a
// band, names are escaped, and the simulated warning is shown only for a simulated student.
func TestExperimentHTML(t *testing.T) {
	page := ExperimentPage{Task: "t", Student: "s", Teacher: "library", Simulated: true,
		Series: []CurveSeries{
			{Name: "zero-shot", Color: "#888", Points: []CurvePointAcc{{X: 8, Acc: .5, Lo: .4, Hi: .6, Correct: 25, Num: 50}, {X: 32, Acc: .5, Lo: .4, Hi: .6, Correct: 25, Num: 50}}},
			{Name: "a<b>", Color: "#00f", Dashed: true, Points: []CurvePointAcc{{X: 8, Acc: .9, Lo: .8, Hi: .95}, {X: 32, Acc: 1, Lo: .93, Hi: 1}}},
		},
		Runs: []CurveDot{{X: 8, Acc: .9, Title: "stopped: patience"}},
		PAC:  []PACMark{{K: 1, M: 82}},
	}
	var b bytes.Buffer
	if err := WriteExperimentHTML(&b, page); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.Contains(out, "a<b>") || !strings.Contains(out, "a&lt;b&gt;") {
		t.Error("series name not escaped")
	}
	if n := strings.Count(out, "<polygon"); n != 2 {
		t.Errorf("%d bands, want 2", n)
	}
	if !strings.Contains(out, `id="simulated"`) || !strings.Contains(out, "stopped: patience") {
		t.Error("simulated warning or run title missing")
	}
	pac := regexp.MustCompile(`<g class="pac"><line x1="([0-9.]+)"`).FindStringSubmatch(out)
	circles := regexp.MustCompile(`<circle cx="([0-9.]+)"`).FindAllStringSubmatch(out, -1)
	if pac == nil || len(circles) == 0 {
		t.Fatalf("no PAC line or points:\n%s", out)
	}
	px, _ := strconv.ParseFloat(pac[1], 64)
	for _, c := range circles {
		if cx, _ := strconv.ParseFloat(c[1], 64); cx >= px {
			t.Errorf("point at x=%g is not left of the PAC line at %g", cx, px)
		}
	}
	if px > 760-180 {
		t.Errorf("PAC line at %g is outside the plot", px)
	}
	page.Simulated = false
	b.Reset()
	if err := WriteExperimentHTML(&b, page); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), `id="simulated"`) {
		t.Error("a real student's report says it is simulated")
	}
}
