// Package serve serves compiled plans over HTTP to many tenants: an OpenAI-compatible chat
// API and a plain run API, API-key authentication, per-tenant grants, quotas and isolated
// runners, metrics, reload and graceful shutdown. It must not build, parse or run plans itself
// (that is plans and runtime) nor decide how runners are configured (its caller does).
package serve
