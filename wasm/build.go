package wasm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sgde-project/sgde/internal/cachedir"
	"github.com/sgde-project/sgde/wasm/abi"
)

// Build errors callers branch on with errors.Is. ErrBuildTimeout wraps ErrBuildFailed.
var (
	ErrBuildFailed  = errors.New("build failed")
	ErrBuildTimeout = fmt.Errorf("build timed out: %w", ErrBuildFailed)
)

// Toolchain names accepted by WithToolchain.
const (
	ToolchainAuto   = ""       // tinygo when it is on PATH, else go
	ToolchainGo     = "go"     // GOOS=wasip1 GOARCH=wasm go build
	ToolchainTinyGo = "tinygo" // tinygo build -target=wasip1
)

// DefaultBuildTimeout bounds one compilation. A cold build compiles the standard library for
// wasip1 once (tens of seconds on a small machine); warm builds take a few seconds.
const DefaultBuildTimeout = 3 * time.Minute

// maxBuildLog bounds how much compiler output an error carries.
const maxBuildLog = 4 << 10

// Bounds of the compiler, which runs as a child process (docs/SECURITY.md): a hostile source can
// make the Go compiler allocate and write without end (a string constant doubled 26 times makes
// a 540 MB module with a 4 GB process tree).
const (
	// MaxArtifactBytes bounds a built module (the sandbox refuses larger ones too): the linker
	// cannot write a larger file, and a larger artefact is an error, never cached.
	MaxArtifactBytes = 64 << 20
	// DefaultBuildMemoryBytes caps the address space of the go command and of each compiler and
	// linker it starts (RLIMIT_AS, Linux), and the memory of the whole process tree: all of it
	// in a cgroup, three quarters of it resident without one, for all of the process's builds
	// together (the supervisor, supervise.go).
	// 512 MiB is too little for the go command itself; a cold build of the standard library
	// for wasip1 peaks at about 240 MiB resident for the whole tree.
	DefaultBuildMemoryBytes = 1 << 30
	// BuildParallelism bounds the compilers and linkers one build runs at once (go build -p),
	// and so its process tree: the go command and at most this many tools, each under its
	// address-space cap. Only a cold build (the standard library) compiles packages in parallel.
	BuildParallelism = 2
	// DefaultCacheMaxBytes bounds the artefact cache; the least recently used entries go first.
	DefaultCacheMaxBytes = 1 << 30
	// DefaultGoCacheMaxBytes bounds the compiler's build cache (GOCACHE) the same way, whether
	// it is sgde's own or one given by SGDE_GOCACHE or WithGoCache; the standard library for
	// wasip1 takes about 250 MiB of it. EnvGoCacheMaxBytes overrides it.
	DefaultGoCacheMaxBytes = 4 << 30
)

// EnvGoCacheMaxBytes names the environment variable that overrides DefaultGoCacheMaxBytes: a
// number of bytes, or 0 for no bound (for a build cache its owner bounds, such as the go
// command's own cache the tests share, which the go command trims by age).
const EnvGoCacheMaxBytes = "SGDE_GOCACHE_MAX_BYTES"

// goCacheTrimEvery spaces out the trimming of the build cache: it walks the whole directory,
// which for a shared Go cache holds tens of thousands of files.
const goCacheTrimEvery = 10 * time.Minute

// buildLimits are the resource limits of one compiler run.
type buildLimits struct {
	memory, cpuSeconds, fileBytes uint64
}

// Artifact is a built code node.
type Artifact struct {
	// Wasm is the module. Callers must not modify it.
	Wasm []byte
	// Digest is "sha256:<hex>" of Wasm.
	Digest string
	// SourceDigest is "sha256:<hex>" of the node's source.
	SourceDigest string
	// SDKDigest identifies the guest SDK the node was linked against.
	SDKDigest string
	// Toolchain is the compiler's version line, e.g. "go version go1.26.8 linux/amd64".
	Toolchain string
	// CacheHit reports that Wasm came from the artefact cache rather than a compiler.
	CacheHit bool
	// Duration is the wall time Build took, cache lookup included.
	Duration time.Duration
}

