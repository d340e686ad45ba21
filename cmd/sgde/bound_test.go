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
