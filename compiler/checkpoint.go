package compiler

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/sgde-project/sgde/internal/atomicfile"
	"github.com/sgde-project/sgde/plans"
)

// Files of an output directory the compiler writes (package report adds its own).
const (
	FilePlan       = "plan.yaml"
	FileLog        = "compile-log.jsonl"
	FileState      = "checkpoint.json"
	FileCache      = "responses.db"
	stateVersion   = 1
	checkpointPerm = 0o644
)

// State is the checkpoint written after every iteration. With the response cache beside it, a
// resumed compile replays the incumbent's evaluation from cached answers and continues with the
// next iteration: at most the iteration under way at a crash is lost.
type State struct {
	Version int `json:"version"`
	// Iteration is the last completed iteration (0: the initial plan was evaluated).
	Iteration int `json:"iteration"`
	// Incumbent is the current plan as JSON.
	Incumbent json.RawMessage `json:"incumbent"`
	// Initial is the plan the compile started from, for baselines.
	Initial json.RawMessage `json:"initial"`
	// TrainDigest and HeldoutDigest identify the data; resuming on other data is refused.
	TrainDigest   string `json:"train_digest"`
	HeldoutDigest string `json:"heldout_digest"`
	Teacher       string `json:"teacher"`
	// Tried are the digests of every candidate plan evaluated or rejected.
	Tried []string `json:"tried"`
	// Streak counts consecutive rounds without an accepted candidate.
	Streak int `json:"streak"`
	// Curve is the incumbent's risk after each iteration.
	Curve         []CurvePoint `json:"curve"`
	TeacherTokens int64        `json:"teacher_tokens"`
	StudentCalls  int64        `json:"student_calls"`
	StudentTokens int64        `json:"student_tokens"`
	WallSeconds   float64      `json:"wall_seconds"`
	// Router is the held-out check of the router this compile accepted, and Partitions its
	// compiled sides (nil without one).
	Router     *RouterCheck `json:"router,omitempty"`
	Partitions []Partition  `json:"partitions,omitempty"`
	// PendingSplit is a candidate whose new code node failed its probe tests in a round that
	// accepted another candidate: the first round that accepts nothing tries a split by it.
	PendingSplit json.RawMessage `json:"pending_split,omitempty"`
	// Clustered is set once the router by answer forms was tried (cluster.go).
	Clustered  bool   `json:"clustered,omitempty"`
	Done       bool   `json:"done"`
	StopReason string `json:"stop_reason,omitempty"`
}

// CurvePoint is the incumbent's risk after one iteration.
type CurvePoint struct {
	Iteration   int     `json:"iteration"`
	TrainRisk   float64 `json:"train_risk"`
	HeldoutRisk float64 `json:"heldout_risk"`
	Accepted    bool    `json:"accepted"`
}

// writeAtomic writes data to path so that a crash leaves either the old or the new content,
// never a torn file.
func writeAtomic(path string, data []byte) error {
	return atomicfile.Write(path, data, checkpointPerm)
}

func saveState(dir string, st *State) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode checkpoint: %w", err)
	}
	return writeAtomic(filepath.Join(dir, FileState), append(b, '\n'))
}

// LoadState reads the checkpoint of an output directory.
func LoadState(dir string) (*State, error) {
	b, err := os.ReadFile(filepath.Join(dir, FileState))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no checkpoint in %s: %w", dir, err)
		}
		return nil, fmt.Errorf("read checkpoint: %w", err)
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, fmt.Errorf("checkpoint %s is corrupt: %w", dir, err)
	}
	if st.Version != stateVersion {
		return nil, fmt.Errorf("checkpoint version %d, this sgde reads %d", st.Version, stateVersion)
	}
	return &st, nil
}

func decodePlan(raw json.RawMessage) (*plans.Plan, error) {
	p, err := plans.Parse(raw, "checkpoint.json")
	if err != nil {
		return nil, fmt.Errorf("checkpointed plan: %w", err)
	}
	return p, nil
}

// logWriter appends events to the compile log and syncs at the end of each iteration.
type logWriter struct {
	f *os.File
	w *bufio.Writer
}

func openLog(dir string, keepThrough int, resume bool) (*logWriter, error) {
	path := filepath.Join(dir, FileLog)
	if resume {
		// Drop the events of an iteration that did not reach its checkpoint.
		b, err := os.ReadFile(path)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("read log: %w", err)
		}
		var kept bytes.Buffer
		for _, line := range bytes.Split(b, []byte("\n")) {
			var ev struct{ Iteration int }
			if len(bytes.TrimSpace(line)) == 0 || json.Unmarshal(line, &ev) != nil {
				continue // a line torn by the crash
			}
			if ev.Iteration <= keepThrough {
				kept.Write(line)
				kept.WriteByte('\n')
			}
		}
		if err := writeAtomic(path, kept.Bytes()); err != nil {
			return nil, err
		}
	}
	flag := os.O_CREATE | os.O_WRONLY | os.O_APPEND
	if !resume {
		flag |= os.O_TRUNC
	}
	f, err := os.OpenFile(path, flag, checkpointPerm)
	if err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	return &logWriter{f: f, w: bufio.NewWriter(f)}, nil
}

func (l *logWriter) write(ev Event) error {
	b, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encode log event: %w", err)
	}
	b = append(b, '\n')
	_, err = l.w.Write(b)
	return err
}

func (l *logWriter) sync() error {
	if err := l.w.Flush(); err != nil {
		return fmt.Errorf("write log: %w", err)
	}
	return l.f.Sync()
}

func (l *logWriter) close() error {
	err := l.sync()
	if cerr := l.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// ReadLog reads a compile log.
func ReadLog(dir string) ([]Event, error) {
	b, err := os.ReadFile(filepath.Join(dir, FileLog))
	if err != nil {
		return nil, fmt.Errorf("read log: %w", err)
	}
	var evs []Event
	for i, line := range bytes.Split(b, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var ev Event
		if err := json.Unmarshal(line, &ev); err != nil {
			return nil, fmt.Errorf("log line %d: %w", i+1, err)
		}
		evs = append(evs, ev)
	}
	return evs, nil
}
