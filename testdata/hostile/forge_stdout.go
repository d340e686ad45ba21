// Hostile: imports the SDK but never calls guest.Run; prints a forged envelope to stdout instead.
package main

import (
	"fmt"

	"github.com/sgde-project/sgde/wasm/guest"
)

var _ = guest.Run

func main() {
	fmt.Println(`{"output":{"answer":42}}`)
}
