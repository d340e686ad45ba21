package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/sgde-project/sgde/internal/simulator"
)

// simNotice is printed whenever the simulator starts: its accuracy figures exercise sgde's
// machinery and say nothing about real models.
const simNotice = "sgde sim: this is a SIMULATED student; its accuracy tests sgde's machinery, not real models.\n" +
	"sgde sim: to use a real endpoint (vLLM, llama.cpp server, Ollama) set SGDE_STUDENT_URL, SGDE_STUDENT_MODEL, SGDE_STUDENT_API_KEY instead.\n"

func simCommand() *cli.Command {
	return &cli.Command{
		Name:  "sim",
		Usage: "run the offline student simulator (an OpenAI-compatible stand-in for a small model)",
		Subcommands: []*cli.Command{
			simServeCommand(),
			simTeacherCommand(),
		},
	}
}

func simServeCommand() *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "serve /v1/chat/completions and /v1/models from a simulated student until interrupted",
		UsageText: "sgde sim serve [--addr HOST:PORT] [--knowledge FILE.jsonl]... [--profile NAME|FILE.yaml] [--seed N] [--latency SCALE]\n\n" +
			"Port 0 picks a free port; the address is printed on the first line of standard output,\n" +
			"followed by the environment the sgde runtime reads to use it.\n\n" +
			"Example:\n" +
			"   sgde sim serve --addr 127.0.0.1:8088 --knowledge testdata/gsm-hard/slice.jsonl --profile slm-1.5b --seed 1\n" +
			"   curl -s http://127.0.0.1:8088/v1/chat/completions -H 'Content-Type: application/json' \\\n" +
			"     -d '{\"model\":\"slm-1.5b\",\"messages\":[{\"role\":\"user\",\"content\":\"Respond with only the number. What is 2 + 3?\"}]}'",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "addr", Value: "127.0.0.1:8088", Usage: "listen address; port 0 picks a free port"},
			&cli.StringSliceFlag{Name: "knowledge", Usage: "JSONL file of known questions (input, target; optional code, recorded); repeat for several", DefaultText: simulator.DefaultKnowledgePath + " found from the working directory up"},
			&cli.StringFlag{Name: "profile", Value: simulator.DefaultProfileName, Usage: "shipped profile name or a YAML profile file"},
			&cli.Uint64Flag{Name: "seed", Value: 0, Usage: "server seed: selects one simulated model instance"},
			&cli.Float64Flag{Name: "latency", Value: 1, Usage: "scale of the profile's simulated latency (0 disables it)"},
			&cli.StringFlag{Name: "api-key", EnvVars: []string{"SGDE_SIM_API_KEY"}, Usage: "require this bearer token (default: none)"},
			&cli.Int64Flag{Name: "max-body-bytes", Value: 4 << 20, Usage: "largest accepted request body"},
		},
		Action: simServe,
	}
}

func simServe(c *cli.Context) error {
	if c.NArg() > 0 {
		return usagef("sim serve takes no arguments, got %q", c.Args().First())
	}
	if c.Float64("latency") < 0 {
		return usagef("--latency must not be negative")
	}
	if c.Int64("max-body-bytes") <= 0 {
		return usagef("--max-body-bytes must be positive")
	}
	prof, err := simulator.LoadProfile(c.String("profile"))
	if err != nil {
		if errors.Is(err, simulator.ErrProfile) || errors.Is(err, os.ErrNotExist) {
			return usagef("%v", err)
		}
		return err
	}
	kpaths := c.StringSlice("knowledge")
	if len(kpaths) == 0 {
		kpath, err := simulator.LocateDefaultKnowledge()
		if err != nil {
			return usagef("%v (give --knowledge FILE.jsonl)", err)
		}
		kpaths = []string{kpath}
	}
	know, err := simulator.LoadKnowledgeFiles(kpaths...)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return usagef("%v", err)
		}
		return err
	}
	cfg := simulator.NewConfig(know, prof).
		WithSeed(c.Uint64("seed")).
		WithLatencyScale(c.Float64("latency")).
		WithAPIKey(c.String("api-key")).
		WithMaxBodyBytes(c.Int64("max-body-bytes"))
	srv, err := simulator.Start(c.Context, c.String("addr"), cfg)
	if err != nil {
		return err
	}
	out := c.App.Writer
	fmt.Fprintf(out, "sgde sim: listening on %s (profile %s, seed %d, %d known questions from %s; %d with recorded answers, %d without a reference program)\n",
		srv.Addr(), prof.Name(), c.Uint64("seed"), know.Len(), strings.Join(kpaths, ", "), know.WithRecorded(), know.WithoutProgram())
	fmt.Fprintf(out, "SGDE_STUDENT_URL=%s\nSGDE_STUDENT_MODEL=%s\n", srv.URL(), prof.Name())
	fmt.Fprint(c.App.ErrWriter, simNotice)
	<-srv.Done()
	if err := srv.Err(); err != nil {
		return fmt.Errorf("sim serve: %w", err)
	}
	return nil
}
