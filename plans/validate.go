package plans

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// Ranges enforced by Validate. They are wide enough for any sensible plan and narrow enough that
// a typo (an extra zero, a unit mistake) is caught before it runs. The code-node ceilings (fuel,
// memory, output, source size) are also the ones the sandbox engines and the builder enforce:
// this is their only definition, so a plan that validates is never refused later for a limit.
const (
	// MaxFuel is also the largest budget the engines accept for a call (sgde exec --fuel too).
	MaxFuel      = 1_000_000_000_000
	MinMemoryMiB = 4 // the Go wasip1 runtime needs about 44 pages (2.75 MiB) before user code runs
	// MaxMemoryMiB is also the engines' default per-call memory ceiling
	// (sandbox.WithMaxMemoryMiB raises it for a host that wants more, up to wasm32's 4 GiB).
	MaxMemoryMiB      = 1024
	MaxOutputBytesMax = 64 << 20
	MinCodeTimeout    = time.Millisecond
	MaxCodeTimeout    = 10 * time.Minute
	MinNodeTimeout    = time.Millisecond
	MaxNodeTimeout    = time.Hour
	MaxRetries        = 10
	MaxConsensusN     = 64
	MaxTemperature    = 2.0
	MaxTokensLimit    = 1 << 20
	// MaxSourceBytes bounds a code node's source, in plans and in the builder (wasm.Validate),
	// so that validating and compiling stay proportional to something small; real nodes are a
	// few kilobytes, and the largest shipped one (arith_program) fits with room to spare.
	MaxSourceBytes     = 256 << 10
	MaxPrecision       = 17
	maxPerturbations   = MaxConsensusN
	maxMetadataNameLen = 253
)

// Defaults used when neither the node nor the plan's defaults set a value, and by the sandbox
// engines for every zero field of sandbox.Limits (sgde exec without flags): their only
// definition. Plan.EffectiveLimits applies them.
const (
	// DefaultFuel is sized so that a runaway loop stops on fuel, deterministically, well inside
	// DefaultCodeTimeout (fuel per second: docs/BENCHMARKS.md, "Metered wazero engine").
	DefaultFuel           = 1_000_000_000
	DefaultMemoryMiB      = 64
	DefaultMaxOutputBytes = 1 << 20
	DefaultCodeTimeout    = 10 * time.Second
	// DefaultPrecision is the number of significant digits "number" normalisation keeps when
	// the vote does not say.
	DefaultPrecision = 12
)

// Normalisations a vote can apply before comparing samples.
const (
	NormalizeNumber = "number"
	NormalizeText   = "text"
	NormalizeExact  = "exact"
)

var validTypes = map[Type]bool{TypeString: true, TypeNumber: true, TypeInteger: true,
	TypeBoolean: true, TypeObject: true, TypeArray: true, TypeAny: true}

var digestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// Validate checks the whole plan and returns an ErrorList of every problem, sorted by line, or
// nil. It reads the files named by code nodes' path fields (relative to the plan file, never
// outside its folder) and keeps their content for SourceText and the digest. It must not run
// concurrently with other uses of p.
func (p *Plan) Validate() error { return p.validate(true) }

// validate checks the plan; reread false keeps code files already read (so that the canonical
// form describes the source that was loaded, and runs, even if the file changed since).
func (p *Plan) validate(reread bool) error {
	v := &validator{p: p, c: &errs{file: p.file, pos: p.pos}, byID: map[string]int{}, consensusOf: map[string]string{}, reread: reread}
	v.run()
	return v.c.err()
}

// run does every check, collecting the problems in v.c.
func (v *validator) run() {
	v.header()
	v.inputs()
	v.defaults()
	v.nodes()
	v.membership()
	v.references()
	v.cycles()
	v.consensus()
	v.provenance()
}

type validator struct {
	p           *Plan
	c           *errs
	byID        map[string]int    // node id -> index of its first declaration
	consensusOf map[string]string // member id -> consensus id
	inputTypes  map[string]Type
	reread      bool
	depth       int // how many routers enclose this plan
}

func nodePath(i int) string { return fmt.Sprintf("nodes[%d]", i) }

func (v *validator) header() {
	p := v.p
	if p.APIVersion != APIVersion {
		v.c.add("", "apiVersion", "apiVersion is %q, want %q", p.APIVersion, APIVersion)
	}
	if p.Kind != KindPlan {
		v.c.add("", "kind", "kind is %q, want %q", p.Kind, KindPlan)
	}
	switch name := p.Metadata.Name; {
	case name == "":
		v.c.add("", "metadata.name", "metadata.name is required")
	case len(name) > maxMetadataNameLen || strings.ContainsFunc(name, func(r rune) bool { return r < ' ' || r == 0x7f }) || !utf8.ValidString(name):
		v.c.add("", "metadata.name", "metadata.name must be at most %d printable characters", maxMetadataNameLen)
	}
}

func (v *validator) inputs() {
	v.inputTypes = map[string]Type{}
	for i, in := range v.p.Inputs {
		path := fmt.Sprintf("inputs[%d]", i)
		if !isIdent(in.Name) {
			v.c.add("", path+".name", "input name %q must be letters, digits, _ and - (starting with a letter or _), at most %d", in.Name, maxIdentLen)
			continue
		}
		if _, dup := v.inputTypes[in.Name]; dup {
			v.c.add("", path+".name", "input %q is declared twice", in.Name)
			continue
		}
		if !validTypes[in.Type] || in.Type == TypeAny {
			v.c.add("", path+".type", "input %q has type %q, want one of string, number, integer, boolean, object, array", in.Name, in.Type)
		}
		v.inputTypes[in.Name] = in.Type
	}
}

