// Package plans owns the plan format (apiVersion sgde/v1): its Go types, strict YAML and JSON
// decoding with line numbers, validation, the canonical form and digest, references and prompt
// templates, output parsers, and graph rendering. It is pure data: it must not call models, run
// code or touch the network; the only I/O is reading a plan file and the code files it names.
package plans
