// Package edit defines the edits a teacher may propose to a plan (refine_prompt, offload,
// consensus, split, fuse, route), their JSON schema, a lenient reader for teacher replies and pure
// functions that apply edits to a copy of a plan. It must not call models or run plans.
package edit
