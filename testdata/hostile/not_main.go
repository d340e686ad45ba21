// Hostile: a library package instead of a command.
package node

import "github.com/sgde-project/sgde/wasm/guest"

func Main() {
	guest.Run(func(map[string]any) (map[string]any, error) { return nil, nil })
}
