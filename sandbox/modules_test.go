package sandbox_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the generated hostile modules in testdata/hostile")

// The hostile .wasm modules are written by hand here, in a tiny assembler, so that each one is
// exactly the attack it names; TestHostileModulesGolden keeps testdata/hostile in step with them.

func uleb(v uint64) []byte {
	var out []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if v != 0 {
			out = append(out, c|0x80)
			continue
		}
		return append(out, c)
	}
}

func sleb(v int64) []byte {
	var out []byte
	for {
		c := byte(v & 0x7f)
		v >>= 7
		if (v == 0 && c&0x40 == 0) || (v == -1 && c&0x40 != 0) {
			return append(out, c)
		}
		out = append(out, c|0x80)
	}
}

func name(s string) []byte { return append(uleb(uint64(len(s))), s...) }

func vec(items ...[]byte) []byte {
	out := uleb(uint64(len(items)))
	for _, it := range items {
		out = append(out, it...)
	}
	return out
}

func section(id byte, body []byte) []byte {
	return append(append([]byte{id}, uleb(uint64(len(body)))...), body...)
}

func module(sections ...[]byte) []byte {
	out := []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}
	for _, s := range sections {
		out = append(out, s...)
	}
	return out
}

const (
	i32 = 0x7f
)

func functype(params, results []byte) []byte {
	return append(append([]byte{0x60}, append(uleb(uint64(len(params))), params...)...), append(uleb(uint64(len(results))), results...)...)
}

func importFunc(mod, field string, typeIdx uint64) []byte {
	return append(append(name(mod), name(field)...), append([]byte{0x00}, uleb(typeIdx)...)...)
}

func exportFunc(n string, idx uint64) []byte {
	return append(name(n), append([]byte{0x00}, uleb(idx)...)...)
}

func exportMem(n string) []byte { return append(name(n), 0x02, 0x00) }

func memLimits(minPages uint64) []byte { return append([]byte{0x00}, uleb(minPages)...) }

func body(code ...byte) []byte {
	b := append([]byte{0x00}, code...) // no locals
	b = append(b, 0x0b)
	return append(uleb(uint64(len(b))), b...)
}

func i32const(v int64) []byte { return append([]byte{0x41}, sleb(v)...) }

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func data(offset int64, content string) []byte {
	return cat([]byte{0x00}, i32const(offset), []byte{0x0b}, name(content))
}

// Types used below: 0 () -> (), 1 (i32, i32) -> (), 2 (i32) -> (), 3 (i32) -> i32,
// 4 (i32, i32) -> i32.
var types = section(1, vec(functype(nil, nil), functype([]byte{i32, i32}, nil), functype([]byte{i32}, nil), functype([]byte{i32}, []byte{i32}), functype([]byte{i32, i32}, []byte{i32})))

// startOnly is a module with one memory of minPages and a _start whose body is code.
func startOnly(minPages uint64, code ...byte) []byte {
	return module(types,
		section(3, vec(uleb(0))),
		section(5, vec(memLimits(minPages))),
		section(7, vec(exportFunc("_start", 0), exportMem("memory"))),
		section(10, vec(body(code...))))
}

// withOutput is a module importing sgde.output_write (function 0) whose _start (function 1)
// runs code, with content placed at address 0.
func withOutput(content string, code ...byte) []byte {
	return module(types,
		section(2, vec(importFunc("sgde", "output_write", 1))),
		section(3, vec(uleb(0))),
		section(5, vec(memLimits(1))),
		section(7, vec(exportFunc("_start", 1), exportMem("memory"))),
		section(10, vec(body(code...))),
		section(11, vec(data(0, content))))
}

// repeat returns n copies of b.
func repeat(n int, b []byte) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = b
	}
	return out
}

// nested is a _start whose body opens depth blocks and closes them.
func nested(depth int) []byte {
	code := bytes.Repeat([]byte{0x02, 0x40}, depth)
	return startOnly(1, append(code, bytes.Repeat([]byte{0x0b}, depth)...)...)
}

