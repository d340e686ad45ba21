// Command gen writes reference extractions for BBH date-understanding items, so that the
// student simulator can answer extraction requests for them (a knowledge record's `extraction`
// is the JSON object a correct extraction states; the simulator returns it or corrupts it, and
// without one it answers the request as a direct question, docs/SIMULATOR.md).
//
// An extraction is the date the question states and the calendar steps from it to the date
// asked about: {"date": "07/29/2002", "offsets": [{"days": -1}, {"weeks": 1}]} for "Jane
// booked a flight for tomorrow, Jul 29, 2002. What is the date one week from today?". It is
// derived from the question text alone, by the patterns below (one per way the questions say
// what today is, and one per asked date), and kept only when the vetted date module
// (compiler/library/modules/dates) computes the item's labelled option from it: items the
// patterns do not cover, or where the derived extraction disagrees with the label, get none,
// and the command says how many on stderr.
//
//	go run ./testdata/bbh/extractions/gen < testdata/bbh/date_understanding.jsonl > testdata/bbh/extractions/date_understanding.jsonl
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/sgde-project/sgde/compiler/library/modules/dates"
)

type item struct {
	Idx    string `json:"idx"`
	Input  string `json:"input"`
	Target string `json:"target"`
}

type offset map[string]int

type extraction struct {
	Date    string   `json:"date"`
	Offsets []offset `json:"offsets"`
}

var months = map[string]int{
	"jan": 1, "january": 1, "feb": 2, "february": 2, "feburary": 2, "mar": 3, "march": 3, "apr": 4, "april": 4,
	"may": 5, "jun": 6, "june": 6, "jul": 7, "july": 7, "aug": 8, "august": 8, "sep": 9, "sept": 9, "september": 9,
	"oct": 10, "october": 10, "nov": 11, "november": 11, "dec": 12, "december": 12,
}

var numberWords = map[string]int{"one": 1, "two": 2, "three": 3, "five": 5, "ten": 10, "a": 1}

// Date phrases: "7/29/2002", "Jul 29, 2002", "Sept. 1st, 2021", "May 9th, 2017".
const (
	numDate  = `(\d{1,2})/(\d{1,2})/(\d{4})`
	nameDate = `([A-Z][a-z]+)\.? (\d{1,2})(?:st|nd|rd|th)?, (\d{4})`
)

func mdy(m, d, y string) string {
	mi, _ := strconv.Atoi(m)
	di, _ := strconv.Atoi(d)
	return fmt.Sprintf("%02d/%02d/%s", mi, di, y)
}

func named(mon, d, y string) (string, bool) {
	m, ok := months[strings.ToLower(mon)]
	if !ok {
		return "", false
	}
	return mdy(strconv.Itoa(m), d, y), true
}

// dateAt reads a date phrase from the submatches starting at i (numeric or named form).
func dateAt(sm []string, i int) (string, bool) {
	if sm[i] != "" {
		return mdy(sm[i], sm[i+1], sm[i+2]), true
	}
	return named(sm[i+3], sm[i+4], sm[i+5])
}

const anyDate = `(?:` + numDate + `|` + nameDate + `)`

// A today rule reads a scenario and returns the stated date and the steps from it to today.
type todayRule struct {
	re *regexp.Regexp
	f  func(sm []string) (string, []offset, bool)
}

func rel(days int) func(sm []string) (string, []offset, bool) {
	return func(sm []string) (string, []offset, bool) {
		d, ok := dateAt(sm, 1)
		if days == 0 {
			return d, nil, ok
		}
		return d, []offset{{"days": days}}, ok
	}
}

func fixed(date string, steps ...offset) func([]string) (string, []offset, bool) {
	return func([]string) (string, []offset, bool) { return date, steps, true }
}

