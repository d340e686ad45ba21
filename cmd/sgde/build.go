package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sgde-project/sgde/internal/atomicfile"
	"github.com/sgde-project/sgde/wasm"
)

func buildCommand() *cli.Command {
	return &cli.Command{
		Name:  "build",
		Usage: "validate a code node and build it to a WebAssembly module",
		UsageText: "sgde build SRC.go [-o MOD.wasm] [--json]\n\n" +
			"The source must be one package main file that imports only the guest SDK and the allowlisted\n" +
			"standard packages (see docs/CODE_NODES.md). Builds are cached by content under\n" +
			"$SGDE_CACHE_DIR (default: the user cache directory, sgde/). Exit 1 if the source is rejected\n" +
			"or fails to build.\n\n" +
			"Example:\n   sgde build compiler/library/modules/arith/arith_program.go -o /tmp/arith.wasm --json",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write the module to `FILE`"},
			&cli.BoolFlag{Name: "json", Usage: "print one JSON object instead of text"},
			&cli.DurationFlag{Name: "build-timeout", Value: wasm.DefaultBuildTimeout, Usage: "bound on the compiler's wall time"},
		},
		Action: runBuild,
	}
}

// buildReport is the --json output of sgde build.
type buildReport struct {
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

func runBuild(c *cli.Context) error {
	if c.NArg() != 1 {
		return usagef("build takes exactly one SRC.go argument, got %d", c.NArg())
	}
	srcPath := c.Args().First()
	if !strings.HasSuffix(srcPath, ".go") {
		return usagef("build: %s is not a .go file", srcPath)
	}
	jsonOut, timeout, outPath := c.Bool("json"), c.Duration("build-timeout"), c.String("output")
	art, err := buildSource(c, srcPath, timeout)
	if err != nil {
		if jsonOut {
			writeJSONLine(c.App.Writer, map[string]any{"error": buildErrorJSON(err)})
		}
		return err
	}
	if outPath != "" {
		if err := atomicfile.Write(outPath, art.Wasm, 0o644); err != nil {
			return withCode(exitFailure, fmt.Errorf("write %s: %w", outPath, err))
		}
	}
	if jsonOut {
		writeJSONLine(c.App.Writer, buildReport{
			Source: srcPath, Digest: art.Digest, SourceDigest: art.SourceDigest, SDKDigest: art.SDKDigest,
			Toolchain: art.Toolchain, Size: len(art.Wasm), DurationMS: art.Duration.Milliseconds(),
			CacheHit: art.CacheHit, Output: outPath,
		})
		return nil
	}
	hit := ""
	if art.CacheHit {
		hit = " (cache hit)"
	}
	fmt.Fprintf(c.App.Writer, "%s %s %d bytes %v%s\n", srcPath, art.Digest, len(art.Wasm), art.Duration.Round(1e6), hit)
	if outPath != "" {
		fmt.Fprintf(c.App.Writer, "wrote %s\n", outPath)
	}
	return nil
}

// buildSource reads, validates and builds a code node; errors carry exit code 1.
func buildSource(c *cli.Context, srcPath string, timeout time.Duration) (*wasm.Artifact, error) {
	src, err := os.ReadFile(srcPath)
	if err != nil {
		return nil, withCode(exitFailure, err)
	}
	if timeout <= 0 {
		return nil, usagef("--build-timeout must be positive")
	}
	b, err := wasm.NewBuilder(wasm.WithTimeout(timeout))
	if err != nil {
		return nil, withCode(exitFailure, err)
	}
	art, err := b.Build(c.Context, src, filepath.Base(srcPath))
	if err != nil {
		return nil, withCode(exitFailure, err)
	}
	return art, nil
}

// buildErrorJSON describes a build failure: kind is "rejected", "build_timeout" or
// "build_failed"; a rejection lists its violations.
func buildErrorJSON(err error) map[string]any {
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

func writeJSONLine(w interface{ Write([]byte) (int, error) }, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b, _ = json.Marshal(map[string]any{"error": map[string]any{"kind": "internal", "message": err.Error()}})
	}
	w.Write(append(b, '\n'))
}