func (v *validator) defaults() {
	d := v.p.Defaults
	if d == nil {
		return
	}
	if _, err := ParseEngineName(d.Engine); err != nil {
		v.c.add("", "defaults.engine", "defaults.engine is %q, want %s or %s", d.Engine, EngineWazero, EngineWasmtime)
	}
	if d.Sampling != nil {
		v.sampling("", "defaults.sampling", d.Sampling)
	}
	if d.Limits != nil {
		v.limits("", "defaults.limits", d.Limits)
	}
}

func (v *validator) nodes() {
	if len(v.p.Nodes) == 0 {
		v.c.add("", "nodes", "a plan needs at least one node")
	}
	for i := range v.p.Nodes {
		n := &v.p.Nodes[i]
		path := nodePath(i)
		switch {
		case n.ID == inputsPrefix:
			v.c.add(n.ID, path+".id", "node id %q is reserved for plan inputs", n.ID)
		case !isIdent(n.ID):
			v.c.add(n.ID, path+".id", "node id %q must be letters, digits, _ and - (starting with a letter or _), at most %d", n.ID, maxIdentLen)
		default:
			if first, dup := v.byID[n.ID]; dup {
				v.c.add(n.ID, path+".id", "node id %q is already used by nodes[%d] (line %d)", n.ID, first, v.c.pos.line(nodePath(first)))
			} else {
				v.byID[n.ID] = i
			}
		}
		if n.Timeout != "" {
			v.duration(n.ID, path+".timeout", "timeout", n.Timeout, MinNodeTimeout, MaxNodeTimeout)
		}
		if n.Retries < 0 || n.Retries > MaxRetries {
			v.c.add(n.ID, path+".retries", "retries is %d, want 0 to %d", n.Retries, MaxRetries)
		}
		bodies := map[Substrate]bool{SubstrateLLM: n.LLM != nil, SubstrateCode: n.Code != nil, SubstrateConsensus: n.Consensus != nil, SubstrateRouter: n.Router != nil}
		switch n.Substrate {
		case SubstrateLLM, SubstrateCode, SubstrateConsensus, SubstrateRouter:
			if !bodies[n.Substrate] {
				v.c.add(n.ID, path+".substrate", "substrate is %s but the node has no %s section", n.Substrate, n.Substrate)
			}
			for s, set := range bodies {
				if set && s != n.Substrate {
					v.c.add(n.ID, path+"."+string(s), "substrate is %s, so the node cannot have a %s section", n.Substrate, s)
				}
			}
		case "":
			v.c.add(n.ID, path, "substrate is required (llm, code, consensus or router)")
		default:
			v.c.add(n.ID, path+".substrate", "substrate is %q, want llm, code, consensus or router", n.Substrate)
		}
		if n.LLM != nil {
			v.llm(n, path+".llm")
		}
		if n.Code != nil {
			v.code(n, path+".code")
		}
		if n.Consensus != nil {
			v.consensusSyntax(n, path+".consensus")
		}
		if n.Router != nil {
			v.routerSyntax(n, path+".router")
		}
	}
}

func (v *validator) template(node, path, what, tmpl string) {
	if _, err := ParseTemplate(tmpl); err != nil {
		v.c.add(node, path, "%s: %v", what, err)
	}
}

func (v *validator) llm(n *Node, path string) {
	l := n.LLM
	if strings.TrimSpace(l.Prompt) == "" {
		v.c.add(n.ID, path+".prompt", "llm.prompt is required")
	} else {
		v.template(n.ID, path+".prompt", "llm.prompt", l.Prompt)
	}
	if l.System != "" {
		v.template(n.ID, path+".system", "llm.system", l.System)
	}
	for i, ex := range l.Examples {
		ep := fmt.Sprintf("%s.examples[%d]", path, i)
		if strings.TrimSpace(ex.User) == "" || strings.TrimSpace(ex.Assistant) == "" {
			v.c.add(n.ID, ep, "llm.examples[%d] needs both user and assistant", i)
		}
		v.template(n.ID, ep+".user", fmt.Sprintf("llm.examples[%d].user", i), ex.User)
		v.template(n.ID, ep+".assistant", fmt.Sprintf("llm.examples[%d].assistant", i), ex.Assistant)
	}
	if l.Sampling != nil {
		v.sampling(n.ID, path+".sampling", l.Sampling)
	}
	v.parser(n.ID, path+".parser", &l.Parser)
}

func (v *validator) parser(node, path string, ps *Parser) {
	switch ps.Type {
	case ParserNumber, ParserInteger, ParserText, ParserCode, ParserJSON, ParserRegex:
	case "":
		v.c.add(node, path+".type", "llm.parser.type is required (number, integer, json, regex, text or code)")
		return
	default:
		v.c.add(node, path+".type", "llm.parser.type is %q, want number, integer, json, regex, text or code", ps.Type)
		return
	}
	if ps.Schema != nil && ps.Type != ParserJSON {
		v.c.add(node, path+".schema", "llm.parser.schema is only for the json parser")
	}
	if ps.Type != ParserRegex {
		if ps.Pattern != "" {
			v.c.add(node, path+".pattern", "llm.parser.pattern is only for the regex parser")
		}
		if ps.Group != "" {
			v.c.add(node, path+".group", "llm.parser.group is only for the regex parser")
		}
	}
	switch ps.Type {
	case ParserJSON:
		if ps.Schema != nil {
			for _, e := range checkSchema(ps.Schema, "") {
				v.c.add(node, path+".schema"+e.path, "llm.parser.schema%s: %s", e.path, e.msg)
			}
		}
	case ParserRegex:
		if ps.Pattern == "" {
			v.c.add(node, path+".pattern", "the regex parser needs llm.parser.pattern")
			return
		}
		if _, err := compileGroup(ps.Pattern, ps.Group); err != nil {
			v.c.add(node, path+".pattern", "llm.parser: %v", err)
		}
	}
}

