package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
)

func TestBoundCommand(t *testing.T) {
	tests := []struct {
		args     []string
		code     int
		firstOut string
	}{
		{[]string{"-k", "3", "--epsilon", "0.05", "--delta", "0.05"}, exitOK, "126"},
		{[]string{"-k", "1"}, exitOK, "82"},
		{[]string{"-k", "0"}, exitUsage, ""},
		{[]string{"-k", "3", "--epsilon", "1.5"}, exitUsage, ""},
		{[]string{"-k", "3", "--delta", "0"}, exitUsage, ""},
		{[]string{"--epsilon", "0.1"}, exitUsage, ""},
		{[]string{"-k", "3", "extra"}, exitUsage, ""},
		{[]string{"--plan", routedPlan}, exitOK, "126"},
		{[]string{"--plan", routedPlan, "-k", "2"}, exitUsage, ""},
		{[]string{"--plan", routedPlan, "--branch-items", "route.nope=3"}, exitUsage, ""},
		{[]string{"--plan", routedPlan, "--heldout", "10", "--misrouted", "11"}, exitUsage, ""},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		code := run(context.Background(), append([]string{"sgde", "bound"}, tt.args...), &out, &errb)
		if code != tt.code {
			t.Errorf("bound %v: exit %d, want %d (stderr %q)", tt.args, code, tt.code, errb.String())
			continue
		}
		if tt.firstOut != "" {
			if first, _, _ := strings.Cut(out.String(), "\n"); first != tt.firstOut {
				t.Errorf("bound %v: first line %q, want %q", tt.args, first, tt.firstOut)
			}
		}
	}
}

func TestBoundJSON(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"sgde", "bound", "-k", "3", "--json"}, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	var v struct{ K, M int }
	if err := json.Unmarshal(out.Bytes(), &v); err != nil || v.K != 3 || v.M != 126 {
		t.Fatalf("json = %q (%v)", out.String(), err)
	}
}

const routedPlan = "../../testdata/plans/mixed-routed.yaml"

// TestBoundRoutedPlan: a plan with a router gets a bound per branch (with its share of delta)
// and one for the router's misrouting rate.
func TestBoundRoutedPlan(t *testing.T) {
	var out, errb bytes.Buffer
	code := run(context.Background(), []string{"sgde", "bound", "--plan", routedPlan, "--branch-items", "route.arith=120",
		"--branch-items", "route.choice=50", "--heldout", "100", "--misrouted", "2"}, &out, &errb)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	for _, want := range []string{"branch route.arith: k=1, m=104", "120 items routed to it: meet it", "50 items routed to it: do not meet it",
		"router route: 2 of 100 held-out items misrouted; true misrouting rate <= 0.1631"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
