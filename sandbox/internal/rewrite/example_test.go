package rewrite_test

import (
	"fmt"

	"github.com/sgde-project/sgde/internal/wasmbin"
	"github.com/sgde-project/sgde/sandbox/internal/rewrite"
)

// A module with one exported function that loops forever: (func (export "spin") (loop (br 0))).
var spin = []byte{
	0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
	0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type () -> ()
	0x03, 0x02, 0x01, 0x00, // one function
	0x07, 0x08, 0x01, 0x04, 's', 'p', 'i', 'n', 0x00, 0x00, // export "spin"
	0x0a, 0x09, 0x01, 0x07, 0x00, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x0b, // loop br 0 end
}

func ExamplePipeline() {
	out, err := rewrite.NewPipeline().
		WithMergeData(rewrite.DefaultMergeGap).
		WithMeter(0).          // sgde_fuel starts at 0: the host sets it before each call
		WithStackLimit(10000). // at most 10000 live guest frames
		Rewrite(spin)
	if err != nil {
		fmt.Println(err)
		return
	}
	m, _ := wasmbin.Decode(out)
	for _, im := range m.Imports {
		fmt.Printf("import %s.%s\n", im.Module, im.Name)
	}
	for _, e := range m.Exports {
		fmt.Printf("export %s\n", e.Name)
	}
	// Output:
	// import sgde.out_of_fuel
	// import sgde.stack_overflow
	// export spin
	// export sgde_fuel
	// export sgde_depth
}
