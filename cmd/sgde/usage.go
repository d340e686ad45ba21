package main

import "strings"

// isUsageMessage recognises the errors urfave/cli returns for bad invocations that bypass
// OnUsageError (unknown subcommands, missing required flags).
func isUsageMessage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"flag provided but not defined", "Required flag", "Required flags", "No help topic for", "invalid value"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}
