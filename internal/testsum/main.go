// Command testsum runs `go test -json ...` and prints what a person watching `make test` needs:
// one go-test-style line per package as it finishes, the full output of every failing test, the
// tests slower than -slow as they pass, and a heartbeat naming the tests still running whenever
// nothing else was printed for -heartbeat. It ends with the slowest packages and tests and a
// closing line in go test's format (`ok` or `FAIL`), and exits non-zero if the command or any
// test failed.
//
//	go run ./internal/testsum -- go test -json -race ./...
//
// Any other command (go vet ./...) gets the heartbeat and the closing line too.
//
// It exists because plain `go test ./...` buffers each package's output until the package ends,
// which left `make test` silent for up to 15 minutes; `go test -json` streams events instead.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"sort"
	"strings"
	"sync"
	"time"
)

func main() {
	heartbeat := flag.Duration("heartbeat", 30*time.Second, "print the running tests after this long without output")
	slow := flag.Duration("slow", 10*time.Second, "print top-level tests that take at least this long")
	top := flag.Int("top", 8, "how many of the slowest packages and tests to list at the end")
	raw := flag.String("json", "", "also save the command's standard output (the event stream) to this `file`")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: testsum [flags] -- go test -json [args]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	var tee *os.File
	if *raw != "" {
		f, err := os.Create(*raw)
		if err != nil {
			fmt.Fprintln(os.Stderr, "testsum:", err)
			os.Exit(2)
		}
		tee = f
	}
	var w io.Writer
	if tee != nil {
		w = tee
	}
	code := run(ctx, flag.Args(), os.Stdout, w, *heartbeat, *slow, *top)
	if tee != nil {
		if err := tee.Close(); err != nil && code == 0 {
			fmt.Fprintln(os.Stderr, "testsum:", err)
			code = 1
		}
	}
	stop()
	os.Exit(code)
}

// event is one line of `go test -json` (cmd/test2json).
type event struct {
	Time    time.Time
	Action  string
	Package string
	Test    string
	Elapsed float64
	Output  string
}

// summary turns the event stream into the lines testsum prints. Its methods are called from the
// reader and from the heartbeat, so they hold mu.
type summary struct {
	mu       sync.Mutex
	out      io.Writer
	start    time.Time
	lastOut  time.Time
	slow     time.Duration
	running  map[string]time.Time // "pkg\x00Test" of running top-level tests -> start
	output   map[string][]string  // "pkg\x00Test" -> output lines, kept until the test ends
	pkgTimes map[string]float64
	tests    []testTime
	failed   []string // packages that failed
	packages int
	command  string // the command line, for lines about a command that is not go test -json
	skipped  map[string]int
}

type testTime struct {
	name    string
	elapsed float64
}

func newSummary(out io.Writer, slow time.Duration) *summary {
	now := time.Now()
	return &summary{
		out: out, start: now, lastOut: now, slow: slow,
		running:  map[string]time.Time{},
		output:   map[string][]string{},
		pkgTimes: map[string]float64{},
		skipped:  map[string]int{},
	}
}

func (s *summary) printf(format string, args ...any) {
	fmt.Fprintf(s.out, format, args...)
	s.lastOut = time.Now()
}

func short(pkg string) string {
	if i := strings.Index(pkg, "/sgde/"); i >= 0 {
		return pkg[i+len("/sgde/"):]
	}
	return pkg
}

// line handles one line of the command's standard output.
func (s *summary) line(raw []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var e event
	if len(raw) == 0 || raw[0] != '{' || json.Unmarshal(raw, &e) != nil {
		s.printf("%s\n", raw) // not an event: build errors from older go commands, panics
		return
	}
	key := e.Package + "\x00" + e.Test
	top := e.Test != "" && !strings.Contains(e.Test, "/")
	switch e.Action {
	case "build-output":
		s.printf("%s", e.Output)
	case "run":
		if top {
			s.running[key] = time.Now()
		}
	case "output":
		if e.Test == "" {
			// Package-level output: keep it for a failure report (panics land here).
			s.output[key] = append(s.output[key], e.Output)
			return
		}
		// Subtest output is reported under its top-level test.
		parent := e.Package + "\x00" + strings.SplitN(e.Test, "/", 2)[0]
		s.output[parent] = append(s.output[parent], e.Output)
	case "skip":
		if e.Test == "" {
			s.printf("?   \t%s\t[no test files]\n", e.Package)
			return
		}
		s.skipped[e.Package]++
		if top {
			delete(s.running, key)
			delete(s.output, key)
		}
	case "pass":
		if e.Test == "" {
			s.packageDone(e, "ok  ")
			return
		}
		if top {
			delete(s.running, key)
			delete(s.output, key)
			s.tests = append(s.tests, testTime{short(e.Package) + " " + e.Test, e.Elapsed})
			if time.Duration(e.Elapsed*float64(time.Second)) >= s.slow {
				s.printf("    %-28s %-48s %6.1fs\n", short(e.Package), e.Test, e.Elapsed)
			}
		}
	case "fail":
		if e.Test == "" {
			s.packageDone(e, "FAIL")
			return
		}
		if top {
			delete(s.running, key)
			s.printf("--- FAIL: %s %s (%.2fs)\n", short(e.Package), e.Test, e.Elapsed)
			for _, l := range s.output[key] {
				s.printf("%s", l)
			}
			delete(s.output, key)
			s.tests = append(s.tests, testTime{short(e.Package) + " " + e.Test, e.Elapsed})
		}
	}
}

