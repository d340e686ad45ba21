// Package runenv assembles what sgde's commands run plans with, from their settings: the
// sandbox engine under the engine rules (the --engine setting, else the plan's
// defaults.engine, else wazero) with its compile cache under the cache root, the builder
// matched to it, the response cache, the student client and the traces file.
//
// It is the one runner assembly of run, eval, compile, the demo and serve's tenant pool, so
// that every command applies the same engine and reactor rules. It knows sgde's settings but
// not its command-line framework: a wrong setting comes back as a *SettingError, which the CLI
// reports as a usage error (exit 2). It imports runtime, sandbox, wasm and plans.
package runenv
