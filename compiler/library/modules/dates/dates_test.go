package dates

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"
)

func decode(t testing.TB, s string) any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

const q = "Jane booked a flight for tomorrow, Jul 29, 2002. What is the date one week from today in MM/DD/YYYY?\n" +
	"Options:\n(A) 08/03/2002\n(B) 10/22/2002\n(C) 06/03/2002\n(D) 08/04/2002\n(E) 08/04/1930\n(F) 07/04/2003"

func TestAnswer(t *testing.T) {
	for _, tc := range []struct {
		ext, question, want, err string
	}{
		{ext: `{"date": "07/29/2002", "offsets": [{"days": -1}, {"weeks": 1}]}`, question: q, want: "(D)"},
		{ext: `{"date": "7/29/2002", "offsets": [{"day": "-1"}, {"weeks": 1.0}]}`, question: q, want: "(D)"},
		{ext: `{"date": "2002-07-28", "offset": {"weeks": 1}}`, question: q, want: "(D)"},
		{ext: `{"date": "07/28/2002", "offsets": [{"weeks": 1}], "options": {"(A)": "08/04/2002", "B": "08/05/2002"}}`, question: q, want: "(A)"},
		{ext: `{"date": "07/28/2002", "offsets": [{"weeks": 1}]}`, question: "What is the date one week from today?", want: "08/04/2002"},
		// Month and year arithmetic clamps to the month's last day.
		{ext: `{"date": "03/31/2008", "offsets": [{"months": -1}]}`, want: "02/29/2008"},
		{ext: `{"date": "02/29/2016", "offsets": [{"years": -1}]}`, want: "02/28/2015"},
		{ext: `{"date": "01/31/2012", "offsets": [{"months": 1, "days": 1}]}`, want: "03/01/2012"},
		{ext: `{"date": "12/31/1899", "offsets": [{"days": 1}]}`, want: "01/01/1900"},
		{ext: `{"date": "02/28/1900", "offsets": [{"days": 1}]}`, want: "03/01/1900"},
		{ext: `{"date": "02/28/2000", "offsets": [{"days": 1}]}`, want: "02/29/2000"},
		{ext: `{"date": "05/09/2017", "offsets": [{"days": 40}]}`, want: "06/18/2017"},
		{ext: `{"date": "01/01/2015", "offsets": []}`, want: "01/01/2015"},
		{ext: `{"date": "07/29/2002", "offsets": [{"days": 3}]}`, question: q, err: "none of the options"},
		{ext: `{"date": "07/28/2002", "offsets": [{"weeks": 1}]}`, question: q + "\n(G) 08/04/2002", err: "options D, G"},
		{ext: `{"date": "02/30/2002"}`, err: "does not exist"},
		{ext: `{"date": "07/29/02"}`, err: "four digits"},
		{ext: `{"date": "July 29, 2002"}`, err: "not MM/DD/YYYY"},
		{ext: `{"offsets": [{"days": 1}]}`, err: "\"date\""},
		{ext: `{"date": "07/29/2002", "offsets": [{"fortnights": 1}]}`, err: "unit"},
		{ext: `{"date": "07/29/2002", "offsets": [{"days": 1.5}]}`, err: "whole number"},
		{ext: `{"date": "07/29/2002", "offsets": [{"days": "two"}]}`, err: "whole number"},
		{ext: `{"date": "07/29/2002", "offsets": [{"days": 99999999}]}`, err: "range"},
		{ext: `{"date": "07/29/2002", "offsets": [3]}`, err: "must be an object"},
		{ext: `{"date": "07/29/2002", "offsets": "3 days"}`, err: "list of objects"},
		{ext: `{"date": "07/29/2002", "offset": {"days": 1}, "offsets": [{"days": 1}]}`, err: "not both"},
		{ext: `{"date": "01/01/0001", "offsets": [{"days": -1}]}`, err: "outside years"},
		{ext: `{"date": "12/31/9999", "offsets": [{"months": 1}]}`, err: "outside years"},
		{ext: `{"date": "07/29/2002", "options": ["08/04/2002"]}`, err: "\"options\" must be an object"},
		{ext: `["07/29/2002"]`, err: "JSON object"},
	} {
		got, err := Answer(decode(t, tc.ext), tc.question)
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: got %q, err %v, want an error with %q", tc.ext, got, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("%s: got %q, %v, want %q", tc.ext, got, err, tc.want)
		}
	}
}

