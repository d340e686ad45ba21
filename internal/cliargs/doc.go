// Package cliargs lets every command of a urfave/cli/v2 application take its flags before or
// after its positional arguments, and names the nearest command when a name is mistyped.
// urfave/cli stops parsing flags at the first positional argument; users asked for the
// framework, so the command line is rewritten before it, in one place for every command,
// rather than each command parsing its own trailing flags.
package cliargs