// Builder validates and compiles code nodes. It is safe for concurrent use; identical concurrent
// builds in one process share one compilation.
type Builder struct {
	cacheDir  string
	goCache   string
	timeout   time.Duration
	toolchain string
	parallel  int
	reactor   bool
	// Resource bounds: see MaxArtifactBytes and the defaults next to it.
	memory     uint64
	cacheMax   int64
	goCacheMax int64
	// trimEvery is the least time between two trims of the build cache (goCacheTrimEvery);
	// trimmed is when the last one ran (guarded by mu).
	trimEvery time.Duration
	trimmed   time.Time

	// cgroup is the cgroup v2 group under which each compiler run gets a child group bounding
	// its whole process tree; nil where there is none (the rlimits only).
	cgroup *cgroupParent

	bin      string // absolute path of the compiler driver
	verOnce  sync.Once
	version  string
	verErr   error
	sem      chan struct{}
	mu       sync.Mutex
	inflight map[string]*flight
}

type flight struct {
	done chan struct{}
	art  *Artifact
	err  error
}

// BuilderOption configures a Builder.
type BuilderOption func(*Builder)

// WithCacheDir sets the artefact cache directory; "" disables the cache.
func WithCacheDir(dir string) BuilderOption { return func(b *Builder) { b.cacheDir = dir } }

// WithGoCache sets the compiler's build cache (GOCACHE). It is content-addressed, so sharing it
// between builds is safe and makes warm builds fast.
func WithGoCache(dir string) BuilderOption { return func(b *Builder) { b.goCache = dir } }

// WithTimeout bounds one compilation; the compiler's whole process group is killed when it runs
// out.
func WithTimeout(d time.Duration) BuilderOption { return func(b *Builder) { b.timeout = d } }

// WithToolchain chooses the compiler: ToolchainAuto, ToolchainGo or ToolchainTinyGo.
func WithToolchain(name string) BuilderOption { return func(b *Builder) { b.toolchain = name } }

// WithBuildMemory caps the address space of each compiler process and the memory of the
// compiler's process tree (default DefaultBuildMemoryBytes, which says how; Linux only).
func WithBuildMemory(bytes uint64) BuilderOption { return func(b *Builder) { b.memory = bytes } }

// WithCacheLimits bounds the artefact cache and the compiler's build cache in bytes (defaults
// DefaultCacheMaxBytes and DefaultGoCacheMaxBytes, or $SGDE_GOCACHE_MAX_BYTES for the build
// cache; 0 for no bound). After each compilation the least recently used files of the
// artefact cache go until it is within its bound, and those of the build cache too, at most
// once every ten minutes per Builder (the first compilation always trims).
func WithCacheLimits(artifacts, goCache int64) BuilderOption {
	return func(b *Builder) { b.cacheMax, b.goCacheMax = artifacts, goCache }
}

// WithParallel bounds how many compilations one Builder runs at once (default 2).
func WithParallel(n int) BuilderOption { return func(b *Builder) { b.parallel = n } }

// reactorEntryFile is added to a node built with WithReactor: it exports abi.ReactorEntry, which
// runs the node's main (and so guest.Run) once per call, so the same source works both ways.
// Its init warms the SDK's JSON paths (guest.Prewarm) so that the pre-initialised snapshot,
// taken after init, holds them warm; no node code runs before the first call.
const reactorEntryFile = "package main\n\nimport sgdeguest \"" + SDKImportPath + "\"\n\n" +
	"func init() { sgdeguest.Prewarm() }\n\n" +
	"//go:wasmexport " + abi.ReactorEntry + "\nfunc sgdeReactorEntry() { main() }\n"

// WithReactor builds nodes as reactors (-buildmode=c-shared, exporting _initialize and
// abi.ReactorEntry instead of _start), which the metered sandbox engine pre-initialises once and
// serves from restored pooled instances. Go toolchain only.
func WithReactor() BuilderOption { return func(b *Builder) { b.reactor = true } }

// Reactor reports whether b builds reactors (WithReactor). runtime.New uses it to refuse a
// builder whose modules its engine cannot run.
func (b *Builder) Reactor() bool { return b.reactor }

