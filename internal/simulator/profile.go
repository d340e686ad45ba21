package simulator

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"math"
	"os"
	"path"
	"regexp"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

//go:embed profiles/*.yaml
var profileFS embed.FS

// DefaultProfileName is the profile used when none is chosen.
const DefaultProfileName = "slm-1.5b"

// ErrProfile is wrapped by every error about an unknown or malformed profile.
var ErrProfile = errors.New("invalid profile")

// Kinds of wrong direct answers, corruptions and output shapes, in the fixed order in which
// weighted draws walk them (map order would make draws irreproducible).
var (
	wrongAnswerKinds = []string{"digit_slip", "arithmetic_slip", "magnitude", "sign", "operand_echo"}
	corruptionKinds  = []string{"wrong_operand", "dropped_line", "swapped_operator"}
	directShapeKinds = []string{"prose", "sentence", "bold", "dollar", "fenced", "think"}
	programShapes    = []string{"prose_fence", "plain_fence", "bare", "think"}
	complianceLevels = []string{"none", "instruction", "example", "both"}
)

// profileSpec is the YAML form of a profile.
type profileSpec struct {
	Name          string `yaml:"name"`
	Description   string `yaml:"description"`
	Seed          uint64 `yaml:"seed"`
	ContextWindow int    `yaml:"context_window"`
	Direct        struct {
		AccuracyByDigits    []float64          `yaml:"accuracy_by_digits"`
		SharedErrorFraction float64            `yaml:"shared_error_fraction"`
		WrongAnswers        map[string]float64 `yaml:"wrong_answers"`
	} `yaml:"direct"`
	Program struct {
		CorruptionRate      float64            `yaml:"corruption_rate"`
		CorruptionPerStep   float64            `yaml:"corruption_per_step"`
		SharedErrorFraction float64            `yaml:"shared_error_fraction"`
		Corruptions         map[string]float64 `yaml:"corruptions"`
	} `yaml:"program"`
	Sampling struct {
		TemperatureErrorSlope float64 `yaml:"temperature_error_slope"`
	} `yaml:"sampling"`
	Format struct {
		Compliance    map[string]float64 `yaml:"compliance"`
		DirectShapes  map[string]float64 `yaml:"direct_shapes"`
		ProgramShapes map[string]float64 `yaml:"program_shapes"`
	} `yaml:"format"`
	Latency struct {
		FirstTokenMS float64 `yaml:"first_token_ms"`
		PerTokenMS   float64 `yaml:"per_token_ms"`
		Jitter       float64 `yaml:"jitter"`
	} `yaml:"latency"`
}

// weights is a validated weighted choice over a fixed list of kinds.
type weights struct {
	kinds []string
	w     []float64
	total float64
}

// Profile is an immutable, validated behaviour profile. The zero value is not usable; obtain one
// from LoadProfile or ParseProfile.
type Profile struct {
	spec          *profileSpec
	wrongAnswers  weights
	corruptions   weights
	directShapes  weights
	programShapes weights
	compliance    [4]float64 // by complianceLevels
}

// Name is the profile's name, which the server also reports as its model id.
func (p Profile) Name() string {
	if p.spec == nil {
		return ""
	}
	return p.spec.Name
}

// Description is the profile's one-line description.
func (p Profile) Description() string {
	if p.spec == nil {
		return ""
	}
	return p.spec.Description
}

// ProfileNames lists the shipped profiles.
func ProfileNames() []string {
	ents, err := profileFS.ReadDir("profiles")
	if err != nil {
		return nil
	}
	var names []string
	for _, e := range ents {
		names = append(names, strings.TrimSuffix(e.Name(), ".yaml"))
	}
	sort.Strings(names)
	return names
}

// DefaultProfile returns the shipped slm-1.5b profile.
func DefaultProfile() Profile {
	p, err := LoadProfile(DefaultProfileName)
	if err != nil {
		panic("simulator: shipped profile is invalid: " + err.Error())
	}
	return p
}

// LoadProfile returns a shipped profile by name, or reads a YAML profile file when nameOrPath
// contains a path separator or ends in .yaml/.yml.
func LoadProfile(nameOrPath string) (Profile, error) {
	isPath := strings.ContainsRune(nameOrPath, os.PathSeparator) || strings.ContainsRune(nameOrPath, '/') ||
		strings.HasSuffix(nameOrPath, ".yaml") || strings.HasSuffix(nameOrPath, ".yml")
	var (
		b   []byte
		err error
	)
	if isPath {
		b, err = os.ReadFile(nameOrPath)
		if err != nil {
			return Profile{}, fmt.Errorf("load profile: %w", err)
		}
	} else {
		b, err = profileFS.ReadFile(path.Join("profiles", nameOrPath+".yaml"))
		if err != nil {
			return Profile{}, fmt.Errorf("%w: no shipped profile %q (shipped: %s; or give a .yaml path)",
				ErrProfile, nameOrPath, strings.Join(ProfileNames(), ", "))
		}
	}
	p, err := ParseProfile(b)
	if err != nil {
		return Profile{}, fmt.Errorf("load profile %s: %w", nameOrPath, err)
	}
	return p, nil
}

var profileNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/-]{0,99}$`)

// ParseProfile parses and validates a YAML profile. Unknown keys are errors, so that a typo in a
// parameter name cannot silently leave the default in force.
func ParseProfile(b []byte) (Profile, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	spec := new(profileSpec)
	if err := dec.Decode(spec); err != nil {
		return Profile{}, fmt.Errorf("%w: %v", ErrProfile, err)
	}
	p := Profile{spec: spec}
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if !profileNameRE.MatchString(spec.Name) {
		bad("name %q must be 1-100 characters of letters, digits and ._:/-", spec.Name)
	}
	if spec.ContextWindow <= 0 {
		bad("context_window must be positive")
	}
	if len(spec.Direct.AccuracyByDigits) == 0 {
		bad("direct.accuracy_by_digits must not be empty")
	}
	for i, a := range spec.Direct.AccuracyByDigits {
		checkProb(bad, fmt.Sprintf("direct.accuracy_by_digits[%d]", i), a)
	}
	checkProb(bad, "direct.shared_error_fraction", spec.Direct.SharedErrorFraction)
	checkProb(bad, "program.corruption_rate", spec.Program.CorruptionRate)
	checkProb(bad, "program.corruption_per_step", spec.Program.CorruptionPerStep)
	checkProb(bad, "program.shared_error_fraction", spec.Program.SharedErrorFraction)
	checkProb(bad, "sampling.temperature_error_slope", spec.Sampling.TemperatureErrorSlope)
	checkProb(bad, "latency.jitter", spec.Latency.Jitter)
	if !(spec.Latency.FirstTokenMS >= 0 && spec.Latency.FirstTokenMS <= 60000) ||
		!(spec.Latency.PerTokenMS >= 0 && spec.Latency.PerTokenMS <= 10000) {
		bad("latency.first_token_ms must be in [0, 60000] and latency.per_token_ms in [0, 10000]")
	}
	p.wrongAnswers = mkWeights(bad, "direct.wrong_answers", spec.Direct.WrongAnswers, wrongAnswerKinds)
	p.corruptions = mkWeights(bad, "program.corruptions", spec.Program.Corruptions, corruptionKinds)
	p.directShapes = mkWeights(bad, "format.direct_shapes", spec.Format.DirectShapes, directShapeKinds)
	p.programShapes = mkWeights(bad, "format.program_shapes", spec.Format.ProgramShapes, programShapes)
	for k := range spec.Format.Compliance {
		if indexOf(complianceLevels, k) < 0 {
			bad("format.compliance: unknown level %q (want %s)", k, strings.Join(complianceLevels, ", "))
		}
	}
	for i, lvl := range complianceLevels {
		v, ok := spec.Format.Compliance[lvl]
		if !ok {
			bad("format.compliance.%s is missing", lvl)
		}
		checkProb(bad, "format.compliance."+lvl, v)
		p.compliance[i] = v
	}
	if len(errs) > 0 {
		return Profile{}, fmt.Errorf("%w: %w", ErrProfile, errors.Join(errs...))
	}
	return p, nil
}

func checkProb(bad func(string, ...any), name string, v float64) {
	if !(v >= 0 && v <= 1) { // also rejects NaN
		bad("%s must be in [0, 1], got %v", name, v)
	}
}

func mkWeights(bad func(string, ...any), name string, m map[string]float64, kinds []string) weights {
	w := weights{kinds: kinds, w: make([]float64, len(kinds))}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys) // errors in a stable order
	for _, k := range keys {
		v := m[k]
		i := indexOf(kinds, k)
		if i < 0 {
			bad("%s: unknown kind %q (want %s)", name, k, strings.Join(kinds, ", "))
			continue
		}
		if !(v >= 0) || math.IsInf(v, 0) {
			bad("%s.%s must be a finite non-negative weight", name, k)
			continue
		}
		w.w[i] = v
		w.total += v
	}
	if !(w.total > 0) {
		bad("%s: weights must sum to more than zero", name)
	}
	return w
}

func indexOf(list []string, s string) int {
	for i, v := range list {
		if v == s {
			return i
		}
	}
	return -1
}

// directAccuracy is P(correct) for a direct answer at temperature 0 when the largest operand
// has the given number of digits.
func (p Profile) directAccuracy(digits int) float64 {
	t := p.spec.Direct.AccuracyByDigits
	if digits < 1 {
		digits = 1
	}
	if digits > len(t) {
		return t[len(t)-1]
	}
	return t[digits-1]
}

// programError is P(a corrupted program) at temperature 0 for a program of the given size.
func (p Profile) programError(steps int) float64 {
	e := p.spec.Program.CorruptionRate + p.spec.Program.CorruptionPerStep*float64(max(0, steps-3))
	return min(e, 1)
}
