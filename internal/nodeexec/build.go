package nodeexec

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/sgde-project/sgde/wasm"
)

// Build reads, validates and builds the code node at srcPath within timeout; with reactor set
// it builds a reactor (initialised once, served from pooled snapshots) instead of a command.
func Build(ctx context.Context, srcPath string, timeout time.Duration, reactor bool) (*wasm.Artifact, error) {
	src, err := os.ReadFile(srcPath)
	if err != nil {
		return nil, err
	}
	opts := []wasm.BuilderOption{wasm.WithTimeout(timeout)}
	if reactor {
		opts = append(opts, wasm.WithReactor())
	}
	b, err := wasm.NewBuilder(opts...)
	if err != nil {
		return nil, err
	}
	return b.Build(ctx, src, filepath.Base(srcPath))
}

// BuildReport is the --json output of sgde build.
type BuildReport struct {
	Source       string `json:"source"`
	Digest       string `json:"digest"`
	SourceDigest string `json:"source_digest"`
	SDKDigest    string `json:"sdk_digest"`
	Toolchain    string `json:"toolchain"`
	Size         int    `json:"size"`
	DurationMS   int64  `json:"duration_ms"`
	CacheHit     bool   `json:"cache_hit"`
	Output       string `json:"output,omitempty"`
}

// NewBuildReport describes art, built from source and written to output ("" for nowhere).
func NewBuildReport(source string, art *wasm.Artifact, output string) BuildReport {
	return BuildReport{
		Source: source, Digest: art.Digest, SourceDigest: art.SourceDigest, SDKDigest: art.SDKDigest,
		Toolchain: art.Toolchain, Size: len(art.Wasm), DurationMS: art.Duration.Milliseconds(),
		CacheHit: art.CacheHit, Output: output,
	}
}

// BuildErrorJSON describes a build failure: kind is "rejected", "build_timeout" or
// "build_failed"; a rejection lists its violations.
func BuildErrorJSON(err error) map[string]any {
	out := map[string]any{"kind": "build_failed", "message": err.Error()}
	var verr *wasm.ValidationError
	switch {
	case errors.As(err, &verr):
		out["kind"] = "rejected"
		vs := make([]map[string]any, 0, len(verr.Violations))
		for _, v := range verr.Violations {
			vs = append(vs, map[string]any{"line": v.Line, "column": v.Column, "rule": v.Rule, "message": v.Message})
		}
		out["violations"] = vs
	case errors.Is(err, wasm.ErrBuildTimeout):
		out["kind"] = "build_timeout"
	}
	return out
}

// WriteJSONLine writes v as one JSON line; a value that cannot be encoded becomes an
// {"error": {"kind": "internal"}} line, so that a --json reader always gets one line.
func WriteJSONLine(w io.Writer, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(map[string]any{"error": map[string]any{"kind": "internal", "message": err.Error()}})
	}
	w.Write(append(b, '\n'))
}
