package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sgde-project/sgde/internal/atomicfile"
	"github.com/sgde-project/sgde/internal/nodeexec"
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

func runBuild(c *cli.Context) error {
	if c.NArg() != 1 {
		return usagef("build takes exactly one SRC.go argument, got %d", c.NArg())
	}
	srcPath := c.Args().First()
	if !strings.HasSuffix(srcPath, ".go") {
		return usagef("build: %s is not a .go file", srcPath)
	}
	jsonOut, timeout, outPath := c.Bool("json"), c.Duration("build-timeout"), c.String("output")
	art, err := buildSource(c, srcPath, timeout, false)
	if err != nil {
		if jsonOut {
			nodeexec.WriteJSONLine(c.App.Writer, map[string]any{"error": nodeexec.BuildErrorJSON(err)})
		}
		return err
	}
	if outPath != "" {
		if err := atomicfile.Write(outPath, art.Wasm, 0o644); err != nil {
			return withCode(exitFailure, fmt.Errorf("write %s: %w", outPath, err))
		}
	}
	if jsonOut {
		nodeexec.WriteJSONLine(c.App.Writer, nodeexec.NewBuildReport(srcPath, art, outPath))
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

// buildSource reads, validates and builds a code node (a reactor when reactor is set); errors
// carry exit code 1.
func buildSource(c *cli.Context, srcPath string, timeout time.Duration, reactor bool) (*wasm.Artifact, error) {
	if timeout <= 0 {
		return nil, usagef("--build-timeout must be positive")
	}
	art, err := nodeexec.Build(c.Context, srcPath, timeout, reactor)
	if err != nil {
		return nil, withCode(exitFailure, err)
	}
	return art, nil
}
