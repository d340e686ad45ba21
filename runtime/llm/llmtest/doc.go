// Package llmtest provides an in-process OpenAI-compatible chat completion server for tests: it
// answers with a caller-supplied function and injects faults (429 with Retry-After, 500, slow,
// truncated and garbage replies, a wrong content type) on demand. It is test support only.
package llmtest