// TestCalendarAgainstTime checks the civil-date arithmetic against the standard library's
// calendar (which the sandbox does not allow) on every day of four centuries and on offsets.
func TestCalendarAgainstTime(t *testing.T) {
	start := time.Date(1800, 1, 1, 0, 0, 0, 0, time.UTC)
	base := dayNumber(Date{1800, 1, 1})
	for i := 0; i < 400*366; i += 1 {
		tm := start.AddDate(0, 0, i)
		want := Date{tm.Year(), int(tm.Month()), tm.Day()}
		if got := fromDayNumber(base + i); got != want {
			t.Fatalf("day %d: %v, want %v", base+i, got, want)
		}
		if n := dayNumber(want); n != base+i {
			t.Fatalf("%v: day %d, want %d", want, n, base+i)
		}
	}
	if dayNumber(Date{1, 1, 1}) != 0 || fromDayNumber(0) != (Date{1, 1, 1}) {
		t.Fatal("day 0 is not 0001-01-01")
	}
	// Days and weeks agree with time.AddDate; months and years clamp where AddDate overflows.
	for _, tc := range []struct {
		from Date
		o    Offset
	}{
		{Date{1999, 12, 31}, Offset{Days: 1}}, {Date{2000, 3, 1}, Offset{Days: -1}}, {Date{1966, 3, 2}, Offset{Weeks: -1}},
		{Date{2019, 1, 7}, Offset{Days: -10}}, {Date{1937, 12, 24}, Offset{Years: -1}}, {Date{2012, 1, 15}, Offset{Months: -1}},
	} {
		got, err := Apply(tc.from, tc.o)
		if err != nil {
			t.Fatal(err)
		}
		tm := time.Date(tc.from.Year, time.Month(tc.from.Month), tc.from.Day, 0, 0, 0, 0, time.UTC).AddDate(tc.o.Years, tc.o.Months, 7*tc.o.Weeks+tc.o.Days)
		if want := (Date{tm.Year(), int(tm.Month()), tm.Day()}); got != want {
			t.Errorf("%v %+v: %v, want %v", tc.from, tc.o, got, want)
		}
	}
}

func TestQuestionOptions(t *testing.T) {
	o, err := QuestionOptions(q)
	if err != nil || len(o) != 6 || o["D"] != "08/04/2002" {
		t.Fatalf("%v, %v", o, err)
	}
	if _, err := QuestionOptions(strings.Repeat("x", maxQuestion+1)); err == nil {
		t.Fatal("an oversized question is read")
	}
}

// FuzzAnswer: no extraction makes the module panic or loop, and an answer is an option of the
// question or a valid date.
func FuzzAnswer(f *testing.F) {
	for _, s := range []string{`{"date": "07/29/2002", "offsets": [{"days": -1}, {"weeks": 1}]}`, `{"date": "2002-02-29"}`,
		`{"date": "1/1/0001", "offset": {"years": -1}}`, `{"date": "12/31/9999", "offsets": [{"days": "1"}]}`, `[]`, `{"date": 3}`} {
		f.Add(s, q)
	}
	f.Fuzz(func(t *testing.T, ext, question string) {
		d := json.NewDecoder(strings.NewReader(ext))
		d.UseNumber()
		var v any
		if d.Decode(&v) != nil {
			return
		}
		got, err := Answer(v, question)
		if err != nil {
			return
		}
		if _, perr := ParseDate(got); perr != nil && !(len(got) >= 3 && got[0] == '(' && got[len(got)-1] == ')') {
			t.Fatalf("%s: answer %q is neither a date nor an option", ext, got)
		}
	})
}

// TestReferenceExtractions: every reference extraction the simulator serves for BBH date items
// (testdata/bbh/extractions, written by its generator) computes its item's label with this
// module, so the simulator's "right" extraction is right by the code that scores it.
func TestReferenceExtractions(t *testing.T) {
	b, err := os.ReadFile("../../../../testdata/bbh/extractions/date_understanding.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var rec struct {
			Input, Target string
			Extraction    json.RawMessage
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		got, err := Answer(decode(t, string(rec.Extraction)), rec.Input)
		if err != nil || got != rec.Target {
			t.Errorf("%s: %q, %v, want %s", rec.Extraction, got, err, rec.Target)
		}
		n++
	}
	if n < 140 {
		t.Errorf("%d reference extractions, want the 142 the generator writes", n)
	}
}
