package trace

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"
)

// Run is the trace of one plan run. docs/TRACES.md documents every field.
type Run struct {
	// ID identifies the run: the data item id in an eval, empty for a single run.
	ID        string         `json:"id,omitempty"`
	Plan      string         `json:"plan"`
	Start     time.Time      `json:"start"`
	LatencyMS float64        `json:"latency_ms"`
	Inputs    map[string]any `json:"inputs"`
	Output    any            `json:"output,omitempty"`
	// Error, ErrorKind and ErrorNode describe why the run failed; all empty on success.
	Error     string `json:"error,omitempty"`
	ErrorKind string `json:"error_kind,omitempty"`
	ErrorNode string `json:"error_node,omitempty"`
	// Calls is the number of HTTP requests the run sent to the student: retries and requests
	// of calls that failed included, cache hits excluded.
	Calls int `json:"student_calls"`
	// CacheHits is how many student completions the response cache answered.
	CacheHits int     `json:"cache_hits,omitempty"`
	Tokens    Tokens  `json:"tokens"`
	Nodes     []*Node `json:"nodes"`
}

// Tokens counts student tokens.
type Tokens struct {
	Prompt     int `json:"prompt"`
	Completion int `json:"completion"`
	Total      int `json:"total"`
}

// Add returns t plus u.
func (t Tokens) Add(u Tokens) Tokens {
	return Tokens{t.Prompt + u.Prompt, t.Completion + u.Completion, t.Total + u.Total}
}

// Message is one rendered chat turn.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Node is one execution of a node (for consensus members: one execution inside one sample).
type Node struct {
	ID        string `json:"id"`
	Substrate string `json:"substrate"`
	// Start is when the node's execution began (UTC): with LatencyMS it places the node in the
	// run, e.g. as a span. Zero in traces written before it was recorded.
	Start     time.Time `json:"start,omitzero"`
	LatencyMS float64   `json:"latency_ms"`
	// Attempts is how many times the node was executed (1 + retries used).
	Attempts int `json:"attempts"`
	// PriorErrors are the errors of the attempts before the last, oldest first.
	PriorErrors []string `json:"prior_errors,omitempty"`
	// Value is the node's value as later nodes see it.
	Value     any    `json:"value,omitempty"`
	Error     string `json:"error,omitempty"`
	ErrorKind string `json:"error_kind,omitempty"`

	// llm nodes.
	Prompt     []Message `json:"prompt,omitempty"`
	Raw        *string   `json:"raw,omitempty"`
	ParseError string    `json:"parse_error,omitempty"`
	// Calls counts HTTP requests sent (see Run.Calls); PlanCalls the completions the node asked
	// for (one per attempt), CacheHits those answered from the cache; Cached says whether the
	// last one was.
	Calls     int  `json:"student_calls,omitempty"`
	PlanCalls int  `json:"plan_calls,omitempty"`
	CacheHits int  `json:"cache_hits,omitempty"`
	Cached    bool `json:"cached,omitempty"`
	// Source says where the last answer came from: "recorded" (a real model's recorded
	// output replayed by the simulator), "simulated", or "model" (any other endpoint).
	Source string  `json:"source,omitempty"`
	Tokens *Tokens `json:"tokens,omitempty"`

	// code nodes.
	Input any        `json:"input,omitempty"`
	Code  *CodeUsage `json:"code,omitempty"`

	// consensus nodes.
	Consensus *Consensus `json:"consensus,omitempty"`

	// router nodes.
	Route *Route `json:"route,omitempty"`
}

// Route records a router's decision and the run of the branch it chose.
type Route struct {
	// On is the classifier reference and Classified the value it had.
	On         string `json:"on"`
	Classified any    `json:"classified"`
	// Branch is the branch that ran; Reason says why (the classifier named it, mentioned it,
	// or named none so the default ran, which Defaulted also says).
	Branch    string `json:"branch"`
	Reason    string `json:"reason"`
	Defaulted bool   `json:"defaulted,omitempty"`
	// Forced is true in a run made to check the routing: the branch was imposed, not chosen.
	Forced bool `json:"forced,omitempty"`
	// Run is the branch's own trace: its nodes, calls and error.
	Run *Run `json:"run,omitempty"`

	// Set by an evaluation with labels that checks routing (docs/TRACES.md): when the run was
	// wrong, Checked lists the other branches that were run on the item (forced), Right those
	// of them that got it right, and Misrouted says that the branch taken was wrong while
	// another would have been right.
	Checked   []string `json:"checked,omitempty"`
	Right     []string `json:"right,omitempty"`
	Misrouted bool     `json:"misrouted,omitempty"`
}

// CodeUsage is what one code-node call consumed.
type CodeUsage struct {
	Engine          string  `json:"engine"`
	Digest          string  `json:"digest"`
	Fuel            uint64  `json:"fuel,omitempty"`
	Metered         bool    `json:"metered"`
	PeakMemoryBytes uint64  `json:"peak_memory_bytes"`
	WallMS          float64 `json:"wall_ms"`
	Stdout          string  `json:"stdout,omitempty"`
	Stderr          string  `json:"stderr,omitempty"`
}

