// Package llm is the runtime's client for an OpenAI-compatible student endpoint: retries with
// backoff on transient failures, a concurrency limit and a token-bucket rate limit per endpoint,
// JSON-schema response formats where the server accepts them, and token usage per call.
// It knows nothing about plans, caches or traces; the runtime composes those around it.
package llm
