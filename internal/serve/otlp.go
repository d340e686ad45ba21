package serve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	oteltrace "go.opentelemetry.io/otel/trace"
)

// ErrEndpoint is wrapped by NewOTLPTracerProvider's error for an endpoint that is not an
// http(s) URL: the operator's mistake, not a failure.
var ErrEndpoint = errors.New("bad OTLP endpoint")

// NewOTLPTracerProvider returns an OpenTelemetry tracer provider exporting over OTLP/HTTP to
// endpoint (a base URL: /v1/traces is added when it has no path), or nil when endpoint is empty.
func NewOTLPTracerProvider(ctx context.Context, endpoint string) (*sdktrace.TracerProvider, error) {
	if endpoint == "" {
		return nil, nil
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: want an http(s) URL such as http://127.0.0.1:4318, got %q", ErrEndpoint, endpoint)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/v1/traces"
	}
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(u.String()))
	if err != nil {
		return nil, fmt.Errorf("otlp exporter: %w", err)
	}
	res := resource.NewSchemaless(attribute.String("service.name", "sgde-serve"))
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res)), nil
}

// StartOTLP starts NewOTLPTracerProvider's exporter for a server: it returns the provider as
// Options.TracerProvider takes it (nil without an endpoint, never a nil pointer inside the
// interface) and stop, which flushes the spans still buffered for up to 5 s and logs a
// failure. stop is never nil.
func StartOTLP(ctx context.Context, endpoint string, log *slog.Logger) (_ oteltrace.TracerProvider, stop func(), err error) {
	tp, err := NewOTLPTracerProvider(ctx, endpoint)
	if err != nil || tp == nil {
		return nil, func() {}, err
	}
	log.Info("exporting OpenTelemetry traces", "endpoint", endpoint)
	return tp, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tp.Shutdown(ctx); err != nil {
			log.Warn("flushing OpenTelemetry traces", "err", err.Error())
		}
	}, nil
}
