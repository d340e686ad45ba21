// Package library is the vetted catalogue the offline teacher searches: code modules shipped
// inside the binary (starting with the arithmetic-program evaluator), prompt refinements and
// consensus settings. It owns only data and pure constructors; it must not decide which entry a
// plan gets (the traces decide that, in package teacher).
package library
