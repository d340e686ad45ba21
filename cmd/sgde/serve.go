package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/urfave/cli/v2"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/sgde-project/sgde/internal/serve"
	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/runtime/cache"
	"github.com/sgde-project/sgde/runtime/llm"
	"github.com/sgde-project/sgde/wasm"
)

func serveCommand() *cli.Command {
	// The runner flags of run and eval, except the single cache file and trace file: the server
	// keeps one response cache per tenant and returns traces in responses.
	var flags []cli.Flag
	for _, f := range runtimeFlags() {
		if n := f.Names()[0]; n != "cache" && n != "traces" {
			flags = append(flags, f)
		}
	}
	return &cli.Command{
		Name:  "serve",
		Usage: "serve compiled plans to tenants over an OpenAI-compatible HTTP API",
		UsageText: "sgde serve --plans DIR --tenants FILE [--addr 127.0.0.1:8080] [options]\n\n" +
			"Example:\n   echo -n \"$KEY\" | sgde serve hash-key      # put the hash in tenants.yaml\n" +
			"   sgde serve --plans plans/ --tenants tenants.yaml --addr 127.0.0.1:8080\n" +
			"   curl -s http://127.0.0.1:8080/v1/chat/completions -H \"Authorization: Bearer $KEY\" \\\n" +
			"      -d '{\"model\": \"shout\", \"messages\": [{\"role\": \"user\", \"content\": \"hello\"}]}'\n\n" +
			"SIGHUP reloads the plans folder; SIGINT/SIGTERM drain requests in flight and stop.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "addr", Value: "127.0.0.1:8080", Usage: "address to listen on"},
			&cli.StringFlag{Name: "plans", Usage: "folder of plan files to serve (*.yaml, *.yml, *.json); each is served under its metadata.name"},
			&cli.StringFlag{Name: "tenants", Usage: "tenants file (YAML): hashed API keys, granted plans, quotas, limit ceilings"},
			&cli.StringFlag{Name: "cache-dir", Usage: "folder of the per-tenant response caches (responses-TENANT.db)", DefaultText: "$SGDE_CACHE_DIR or $XDG_CACHE_HOME/sgde, then serve/"},
			&cli.Int64Flag{Name: "max-body-bytes", Value: serve.DefaultMaxBodyBytes, Usage: "largest request body accepted (413 beyond)"},
			&cli.DurationFlag{Name: "run-timeout", Value: serve.DefaultRunTimeout, Usage: "bound on the plan runs of one request (504 beyond)"},
			&cli.DurationFlag{Name: "drain-timeout", Value: serve.DefaultDrainTimeout, Usage: "how long shutdown waits for requests in flight"},
			&cli.IntFlag{Name: "max-n", Value: serve.DefaultMaxN, Usage: "largest n of a chat completion"},
			&cli.StringFlag{Name: "otlp-endpoint", EnvVars: []string{"OTEL_EXPORTER_OTLP_ENDPOINT"}, Usage: "export OpenTelemetry traces over OTLP/HTTP to this base URL (e.g. http://127.0.0.1:4318); none when unset"},
			&cli.StringFlag{Name: "log-level", Value: "info", Usage: "debug, info, warn or error (JSON logs on stderr)"},
		}, flags...),
		Subcommands: []*cli.Command{{
			Name:      "hash-key",
			Usage:     "read an API key from stdin and print the sha256 the tenants file stores",
			UsageText: "sgde serve hash-key < key.txt\n\nExample:\n   openssl rand -hex 32 | tee key.txt | sgde serve hash-key",
			Action: func(c *cli.Context) error {
				line, err := bufio.NewReader(io.LimitReader(c.App.Reader, 4096)).ReadString('\n')
				if err != nil && err != io.EOF {
					return err
				}
				key := strings.TrimSpace(line)
				if len(key) < 16 {
					return usagef("the key on stdin is %d characters; use a random key of at least 16 (e.g. openssl rand -hex 32)", len(key))
				}
				_, err = fmt.Fprintln(c.App.Writer, serve.HashKey(key))
				return err
			},
		}},
		Action: serveAction,
	}
}