// tableModule is a module with one funcref table of limits lim (encoded) and a _start running
// code, which may use the table (index 0) and function 0 (_start itself).
func tableModule(lim []byte, code ...byte) []byte {
	return module(types,
		section(3, vec(uleb(0))),
		section(4, vec(append([]byte{0x70}, lim...))),
		section(5, vec(memLimits(1))),
		section(7, vec(exportFunc("_start", 0), exportMem("memory"))),
		section(10, vec(body(code...))))
}

// wasiTypes adds to types 5 (i32, i32, i32, i32) -> i32, fd_write's and poll_oneoff's signature.
var wasiTypes = section(1, vec(functype(nil, nil), functype([]byte{i32, i32}, nil), functype([]byte{i32}, nil), functype([]byte{i32}, []byte{i32}), functype([]byte{i32, i32}, []byte{i32}), functype([]byte{i32, i32, i32, i32}, []byte{i32})))

// wasiLoop is a command importing WASI function fn of type typ (function 0) whose _start
// (function 1) loops forever on code, with a memory of pages.
func wasiLoop(fn string, typ uint64, pages uint64, code ...byte) []byte {
	return module(wasiTypes,
		section(2, vec(importFunc("wasi_snapshot_preview1", fn, typ))),
		section(3, vec(uleb(0))),
		section(5, vec(memLimits(pages))),
		section(7, vec(exportFunc("_start", 1), exportMem("memory"))),
		section(10, vec(body(cat([]byte{0x03, 0x40}, code, []byte{0x1a, 0x0c, 0x00, 0x0b})...))))
}

// poolState is a reactor whose every call reports, in its output, state a pooled instance
// could carry from one call into the next: the errno of a write to stdout, a clock reading, a
// random byte and the errno of closing stdout, which it then leaves closed. Each is one letter,
// 'a' + value. A call on a clean instance always answers {"output":{"s":"aaXYaaaa"}}.
func poolState(start bool) []byte {
	i64 := byte(0x7e)
	ts := section(1, vec(functype(nil, nil), functype([]byte{i32, i32}, nil), functype([]byte{i32}, nil),
		functype([]byte{i32}, []byte{i32}), functype([]byte{i32, i32}, []byte{i32}),
		functype([]byte{i32, i32, i32, i32}, []byte{i32}), functype([]byte{i32, i64, i32}, []byte{i32})))
	// storeLetter stores 'a' + (the i32 on the stack & 15) at address at.
	letter := func(at int64, value ...byte) []byte {
		return cat(i32const(at), value, i32const(15), []byte{0x71}, i32const('a'), []byte{0x6a, 0x3a, 0x00, 0x00})
	}
	call := func(f byte) []byte { return []byte{0x10, f} }
	code := cat(
		letter(16, cat(i32const(1), i32const(1024), i32const(1), i32const(1040), call(0))...),                   // fd_write(1, iov, 1, &n)
		cat(i32const(1), []byte{0x42, 0x00}, i32const(1048), call(1), []byte{0x1a}),                             // clock_time_get(1, 0, &t)
		letter(17, cat(i32const(1048), []byte{0x29, 0x03, 0x00, 0x42}, sleb(1_000_000), []byte{0x80, 0xa7})...), // t / 1e6
		cat(i32const(1056), i32const(1), call(2), []byte{0x1a}),                                                 // random_get(&r, 1)
		letter(18, cat(i32const(1056), []byte{0x2d, 0x00, 0x00})...),
		letter(19, cat(i32const(1), call(3))...), // fd_close(1)
		cat(i32const(0), i32const(27), call(4)),  // output_write(0, 27)
	)
	sections := [][]byte{ts,
		section(2, vec(importFunc("wasi_snapshot_preview1", "fd_write", 5), importFunc("wasi_snapshot_preview1", "clock_time_get", 6),
			importFunc("wasi_snapshot_preview1", "random_get", 4), importFunc("wasi_snapshot_preview1", "fd_close", 3),
			importFunc("sgde", "output_write", 1))),
		section(3, vec(uleb(0), uleb(0))),
		section(5, vec(memLimits(1))),
		section(7, vec(exportFunc("_initialize", 5), exportFunc("sgde_call", 6), exportMem("memory"))),
	}
	if start {
		sections = append(sections, section(8, uleb(5)))
	}
	sections = append(sections,
		section(10, vec(body(), body(code...))),
		section(11, vec(data(0, `{"output":{"s":"aaaaaaaa"}}`), cat([]byte{0x00}, i32const(1024), []byte{0x0b}, uleb(8), []byte{0, 0, 0, 0, 1, 0, 0, 0}))))
	return module(sections...)
}

