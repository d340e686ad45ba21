//go:build wasip1

package guest

import (
	"runtime/debug"
	"unsafe"
)

func init() { debug.SetMaxStack(MaxStackBytes) }

// The host module "sgde" provides these. User code cannot declare imports of its own (the
// validator rejects //go:wasmimport outside this package), so only Run can deliver a result.

//go:wasmimport sgde input_size
func inputSize() uint32

//go:wasmimport sgde input_read
func inputRead(ptr unsafe.Pointer)

//go:wasmimport sgde output_write
func outputWrite(ptr unsafe.Pointer, n uint32)

func readInput() []byte {
	n := inputSize()
	if n == 0 {
		return nil
	}
	buf := make([]byte, n)
	inputRead(unsafe.Pointer(&buf[0]))
	return buf
}

func deliver(env envelope) {
	b := encode(env)
	if len(b) == 0 {
		outputWrite(nil, 0)
		return
	}
	outputWrite(unsafe.Pointer(&b[0]), uint32(len(b)))
}
