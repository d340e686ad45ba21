// Hostile: a build that never finishes. Each level instantiates the next generic function at two
// new types, so the compiler must stencil 2^30 distinct functions; the builder's timeout must
// kill the compiler's whole process group.
package main

import "github.com/sgde-project/sgde/wasm/guest"

type P[T any] struct{ x T }
type Q[T any] struct{ y, z T }

func f0[T any](n int) int  { return f1[P[T]](n) + f1[Q[T]](n+1) }
func f1[T any](n int) int  { return f2[P[T]](n) + f2[Q[T]](n+1) }
func f2[T any](n int) int  { return f3[P[T]](n) + f3[Q[T]](n+1) }
func f3[T any](n int) int  { return f4[P[T]](n) + f4[Q[T]](n+1) }
func f4[T any](n int) int  { return f5[P[T]](n) + f5[Q[T]](n+1) }
func f5[T any](n int) int  { return f6[P[T]](n) + f6[Q[T]](n+1) }
func f6[T any](n int) int  { return f7[P[T]](n) + f7[Q[T]](n+1) }
func f7[T any](n int) int  { return f8[P[T]](n) + f8[Q[T]](n+1) }
func f8[T any](n int) int  { return f9[P[T]](n) + f9[Q[T]](n+1) }
func f9[T any](n int) int  { return f10[P[T]](n) + f10[Q[T]](n+1) }
func f10[T any](n int) int { return f11[P[T]](n) + f11[Q[T]](n+1) }
func f11[T any](n int) int { return f12[P[T]](n) + f12[Q[T]](n+1) }
func f12[T any](n int) int { return f13[P[T]](n) + f13[Q[T]](n+1) }
func f13[T any](n int) int { return f14[P[T]](n) + f14[Q[T]](n+1) }
func f14[T any](n int) int { return f15[P[T]](n) + f15[Q[T]](n+1) }
func f15[T any](n int) int { return f16[P[T]](n) + f16[Q[T]](n+1) }
func f16[T any](n int) int { return f17[P[T]](n) + f17[Q[T]](n+1) }
func f17[T any](n int) int { return f18[P[T]](n) + f18[Q[T]](n+1) }
func f18[T any](n int) int { return f19[P[T]](n) + f19[Q[T]](n+1) }
func f19[T any](n int) int { return f20[P[T]](n) + f20[Q[T]](n+1) }
func f20[T any](n int) int { return f21[P[T]](n) + f21[Q[T]](n+1) }
func f21[T any](n int) int { return f22[P[T]](n) + f22[Q[T]](n+1) }
func f22[T any](n int) int { return f23[P[T]](n) + f23[Q[T]](n+1) }
func f23[T any](n int) int { return f24[P[T]](n) + f24[Q[T]](n+1) }
func f24[T any](n int) int { return f25[P[T]](n) + f25[Q[T]](n+1) }
func f25[T any](n int) int { return f26[P[T]](n) + f26[Q[T]](n+1) }
func f26[T any](n int) int { return f27[P[T]](n) + f27[Q[T]](n+1) }
func f27[T any](n int) int { return f28[P[T]](n) + f28[Q[T]](n+1) }
func f28[T any](n int) int { return f29[P[T]](n) + f29[Q[T]](n+1) }
func f29[T any](n int) int { return f30[P[T]](n) + f30[Q[T]](n+1) }
func f30[T any](n int) int { var t T; _ = t; return n }

func main() {
	guest.Run(func(map[string]any) (map[string]any, error) {
		return map[string]any{"n": f0[int](1)}, nil
	})
}
