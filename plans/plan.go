package plans

import "path/filepath"

// The types below are the plan schema, apiVersion sgde/v1. YAML and JSON share them: field names
// are snake_case in both, and unknown fields are rejected when decoding so that a typo never
// silently changes what runs.

// APIVersion is the only plan format version this package reads and writes.
const APIVersion = "sgde/v1"

// KindPlan is the value of the kind field of every plan.
const KindPlan = "Plan"

// Plan is a DAG of nodes that turns typed inputs into one output.
type Plan struct {
	APIVersion string   `json:"apiVersion" yaml:"apiVersion"`
	Kind       string   `json:"kind" yaml:"kind"`
	Metadata   Metadata `json:"metadata" yaml:"metadata"`
	// Inputs are the named, typed values a caller supplies for each run.
	Inputs []Input `json:"inputs" yaml:"inputs"`
	// Output references the value the plan returns: "inputs.NAME", "NODE" or "NODE.FIELD".
	Output string `json:"output" yaml:"output"`
	// Defaults apply to every node unless the node overrides them.
	Defaults *Defaults `json:"defaults,omitempty" yaml:"defaults,omitempty"`
	Nodes    []Node    `json:"nodes" yaml:"nodes"`
	// Provenance records how a compiled plan was produced; hand-written plans may omit it.
	Provenance *Provenance `json:"provenance,omitempty" yaml:"provenance,omitempty"`

	// file and dir are where the plan was read from: dir is the base (and the fence) for code
	// nodes' path fields. pos maps field paths to lines for error messages.
	file string
	dir  string
	pos  positions
}

// File returns the file the plan was read from, or "" for a plan built in memory.
func (p *Plan) File() string { return p.file }

// SetFile sets the file name used in error messages and the folder against which (and inside
// which) code nodes' path fields are resolved. Plans built in memory that use code paths need it.
func (p *Plan) SetFile(filename string) {
	p.file = filename
	p.dir = filepath.Dir(filename)
	p.pos = nil
}

// Metadata names and describes a plan.
type Metadata struct {
	Name        string            `json:"name" yaml:"name"`
	Description string            `json:"description,omitempty" yaml:"description,omitempty"`
	Labels      map[string]string `json:"labels,omitempty" yaml:"labels,omitempty"`
}

// Type is the type of a plan input or of a value flowing between nodes.
type Type string

// The value types a plan can declare.
const (
	TypeString  Type = "string"
	TypeNumber  Type = "number"
	TypeInteger Type = "integer"
	TypeBoolean Type = "boolean"
	TypeObject  Type = "object"
	TypeArray   Type = "array"
	// TypeAny is accepted by consumers that do not care (a prompt renders any value).
	TypeAny Type = "any"
)

// Input declares one named plan input.
type Input struct {
	Name        string `json:"name" yaml:"name"`
	Type        Type   `json:"type" yaml:"type"`
	Description string `json:"description,omitempty" yaml:"description,omitempty"`
}

// Substrate says where a node executes.
type Substrate string

// The three substrates.
const (
	SubstrateLLM       Substrate = "llm"
	SubstrateCode      Substrate = "code"
	SubstrateConsensus Substrate = "consensus"
	// SubstrateRouter is not a place where work runs but a choice: the node runs one of its
	// branches (whole sub-plans), picked by the value of a classifier node.
	SubstrateRouter Substrate = "router"
)

// Defaults holds plan-wide settings.
type Defaults struct {
	// Engine selects the sandbox engine for code nodes: an EngineName, "" for EngineWazero
	// (Plan.Engine resolves it).
	Engine string `json:"engine,omitempty" yaml:"engine,omitempty"`
	// Sampling is merged under each llm node's own sampling settings.
	Sampling *Sampling `json:"sampling,omitempty" yaml:"sampling,omitempty"`
	// Limits is merged under each code node's own limits.
	Limits *Limits `json:"limits,omitempty" yaml:"limits,omitempty"`
}

// Node is one step of a plan. Exactly one of LLM, Code, Consensus and Router is set, matching
// Substrate.
type Node struct {
	ID          string    `json:"id" yaml:"id"`
	Substrate   Substrate `json:"substrate" yaml:"substrate"`
	Description string    `json:"description,omitempty" yaml:"description,omitempty"`
	// Timeout bounds one execution of the node (Go duration syntax, e.g. "30s").
	Timeout string `json:"timeout,omitempty" yaml:"timeout,omitempty"`
	// Retries is how many times a failed execution is retried (transport errors, parse failures).
	Retries   int            `json:"retries,omitempty" yaml:"retries,omitempty"`
	LLM       *LLMNode       `json:"llm,omitempty" yaml:"llm,omitempty"`
	Code      *CodeNode      `json:"code,omitempty" yaml:"code,omitempty"`
	Consensus *ConsensusNode `json:"consensus,omitempty" yaml:"consensus,omitempty"`
	Router    *RouterNode    `json:"router,omitempty" yaml:"router,omitempty"`
}