var todayRules = []todayRule{
	{regexp.MustCompile(`(?i)day before yesterday was ` + anyDate), rel(2)},
	{regexp.MustCompile(`(?i)yesterday(?:,| was) ` + anyDate), rel(1)},
	{regexp.MustCompile(`(?i)tomorrow(?:,| is| \([A-Z][a-z]+,) ` + anyDate), rel(-1)},
	{regexp.MustCompile(`(?i)^It was ` + anyDate + ` a week ago`), func(sm []string) (string, []offset, bool) {
		d, ok := dateAt(sm, 1)
		return d, []offset{{"weeks": 1}}, ok
	}},
	{regexp.MustCompile(anyDate + `, which is (\w+) days? away from now`), func(sm []string) (string, []offset, bool) {
		d, ok := dateAt(sm, 1)
		n, nok := numberWords[sm[7]]
		if v, err := strconv.Atoi(sm[7]); err == nil {
			n, nok = v, true
		}
		return d, []offset{{"days": -n}}, ok && nok
	}},
	{regexp.MustCompile(anyDate + ` is like yesterday to Jane, but that is actually (\w+) years ago`), func(sm []string) (string, []offset, bool) {
		d, ok := dateAt(sm, 1)
		n, nok := numberWords[sm[7]]
		return d, []offset{{"years": n}}, ok && nok
	}},
	{regexp.MustCompile(`thinks today is ` + numDate + `, but John thinks today is ` + numDate + `\. (Jane|John) is correct`), func(sm []string) (string, []offset, bool) {
		if sm[7] == "Jane" {
			return mdy(sm[1], sm[2], sm[3]), nil, true
		}
		return mdy(sm[4], sm[5], sm[6]), nil, true
	}},
	{regexp.MustCompile(`thought today is ` + numDate + `, but today is in fact ([A-Z][a-z]+) (\d{1,2}),`), func(sm []string) (string, []offset, bool) {
		d, ok := named(sm[4], sm[5], sm[3])
		return d, nil, ok
	}},
	{regexp.MustCompile(`(?i)^(?:Today is|It is|Today,|The current local time is [0-9:]+ [ap]m of) ` + anyDate), rel(0)},
	{regexp.MustCompile(`^It is ` + numDate + ` today`), rel(0)},
	{regexp.MustCompile(`^Today is (\d{1,2})/(\d{1,2})[.,].*?(\d{4})`), func(sm []string) (string, []offset, bool) {
		return mdy(sm[1], sm[2], sm[3]), nil, true
	}},
	{regexp.MustCompile(`^(\d{4}) is coming in 36 hours`), func(sm []string) (string, []offset, bool) {
		// The labels (and the recorded step-by-step answers) read "in 36 hours" as today being
		// three days before the year's first day (12/29 for a new year on 01/01); the
		// reference follows the labels, which are what an answer is scored against.
		return "01/01/" + sm[1], []offset{{"days": -3}}, true
	}},
	{regexp.MustCompile(`on (\d{2})/(\d{2})/(\d{4}), but was delayed by one day to today`), func(sm []string) (string, []offset, bool) {
		return mdy(sm[1], sm[2], sm[3]), []offset{{"days": 1}}, true
	}},
	{regexp.MustCompile(`On ` + nameDate + ` Jane bought (\d+) eggs\. She ate one per day\. Today she ran out`), func(sm []string) (string, []offset, bool) {
		d, ok := named(sm[1], sm[2], sm[3])
		n, _ := strconv.Atoi(sm[4])
		return d, []offset{{"days": n}}, ok
	}},
	{regexp.MustCompile(`on ` + nameDate + `\. (\d+) days have passed since then`), func(sm []string) (string, []offset, bool) {
		d, ok := named(sm[1], sm[2], sm[3])
		n, _ := strconv.Atoi(sm[4])
		return d, []offset{{"days": n}}, ok
	}},
	{regexp.MustCompile(`married on ` + nameDate + `\. (?:Today is their golden wedding anniversary|It is their (\d+)-year anniversary today)`), func(sm []string) (string, []offset, bool) {
		d, ok := named(sm[1], sm[2], sm[3])
		n := 50
		if sm[4] != "" {
			n, _ = strconv.Atoi(sm[4])
		}
		return d, []offset{{"years": n}}, ok
	}},
	{regexp.MustCompile(`born on the last day of ([A-Z][a-z]+) in (\d{4})\. Today is her (\d+)-year-old birthday`), func(sm []string) (string, []offset, bool) {
		m, ok := months[strings.ToLower(sm[1])]
		y, _ := strconv.Atoi(sm[2])
		n, _ := strconv.Atoi(sm[3])
		return lastDay(m, y), []offset{{"years": n}}, ok
	}},
	{regexp.MustCompile(`job in (\d{4})\. Today is her (\d+)-year work anniversary\. .*on ([A-Z][a-z]+) (\d{1,2}), her second day at work`), func(sm []string) (string, []offset, bool) {
		d, ok := named(sm[3], sm[4], sm[1])
		n, _ := strconv.Atoi(sm[2])
		return d, []offset{{"days": -1}, {"years": n}}, ok
	}},
	{regexp.MustCompile(`on the (\d+)th of each month starting from the ([A-Z][a-z]+) of (\d{4})\. It is her (\d+)th visit`), func(sm []string) (string, []offset, bool) {
		m, ok := months[strings.ToLower(sm[2])]
		k, _ := strconv.Atoi(sm[4])
		return mdy(strconv.Itoa(m), sm[1], sm[3]), []offset{{"months": k - 1}}, ok
	}},
	{regexp.MustCompile(`day before the month .* today is (\d{2})/(\d{2})/(\d{4}) to them`), func(sm []string) (string, []offset, bool) {
		return mdy(sm[2], sm[1], sm[3]), nil, true
	}},
	{regexp.MustCompile(`today is the first Monday of 2019`), fixed("01/07/2019")},
	{regexp.MustCompile(`last day of ([A-Z][a-z]+) (\d{4})`), func(sm []string) (string, []offset, bool) {
		m, ok := months[strings.ToLower(sm[1])]
		y, _ := strconv.Atoi(sm[2])
		return lastDay(m, y), nil, ok
	}},
	{regexp.MustCompile(`last day of the first quarter of (\d{4})`), func(sm []string) (string, []offset, bool) { return "03/31/" + sm[1], nil, true }},
	{regexp.MustCompile(`last day of (\d{4})`), func(sm []string) (string, []offset, bool) { return "12/31/" + sm[1], nil, true }},
	{regexp.MustCompile(`first day of (\d{4})`), func(sm []string) (string, []offset, bool) { return "01/01/" + sm[1], nil, true }},
	{regexp.MustCompile(`second day of the third month of (\d{4})`), func(sm []string) (string, []offset, bool) { return "03/02/" + sm[1], nil, true }},
	{regexp.MustCompile(`Christmas Eve of (\d{4})`), func(sm []string) (string, []offset, bool) { return "12/24/" + sm[1], nil, true }},
	{regexp.MustCompile(`palindrome day of 2020`), fixed("02/02/2020")},
	{regexp.MustCompile(`US Thanksgiving of 2001`), fixed("11/22/2001")},
}