func (v *validator) sampling(node, path string, s *Sampling) {
	if t := s.Temperature; t != nil && (math.IsNaN(*t) || *t < 0 || *t > MaxTemperature) {
		v.c.add(node, path+".temperature", "sampling.temperature is %g, want 0 to %g", *t, MaxTemperature)
	}
	if t := s.TopP; t != nil && (math.IsNaN(*t) || *t <= 0 || *t > 1) {
		v.c.add(node, path+".top_p", "sampling.top_p is %g, want more than 0 and at most 1", *t)
	}
	if m := s.MaxTokens; m != nil && (*m < 1 || *m > MaxTokensLimit) {
		v.c.add(node, path+".max_tokens", "sampling.max_tokens is %d, want 1 to %d", *m, MaxTokensLimit)
	}
}

func (v *validator) limits(node, path string, l *Limits) {
	if f := l.Fuel; f != nil && (*f < 1 || *f > MaxFuel) {
		v.c.add(node, path+".fuel", "limits.fuel is %d, want 1 to %d", *f, uint64(MaxFuel))
	}
	if m := l.MemoryMiB; m != nil {
		switch {
		case *m < MinMemoryMiB:
			v.c.add(node, path+".memory_mib", "limits.memory_mib is %d, want at least %d: the Go wasip1 runtime alone needs about 3 MiB", *m, MinMemoryMiB)
		case *m > MaxMemoryMiB:
			v.c.add(node, path+".memory_mib", "limits.memory_mib is %d, want at most %d (the engines' ceiling)", *m, MaxMemoryMiB)
		}
	}
	if m := l.MaxOutputBytes; m != nil && (*m < 1 || *m > MaxOutputBytesMax) {
		v.c.add(node, path+".max_output_bytes", "limits.max_output_bytes is %d, want 1 to %d (64 MiB)", *m, MaxOutputBytesMax)
	}
	if l.Timeout != "" {
		v.duration(node, path+".timeout", "limits.timeout", l.Timeout, MinCodeTimeout, MaxCodeTimeout)
	}
}

func (v *validator) duration(node, path, what, s string, lo, hi time.Duration) {
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		v.c.add(node, path, "%s %q is not a duration (write e.g. 500ms, 30s, 2m)", what, s)
	case d < lo || d > hi:
		v.c.add(node, path, "%s is %s, want %s to %s", what, s, lo, hi)
	}
}