// NewBuilder returns a Builder. By default artefacts are cached in cachedir.Root()/artifacts and the
// compiler's cache is $SGDE_GOCACHE when set (for example `go env GOCACHE`, to share the Go build
// cache the tests were compiled into), else cachedir.Root()/gocache.
func NewBuilder(opts ...BuilderOption) (*Builder, error) {
	root, rootErr := cachedir.Root()
	b := &Builder{timeout: DefaultBuildTimeout, parallel: 2, inflight: map[string]*flight{},
		memory: DefaultBuildMemoryBytes, cacheMax: DefaultCacheMaxBytes, goCacheMax: DefaultGoCacheMaxBytes}
	b.trimEvery = goCacheTrimEvery
	if rootErr == nil {
		b.cacheDir = filepath.Join(root, "artifacts")
		b.goCache = filepath.Join(root, "gocache")
	}
	if d := os.Getenv("SGDE_GOCACHE"); d != "" {
		b.goCache = d
	}
	if v := os.Getenv(EnvGoCacheMaxBytes); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("new builder: %s=%q is not a number of bytes", EnvGoCacheMaxBytes, v)
		}
		b.goCacheMax = n
	}
	for _, o := range opts {
		o(b)
	}
	if b.goCache == "" {
		if rootErr != nil {
			return nil, rootErr
		}
		return nil, errors.New("new builder: empty GOCACHE directory")
	}
	if b.timeout <= 0 {
		return nil, fmt.Errorf("new builder: timeout %v is not positive", b.timeout)
	}
	if b.parallel <= 0 {
		b.parallel = 1
	}
	b.sem = make(chan struct{}, b.parallel)
	if cg, err := detectCgroup(); err == nil {
		b.cgroup = cg
	}
	if b.reactor && b.toolchain == ToolchainAuto {
		b.toolchain = ToolchainGo // tinygo's wasip1 target has no reactor mode we rely on
	}
	switch b.toolchain {
	case ToolchainAuto:
		if p, err := exec.LookPath("tinygo"); err == nil {
			b.toolchain, b.bin = ToolchainTinyGo, p
		} else if p, err := exec.LookPath("go"); err == nil {
			b.toolchain, b.bin = ToolchainGo, p
		} else {
			return nil, fmt.Errorf("new builder: neither tinygo nor go is on PATH: %w", ErrBuildFailed)
		}
	case ToolchainGo, ToolchainTinyGo:
		p, err := exec.LookPath(b.toolchain)
		if err != nil {
			return nil, fmt.Errorf("new builder: %w: %w", err, ErrBuildFailed)
		}
		b.bin = p
	default:
		return nil, fmt.Errorf("new builder: unknown toolchain %q", b.toolchain)
	}
	if b.reactor && b.toolchain != ToolchainGo {
		return nil, fmt.Errorf("new builder: reactor builds need the go toolchain, not %s", b.toolchain)
	}
	if abs, err := filepath.Abs(b.bin); err == nil {
		b.bin = abs
	}
	return b, nil
}

// ToolchainVersion returns the compiler's version line; it is part of every cache key.
func (b *Builder) ToolchainVersion(ctx context.Context) (string, error) {
	b.verOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		dir, err := os.MkdirTemp("", "sgde-version-*")
		if err != nil {
			b.verErr = err
			return
		}
		defer os.RemoveAll(dir)
		out, err := b.run(ctx, dir, dir, "version")
		if err != nil {
			b.verErr = fmt.Errorf("%s version: %w: %s", b.toolchain, err, truncate(out, maxBuildLog))
			return
		}
		b.version = strings.TrimSpace(string(out))
	})
	return b.version, b.verErr
}