// LLMNode runs a prompt template on the student model and parses its reply.
type LLMNode struct {
	// System is an optional system message template.
	System string `json:"system,omitempty" yaml:"system,omitempty"`
	// Prompt is the user message template. "{{ REF }}" inserts a value, where REF is
	// "inputs.NAME", "NODE" or "NODE.FIELD"; "{{{{" writes a literal "{{".
	Prompt string `json:"prompt" yaml:"prompt"`
	// Examples are few-shot demonstrations rendered before the prompt as user/assistant turns.
	Examples []Example `json:"examples,omitempty" yaml:"examples,omitempty"`
	Sampling *Sampling `json:"sampling,omitempty" yaml:"sampling,omitempty"`
	Parser   Parser    `json:"parser" yaml:"parser"`
}

// Example is one few-shot demonstration.
type Example struct {
	User      string `json:"user" yaml:"user"`
	Assistant string `json:"assistant" yaml:"assistant"`
}

// Sampling holds the student's sampling parameters. Pointers distinguish "unset" from zero so
// that defaults merge correctly (temperature 0 is a deliberate choice, not an absence).
type Sampling struct {
	Temperature *float64 `json:"temperature,omitempty" yaml:"temperature,omitempty"`
	TopP        *float64 `json:"top_p,omitempty" yaml:"top_p,omitempty"`
	MaxTokens   *int     `json:"max_tokens,omitempty" yaml:"max_tokens,omitempty"`
	Seed        *int64   `json:"seed,omitempty" yaml:"seed,omitempty"`
}

// ParserType names an output parser.
type ParserType string

// The output parsers an llm node can use.
const (
	ParserNumber  ParserType = "number"
	ParserInteger ParserType = "integer"
	ParserJSON    ParserType = "json"
	ParserRegex   ParserType = "regex"
	ParserText    ParserType = "text"
	// ParserCode extracts a program: the last fenced code block, or the whole reply.
	ParserCode ParserType = "code"
)

// Parser turns the student's raw reply into a typed value.
type Parser struct {
	Type ParserType `json:"type" yaml:"type"`
	// Schema is a JSON Schema for the json parser; it is also sent as response_format where the
	// endpoint supports it.
	Schema map[string]any `json:"schema,omitempty" yaml:"schema,omitempty"`
	// Pattern is the regular expression (RE2 syntax) for the regex parser.
	Pattern string `json:"pattern,omitempty" yaml:"pattern,omitempty"`
	// Group selects a capture group of Pattern by name or number; empty means the whole match.
	Group string `json:"group,omitempty" yaml:"group,omitempty"`
}

// CodeNode is deterministic Go source that runs only inside the WebAssembly sandbox.
type CodeNode struct {
	// Source is the inline Go source of the node (one package main file). Exactly one of Source
	// and Path is set.
	Source string `json:"source,omitempty" yaml:"source,omitempty"`
	// Path is the source file, relative to the plan file; it may not leave the plan's folder.
	Path string `json:"path,omitempty" yaml:"path,omitempty"`
	// Inputs maps each field of the node's input object to a reference.
	Inputs map[string]string `json:"inputs" yaml:"inputs"`
	// Outputs declares the fields of the node's output object and their types.
	Outputs map[string]Type `json:"outputs" yaml:"outputs"`
	Limits  *Limits         `json:"limits,omitempty" yaml:"limits,omitempty"`
	// Digest is the sha256 of the source ("sha256:HEX"). When set it must match the source, so a
	// reviewed plan cannot run different code.
	Digest string `json:"digest,omitempty" yaml:"digest,omitempty"`

	// loaded is the content of Path, read by Validate.
	loaded string
}

// SourceText returns the Go source the node runs: Source when inline, otherwise the content of
// Path as read by the last successful Validate (Load and Parse validate). It is "" for a path
// that has not been read.
func (c *CodeNode) SourceText() string {
	if c.Source != "" {
		return c.Source
	}
	return c.loaded
}

// SourceDigest returns "sha256:HEX" of SourceText.
func (c *CodeNode) SourceDigest() string { return digestOf([]byte(c.SourceText())) }

// Limits bounds one code-node call.
type Limits struct {
	// Fuel is the instruction budget of one call where the engine meters fuel.
	Fuel *uint64 `json:"fuel,omitempty" yaml:"fuel,omitempty"`
	// MemoryMiB caps the guest's linear memory.
	MemoryMiB *uint32 `json:"memory_mib,omitempty" yaml:"memory_mib,omitempty"`
	// MaxOutputBytes caps the size of the output object and of captured stdout/stderr.
	MaxOutputBytes *int `json:"max_output_bytes,omitempty" yaml:"max_output_bytes,omitempty"`
	// Timeout is the wall-clock bound of one call (Go duration syntax).
	Timeout string `json:"timeout,omitempty" yaml:"timeout,omitempty"`
}