func (v *validator) code(n *Node, path string) {
	c := n.Code
	var src string
	switch {
	case c.Source != "" && c.Path != "":
		v.c.add(n.ID, path, "code has both source and path; keep one")
		return
	case c.Source == "" && c.Path == "":
		v.c.add(n.ID, path, "code needs source (inline Go) or path (a .go file beside the plan)")
		return
	case c.Source != "":
		if len(c.Source) > MaxSourceBytes {
			v.c.add(n.ID, path+".source", "code.source is %d bytes, more than %d", len(c.Source), MaxSourceBytes)
			return
		}
		src = c.Source
	case c.loaded != "" && !v.reread:
		src = c.loaded
	default:
		c.loaded = ""
		text, msg := readSource(v.p.dir, v.p.file != "", c.Path)
		if msg != "" {
			v.c.add(n.ID, path+".path", "code.path %q %s", c.Path, msg)
			return
		}
		c.loaded, src = text, text
	}
	if !utf8.ValidString(src) {
		v.c.add(n.ID, path, "code source is not valid UTF-8")
	} else if f, err := parser.ParseFile(token.NewFileSet(), "node.go", src, parser.PackageClauseOnly); err != nil {
		v.c.add(n.ID, path, "code source: %v", firstLine(err.Error()))
	} else if f.Name.Name != "main" {
		v.c.add(n.ID, path, "code source is package %s, want package main", f.Name.Name)
	}
	if c.Digest != "" {
		switch got := digestOf([]byte(src)); {
		case !digestRE.MatchString(c.Digest):
			v.c.add(n.ID, path+".digest", "code.digest %q is not sha256:<64 lower-case hex digits>", c.Digest)
		case got != c.Digest:
			v.c.add(n.ID, path+".digest", "code.digest does not match the source: the source is %s", got)
		}
	}
	inputNames := make([]string, 0, len(c.Inputs))
	for name := range c.Inputs {
		inputNames = append(inputNames, name)
	}
	sort.Strings(inputNames)
	for _, name := range inputNames {
		if !isIdent(name) {
			v.c.add(n.ID, path+".inputs."+name, "code input name %q must be letters, digits, _ and -", name)
		}
		if _, err := ParseRef(c.Inputs[name]); err != nil {
			v.c.add(n.ID, path+".inputs."+name, "code.inputs.%s: %v", name, err)
		}
	}
	if len(c.Outputs) == 0 {
		v.c.add(n.ID, path+".outputs", "code.outputs must declare at least one output field")
	}
	for name, t := range c.Outputs {
		if !isIdent(name) {
			v.c.add(n.ID, path+".outputs."+name, "code output name %q must be letters, digits, _ and -", name)
		}
		if !validTypes[t] {
			v.c.add(n.ID, path+".outputs."+name, "code.outputs.%s has type %q, want string, number, integer, boolean, object, array or any", name, t)
		}
	}
	if c.Limits != nil {
		v.limits(n.ID, path+".limits", c.Limits)
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// readSource reads a code file named relative to the plan's folder, refusing anything that
// leaves the folder, lexically or through symbolic links. It returns the text or a message
// that completes `code.path "X" ...`.
func readSource(dir string, haveFile bool, rel string) (string, string) {
	return readFenced(dir, haveFile, rel, []string{".go"}, MaxSourceBytes)
}

// readFenced is readSource for any file kind: exts are the accepted extensions, limit the size.
func readFenced(dir string, haveFile bool, rel string, exts []string, limit int64) (string, string) {
	if !haveFile {
		return "", "needs the plan's folder, but the plan was not read from a file (use source, or SetFile)"
	}
	if strings.ContainsRune(rel, 0) || filepath.IsAbs(rel) || strings.HasPrefix(rel, "/") || strings.HasPrefix(rel, `\`) || filepath.VolumeName(rel) != "" {
		return "", "must be relative to the plan file"
	}
	clean := filepath.Clean(filepath.FromSlash(rel))
	if clean == ".." || strings.HasPrefix(clean, ".."+string(filepath.Separator)) {
		return "", "escapes the plan folder"
	}
	if !slices.Contains(exts, strings.ToLower(filepath.Ext(clean))) {
		return "", "must name a " + strings.Join(exts, " or ") + " file"
	}
	root, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", fmt.Sprintf("cannot be resolved: plan folder: %v", err)
	}
	root, err = filepath.Abs(root)
	if err != nil {
		return "", fmt.Sprintf("cannot be resolved: %v", err)
	}
	real, err := filepath.EvalSymlinks(filepath.Join(dir, clean))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", "does not exist"
		}
		return "", fmt.Sprintf("cannot be resolved: %v", err)
	}
	real, err = filepath.Abs(real)
	if err != nil {
		return "", fmt.Sprintf("cannot be resolved: %v", err)
	}
	if r, err := filepath.Rel(root, real); err != nil || r == ".." || strings.HasPrefix(r, ".."+string(filepath.Separator)) {
		return "", "escapes the plan folder through a symbolic link"
	}
	f, err := os.Open(real)
	if err != nil {
		return "", fmt.Sprintf("cannot be read: %v", err)
	}
	defer f.Close()
	st, err := f.Stat()
	switch {
	case err != nil:
		return "", fmt.Sprintf("cannot be read: %v", err)
	case !st.Mode().IsRegular():
		return "", "is not a regular file"
	case st.Size() > limit:
		return "", fmt.Sprintf("is %d bytes, more than %d", st.Size(), limit)
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return "", fmt.Sprintf("cannot be read: %v", err)
	}
	if int64(len(data)) > limit {
		return "", fmt.Sprintf("is more than %d bytes", limit)
	}
	return string(data), ""
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func (v *validator) consensusSyntax(n *Node, path string) {
	k := n.Consensus
	if k.N < 1 || k.N > MaxConsensusN {
		v.c.add(n.ID, path+".n", "consensus.n is %d, want 1 to %d", k.N, MaxConsensusN)
	}
	if len(k.Members) == 0 {
		v.c.add(n.ID, path+".members", "consensus.members must list an llm node (and optionally code nodes fed by it)")
	}
	if k.Over == "" {
		v.c.add(n.ID, path+".over", "consensus.over is required: the member output to vote on (NODE or NODE.FIELD)")
	} else if _, err := ParseRef(k.Over); err != nil {
		v.c.add(n.ID, path+".over", "consensus.over: %v", err)
	}
	pp := path + ".perturbations"
	if l := len(k.Perturbations.PromptVariants); l > maxPerturbations {
		v.c.add(n.ID, pp+".prompt_variants", "%d prompt variants, at most %d", l, maxPerturbations)
	}
	for i, pv := range k.Perturbations.PromptVariants {
		if strings.TrimSpace(pv) == "" {
			v.c.add(n.ID, fmt.Sprintf("%s.prompt_variants[%d]", pp, i), "prompt variant %d is empty", i)
		}
		v.template(n.ID, fmt.Sprintf("%s.prompt_variants[%d]", pp, i), fmt.Sprintf("prompt variant %d", i), pv)
	}
	if l := len(k.Perturbations.Temperatures); l > maxPerturbations {
		v.c.add(n.ID, pp+".temperatures", "%d temperatures, at most %d", l, maxPerturbations)
	}
	for i, t := range k.Perturbations.Temperatures {
		if math.IsNaN(t) || t < 0 || t > MaxTemperature {
			v.c.add(n.ID, fmt.Sprintf("%s.temperatures[%d]", pp, i), "temperature %g, want 0 to %g", t, MaxTemperature)
		}
	}
	if l := len(k.Perturbations.Seeds); l > maxPerturbations {
		v.c.add(n.ID, pp+".seeds", "%d seeds, at most %d", l, maxPerturbations)
	}
	vp := path + ".vote"
	switch k.Vote.Method {
	case VoteMajority, VoteMedian, VoteFirstValid:
		if k.Vote.TieBreak != "" {
			v.c.add(n.ID, vp+".tie_break", "vote.tie_break applies only to plurality (%s cannot tie)", k.Vote.Method)
		}
	case VotePlurality:
		switch k.Vote.TieBreak {
		case TieFirst, TieSmallest, TieLargest:
		case "":
			v.c.add(n.ID, vp+".tie_break", "plurality needs vote.tie_break: first, smallest or largest")
		default:
			v.c.add(n.ID, vp+".tie_break", "vote.tie_break is %q, want first, smallest or largest", k.Vote.TieBreak)
		}
	case "":
		v.c.add(n.ID, vp+".method", "vote.method is required: majority, plurality, median or first_valid")
	default:
		v.c.add(n.ID, vp+".method", "vote.method is %q, want majority, plurality, median or first_valid", k.Vote.Method)
	}
	switch k.Vote.Normalize {
	case "", NormalizeNumber, NormalizeText, NormalizeExact:
	default:
		v.c.add(n.ID, vp+".normalize", "vote.normalize is %q, want number, text or exact", k.Vote.Normalize)
	}
	if k.Vote.Precision < 0 || k.Vote.Precision > MaxPrecision {
		v.c.add(n.ID, vp+".precision", "vote.precision is %d, want 1 to %d significant digits (0 for the default %d)", k.Vote.Precision, MaxPrecision, DefaultPrecision)
	}
}

// membership checks which nodes each consensus replicates.
func (v *validator) membership() {
	for i := range v.p.Nodes {
		n := &v.p.Nodes[i]
		if n.Consensus == nil || n.Substrate != SubstrateConsensus {
			continue
		}
		path := nodePath(i) + ".consensus.members"
		seen := map[string]bool{}
		for j, m := range n.Consensus.Members {
			mp := fmt.Sprintf("%s[%d]", path, j)
			mi, ok := v.byID[m]
			switch {
			case m == n.ID:
				v.c.add(n.ID, mp, "a consensus cannot be its own member")
				continue
			case !ok:
				v.c.add(n.ID, mp, "member %q is not a node%s", m, v.nodeHint(m))
				continue
			case seen[m]:
				v.c.add(n.ID, mp, "member %q is listed twice", m)
				continue
			}
			seen[m] = true
			if other, taken := v.consensusOf[m]; taken {
				v.c.add(n.ID, mp, "member %q already belongs to consensus %q; a node belongs to at most one consensus", m, other)
				continue
			}
			v.consensusOf[m] = n.ID
			sub := v.p.Nodes[mi].Substrate
			switch {
			case j == 0 && sub != SubstrateLLM:
				v.c.add(n.ID, mp, "the first member %q must be an llm node, not %s", m, sub)
			case j > 0 && sub != SubstrateCode:
				v.c.add(n.ID, mp, "member %q must be a code node fed by the llm member, not %s", m, sub)
			}
		}
	}
}

func (v *validator) nodeHint(id string) string {
	best, bestD := "", 3
	for other := range v.byID {
		if d := editDistance(id, other); d < bestD || (d == bestD && other < best) {
			best, bestD = other, d
		}
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return ""
}

// nodeRef is one reference made by a node, with the field path where it is written.
type nodeRef struct {
	ref  Ref
	path string
	// inside is true for references resolved in the consensus's own scope (its over field).
	inside bool
}

// refsOf lists the references a node makes directly; syntax errors were reported already.
func refsOf(n *Node, path string) []nodeRef {
	var out []nodeRef
	tmpl := func(p, t string) {
		refs, _ := TemplateRefs(t)
		for _, r := range refs {
			out = append(out, nodeRef{ref: r, path: p})
		}
	}
	if l := n.LLM; l != nil && n.Substrate == SubstrateLLM {
		tmpl(path+".llm.system", l.System)
		tmpl(path+".llm.prompt", l.Prompt)
		for i, ex := range l.Examples {
			tmpl(fmt.Sprintf("%s.llm.examples[%d].user", path, i), ex.User)
			tmpl(fmt.Sprintf("%s.llm.examples[%d].assistant", path, i), ex.Assistant)
		}
	}
	if c := n.Code; c != nil && n.Substrate == SubstrateCode {
		names := make([]string, 0, len(c.Inputs))
		for name := range c.Inputs {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			if r, err := ParseRef(c.Inputs[name]); err == nil {
				out = append(out, nodeRef{ref: r, path: path + ".code.inputs." + name})
			}
		}
	}
	if k := n.Consensus; k != nil && n.Substrate == SubstrateConsensus {
		if r, err := ParseRef(k.Over); err == nil {
			out = append(out, nodeRef{ref: r, path: path + ".consensus.over", inside: true})
		}
		for i, pv := range k.Perturbations.PromptVariants {
			tmpl(fmt.Sprintf("%s.consensus.perturbations.prompt_variants[%d]", path, i), pv)
		}
	}
	if n.Router != nil && n.Substrate == SubstrateRouter {
		out = append(out, routerRefs(n, path)...)
	}
	return out
}

// references resolves every reference: its target exists, is visible from where it is used,
// and has the field it names.
func (v *validator) references() {
	for i := range v.p.Nodes {
		n := &v.p.Nodes[i]
		scope := v.consensusOf[n.ID] // "" for top-level nodes
		for _, r := range refsOf(n, nodePath(i)) {
			if r.inside {
				scope = n.ID
			}
			v.resolve(n.ID, r.path, r.ref, scope, n.Substrate == SubstrateLLM && scope != "")
			scope = v.consensusOf[n.ID]
		}
	}
	if v.p.Output == "" {
		v.c.add("", "output", "output is required: the reference the plan returns (inputs.NAME, NODE or NODE.FIELD)")
	} else if r, err := ParseRef(v.p.Output); err != nil {
		v.c.add("", "output", "output: %v", err)
	} else {
		v.resolve("", "output", r, "", false)
	}
}

// resolve checks one reference made from scope ("" is top level, otherwise a consensus id).
// llmMember is true when the referring node is the llm member of that consensus, which runs
// first and so may not read other members.
func (v *validator) resolve(from, path string, r Ref, scope string, llmMember bool) {
	if scope != "" && from == scope && (r.IsInput() || v.consensusOf[r.Node] != scope) {
		v.c.add(from, path, "consensus.over %q must name a member of this consensus", r)
		return
	}
	if r.IsInput() {
		if _, ok := v.inputTypes[r.Input]; !ok {
			v.c.add(from, path, "reference %q: the plan has no input %q", r, r.Input)
		}
		return
	}
	if _, ok := v.byID[r.Node]; !ok {
		v.c.add(from, path, "reference %q: no node %q%s", r, r.Node, v.nodeHint(r.Node))
		return
	}
	if owner := v.consensusOf[r.Node]; owner != "" && owner != scope {
		v.c.add(from, path, "reference %q: %q is a member of consensus %q; read the voted value as %q instead", r, r.Node, owner, owner)
		return
	}
	if scope != "" && v.consensusOf[r.Node] == scope && from != scope && llmMember {
		v.c.add(from, path, "reference %q: the llm member of consensus %q runs first and cannot read other members", r, scope)
		return
	}
	if _, err := v.p.typeOf(r, 0); err != nil {
		v.c.add(from, path, "reference %q: %v", r, err)
	}
}

// TypeOf returns the type of the value a reference reads, or an error when the reference does
// not resolve. Call it on validated plans.
func (p *Plan) TypeOf(r Ref) (Type, error) { return p.typeOf(r, 0) }

func (p *Plan) typeOf(r Ref, depth int) (Type, error) {
	if depth > 2 {
		return TypeAny, fmt.Errorf("consensus over a consensus")
	}
	if r.IsInput() {
		for _, in := range p.Inputs {
			if in.Name == r.Input {
				return in.Type, nil
			}
		}
		return "", fmt.Errorf("no input %q", r.Input)
	}
	n := p.Node(r.Node)
	if n == nil {
		return "", fmt.Errorf("no node %q", r.Node)
	}
	switch n.Substrate {
	case SubstrateLLM:
		if n.LLM == nil {
			return TypeAny, nil
		}
		whole := parserType(&n.LLM.Parser)
		if r.Field == "" {
			return whole, nil
		}
		if whole != TypeObject && whole != TypeAny {
			return "", fmt.Errorf("node %q outputs %s (parser %s), which has no field %q", n.ID, whole, n.LLM.Parser.Type, r.Field)
		}
		return schemaFieldType(n.LLM.Parser.Schema, r.Field, n.ID)
	case SubstrateCode:
		if n.Code == nil {
			return TypeAny, nil
		}
		if r.Field == "" {
			return TypeObject, nil
		}
		t, ok := n.Code.Outputs[r.Field]
		if !ok {
			return "", fmt.Errorf("code node %q has no output %q (declared: %s)", n.ID, r.Field, strings.Join(sortedKeys(n.Code.Outputs), ", "))
		}
		return t, nil
	case SubstrateConsensus:
		if n.Consensus == nil {
			return TypeAny, nil
		}
		over, err := ParseRef(n.Consensus.Over)
		if err != nil || over.IsInput() {
			return TypeAny, nil
		}
		if r.Field == "" {
			if t, err := p.typeOf(over, depth+1); err == nil {
				return t, nil
			}
			return TypeAny, nil // the consensus's own over field carries the error
		}
		if over.Field != "" {
			t, err := p.typeOf(over, depth+1)
			if err != nil {
				return TypeAny, nil
			}
			if t != TypeObject && t != TypeAny {
				return "", fmt.Errorf("consensus %q votes on %s %q, which has no field %q", n.ID, t, over, r.Field)
			}
			return TypeAny, nil
		}
		return p.typeOf(Ref{Node: over.Node, Field: r.Field}, depth+1)
	case SubstrateRouter:
		// Branches may return different types; readers of a router accept any.
		return TypeAny, nil
	}
	return TypeAny, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// parserType is the type of the value a parser produces.
func parserType(ps *Parser) Type {
	switch ps.Type {
	case ParserNumber:
		return TypeNumber
	case ParserInteger:
		return TypeInteger
	case ParserJSON:
		if t, ok := ps.Schema["type"].(string); ok && validTypes[Type(t)] {
			return Type(t)
		}
		if ps.Schema != nil {
			if _, ok := ps.Schema["properties"]; ok {
				return TypeObject
			}
		}
		return TypeAny
	default:
		return TypeString
	}
}

// schemaFieldType is the type of property field of a json parser's schema.
func schemaFieldType(schema map[string]any, field, node string) (Type, error) {
	props, _ := schema["properties"].(map[string]any)
	prop, ok := props[field]
	if !ok {
		if ap, isBool := schema["additionalProperties"].(bool); isBool && !ap {
			return "", fmt.Errorf("the schema of node %q has no property %q and forbids others", node, field)
		}
		return TypeAny, nil
	}
	if m, ok := prop.(map[string]any); ok {
		if t, ok := m["type"].(string); ok && validTypes[Type(t)] {
			return Type(t), nil
		}
	}
	return TypeAny, nil
}

// Node returns the node with the given id, or nil.
func (p *Plan) Node(id string) *Node {
	for i := range p.Nodes {
		if p.Nodes[i].ID == id {
			return &p.Nodes[i]
		}
	}
	return nil
}

// graph returns, for each node id, the ids of the nodes it depends on (a consensus depends on
// its members), in declaration order without repeats.
func (p *Plan) graph() map[string][]string {
	deps := map[string][]string{}
	for i := range p.Nodes {
		n := &p.Nodes[i]
		seen := map[string]bool{}
		var ds []string
		add := func(id string) {
			if !seen[id] {
				seen[id] = true
				ds = append(ds, id)
			}
		}
		if n.Consensus != nil && n.Substrate == SubstrateConsensus {
			for _, m := range n.Consensus.Members {
				add(m)
			}
		}
		for _, r := range refsOf(n, "") {
			if !r.ref.IsInput() {
				add(r.ref.Node)
			}
		}
		if _, dup := deps[n.ID]; !dup {
			deps[n.ID] = ds
		}
	}
	return deps
}

// cycles reports every dependency cycle (each strongly connected component once).
func (v *validator) cycles() {
	deps := v.p.graph()
	index, low := map[string]int{}, map[string]int{}
	onStack := map[string]bool{}
	var stack []string
	next := 0
	var strong func(id string)
	strong = func(id string) {
		index[id], low[id] = next, next
		next++
		stack = append(stack, id)
		onStack[id] = true
		for _, d := range deps[id] {
			if _, known := deps[d]; !known {
				continue // dangling, reported elsewhere
			}
			if _, seen := index[d]; !seen {
				strong(d)
				low[id] = min(low[id], low[d])
			} else if onStack[d] {
				low[id] = min(low[id], index[d])
			}
		}
		if low[id] != index[id] {
			return
		}
		var comp []string
		for {
			top := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			onStack[top] = false
			comp = append(comp, top)
			if top == id {
				break
			}
		}
		selfLoop := false
		for _, d := range deps[id] {
			selfLoop = selfLoop || d == id
		}
		if len(comp) > 1 || selfLoop {
			v.reportCycle(comp, deps)
		}
	}
	for i := range v.p.Nodes {
		if _, seen := index[v.p.Nodes[i].ID]; !seen {
			strong(v.p.Nodes[i].ID)
		}
	}
}

// reportCycle names one concrete loop through the component, starting at its first-declared node.
func (v *validator) reportCycle(comp []string, deps map[string][]string) {
	in := map[string]bool{}
	for _, id := range comp {
		in[id] = true
	}
	start := ""
	for i := range v.p.Nodes {
		if in[v.p.Nodes[i].ID] {
			start = v.p.Nodes[i].ID
			break
		}
	}
	// Breadth-first search for the shortest path back to start inside the component.
	prev := map[string]string{}
	queue := []string{start}
	visited := map[string]bool{}
	var last string
search:
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		for _, d := range deps[cur] {
			if !in[d] {
				continue
			}
			if d == start {
				last = cur
				break search
			}
			if !visited[d] {
				visited[d] = true
				prev[d] = cur
				queue = append(queue, d)
			}
		}
	}
	path := []string{start}
	for cur := last; cur != start && cur != ""; cur = prev[cur] {
		path = append(path, cur)
	}
	path = append(path, start)
	// path runs backwards along dependency edges: start <- ... ; print as "a reads b reads c".
	quoted := make([]string, len(path))
	for i, id := range path {
		quoted[i] = fmt.Sprintf("%q", id)
	}
	v.c.add(start, nodePath(v.byID[start]), "dependency cycle: %s (each node reads the next)", strings.Join(reverse(quoted), " -> "))
}

func reverse(s []string) []string {
	out := make([]string, len(s))
	for i, x := range s {
		out[len(s)-1-i] = x
	}
	return out
}

// consensus checks the rules that need resolved members and types.
func (v *validator) consensus() {
	for i := range v.p.Nodes {
		n := &v.p.Nodes[i]
		k := n.Consensus
		if k == nil || n.Substrate != SubstrateConsensus {
			continue
		}
		path := nodePath(i) + ".consensus"
		members := map[string]bool{}
		for _, m := range k.Members {
			if v.consensusOf[m] == n.ID {
				members[m] = true
			}
		}
		for j, m := range k.Members {
			mn := v.p.Node(m)
			if j == 0 || mn == nil || mn.Code == nil || v.consensusOf[m] != n.ID {
				continue
			}
			fed, broken := false, false
			for _, r := range refsOf(mn, "") {
				fed = fed || members[r.ref.Node]
				// A dangling reference or one to the consensus itself is reported already.
				broken = broken || r.ref.Node == n.ID || (!r.ref.IsInput() && v.p.Node(r.ref.Node) == nil)
			}
			if !fed && !broken {
				v.c.add(n.ID, fmt.Sprintf("%s.members[%d]", path, j), "member %q reads no other member, so replicating it changes nothing; move it out of the consensus", m)
			}
		}
		over, err := ParseRef(k.Over)
		if err != nil || over.IsInput() || !members[over.Node] {
			continue
		}
		t, err := v.p.typeOf(over, 0)
		if err != nil {
			continue
		}
		numeric := t == TypeNumber || t == TypeInteger || t == TypeAny
		if k.Vote.Method == VoteMedian && !numeric {
			v.c.add(n.ID, path+".vote.method", "median needs a numeric value, but %q is %s", k.Over, t)
		}
		norm := v.p.EffectiveVote(n).Normalize
		switch {
		case norm == NormalizeNumber && !numeric:
			v.c.add(n.ID, path+".vote.normalize", "number normalisation needs a numeric value, but %q is %s", k.Over, t)
		case norm == NormalizeText && t != TypeString && t != TypeAny:
			v.c.add(n.ID, path+".vote.normalize", "text normalisation needs a string, but %q is %s", k.Over, t)
		case k.Vote.Method == VoteMedian && norm == NormalizeText:
			v.c.add(n.ID, path+".vote.normalize", "median compares numbers; use normalize number or leave it out")
		}
		if k.Vote.Precision != 0 && norm != NormalizeNumber {
			v.c.add(n.ID, path+".vote.precision", "vote.precision applies only to number normalisation")
		}
	}
}

// EffectiveVote returns the node's vote with defaults made explicit: normalize is "number" when
// the voted value is numeric and "exact" otherwise; precision is DefaultPrecision for number
// normalisation when unset.
func (p *Plan) EffectiveVote(n *Node) Vote {
	if n == nil || n.Consensus == nil {
		return Vote{}
	}
	vote := n.Consensus.Vote
	if vote.Normalize == "" {
		vote.Normalize = NormalizeExact
		if over, err := ParseRef(n.Consensus.Over); err == nil {
			if t, err := p.typeOf(over, 0); err == nil && (t == TypeNumber || t == TypeInteger) {
				vote.Normalize = NormalizeNumber
			}
		}
	}
	if vote.Normalize == NormalizeNumber && vote.Precision == 0 {
		vote.Precision = DefaultPrecision
	}
	return vote
}

func (v *validator) provenance() {
	pr := v.p.Provenance
	if pr == nil {
		return
	}
	const path = "provenance"
	if pr.DatasetDigest != "" && !digestRE.MatchString(pr.DatasetDigest) {
		v.c.add("", path+".dataset_digest", "provenance.dataset_digest %q is not sha256:<64 lower-case hex digits>", pr.DatasetDigest)
	}
	for _, r := range []struct {
		name string
		v    *float64
	}{{"train_risk", pr.TrainRisk}, {"heldout_risk", pr.HeldoutRisk}} {
		if r.v != nil && (math.IsNaN(*r.v) || *r.v < 0 || *r.v > 1) {
			v.c.add("", path+"."+r.name, "provenance.%s is %g, want 0 to 1", r.name, *r.v)
		}
	}
	if pr.CompiledAt != "" {
		if _, err := time.Parse(time.RFC3339, pr.CompiledAt); err != nil {
			v.c.add("", path+".compiled_at", "provenance.compiled_at %q is not an RFC 3339 time", pr.CompiledAt)
		}
	}
	if c := pr.Cost; c != nil && (c.TeacherTokens < 0 || c.StudentCalls < 0 || c.StudentTokens < 0 || c.WallSeconds < 0 || math.IsNaN(c.WallSeconds) || c.Iterations < 0) {
		v.c.add("", path+".cost", "provenance.cost values cannot be negative")
	}
	if pac := pr.PAC; pac != nil {
		pp := path + ".pac"
		ok := true
		if pac.K < 1 {
			v.c.add("", pp+".k", "pac.k is %d, want at least 1", pac.K)
			ok = false
		}
		if !(pac.Epsilon > 0 && pac.Epsilon < 1) {
			v.c.add("", pp+".epsilon", "pac.epsilon is %g, want between 0 and 1", pac.Epsilon)
			ok = false
		}
		if !(pac.Delta > 0 && pac.Delta < 1) {
			v.c.add("", pp+".delta", "pac.delta is %g, want between 0 and 1", pac.Delta)
			ok = false
		}
		if pac.TrainN < 0 {
			v.c.add("", pp+".train_n", "pac.train_n is %d, want at least 0", pac.TrainN)
		}
		if ok {
			if need := PACBound(pac.K, pac.Epsilon, pac.Delta); pac.M < need {
				v.c.add("", pp+".m", "pac.m is %d, but k=%d, epsilon=%g, delta=%g need at least %d", pac.M, pac.K, pac.Epsilon, pac.Delta, need)
			}
		}
		if pac.Satisfied != (pac.TrainN >= pac.M) {
			v.c.add("", pp+".satisfied", "pac.satisfied is %t, but train_n=%d and m=%d", pac.Satisfied, pac.TrainN, pac.M)
		}
	}
}

// PACSamples is the PAC sample bound (k ln 3 + ln(1/delta)) / epsilon as a real number: the one
// place the formula is written (compiler/pac checks arguments and reports it for a plan).
func PACSamples(k int, epsilon, delta float64) float64 {
	return (float64(k)*math.Log(3) + math.Log(1/delta)) / epsilon
}

// PACBound returns the smallest m with m >= PACSamples(k, epsilon, delta). A relative slack
// of 1e-12 absorbs rounding, so that the same bound computed in another order of operations
// (ln(1/delta) or -ln(delta)) is not one sample short at an exact integer.
func PACBound(k int, epsilon, delta float64) int {
	return int(math.Ceil(PACSamples(k, epsilon, delta) * (1 - 1e-12)))
}
