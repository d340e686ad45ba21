package main

import (
	"github.com/urfave/cli/v2"
)

// engineFlag is the --engine flag of every command that runs code nodes.
func engineFlag() cli.Flag {
	return &cli.StringFlag{
		Name: "engine",
		Usage: "sandbox `ENGINE` for code nodes: wazero or wasmtime (wasmtime meters fuel; it needs a " +
			"build with -tags wasmtime). Default: the plan's defaults.engine, else wazero",
	}
}
