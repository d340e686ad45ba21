package serve

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/sgde-project/sgde/runtime"
)

// apiError is an error in OpenAI's shape: {"error": {"message", "type", "param", "code"}}, so
// the official clients raise their typed errors (AuthenticationError, NotFoundError, ...).
type apiError struct {
	status  int
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    string  `json:"code"`
	// retryAfter, when positive, is sent as the Retry-After header (seconds).
	retryAfter int
}

func (e *apiError) Error() string { return e.Message }

func errInvalid(code, param, msg string) *apiError {
	e := &apiError{status: http.StatusBadRequest, Message: msg, Type: "invalid_request_error", Code: code}
	if param != "" {
		e.Param = &param
	}
	return e
}

var (
	errNoKey = &apiError{status: http.StatusUnauthorized, Type: "invalid_request_error", Code: "invalid_api_key",
		Message: "missing or invalid API key: send it as Authorization: Bearer KEY"}
	errShuttingDown = &apiError{status: http.StatusServiceUnavailable, Type: "server_error", Code: "shutting_down",
		Message: "the server is shutting down; retry on another instance"}
)

func errUnknownURL(r *http.Request) *apiError {
	return &apiError{status: http.StatusNotFound, Type: "invalid_request_error", Code: "unknown_url",
		Message: "unknown request URL: " + r.Method + " " + r.URL.Path}
}

func errNotFound(name string) *apiError {
	// The same answer for a plan that does not exist and one the tenant may not call: a tenant
	// learns nothing about other tenants' plans.
	p := "model"
	return &apiError{status: http.StatusNotFound, Type: "invalid_request_error", Code: "model_not_found", Param: &p,
		Message: "the plan " + strconv.Quote(name) + " does not exist or you do not have access to it"}
}

// runError maps a failed plan run to an HTTP status and error.
func runError(ctx context.Context, err error) *apiError {
	kind := runtime.KindOf(err)
	var ne *runtime.NodeError
	msg := err.Error()
	if errors.As(err, &ne) && ne.NodeID != "" {
		msg = "node " + strconv.Quote(ne.NodeID) + ": " + ne.Kind + ": " + errString(ne.Err)
	}
	e := &apiError{Message: "plan run failed: " + msg, Code: kind, Type: "server_error"}
	switch {
	case kind == runtime.KindInput:
		e.status, e.Type = http.StatusBadRequest, "invalid_request_error"
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		// The request's --run-timeout: the nodes it cut short report "canceled", which is not
		// what happened from the caller's side.
		e.status, e.Type, e.Code = http.StatusGatewayTimeout, "timeout", "run_timeout"
		e.Message = "plan run exceeded the server's run timeout: " + msg
	case kind == runtime.KindTimeout || kind == "code_timeout":
		e.status, e.Type = http.StatusGatewayTimeout, "timeout"
	case kind == runtime.KindCanceled:
		e.status = 499 // the client went away; nobody reads this
	case kind == runtime.KindStudentUnavailable || kind == runtime.KindStudentRejected ||
		kind == runtime.KindStudentBadResponse || kind == runtime.KindCacheMiss || kind == runtime.KindCacheCorrupt:
		e.status = http.StatusBadGateway // the upstream student (or its cache) failed
	case kind == runtime.KindParse || kind == runtime.KindNoConsensus || kind == runtime.KindMissingField ||
		kind == runtime.KindCodeBadOutput || strings.HasPrefix(kind, "code_"):
		e.status, e.Type = http.StatusUnprocessableEntity, "run_error"
	default: // build, plan and internal errors are the operator's problem
		e.status = http.StatusInternalServerError
	}
	return e
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// writeError writes e as JSON with its status (and Retry-After when set).
func writeError(w http.ResponseWriter, e *apiError) {
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(e.retryAfter))
	}
	writeJSON(w, e.status, struct {
		Error *apiError `json:"error"`
	}{e})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"message":"cannot encode the response","type":"server_error","param":null,"code":"internal_error"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}
