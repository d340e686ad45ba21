package fakego

import (
	"os"
	"strconv"
	"time"
)

// envHog, set to a number of MiB, is how a fake go command installed by InstallHog asks the
// test binary it runs to be a memory hog (RunHog).
const envHog = "SGDE_FAKEGO_HOG_MIB"

// Hog pacing: HogStepMiB of new memory touched every hogStepEvery, about 400 MB/s per hog, the
// order of the rate at which the Go compiler fills memory on a hostile source (string_doubling.go
// reaches 290 MiB within 0.4 s). A hog is a Go program, so under the builder's 1 GiB RLIMIT_AS it
// can hold only about 260 MiB (the Go runtime reserves the rest of its address space).
const (
	HogStepMiB   = 4
	hogStepEvery = 10 * time.Millisecond
)

// RunHog turns the process into a memory hog when a fake go command installed by InstallHog
// started it, and returns at once otherwise; call it first in TestMain. The hog touches the
// MiB it was asked for, HogStepMiB at a time, holds them for half a second (long enough for
// any sampler to see them) and exits 0.
func RunHog() {
	v := os.Getenv(envHog)
	if v == "" {
		return
	}
	mib, err := strconv.Atoi(v)
	if err != nil {
		os.Exit(2)
	}
	var keep [][]byte
	for done := 0; done < mib; done += HogStepMiB {
		b := make([]byte, HogStepMiB<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1 // fresh pages are not resident until written
		}
		keep = append(keep, b)
		time.Sleep(hogStepEvery)
	}
	time.Sleep(500 * time.Millisecond)
	if len(keep) > 0 && keep[0][0] != 1 {
		os.Exit(3) // keeps keep alive to here
	}
	os.Exit(0)
}