// flags is everything besides the source, the SDK and the toolchain that changes the output.
func (b *Builder) flags() []string {
	if b.toolchain == ToolchainTinyGo {
		return []string{"build", "-target=wasip1", "-opt=2", "-no-debug", "-o", "node.wasm", "."}
	}
	if b.reactor {
		return []string{"build", "-buildmode=c-shared", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", "node.wasm", "."}
	}
	return []string{"build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", "node.wasm", "."}
}

// Build validates src and compiles it, or returns the cached module for the same source, SDK,
// toolchain and flags. name is used in messages only. Errors wrap ErrRejected, ErrBuildFailed,
// ErrBuildTimeout or ErrBuildMemory (both of which wrap ErrBuildFailed), or are the context's
// error.
func (b *Builder) Build(ctx context.Context, src []byte, name string) (*Artifact, error) {
	start := time.Now()
	if name == "" {
		name = "node.go"
	}
	if err := Validate(src, name); err != nil {
		return nil, err
	}
	version, err := b.ToolchainVersion(ctx)
	if err != nil {
		return nil, fmt.Errorf("build %s: %w: %w", name, err, ErrBuildFailed)
	}
	sum := sha256.Sum256(src)
	art := &Artifact{
		SourceDigest: "sha256:" + hex.EncodeToString(sum[:]),
		SDKDigest:    SDKDigest(),
		Toolchain:    version,
	}
	key := cacheKey(art.SourceDigest, art.SDKDigest, version, b.toolchain, b.flags())

	// One compilation per key per process; others wait for it.
	b.mu.Lock()
	if f, ok := b.inflight[key]; ok {
		b.mu.Unlock()
		select {
		case <-f.done:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if f.err != nil {
			if ctx.Err() == nil && (errors.Is(f.err, context.Canceled) || errors.Is(f.err, context.DeadlineExceeded)) {
				// The caller that led the build gave up; this one has not.
				return b.Build(ctx, src, name)
			}
			return nil, f.err
		}
		cp := *f.art
		cp.CacheHit = true
		cp.Duration = time.Since(start)
		return &cp, nil
	}
	f := &flight{done: make(chan struct{})}
	b.inflight[key] = f
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.inflight, key)
		b.mu.Unlock()
		close(f.done)
	}()

	if b.cacheDir != "" {
		if wasm, sum, ok := readCache(b.cacheDir, key); ok {
			touch(cachePath(b.cacheDir, key)) // recently used: evicted last
			art.Wasm, art.Digest, art.CacheHit = wasm, sum, true
			art.Duration = time.Since(start)
			f.art = art
			return art, nil
		}
	}
	wasm, err := b.compile(ctx, src, name)
	if err != nil {
		f.err = err
		return nil, err
	}
	art.Wasm, art.Digest = wasm, digest(wasm)
	if b.cacheDir != "" {
		// A cache that cannot be written costs speed, never correctness.
		_ = writeCache(b.cacheDir, key, wasm)
		trimDir(b.cacheDir, b.cacheMax)
	}
	b.trimGoCache()
	art.Duration = time.Since(start)
	f.art = art
	return art, nil
}

