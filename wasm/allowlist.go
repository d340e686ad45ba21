package wasm

import "sort"

// SDKImportPath is the import path of the guest SDK every code node links against.
const SDKImportPath = "github.com/sgde-project/sgde/wasm/guest"

// allowed lists the packages a code node may import besides the SDK. Each is pure and
// deterministic given its inputs, does no I/O of its own and works under TinyGo; see
// docs/CODE_NODES.md for why each is here and why others are not.
var allowed = map[string]bool{
	SDKImportPath:   true,
	"bytes":         true,
	"cmp":           true,
	"encoding/json": true,
	"errors":        true,
	"fmt":           true,
	"math":          true,
	"math/big":      true,
	"math/bits":     true,
	"regexp":        true,
	"slices":        true,
	"sort":          true,
	"strconv":       true,
	"strings":       true,
	"unicode":       true,
	"unicode/utf8":  true,
}

// AllowedImports returns the import paths a code node may use, sorted. The slice is a copy.
func AllowedImports() []string {
	out := make([]string, 0, len(allowed))
	for p := range allowed {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}
