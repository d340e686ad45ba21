// Package teacher defines the Teacher the compiler asks for edits, the evidence it is shown
// (per-node failing and passing traces) and its two implementations: an LLM teacher on any
// OpenAI-compatible endpoint and the offline, deterministic library teacher. It must not run
// plans or decide which candidate is accepted: that is the compiler's loop.
package teacher
