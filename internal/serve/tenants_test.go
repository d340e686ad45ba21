package serve

import (
	"errors"
	"strings"
	"testing"
)

func TestParseTenants(t *testing.T) {
	h := HashKey("sk-some-key-0123456789")
	tests := []struct {
		name, src string
		want      string // substring of the error; "" means valid
	}{
		{"valid", "tenants:\n  - {name: a, keys: [{sha256: " + h + "}], plans: ['*'], rate: {requests_per_second: 5}, concurrency: 2, limits: {fuel: 10, memory_mib: 8}}\n", ""},
		{"unknown field", "tenants:\n  - {name: a, keys: [{sha256: " + h + "}], plans: [x], concurency: 2}\n", "concurency"},
		{"short hash", "tenants:\n  - {name: a, keys: [{sha256: abcd}], plans: [x]}\n", "64 hex digits"},
		{"clear key", "tenants:\n  - {name: a, keys: [{sha256: sk-secret}], plans: [x]}\n", "64 hex digits"},
		{"shared key", "tenants:\n  - {name: a, keys: [{sha256: " + h + "}], plans: [x]}\n  - {name: b, keys: [{sha256: " + h + "}], plans: [x]}\n", "already the key"},
		{"duplicate name", "tenants:\n  - {name: a, keys: [{sha256: " + h + "}], plans: [x]}\n  - {name: a, keys: [{sha256: " + HashKey("other-key-0123456789") + "}], plans: [x]}\n", "declared twice"},
		{"bad name", "tenants:\n  - {name: ../a, keys: [{sha256: " + h + "}], plans: [x]}\n", "name"},
		{"no keys", "tenants:\n  - {name: a, plans: [x]}\n", "no keys"},
		{"no plans", "tenants:\n  - {name: a, keys: [{sha256: " + h + "}]}\n", "no plans"},
		{"negative rate", "tenants:\n  - {name: a, keys: [{sha256: " + h + "}], plans: [x], rate: {requests_per_second: -1}}\n", "negative"},
		{"memory too small", "tenants:\n  - {name: a, keys: [{sha256: " + h + "}], plans: [x], limits: {memory_mib: 1}}\n", "memory_mib"},
		{"zero fuel", "tenants:\n  - {name: a, keys: [{sha256: " + h + "}], plans: [x], limits: {fuel: 0}}\n", "fuel"},
		{"empty", "tenants: []\n", "no tenants"},
		{"quota", "tenants:\n  - {name: a, keys: [{sha256: " + h + "}], plans: [x], quota: {requests: 100, window: 24h}}\n", ""},
		{"quota without window", "tenants:\n  - {name: a, keys: [{sha256: " + h + "}], plans: [x], quota: {requests: 100}}\n", "quota.window"},
		{"quota window too short", "tenants:\n  - {name: a, keys: [{sha256: " + h + "}], plans: [x], quota: {requests: 100, window: 10ms}}\n", "quota.window"},
		{"quota zero", "tenants:\n  - {name: a, keys: [{sha256: " + h + "}], plans: [x], quota: {requests: 0, window: 1h}}\n", "quota.requests"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts, err := ParseTenants([]byte(tt.src))
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if ts.Authenticate("sk-some-key-0123456789") == nil {
					t.Error("the tenant's key is not accepted")
				}
				return
			}
			if err == nil || !errors.Is(err, ErrTenants) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want ErrTenants mentioning %q", err, tt.want)
			}
		})
	}
}

func TestAuthenticate(t *testing.T) {
	ts := testTenants(t, "")
	for _, tt := range []struct{ key, want string }{
		{aliceKey, "alice"}, {bobKey, "bob"}, {"", ""}, {aliceKey + "x", ""}, {HashKey(aliceKey), ""}, {strings.ToUpper(aliceKey), ""},
	} {
		got := ""
		if tn := ts.Authenticate(tt.key); tn != nil {
			got = tn.Name()
		}
		if got != tt.want {
			t.Errorf("Authenticate(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
}

func FuzzParseTenants(f *testing.F) {
	f.Add([]byte("tenants:\n  - {name: a, keys: [{sha256: " + HashKey("k") + "}], plans: ['*']}\n"))
	f.Add([]byte("tenants: [{name: &a x, plans: *a}]"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ts, err := ParseTenants(b)
		if err == nil && ts.Len() == 0 {
			t.Fatal("a valid tenants file has no tenants")
		}
	})
}
