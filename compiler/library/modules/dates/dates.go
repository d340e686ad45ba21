// Package dates is the library's vetted date-arithmetic module: given what a student extracted
// from a question (a date and the calendar offsets the question applies to it), it computes the
// resulting date exactly and picks the answer option that names it. Language stays with the
// student (which date the question states, what "tomorrow" or "a month ago" is relative to);
// the calendar (month lengths, leap years, month-end clamping) is done here.
//
// This file is also the source of the code node the teacher proposes: compiler/library embeds
// it, renames the package to main and appends a guest.Run entry point (see library.DateArith).
// So it may import only what the sandbox allows (wasm.AllowedImports: no time package; the
// calendar is computed from civil-date arithmetic below) and must not use the clock, files or
// the network; every loop is bounded by the input's size.
//
// Extraction (a JSON object):
//
//	{"date": "07/29/2002", "offsets": [{"days": -1}, {"weeks": 1}]}
//
// date is MM/DD/YYYY (one- or two-digit month and day) or YYYY-MM-DD. offsets is a list of
// objects with any of years, months, weeks, days (whole numbers, negative for the past), applied
// in order, and within one object years first, then months, weeks, days; "offset" (one object)
// is accepted for a single step, and no offset means the date itself. Adding months or years
// clamps to the month's last day (01/31 plus a month is 02/28 or 02/29), as people count.
// Options come from the extraction's "options" ({"A": "08/04/2002", ...}) or, when it has none,
// from the question's option lines ("(D) 08/04/2002"); the answer is the option letter in
// parentheses, "(D)". Without any options the answer is the date itself, MM/DD/YYYY.
// Everything else (a missing date, an unknown unit, a fraction, a date no option names) is an
// error that says what was wrong, never a guess.
package dates

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Limits: an extraction is a date and a few offsets; anything far larger is not one.
const (
	maxOffsets  = 64
	maxQuestion = 64 << 10
	minYear     = 1
	maxYear     = 9999
	// maxUnits bounds one offset value (in its unit): 10,000 years either way, or as many days.
	maxUnits = 3_660_000
)

// Date is a proleptic Gregorian calendar date.
type Date struct{ Year, Month, Day int }

// String formats d as MM/DD/YYYY.
func (d Date) String() string {
	return fmt.Sprintf("%02d/%02d/%04d", d.Month, d.Day, d.Year)
}

var errExtraction = errors.New("extraction")

func extractionErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", errExtraction, fmt.Sprintf(format, a...))
}

// daysIn is the number of days of month m in year y.
func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// ParseDate reads MM/DD/YYYY (one- or two-digit month and day) or YYYY-MM-DD and checks that
// the day exists.
func ParseDate(s string) (Date, error) {
	s = strings.TrimSpace(s)
	var parts []string
	var d Date
	switch {
	case strings.Count(s, "/") == 2:
		parts = strings.Split(s, "/")
		if len(parts[2]) != 4 {
			return Date{}, extractionErr("date %q: the year must have four digits (MM/DD/YYYY)", s)
		}
		parts = []string{parts[2], parts[0], parts[1]}
	case strings.Count(s, "-") == 2 && !strings.HasPrefix(s, "-"):
		parts = strings.Split(s, "-")
		if len(parts[0]) != 4 {
			return Date{}, extractionErr("date %q: the year must have four digits (YYYY-MM-DD)", s)
		}
	default:
		return Date{}, extractionErr("date %q is not MM/DD/YYYY or YYYY-MM-DD", s)
	}
	vals := make([]int, 3)
	for i, p := range parts {
		if p == "" || len(p) > 4 || strings.Trim(p, "0123456789") != "" {
			return Date{}, extractionErr("date %q: %q is not a number", s, p)
		}
		vals[i], _ = strconv.Atoi(p)
	}
	d = Date{vals[0], vals[1], vals[2]}
	if d.Year < minYear || d.Year > maxYear || d.Month < 1 || d.Month > 12 || d.Day < 1 || d.Day > daysIn(d.Year, d.Month) {
		return Date{}, extractionErr("date %q does not exist", s)
	}
	return d, nil
}

