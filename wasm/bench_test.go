package wasm

import (
	"context"
	"fmt"
	"strings"
	"testing"
)

// BenchmarkBuild measures a build that compiles (warm GOCACHE, new source each iteration) and
// one answered from the artefact cache. A cold build (empty GOCACHE) is measured by hand; see
// docs/BENCHMARKS.md.
func BenchmarkBuild(b *testing.B) {
	ctx := context.Background()
	bld, err := NewBuilder(WithCacheDir(b.TempDir()))
	if err != nil {
		b.Fatal(err)
	}
	b.Run("warm", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			src := strings.Replace(okNode, `"s"`, fmt.Sprintf(`"bench%d_%d"`, i, b.N), 1)
			if _, err := bld.Build(ctx, []byte(src), "b.go"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cache-hit", func(b *testing.B) {
		if _, err := bld.Build(ctx, []byte(okNode), "b.go"); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			art, err := bld.Build(ctx, []byte(okNode), "b.go")
			if err != nil || !art.CacheHit {
				b.Fatal(err, art.CacheHit)
			}
		}
	})
}