func (s *summary) packageDone(e event, verdict string) {
	key := e.Package + "\x00"
	s.packages++
	s.pkgTimes[e.Package] = e.Elapsed
	if verdict == "FAIL" {
		s.failed = append(s.failed, e.Package)
		for _, l := range s.output[key] {
			s.printf("%s", l)
		}
	}
	delete(s.output, key)
	note := ""
	if n := s.skipped[e.Package]; n > 0 {
		note = fmt.Sprintf("\t(%d skipped)", n)
	}
	s.printf("%s\t%s\t%.3fs%s\n", verdict, e.Package, e.Elapsed, note)
}

// beat prints the running tests if nothing was printed for every.
func (s *summary) beat(every time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if now.Sub(s.lastOut) < every {
		return
	}
	var names []string
	for k, t := range s.running {
		pkg, test, _ := strings.Cut(k, "\x00")
		names = append(names, fmt.Sprintf("%s %s (%s)", short(pkg), test, now.Sub(t).Round(time.Second)))
	}
	sort.Strings(names)
	what := "building or starting test binaries"
	if s.command != "" && s.packages == 0 {
		what = "still running " + s.command
	}
	if len(names) > 0 {
		what = "running " + strings.Join(names, ", ")
	}
	s.printf("testsum: %s elapsed, %d packages done; %s\n", now.Sub(s.start).Round(time.Second), s.packages, what)
}

// close prints the slowest packages and tests and the closing line.
func (s *summary) close(top int, cmdErr error) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	type kv struct {
		k string
		v float64
	}
	var pkgs []kv
	for k, v := range s.pkgTimes {
		pkgs = append(pkgs, kv{short(k), v})
	}
	sort.Slice(pkgs, func(i, j int) bool { return pkgs[i].v > pkgs[j].v })
	sort.Slice(s.tests, func(i, j int) bool { return s.tests[i].elapsed > s.tests[j].elapsed })
	if len(pkgs) > 0 {
		s.printf("testsum: slowest packages (test binary time):")
		for i := 0; i < len(pkgs) && i < top; i++ {
			s.printf(" %s %.0fs;", pkgs[i].k, pkgs[i].v)
		}
		s.printf("\ntestsum: slowest tests:")
		for i := 0; i < len(s.tests) && i < top; i++ {
			s.printf(" %s %.0fs;", s.tests[i].name, s.tests[i].elapsed)
		}
		s.printf("\n")
	}
	wall := time.Since(s.start).Seconds()
	if cmdErr != nil || len(s.failed) > 0 {
		if cmdErr != nil {
			s.printf("testsum: %v\n", cmdErr)
		}
		s.printf("FAIL\t%d packages, %d failed\t%.3fs\n", s.packages, len(s.failed), wall)
		return 1
	}
	if s.packages == 0 && s.command != "" {
		s.printf("ok  \t%s\t%.3fs\n", s.command, wall) // not go test (go vet, say): its verdict
		return 0
	}
	s.printf("ok  \t%d packages\t%.3fs\n", s.packages, wall)
	return 0
}

func run(ctx context.Context, args []string, out, tee io.Writer, heartbeat, slow time.Duration, top int) int {
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		fmt.Fprintf(os.Stderr, "testsum: %v\n", err)
		return 2
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "testsum: start %s: %v\n", args[0], err)
		return 2
	}
	s := newSummary(out, slow)
	s.command = strings.Join(args, " ")
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				s.beat(heartbeat)
			}
		}
	}()
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64*1024), 16<<20)
	for sc.Scan() {
		if tee != nil {
			tee.Write(sc.Bytes())
			tee.Write([]byte{'\n'})
		}
		s.line(sc.Bytes())
	}
	readErr := sc.Err()
	waitErr := cmd.Wait()
	close(done)
	wg.Wait()
	if waitErr == nil && readErr != nil {
		waitErr = fmt.Errorf("read %s output: %w", args[0], readErr)
	}
	var exit *exec.ExitError
	if errors.As(waitErr, &exit) {
		waitErr = fmt.Errorf("%s exited with status %d", strings.Join(args, " "), exit.ExitCode())
	}
	return s.close(top, waitErr)
}
