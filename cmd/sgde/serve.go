package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/sgde-project/sgde/internal/runenv"
	"github.com/sgde-project/sgde/internal/serve"
	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime/cache"
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
			"   sgde serve --plans plans/ --tenants tenants.yaml --addr 0.0.0.0:8080 --ops-addr 127.0.0.1:9090\n" +
			"   curl -s http://127.0.0.1:8080/v1/chat/completions -H \"Authorization: Bearer $KEY\" \\\n" +
			"      -d '{\"model\": \"shout\", \"messages\": [{\"role\": \"user\", \"content\": \"hello\"}]}'\n\n" +
			"SIGHUP reloads the plans folder; SIGINT/SIGTERM drain requests in flight and stop.",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "addr", Value: "127.0.0.1:8080", Usage: "address of the API (also /healthz and /readyz, and /metrics unless --ops-addr is set)"},
			&cli.StringFlag{Name: "ops-addr", Usage: "address of the operations listener: /metrics, /healthz and /readyz, unauthenticated (e.g. 127.0.0.1:9090); when set, the API address no longer serves /metrics", DefaultText: "none: /metrics is on --addr, fine on loopback only"},
			&cli.StringFlag{Name: "plans", Usage: "folder of plan files to serve (*.yaml, *.yml, *.json); each is served under its metadata.name"},
			&cli.StringFlag{Name: "tenants", Usage: "tenants file (YAML): hashed API keys, granted plans, quotas, limit ceilings"},
			&cli.StringFlag{Name: "cache-dir", Usage: "folder of the per-tenant response caches (responses-TENANT.db)", DefaultText: "$SGDE_CACHE_DIR or $XDG_CACHE_HOME/sgde, then serve/"},
			&cli.Int64Flag{Name: "max-body-bytes", Value: serve.DefaultMaxBodyBytes, Usage: "largest request body accepted (413 beyond)"},
			&cli.DurationFlag{Name: "run-timeout", Value: serve.DefaultRunTimeout, Usage: "bound on the plan runs of one request (504 beyond)"},
			&cli.DurationFlag{Name: "drain-timeout", Value: serve.DefaultDrainTimeout, Usage: "how long shutdown waits for requests in flight"},
			&cli.IntFlag{Name: "max-n", Value: serve.DefaultMaxN, Usage: "largest n of a chat completion"},
			&cli.StringFlag{Name: "otlp-endpoint", EnvVars: []string{"OTEL_EXPORTER_OTLP_ENDPOINT"}, Usage: "export OpenTelemetry traces over OTLP/HTTP to this base URL (e.g. http://127.0.0.1:4318); none when unset"},
			&cli.StringFlag{Name: "state", EnvVars: []string{"SGDE_STATE"}, Usage: "redis://HOST:PORT/DB shared by every replica: tenant rates, quotas and concurrency hold across them (and --cache-store redis shares responses)", DefaultText: "none: each replica counts alone"},
			&cli.BoolFlag{Name: "state-fail-open", EnvVars: []string{"SGDE_STATE_FAIL_OPEN"}, Usage: "while the --state Redis is unreachable, apply each replica's own limits instead of refusing requests with 503"},
			&cli.StringFlag{Name: "cache-store", Value: "file", Usage: "where the per-tenant response caches live: file (one bbolt file per tenant in --cache-dir) or redis (the --state Redis, shared by every replica)"},
			&cli.DurationFlag{Name: "cache-ttl", Value: serve.DefaultCacheTTL, Usage: "with --cache-store redis: how long a response stays cached"},
			&cli.IntFlag{Name: "cache-max-entries", Value: serve.DefaultCacheMaxEntries, Usage: "with --cache-store redis: most responses kept per tenant (the oldest stored go first)"},
			&cli.DurationFlag{Name: "lease-ttl", Value: serve.DefaultLeaseTTL, Usage: "with --state: how long a killed replica's concurrency slots stay taken"},
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
	var shared *serve.Redis
	if u := c.String("state"); u != "" {
		shared, err = serve.OpenRedis(c.Context, serve.RedisOptions{URL: u, LeaseTTL: c.Duration("lease-ttl"), Logger: log})
		if err != nil {
			return usagef("--state: %v", err)
		}
		defer shared.Close()
	}
	setup, engineFor, err := serveRunners(c, log, shared)
	if err != nil {
		return err
	}
	factory, prepare, err := serve.NewRunners(setup)
	if err != nil {
		return err
	}
	tp, stopTraces, err := serve.StartOTLP(c.Context, c.String("otlp-endpoint"), log)
	if errors.Is(err, serve.ErrEndpoint) {
		return usagef("--otlp-endpoint: %v", err)
	}
	if err != nil {
		return err
	}
	defer stopTraces()
	var quotas serve.Quotas
	if shared != nil {
		quotas = shared
	}
	srv, err := serve.New(serve.Options{
		Quotas: quotas, QuotasFailOpen: c.Bool("state-fail-open"),
		TracerProvider: tp,
		PlansDir:       c.String("plans"), Tenants: tenants, NewRunner: factory, EngineFor: engineFor, Logger: log,
		MaxBodyBytes: c.Int64("max-body-bytes"), RunTimeout: c.Duration("run-timeout"),
		MaxN: c.Int("max-n"), DrainTimeout: c.Duration("drain-timeout"),
		SeparateOps: c.String("ops-addr") != "",
		PreparePlan: prepare,
		NoStudent:   setup.NoStudent(),
	})
	if err != nil {
		return err
	}
	defer srv.Close(context.Background())
	return srv.ListenAndServe(c.Context, c.String("addr"), c.String("ops-addr"), log)
}

// serveRunners maps the runner flags to the setup of the tenant runners (serve.NewRunners
// does the assembly) and returns the chooser of each plan's engine (run's rules, checked
// against this build when the plans folder is loaded: runenv.ServedEngine). Builders are
// shared by every tenant, one per engine: wazero takes reactors on Linux, wasmtime commands.
func serveRunners(c *cli.Context, log *slog.Logger, state *serve.Redis) (serve.RunnerSetup, serve.EngineChooser, error) {
	mode, err := cache.ParseMode(c.String("cache-mode"))
	if err != nil {
		return serve.RunnerSetup{}, nil, usagef("--cache-mode: %v", err)
	}
	redis, err := serve.CacheStore(c.String("cache-store"), state)
	if err != nil {
		return serve.RunnerSetup{}, nil, usageError{err}
	}
	flagEngine := c.String("engine")
	defaultName, err := runenv.ServedEngine(flagEngine, nil)
	if err != nil {
		return serve.RunnerSetup{}, nil, err
	}
	engineFor := func(p *plans.Plan) (string, error) {
		name, err := runenv.ServedEngine(flagEngine, p)
		return string(name), err
	}
	bs := &runenv.Builders{}
	return serve.RunnerSetup{
		CacheMode: mode, Redis: redis, CacheDir: c.String("cache-dir"),
		CacheOptions: serve.CacheOptions{TTL: c.Duration("cache-ttl"), MaxEntries: c.Int("cache-max-entries")},
		Student:      studentConfig(c, c.String("student-url"), c.String("student-model")),
		Concurrency:  c.Int("concurrency"), DefaultEngine: string(defaultName), Builder: bs.Get, NewRunner: bs.NewRunner,
		Log: log, Warnings: c.App.ErrWriter,
	}, engineFor, nil
}