// Consensus records every sample of a consensus node and the vote.
type Consensus struct {
	N      int    `json:"n"`
	Method string `json:"method"`
	Over   string `json:"over"`
	// Votes is the vote distribution: one entry per distinct normalised value, most votes
	// first, ties in order of first appearance.
	Votes   []Vote   `json:"votes"`
	Winner  string   `json:"winner,omitempty"`
	Samples []Sample `json:"samples"`
}

// Vote is one distinct normalised value and how many samples produced it.
type Vote struct {
	Key   string `json:"key"`
	Count int    `json:"count"`
}

// Sample is one replication of a consensus node's members.
type Sample struct {
	Index        int          `json:"index"`
	Perturbation Perturbation `json:"perturbation"`
	Nodes        []*Node      `json:"nodes"`
	// Value is the voted-on value the sample produced; Key its normalised form. Both are empty
	// when the sample failed, and Error says why.
	Value any    `json:"value,omitempty"`
	Key   string `json:"key,omitempty"`
	Error string `json:"error,omitempty"`
}

// Perturbation is what sample i changed.
type Perturbation struct {
	PromptVariant string   `json:"prompt_variant,omitempty"`
	Temperature   *float64 `json:"temperature,omitempty"`
	Seed          *int64   `json:"seed,omitempty"`
}

// Failed reports whether the node failed.
func (n *Node) Failed() bool { return n.Error != "" }

// Writer writes runs as JSON lines. It is safe for concurrent use.
type Writer struct {
	mu sync.Mutex
	w  io.Writer
}

// NewWriter returns a Writer on w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w} }

// Write appends one run as one line.
func (w *Writer) Write(r *Run) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("write trace: %w", err)
	}
	b = append(b, '\n')
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, err := w.w.Write(b); err != nil {
		return fmt.Errorf("write trace: %w", err)
	}
	return nil
}

// maxLine bounds one trace line when reading (raw outputs can be long, but not unbounded).
const maxLine = 64 << 20

// Read calls fn for each run in r, in file order. Numbers decode as json.Number. A truncated
// last line (an interrupted writer) is skipped; any other malformed line is an error naming it.
func Read(r io.Reader, fn func(*Run) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLine)
	line := 0
	var pending error
	for sc.Scan() {
		line++
		if pending != nil {
			return pending
		}
		b := sc.Bytes()
		if len(b) == 0 {
			continue
		}
		run, err := decode(b)
		if err != nil {
			pending = fmt.Errorf("trace line %d: %w", line, err)
			continue
		}
		if err := fn(run); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read trace: %w", err)
	}
	var syn *json.SyntaxError
	if pending != nil && !errors.As(pending, &syn) && !errors.Is(pending, io.ErrUnexpectedEOF) {
		return pending
	}
	return nil
}

func decode(b []byte) (*Run, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var run Run
	if err := dec.Decode(&run); err != nil {
		return nil, err
	}
	return &run, nil
}

func newEncoder(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc
}

// Sources counts student answers by where they came from (llm.SourceOf): a real model's
// recorded output replayed by the simulator, a simulated answer, or any other endpoint's answer.
// Every accuracy sgde prints says this split: simulated accuracy is no evidence about real models.
type Sources struct {
	Recorded  int `json:"recorded"`
	Simulated int `json:"simulated"`
	Model     int `json:"model"`
}

// Add returns s plus o.
func (s Sources) Add(o Sources) Sources {
	return Sources{s.Recorded + o.Recorded, s.Simulated + o.Simulated, s.Model + o.Model}
}

// Total is the number of student answers counted.
func (s Sources) Total() int { return s.Recorded + s.Simulated + s.Model }

// RecordedShare is the fraction of answers that were recorded (0 without answers).
func (s Sources) RecordedShare() float64 {
	if s.Total() == 0 {
		return 0
	}
	return float64(s.Recorded) / float64(s.Total())
}

// String is the split as printed next to accuracies: "student answers: 100% recorded, 0%
// simulated" (and the share from other endpoints when there is one).
func (s Sources) String() string {
	n := s.Total()
	if n == 0 {
		return "no student answers"
	}
	pct := func(k int) float64 { return 100 * float64(k) / float64(n) }
	out := fmt.Sprintf("student answers: %.0f%% recorded, %.0f%% simulated", pct(s.Recorded), pct(s.Simulated))
	if s.Model > 0 {
		out += fmt.Sprintf(", %.0f%% from a model endpoint", pct(s.Model))
	}
	return out
}

// CountSources counts the answers of the llm nodes in nodes, inside consensus samples too: one
// per node execution that got an answer (its last attempt's source).
func CountSources(nodes []*Node) Sources {
	var s Sources
	for _, tn := range nodes {
		if tn == nil {
			continue
		}
		switch tn.Source {
		case "recorded":
			s.Recorded++
		case "simulated":
			s.Simulated++
		case "":
		default:
			s.Model++
		}
		if tn.Consensus != nil {
			for _, smp := range tn.Consensus.Samples {
				s = s.Add(CountSources(smp.Nodes))
			}
		}
		if tn.Route != nil && tn.Route.Run != nil {
			s = s.Add(CountSources(tn.Route.Run.Nodes))
		}
	}
	return s
}
