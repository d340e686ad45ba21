// Package simulator owns the student simulator: an OpenAI-compatible HTTP server that stands in
// for a small language model by recognising known GSM-Hard questions and answering them through a
// seeded stochastic model set by a profile. It must never claim anything about real models, keep
// no state across requests, or be imported by packages other than cmd and tests.
package simulator