// ConsensusNode replicates a sub-graph N times with perturbations and votes on one of its outputs.
type ConsensusNode struct {
	// Members are the node ids replicated for each sample: one llm node, optionally followed by
	// code nodes fed by it. Members run only inside the consensus; other nodes read the vote.
	Members []string `json:"members" yaml:"members"`
	// Over references the member output voted on ("NODE" or "NODE.FIELD").
	Over string `json:"over" yaml:"over"`
	// N is the number of samples.
	N             int           `json:"n" yaml:"n"`
	Perturbations Perturbations `json:"perturbations,omitempty" yaml:"perturbations,omitempty"`
	Vote          Vote          `json:"vote" yaml:"vote"`
}

// Perturbations make the N samples differ. Sample i uses element i mod len of each list.
type Perturbations struct {
	// PromptVariants are alternative instructions appended to the llm member's prompt.
	PromptVariants []string  `json:"prompt_variants,omitempty" yaml:"prompt_variants,omitempty"`
	Temperatures   []float64 `json:"temperatures,omitempty" yaml:"temperatures,omitempty"`
	Seeds          []int64   `json:"seeds,omitempty" yaml:"seeds,omitempty"`
}

// VoteMethod names a deterministic voting rule.
type VoteMethod string

// The voting rules.
const (
	// VoteMajority needs more than half of all N samples to agree; otherwise the node fails.
	VoteMajority VoteMethod = "majority"
	// VotePlurality takes the most frequent value, breaking ties by TieBreak.
	VotePlurality VoteMethod = "plurality"
	// VoteMedian takes the median of numeric values (the lower middle for even counts).
	VoteMedian VoteMethod = "median"
	// VoteFirstValid takes the first sample, in sample order, that produced a value.
	VoteFirstValid VoteMethod = "first_valid"
)

// TieBreak resolves plurality ties deterministically.
type TieBreak string

// The tie-break rules.
const (
	TieFirst    TieBreak = "first"    // the tied value seen first in sample order
	TieSmallest TieBreak = "smallest" // the smallest tied value (numbers numerically, else bytewise)
	TieLargest  TieBreak = "largest"
)

// Vote configures how samples are combined.
type Vote struct {
	Method   VoteMethod `json:"method" yaml:"method"`
	TieBreak TieBreak   `json:"tie_break,omitempty" yaml:"tie_break,omitempty"`
	// Normalize says how values are compared: "number" (numeric, rounded to Precision significant
	// digits), "text" (trimmed, case-folded, inner whitespace collapsed) or "exact".
	Normalize string `json:"normalize,omitempty" yaml:"normalize,omitempty"`
	Precision int    `json:"precision,omitempty" yaml:"precision,omitempty"`
}

// Provenance records how a compiled plan came to be.
type Provenance struct {
	Teacher       string   `json:"teacher,omitempty" yaml:"teacher,omitempty"`
	Student       string   `json:"student,omitempty" yaml:"student,omitempty"`
	DatasetDigest string   `json:"dataset_digest,omitempty" yaml:"dataset_digest,omitempty"`
	Seed          *int64   `json:"seed,omitempty" yaml:"seed,omitempty"`
	TrainRisk     *float64 `json:"train_risk,omitempty" yaml:"train_risk,omitempty"`
	HeldoutRisk   *float64 `json:"heldout_risk,omitempty" yaml:"heldout_risk,omitempty"`
	Cost          *Cost    `json:"cost,omitempty" yaml:"cost,omitempty"`
	PAC           *PAC     `json:"pac,omitempty" yaml:"pac,omitempty"`
	CompiledAt    string   `json:"compiled_at,omitempty" yaml:"compiled_at,omitempty"`
	Compiler      string   `json:"compiler,omitempty" yaml:"compiler,omitempty"`
}

// Cost is what compiling a plan spent.
type Cost struct {
	TeacherTokens int64   `json:"teacher_tokens,omitempty" yaml:"teacher_tokens,omitempty"`
	StudentCalls  int64   `json:"student_calls,omitempty" yaml:"student_calls,omitempty"`
	StudentTokens int64   `json:"student_tokens,omitempty" yaml:"student_tokens,omitempty"`
	WallSeconds   float64 `json:"wall_seconds,omitempty" yaml:"wall_seconds,omitempty"`
	Iterations    int     `json:"iterations,omitempty" yaml:"iterations,omitempty"`
}

// PAC is the sample bound m >= (k ln 3 + ln(1/delta)) / epsilon for k subtask types.
type PAC struct {
	K         int     `json:"k" yaml:"k"`
	Epsilon   float64 `json:"epsilon" yaml:"epsilon"`
	Delta     float64 `json:"delta" yaml:"delta"`
	M         int     `json:"m" yaml:"m"`
	TrainN    int     `json:"train_n,omitempty" yaml:"train_n,omitempty"`
	Satisfied bool    `json:"satisfied" yaml:"satisfied"`
}