func hostileModules() map[string][]byte {
	randomGet := cat(i32const(0), i32const(64<<20), []byte{0x10, 0x00})
	call0 := []byte{0x10, 0x00}
	envelope := `{"output":{"answer":42}}`
	oversized := []byte(nil)
	_ = oversized
	return map[string][]byte{
		"garbage.wasm":         []byte("#!/bin/sh\nrm -rf / # not a module\n"),
		"truncated.wasm":       module([]byte{0x01, 0x64, 0x01, 0x60}),
		"wrong_version.wasm":   []byte{0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00},
		"import_env.wasm":      module(types, section(2, vec(importFunc("env", "system", 0))), section(3, vec(uleb(0))), section(7, vec(exportFunc("_start", 1))), section(10, vec(body()))),
		"import_memory.wasm":   module(types, section(2, vec(cat(name("env"), name("memory"), []byte{0x02}, memLimits(1)))), section(3, vec(uleb(0))), section(7, vec(exportFunc("_start", 0))), section(10, vec(body()))),
		"wrong_signature.wasm": module(types, section(2, vec(importFunc("sgde", "input_size", 3))), section(3, vec(uleb(0))), section(7, vec(exportFunc("_start", 1))), section(10, vec(body()))),
		"no_start.wasm":        module(types, section(3, vec(uleb(0))), section(5, vec(memLimits(1))), section(7, vec(exportFunc("run", 0))), section(10, vec(body()))),
		// loop: br 0 forever.
		"loop_start.wasm": startOnly(1, 0x03, 0x40, 0x0c, 0x00, 0x0b),
		// A start section (run at instantiation, before _start) that never returns.
		"start_section_loop.wasm": module(types, section(3, vec(uleb(0), uleb(0))), section(5, vec(memLimits(1))), section(7, vec(exportFunc("_start", 1))), section(8, uleb(0)), section(10, vec(body(0x03, 0x40, 0x0c, 0x00, 0x0b), body()))),
		"unreachable.wasm":        startOnly(1, 0x00),
		// _start calls itself forever: the engine's call stack overflows.
		"recursion.wasm": startOnly(1, 0x10, 0x00),
		// loop { if memory.grow(16) != -1 { br 0 } }; unreachable.
		"grow_bomb.wasm": startOnly(1, cat([]byte{0x03, 0x40}, i32const(16), []byte{0x40, 0x00}, i32const(-1), []byte{0x47, 0x0d, 0x00, 0x0b, 0x00})...),
		// Initial memory above any engine maximum (60000 pages, 3.7 GiB).
		"huge_initial_memory.wasm": startOnly(60000),
		// Initial memory of 128 MiB: loads, but is over a 64 MiB call limit.
		"initial_over_limit.wasm": startOnly(2048),
		// output_write of a range past the end of memory.
		"output_out_of_bounds.wasm": withOutput(envelope, cat(i32const(65000), i32const(4096), call0)...),
		// output_write claiming 2 GiB.
		"output_length_huge.wasm": withOutput(envelope, cat(i32const(0), i32const(0x7fffffff), call0)...),
		// A result that is not an object.
		"output_not_object.wasm": withOutput(`{"output":[1,2,3]}`, cat(i32const(0), i32const(18), call0)...),
		// A well-formed result from a module that bypasses the SDK: allowed, it is the ABI.
		"output_direct.wasm": withOutput(envelope, cat(i32const(0), i32const(int64(len(envelope))), call0)...),
		// Asks WASI for preopened directory 3 and traps if there is one: proves no preopens.
		"wasi_preopen.wasm": module(types,
			section(2, vec(importFunc("wasi_snapshot_preview1", "fd_prestat_get", 4), importFunc("sgde", "output_write", 1))),
			section(3, vec(uleb(0))),
			section(5, vec(memLimits(1))),
			section(7, vec(exportFunc("_start", 2), exportMem("memory"))),
			section(10, vec(body(cat(i32const(3), i32const(1024), []byte{0x10, 0x00, 0x45, 0x04, 0x40, 0x00, 0x0b}, i32const(0), i32const(int64(len(`{"output":{}}`))), []byte{0x10, 0x01})...))),
			section(11, vec(data(0, `{"output":{}}`)))),
		// Structural limits (wasmbin.Check), refused before any engine compiles them: blocks nested
		// deeper than wasmbin.MaxNesting (wazero's compile time is superlinear in depth), a body
		// over wasmbin.MaxBodyBytes, a br_table over wasmbin.MaxBrTable, too many locals.
		"deep_nesting.wasm": nested(40_000),
		"huge_body.wasm":    startOnly(1, bytes.Repeat([]byte{0x01}, 200_000)...),
		"wide_br_table.wasm": startOnly(1, cat([]byte{0x02, 0x40}, i32const(0), []byte{0x0e}, uleb(100_000),
			bytes.Repeat([]byte{0x00}, 100_000), []byte{0x00, 0x0b})...),
		"many_locals.wasm": module(types, section(3, vec(uleb(0))), section(5, vec(memLimits(1))),
			section(7, vec(exportFunc("_start", 0))),
			section(10, vec(func() []byte {
				b := cat([]byte{0x01}, uleb(40_000), []byte{i32, 0x0b})
				return append(uleb(uint64(len(b))), b...)
			}()))),
		// Shapes over the section limits: more tables, globals or functions than wasmbin allows.
		"many_tables.wasm": module(types, section(3, vec(uleb(0))),
			section(4, vec([]byte{0x70, 0x00, 0x01}, []byte{0x70, 0x00, 0x01}, []byte{0x70, 0x00, 0x01}, []byte{0x70, 0x00, 0x01}, []byte{0x70, 0x00, 0x01})),
			section(5, vec(memLimits(1))), section(7, vec(exportFunc("_start", 0))), section(10, vec(body()))),
		"many_globals.wasm": module(types, section(3, vec(uleb(0))), section(5, vec(memLimits(1))),
			section(6, vec(repeat(20_000, cat([]byte{i32, 0x01}, i32const(0), []byte{0x0b}))...)),
			section(7, vec(exportFunc("_start", 0))), section(10, vec(body()))),
		"many_functions.wasm": module(types, section(3, vec(repeat(60_000, uleb(0))...)), section(5, vec(memLimits(1))),
			section(7, vec(exportFunc("_start", 0))), section(10, vec(repeat(60_000, body())...))),
		// Tables: a declared minimum of 2^27 elements (1 GiB of host memory in wazero) is refused;
		// a table without a maximum grown without end stops at wasmbin.MaxTableElements
		// (table.grow returns -1) and the guest traps.
		"table_huge_min.wasm": tableModule([]byte{0x00, 0x80, 0x80, 0x80, 0x40}),
		"table_grow_bomb.wasm": tableModule([]byte{0x00, 0x01}, cat(
			// loop { ref.func 0; i32.const 1<<16; table.grow 0; i32.const -1; i32.ne; br_if 0 }
			[]byte{0x03, 0x40, 0xd2, 0x00}, i32const(1<<16), []byte{0xfc, 0x0f, 0x00}, i32const(-1), []byte{0x47, 0x0d, 0x00, 0x0b},
			// table.fill 0 (0, ref.func 0, table.size 0); unreachable
			i32const(0), []byte{0xd2, 0x00, 0xfc, 0x10, 0x00, 0xfc, 0x11, 0x00, 0x00})...),
		// Host calls that do much work for one instruction: each must cost fuel in proportion
		// to the bytes and items it touches, and stop at the deadline.
		// loop { random_get(0, 64 MiB) }
		"random_get_loop.wasm": wasiLoop("random_get", 4, 1024, randomGet...),
		// loop { fd_write(1, iovs=0, 1M zero-length iovecs, nwritten=0) }
		"fd_write_iovecs.wasm": wasiLoop("fd_write", 5, 128, cat(i32const(1), i32const(0), i32const(1<<20), i32const(0), []byte{0x10, 0x00})...),
		// loop { poll_oneoff(0, 0, 100k clock subscriptions, 0) }
		"poll_oneoff_flood.wasm": wasiLoop("poll_oneoff", 5, 80, cat(i32const(0), i32const(0), i32const(100_000), i32const(0), []byte{0x10, 0x00})...),
		// loop { fd_read(0, iovs=0, 1M zero-length iovecs, nread=0) }: stdin, every iovec empty.
		"fd_read_iovecs.wasm": wasiLoop("fd_read", 5, 128, cat(i32const(0), i32const(0), i32const(1<<20), i32const(0), []byte{0x10, 0x00})...),
		// loop { path_unlink_file(3, path=0, 64 MiB) }: the whole memory as one path.
		"path_huge.wasm": func() []byte {
			return module(section(1, vec(functype(nil, nil), functype([]byte{i32, i32, i32}, []byte{i32}))),
				section(2, vec(importFunc("wasi_snapshot_preview1", "path_unlink_file", 1))),
				section(3, vec(uleb(0))),
				section(5, vec(memLimits(1024))),
				section(7, vec(exportFunc("_start", 1), exportMem("memory"))),
				section(10, vec(body(cat([]byte{0x03, 0x40}, i32const(3), i32const(0), i32const(64<<20), []byte{0x10, 0x00, 0x1a, 0x0c, 0x00, 0x0b})...))))
		}(),
		// The same random_get loop in a start section, which runs at instantiation.
		"start_random_get.wasm": module(types,
			section(2, vec(importFunc("wasi_snapshot_preview1", "random_get", 4))),
			section(3, vec(uleb(0), uleb(0))),
			section(5, vec(memLimits(1024))),
			section(7, vec(exportFunc("_start", 2), exportMem("memory"))),
			section(8, uleb(1)),
			section(10, vec(body(cat([]byte{0x03, 0x40}, randomGet, []byte{0x1a, 0x0c, 0x00, 0x0b})...), body()))),
		// A reactor whose _initialize loops on random_get: loading must end under the load limits.
		"init_random_get.wasm": module(types,
			section(2, vec(importFunc("wasi_snapshot_preview1", "random_get", 4))),
			section(3, vec(uleb(0), uleb(0))),
			section(5, vec(memLimits(1024))),
			section(7, vec(exportFunc("_initialize", 1), exportFunc("sgde_call", 2), exportMem("memory"))),
			section(10, vec(body(cat([]byte{0x03, 0x40}, randomGet, []byte{0x1a, 0x0c, 0x00, 0x0b})...), body()))),
		// A reactor that leaves stdout closed and reads clocks and randomness: pooled calls
		// must all answer the same (TestPooledStateDoesNotLeak); one with a start section is
		// refused for pooling, since its start would run again on every fresh instance.
		"pool_state.wasm":       poolState(false),
		"pool_start_state.wasm": poolState(true),
		// proc_exit(7).
		"proc_exit.wasm": module(types,
			section(2, vec(importFunc("wasi_snapshot_preview1", "proc_exit", 2))),
			section(3, vec(uleb(0))),
			section(5, vec(memLimits(1))),
			section(7, vec(exportFunc("_start", 1), exportMem("memory"))),
			section(10, vec(body(cat(i32const(7), []byte{0x10, 0x00})...)))),
	}
}

func TestHostileModulesGolden(t *testing.T) {
	for file, want := range hostileModules() {
		p := filepath.Join("..", "testdata", "hostile", file)
		if *update {
			if err := os.WriteFile(p, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("%v (run go test ./sandbox -run Golden -update)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from its definition in modules_test.go (run go test ./sandbox -run Golden -update)", file)
		}
	}
}
