// Package serve serves compiled plans over HTTP to many tenants: an OpenAI-compatible chat
// API and a plain run API, API-key authentication, per-tenant grants, quotas and isolated
// runners, metrics and probes (optionally on a separate operations handler), OpenTelemetry
// spans per request, run and node, reload and graceful shutdown. It must not build, parse or
// run plans itself (that is plans and runtime) nor decide how runners are configured or which
// engine a plan runs on (its caller does).
package serve
