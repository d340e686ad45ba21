package rewrite

import (
	"bytes"
	"runtime"
	"sync"
	"testing"
)

// TestPipelineHammer rewrites the same input from P goroutines at once: a Pipeline is shared
// immutable configuration and the output must be a deterministic function of the input.
func TestPipelineHammer(t *testing.T) {
	const P, N = 8, 20
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(P / 2))
	in := testModule(t)
	p := NewPipeline().WithMergeData(DefaultMergeGap).WithMeter(0).WithStackLimit(1000)
	want, err := p.Rewrite(in)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan string, P)
	for g := 0; g < P; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for i := 0; i < N; i++ {
				got, err := p.Rewrite(in)
				if err != nil || !bytes.Equal(got, want) {
					errs <- "output differs between concurrent rewrites"
					return
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}