func serveAction(c *cli.Context) error {
	if c.Args().Len() > 0 {
		return usagef("serve takes no arguments, got %q", c.Args().First())
	}
	if c.String("plans") == "" || c.String("tenants") == "" {
		return usagef("serve needs --plans DIR and --tenants FILE")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.String("log-level"))); err != nil {
		return usagef("--log-level: %v", err)
	}
	log := slog.New(slog.NewJSONHandler(c.App.ErrWriter, &slog.HandlerOptions{Level: level}))
	tenants, err := serve.LoadTenants(c.String("tenants"))
	if err != nil {
		return err
	}
	factory, err := serveRunners(c, log)
	if err != nil {
		return err
	}
	tp, err := newTracerProvider(c.Context, c.String("otlp-endpoint"))
	if err != nil {
		return err
	}
	if tp != nil {
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := tp.Shutdown(ctx); err != nil {
				log.Warn("flushing OpenTelemetry traces", "err", err.Error())
			}
		}()
		log.Info("exporting OpenTelemetry traces", "endpoint", c.String("otlp-endpoint"))
	}
	srv, err := serve.New(serve.Options{
		TracerProvider: tracerOrNil(tp),
		PlansDir:       c.String("plans"), Tenants: tenants, NewRunner: factory, Logger: log,
		MaxBodyBytes: c.Int64("max-body-bytes"), RunTimeout: c.Duration("run-timeout"),
		MaxN: c.Int("max-n"), DrainTimeout: c.Duration("drain-timeout"),
	})
	if err != nil {
		return err
	}
	defer srv.Close(context.Background())
	ln, err := net.Listen("tcp", c.String("addr"))
	if err != nil {
		return err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	done := make(chan struct{})
	var reloader sync.WaitGroup
	reloader.Add(1)
	defer reloader.Wait()
	defer close(done)
	go func() {
		defer reloader.Done()
		for {
			select {
			case <-hup:
				_ = srv.Reload() // logged; the old plans stay on failure
			case <-done:
				return
			}
		}
	}()
	return srv.Serve(c.Context, ln)
}

// newTracerProvider returns an OpenTelemetry tracer provider exporting over OTLP/HTTP to
// endpoint (a base URL: /v1/traces is added when it has no path), or nil when endpoint is empty.
func newTracerProvider(ctx context.Context, endpoint string) (*sdktrace.TracerProvider, error) {
	if endpoint == "" {
		return nil, nil
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, usagef("--otlp-endpoint must be an http(s) URL such as http://127.0.0.1:4318, got %q", endpoint)
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

// tracerOrNil keeps a nil *TracerProvider from becoming a non-nil interface.
func tracerOrNil(tp *sdktrace.TracerProvider) oteltrace.TracerProvider {
	if tp == nil {
		return nil
	}
	return tp
}

// serveRunners returns the factory of tenant runners: each tenant gets its own sandbox engine,
// response cache file and student client, configured from the runner flags.
func serveRunners(c *cli.Context, log *slog.Logger) (serve.RunnerFactory, error) {
	mode, err := cache.ParseMode(c.String("cache-mode"))
	if err != nil {
		return nil, usagef("--cache-mode: %v", err)
	}
	engineName, err := chooseEngine(c.String("engine"), "")
	if err != nil {
		return nil, err
	}
	cacheDir := c.String("cache-dir")
	if cacheDir == "" && mode != cache.ModeOff {
		root, err := wasm.CacheRoot()
		if err != nil {
			return nil, err
		}
		cacheDir = filepath.Join(root, "serve")
	}
	if cacheDir != "" {
		if err := os.MkdirAll(cacheDir, 0o700); err != nil {
			return nil, err
		}
	}
	url, model := c.String("student-url"), c.String("student-model")
	if mode != cache.ModeOff && model == "" {
		// The cache is keyed by model; without a student there is nothing to cache.
		mode = cache.ModeOff
	}
	builder, berr := newBuilder(engineName)
	if berr != nil {
		log.Warn("code nodes cannot be built: plans with code nodes will fail", "err", berr.Error())
	}
	return func(ctx context.Context, tenant string) (_ *runtime.Runner, release func(), err error) {
		var closers []func()
		release = func() {
			for i := len(closers) - 1; i >= 0; i-- {
				closers[i]()
			}
		}
		defer func() {
			if err != nil {
				release()
			}
		}()
		opts := runtime.Options{CacheMode: mode, Concurrency: c.Int("concurrency"), Model: model}
		if mode != cache.ModeOff {
			cc, err := cache.Open(filepath.Join(cacheDir, "responses-"+tenant+".db"), 5*time.Second)
			if err != nil {
				return nil, nil, err
			}
			closers = append(closers, func() { cc.Close() })
			opts.Cache = cc
		}
		if url != "" && model != "" {
			client, err := llm.New(studentConfig(c, url, model))
			if err != nil {
				return nil, nil, err
			}
			opts.Student = client
		}
		if berr == nil {
			eng, err := newEngine(ctx, engineName)
			if err != nil {
				return nil, nil, err
			}
			closers = append(closers, func() { eng.Close(context.Background()) })
			opts.Engine, opts.Builder = eng, builder
		}
		r, err := runtime.New(opts)
		if err != nil {
			return nil, nil, err
		}
		return r, release, nil
	}, nil
}
