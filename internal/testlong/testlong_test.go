package testlong

import "testing"

func TestSkip(t *testing.T) {
	for _, tc := range []struct {
		value   string
		skipped bool
	}{
		{"", true},
		{"1", false},
		{"yes", false},
	} {
		t.Run("env="+tc.value, func(t *testing.T) {
			t.Setenv(Env, tc.value)
			if got := Enabled(); got == tc.skipped {
				t.Fatalf("Enabled() = %v with %s=%q", got, Env, tc.value)
			}
			var skipped bool
			// A sub-test observes the skip without skipping this one.
			t.Run("probe", func(t *testing.T) {
				defer func() { skipped = t.Skipped() }()
				Skip(t, "probe")
			})
			if skipped != tc.skipped {
				t.Fatalf("Skip skipped = %v with %s=%q, want %v", skipped, Env, tc.value, tc.skipped)
			}
		})
	}
}