func lastDay(m, y int) string {
	d, err := dates.Apply(dates.Date{Year: y, Month: m, Day: 1}, dates.Offset{Months: 1, Days: -1})
	if err != nil {
		return ""
	}
	return d.String()
}

// asked maps the asked date to its steps from today.
var asked = map[string][]offset{
	"today":                   nil,
	"tomorrow":                {{"days": 1}},
	"yesterday":               {{"days": -1}},
	"24 hours later":          {{"days": 1}},
	"one week from today":     {{"weeks": 1}},
	"one week ago from today": {{"weeks": -1}},
	"a month ago":             {{"months": -1}},
	"one year ago from today": {{"years": -1}},
	"10 days ago":             {{"days": -10}},
}

var askedRE = regexp.MustCompile(`What is the date (.+?) in MM/DD/YYYY\?`)

// derive returns the reference extraction of a question, or false.
func derive(q string) (extraction, bool) {
	stem, _, _ := strings.Cut(q, "\nOptions:")
	am := askedRE.FindStringSubmatchIndex(stem)
	if am == nil {
		return extraction{}, false
	}
	steps, ok := asked[stem[am[2]:am[3]]]
	if !ok {
		return extraction{}, false
	}
	scenario := strings.TrimSpace(stem[:am[0]])
	for _, r := range todayRules {
		sm := r.re.FindStringSubmatch(scenario)
		if sm == nil {
			continue
		}
		d, toToday, ok := r.f(sm)
		if !ok || d == "" {
			return extraction{}, false
		}
		return extraction{Date: d, Offsets: append(append([]offset{}, toToday...), steps...)}, true
	}
	return extraction{}, false
}

func main() {
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(nil, 1<<20)
	out := bufio.NewWriter(os.Stdout)
	defer out.Flush()
	var n, none, wrong int
	for sc.Scan() {
		var it item
		if err := json.Unmarshal(sc.Bytes(), &it); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		n++
		ext, ok := derive(it.Input)
		if !ok {
			none++
			fmt.Fprintf(os.Stderr, "no pattern: %s\n", it.Idx)
			continue
		}
		b, _ := json.Marshal(ext)
		d := json.NewDecoder(strings.NewReader(string(b)))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			panic(err)
		}
		got, err := dates.Answer(v, it.Input)
		if err != nil || got != it.Target {
			wrong++
			fmt.Fprintf(os.Stderr, "disagrees with the label: %s: %s gives %q (%v), label %s\n", it.Idx, b, got, err, it.Target)
			continue
		}
		rec, _ := json.Marshal(map[string]any{"idx": it.Idx, "input": it.Input, "target": it.Target, "extraction": ext})
		out.Write(rec)
		out.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "%d items: %d with a reference extraction, %d matched no pattern, %d disagreed with their label\n", n, n-none-wrong, none, wrong)
}