// dayNumber is the number of days from 0001-01-01 (day 0) to d, in the proleptic Gregorian
// calendar.
func dayNumber(d Date) int {
	y, m := d.Year, d.Month
	if m <= 2 {
		y--
		m += 12
	}
	// Days before year y's March 1, counting from March 1 of year 0, then shifted so that
	// 0001-01-01 is day 0.
	n := 365*y + y/4 - y/100 + y/400 + (153*(m-3)+2)/5 + d.Day - 1
	return n - 306
}

// fromDayNumber inverts dayNumber.
func fromDayNumber(n int) Date {
	n += 306
	// 400-year cycles of 146097 days, starting on March 1.
	era := n / 146097
	doe := n - era*146097
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365
	y := yoe + era*400
	doy := doe - (365*yoe + yoe/4 - yoe/100)
	mp := (5*doy + 2) / 153
	day := doy - (153*mp+2)/5 + 1
	m := mp + 3
	if m > 12 {
		m -= 12
		y++
	}
	return Date{y, m, day}
}

// Offset is one step of calendar arithmetic.
type Offset struct{ Years, Months, Weeks, Days int }

// Apply adds o to d: years and months first (clamping the day to the month's last), then
// weeks and days.
func Apply(d Date, o Offset) (Date, error) {
	months := d.Year*12 + (d.Month - 1) + o.Years*12 + o.Months
	y, m := months/12, months%12+1
	if months < 0 || y < minYear || y > maxYear {
		return Date{}, extractionErr("%s plus %+d years %+d months is outside years %d-%d", d, o.Years, o.Months, minYear, maxYear)
	}
	n := dayNumber(Date{y, m, min(d.Day, daysIn(y, m))}) + 7*o.Weeks + o.Days
	if n < 0 || n > dayNumber(Date{maxYear, 12, 31}) {
		return Date{}, extractionErr("%s plus %+d weeks %+d days is outside years %d-%d", d, o.Weeks, o.Days, minYear, maxYear)
	}
	return fromDayNumber(n), nil
}

// units are the offset keys, in the order they are applied.
var units = []string{"years", "months", "weeks", "days"}

// wholeNumber reads an offset value: a JSON number or a string of an integer (students quote
// numbers now and then); 3.0 is 3, 2.5 is refused.
func wholeNumber(v any) (int, error) {
	var s string
	switch c := v.(type) {
	case json.Number:
		s = c.String()
	case float64: // what a decoder without UseNumber gives; never from the guest SDK
		s = strconv.FormatFloat(c, 'f', -1, 64)
	case string:
		s = strings.TrimSpace(c)
	default:
		return 0, fmt.Errorf("%v is not a number", v)
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || f != float64(int64(f)) || f > maxUnits || f < -maxUnits {
			return 0, fmt.Errorf("%q is not a whole number", s)
		}
		n = int(f)
	}
	if n > maxUnits || n < -maxUnits {
		return 0, fmt.Errorf("%d is out of range", n)
	}
	return n, nil
}

// parseOffset reads one offset object.
func parseOffset(v any) (Offset, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return Offset{}, extractionErr("an offset must be an object such as {\"days\": -1}, got %T", v)
	}
	var o Offset
	for k, x := range m {
		unit := strings.ToLower(strings.TrimSpace(k))
		if !strings.HasSuffix(unit, "s") {
			unit += "s" // "day": 1 reads as "days": 1
		}
		n, err := wholeNumber(x)
		if err != nil {
			return Offset{}, extractionErr("offset %s: %v", k, err)
		}
		switch unit {
		case "years":
			o.Years = n
		case "months":
			o.Months = n
		case "weeks":
			o.Weeks = n
		case "days":
			o.Days = n
		default:
			return Offset{}, extractionErr("offset unit %q is not one of %s", k, strings.Join(units, ", "))
		}
	}
	return o, nil
}

