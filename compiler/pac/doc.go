// Package pac computes the sample-complexity bound the compiler reports for a plan: how many
// training items make a plan's empirical risk a probably-approximately-correct estimate. It owns
// the arithmetic and the definition of k for a plan; it must not run plans or read data.
package pac
