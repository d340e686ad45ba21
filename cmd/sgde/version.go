package main

import (
	"fmt"
	"runtime/debug"

	"github.com/urfave/cli/v2"
)

// version is set at link time (-ldflags "-X main.version=...") for releases.
var version = "dev"

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:      "version",
		Usage:     "print the sgde version and the versions of its sandbox and client dependencies",
		UsageText: "sgde version\n\nExample:\n   sgde version",
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("version takes no arguments")
			}
			out := c.App.Writer
			fmt.Fprintf(out, "sgde %s\n", version)
			if bi, ok := debug.ReadBuildInfo(); ok {
				fmt.Fprintf(out, "go %s\n", bi.GoVersion)
				for _, d := range bi.Deps {
					switch d.Path {
					case "github.com/tetratelabs/wazero", "github.com/sashabaranov/go-openai",
						"github.com/bytecodealliance/wasmtime-go/v39":
						fmt.Fprintf(out, "%s %s\n", d.Path, d.Version)
					}
				}
			}
			return nil
		},
	}
}
