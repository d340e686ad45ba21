//go:build !wasip1

package guest

import (
	"io"
	"os"
)

// On a native build (for debugging a node by hand only; the host never runs nodes natively) the
// input is read from stdin and the envelope written to stdout.

func readInput() []byte {
	b, _ := io.ReadAll(os.Stdin)
	return b
}

func deliver(env envelope) {
	os.Stdout.Write(append(encode(env), '\n'))
}