// trimGoCache trims the build cache to its bound unless it was trimmed less than trimEvery ago.
// The go command marks the entries it uses (their mtime, to the hour), so the least recently
// used go first; one that a concurrent build still needs is a cache miss for it, not an error.
func (b *Builder) trimGoCache() {
	if b.goCacheMax <= 0 {
		return
	}
	b.mu.Lock()
	if !b.trimmed.IsZero() && time.Since(b.trimmed) < b.trimEvery {
		b.mu.Unlock()
		return
	}
	b.trimmed = time.Now()
	b.mu.Unlock()
	trimDir(b.goCache, b.goCacheMax)
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// compile builds src in a fresh private module that holds only the node and the SDK.
func (b *Builder) compile(ctx context.Context, src []byte, name string) ([]byte, error) {
	select {
	case b.sem <- struct{}{}:
		defer func() { <-b.sem }()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	tmp, err := os.MkdirTemp("", "sgde-build-*")
	if err != nil {
		return nil, fmt.Errorf("build %s: %w: %w", name, err, ErrBuildFailed)
	}
	defer os.RemoveAll(tmp)
	nodeDir := filepath.Join(tmp, "node")
	if err := b.writeModule(tmp, src); err != nil {
		return nil, fmt.Errorf("build %s: %w: %w", name, err, ErrBuildFailed)
	}
	bctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	out, err := b.run(bctx, tmp, nodeDir, b.flags()...)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if bctx.Err() != nil {
			return nil, fmt.Errorf("build %s: compiler ran longer than %v: %w", name, b.timeout, ErrBuildTimeout)
		}
		if errors.Is(err, ErrBuildMemory) {
			return nil, fmt.Errorf("build %s: %w", name, err)
		}
		log := strings.ReplaceAll(string(out), tmp+string(filepath.Separator), "")
		log = nodeFileRef.ReplaceAllString(log, name)
		return nil, fmt.Errorf("build %s: %w: %s", name, ErrBuildFailed, truncate([]byte(log), maxBuildLog))
	}
	modPath := filepath.Join(nodeDir, "node.wasm")
	if fi, err := os.Stat(modPath); err == nil && fi.Size() > MaxArtifactBytes {
		return nil, fmt.Errorf("build %s: %w: module is %d bytes, the limit is %d", name, ErrBuildFailed, fi.Size(), MaxArtifactBytes)
	}
	wasm, err := os.ReadFile(modPath)
	if err != nil {
		return nil, fmt.Errorf("build %s: compiler wrote no module: %w: %w", name, err, ErrBuildFailed)
	}
	return wasm, nil
}

var (
	nodeFileRef = regexp.MustCompile(`(?:\./|node/)?node\.go\b`)
	goVersion   = regexp.MustCompile(`go(1\.\d+)`)
)

func (b *Builder) writeModule(tmp string, src []byte) error {
	goLine := "1.22"
	if m := goVersion.FindStringSubmatch(b.version); m != nil {
		goLine = m[1]
	}
	files := map[string][]byte{
		"node/go.mod":  []byte("module sgdenode\n\ngo " + goLine + "\n\nrequire github.com/sgde-project/sgde v0.0.0\n\nreplace github.com/sgde-project/sgde => ../sdk\n"),
		"node/node.go": src,
		"sdk/go.mod":   []byte("module github.com/sgde-project/sgde\n\ngo " + goLine + "\n"),
	}
	for _, f := range sdkFiles() {
		files["sdk/wasm/guest/"+f.name] = f.data
	}
	if b.reactor {
		files["node/sgde_reactor_entry.go"] = []byte(reactorEntryFile)
	}
	for _, d := range []string{"home", "tmp", "gopath", "node", "sdk/wasm/guest"} {
		if err := os.MkdirAll(filepath.Join(tmp, d), 0o700); err != nil {
			return err
		}
	}
	for p, data := range files {
		if err := os.WriteFile(filepath.Join(tmp, p), data, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// run executes the toolchain in dir with a clean environment: no network, no cgo, no user
// configuration, and a process group that is killed whole when ctx ends.
func (b *Builder) run(ctx context.Context, tmp, dir string, args ...string) ([]byte, error) {
	if err := os.MkdirAll(b.goCache, 0o700); err != nil {
		return nil, err
	}
	// Go telemetry off in the private HOME: in its default ("local") mode the go command starts
	// a detached child that writes counters under HOME after the build returns, which used to
	// recreate the temporary directory after it was removed (a $TMPDIR/sgde-version-N per run).
	telemetry := filepath.Join(tmp, "home", ".config", "go", "telemetry")
	if err := os.MkdirAll(telemetry, 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(telemetry, "mode"), []byte("off"), 0o600); err != nil {
		return nil, err
	}
	// A file as large as the largest artefact: the module and every build-cache object.
	lim := buildLimits{memory: b.memory, cpuSeconds: uint64(max(b.timeout/time.Second, 1)), fileBytes: MaxArtifactBytes}
	env := []string{
		"PATH=" + filepath.Dir(b.bin) + string(os.PathListSeparator) + "/usr/bin:/bin",
		"HOME=" + filepath.Join(tmp, "home"),
		"TMPDIR=" + filepath.Join(tmp, "tmp"),
		"GOPATH=" + filepath.Join(tmp, "gopath"),
		"GOMODCACHE=" + filepath.Join(tmp, "gopath", "pkg", "mod"),
		"GOCACHE=" + b.goCache,
		"XDG_CACHE_HOME=" + filepath.Join(b.goCache, "xdg"),
		"GOENV=off",
		// At most BuildParallelism compilers and linkers at once: the process tree's memory is
		// that many times a compiler's (each capped by RLIMIT_AS), not GOMAXPROCS times.
		fmt.Sprintf("GOFLAGS=-mod=mod -p=%d", BuildParallelism),
		"GOPROXY=off",
		"GOSUMDB=off",
		"GOTOOLCHAIN=local",
		"GOTELEMETRY=off",
		"GOWORK=off",
		"CGO_ENABLED=0",
		// The garbage collector works harder before a compiler reaches its address-space cap.
		fmt.Sprintf("GOMEMLIMIT=%d", b.memory/2),
		"GOOS=wasip1",
		"GOARCH=wasm",
	}
	// The supervisor (where no cgroup bounds the tree) stops the compiler through this context,
	// so that exec's own cancellation kills the process group, never after Wait returned.
	ctx, killForMemory := context.WithCancel(ctx)
	defer killForMemory()
	var out cappedBuffer
	out.max = 64 << 10
	start := func(cg *buildCgroup) (*exec.Cmd, error) {
		bin, argv := limitedCommand(b.bin, args, lim)
		cmd := exec.CommandContext(ctx, bin, argv...)
		cmd.Dir, cmd.Env = dir, env
		cmd.Stdout, cmd.Stderr = &out, &out
		setProcessGroup(cmd)
		if cg != nil {
			intoCgroup(cmd, cg)
			killGroup := cmd.Cancel
			cmd.Cancel = func() error { cg.kill(); return killGroup() }
		}
		cmd.WaitDelay = 5 * time.Second
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		if err := limitChild(cmd.Process.Pid, lim); err != nil {
			_ = cmd.Cancel()
			_ = cmd.Wait()
			return nil, err
		}
		return cmd, nil
	}
	var cg *buildCgroup
	if b.cgroup != nil && b.memory > 0 {
		cg, _ = b.cgroup.newChild(b.memory) // on failure the rlimits alone bound the build
	}
	cmd, err := start(cg)
	if err != nil && cg != nil {
		// The kernel refused to start the compiler in the group (clone3 not allowed, say): the
		// rlimits alone bound it.
		cg.release()
		cg = nil
		cmd, err = start(nil)
	}
	if err != nil {
		return nil, err
	}
	var sup *memorySupervisor
	if cg == nil && b.memory > 0 {
		// Without a cgroup the rlimits bound each process, not the tree: the supervisor bounds
		// the tree's resident memory (docs/RATIONALE.md, "The build's memory without a cgroup").
		sup = superviseMemory(cmd.Process.Pid, b.treeBound(), BuildSampleInterval, killForMemory)
	}
	err = cmd.Wait()
	if sup != nil {
		if peak, killed, total := sup.end(); killed {
			err = fmt.Errorf("%w: the compiler's process tree held %d MiB resident, the most of the %d MiB this process's builds held, over their bound of %d MiB (read every %v)", ErrBuildMemory, peak>>20, total>>20, b.treeBound()>>20, BuildSampleInterval)
		}
	}
	if cg != nil {
		// Anything the compiler left behind goes with the group.
		if n := cg.release(); n > 0 && err != nil {
			err = fmt.Errorf("%w: the kernel killed %d compiler processes at the build's memory limit of %d MiB (%w)", ErrBuildMemory, n, b.memory>>20, err)
		}
	}
	return out.Bytes(), err
}

// cappedBuffer keeps the first max bytes written to it and discards the rest.
type cappedBuffer struct {
	bytes.Buffer
	max int
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	if room := c.max - c.Len(); room > 0 {
		if len(p) > room {
			c.Buffer.Write(p[:room])
		} else {
			c.Buffer.Write(p)
		}
	}
	return len(p), nil
}

func truncate(b []byte, n int) string {
	s := strings.TrimSpace(string(b))
	if len(s) > n {
		return s[:n] + fmt.Sprintf("... (%d bytes truncated)", len(s)-n)
	}
	return s
}
