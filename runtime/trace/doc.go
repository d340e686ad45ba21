// Package trace defines the record of one plan run (a JSON line per run: every node's rendered
// prompt, raw and parsed output, errors, votes, code usage, latency and tokens), reads and writes
// trace files, and renders them for people. It records; it must not run anything.
package trace