// Compute returns the date an extraction describes: its date with its offsets applied in order.
func Compute(extraction any) (Date, error) {
	m, ok := extraction.(map[string]any)
	if !ok {
		return Date{}, extractionErr("must be a JSON object with a \"date\", got %T", extraction)
	}
	ds, ok := m["date"].(string)
	if !ok {
		return Date{}, extractionErr("needs a string field \"date\" (MM/DD/YYYY)")
	}
	d, err := ParseDate(ds)
	if err != nil {
		return Date{}, err
	}
	var steps []any
	switch o := m["offsets"].(type) {
	case nil:
	case []any:
		steps = o
	case map[string]any:
		steps = []any{o}
	default:
		return Date{}, extractionErr("\"offsets\" must be a list of objects, got %T", o)
	}
	if one, ok := m["offset"]; ok {
		if m["offsets"] != nil {
			return Date{}, extractionErr("give either \"offset\" or \"offsets\", not both")
		}
		steps = []any{one}
	}
	if len(steps) > maxOffsets {
		return Date{}, extractionErr("%d offsets, at most %d", len(steps), maxOffsets)
	}
	for _, s := range steps {
		o, err := parseOffset(s)
		if err != nil {
			return Date{}, err
		}
		if d, err = Apply(d, o); err != nil {
			return Date{}, err
		}
	}
	return d, nil
}

// Options are answer options: letter to text.
type Options map[string]string

// QuestionOptions reads the option lines of a question ("(A) 08/04/2002", one per line).
func QuestionOptions(question string) (Options, error) {
	if len(question) > maxQuestion {
		return nil, fmt.Errorf("question longer than %d bytes", maxQuestion)
	}
	out := Options{}
	for _, line := range strings.Split(question, "\n") {
		line = strings.TrimSpace(line)
		if len(line) < 4 || line[0] != '(' || line[2] != ')' || line[1] < 'A' || line[1] > 'Z' {
			continue
		}
		out[line[1:2]] = strings.TrimSpace(line[3:])
	}
	return out, nil
}

// extractionOptions reads an extraction's "options" object, if any.
func extractionOptions(extraction any) (Options, error) {
	m, _ := extraction.(map[string]any)
	raw, ok := m["options"]
	if !ok {
		return nil, nil
	}
	om, ok := raw.(map[string]any)
	if !ok {
		return nil, extractionErr("\"options\" must be an object such as {\"A\": \"08/04/2002\"}, got %T", raw)
	}
	out := Options{}
	for k, v := range om {
		s, ok := v.(string)
		if !ok {
			return nil, extractionErr("option %s must be a string", k)
		}
		out[strings.Trim(strings.TrimSpace(k), "()")] = s
	}
	return out, nil
}

// Answer computes the extraction's date and returns the option letter, in parentheses, whose
// date it is (options from the extraction, else from the question), or the date itself as
// MM/DD/YYYY when there are no options at all.
func Answer(extraction any, question string) (string, error) {
	d, err := Compute(extraction)
	if err != nil {
		return "", err
	}
	opts, err := extractionOptions(extraction)
	if err != nil {
		return "", err
	}
	if len(opts) == 0 {
		if opts, err = QuestionOptions(question); err != nil {
			return "", err
		}
	}
	if len(opts) == 0 {
		return d.String(), nil
	}
	letters := make([]string, 0, len(opts))
	for l := range opts {
		letters = append(letters, l)
	}
	sort.Strings(letters)
	var match []string
	for _, l := range letters {
		if od, err := ParseDate(opts[l]); err == nil && od == d {
			match = append(match, l)
		}
	}
	switch len(match) {
	case 0:
		return "", fmt.Errorf("the computed date %s is none of the options", d)
	case 1:
		return "(" + match[0] + ")", nil
	}
	return "", fmt.Errorf("the computed date %s is options %s", d, strings.Join(match, ", "))
}
