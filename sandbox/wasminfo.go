package sandbox

import (
	"errors"
	"fmt"
)

// wasmMagic is the preamble of every binary module, version 1.
var wasmMagic = []byte{0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00}

// memoryInfo is what the sandbox needs to know about a module's memories before instantiating
// it: wazero exposes only exported memories, and a limit must hold for all of them.
type memoryInfo struct {
	count    int
	minPages uint32 // largest minimum over the module's own memories
	shared   bool
	mem64    bool
}

// readMemoryInfo scans the section headers of a module that wazero has already validated and
// decodes its memory section.
func readMemoryInfo(b []byte) (memoryInfo, error) {
	var info memoryInfo
	if len(b) < len(wasmMagic) || string(b[:len(wasmMagic)]) != string(wasmMagic) {
		return info, errors.New("not a WebAssembly binary module (bad magic or version)")
	}
	r := binReader{b: b, off: len(wasmMagic)}
	for r.off < len(r.b) {
		id, err := r.byte()
		if err != nil {
			return info, err
		}
		size, err := r.u32()
		if err != nil {
			return info, err
		}
		if uint64(size) > uint64(len(r.b)-r.off) {
			return info, fmt.Errorf("section %d runs past the end of the module", id)
		}
		body := binReader{b: r.b[r.off : r.off+int(size)]}
		r.off += int(size)
		if id != 5 {
			continue
		}
		n, err := body.u32()
		if err != nil {
			return info, err
		}
		for i := uint32(0); i < n; i++ {
			flags, err := body.byte()
			if err != nil {
				return info, err
			}
			if flags&^0x07 != 0 {
				return info, fmt.Errorf("memory %d has unknown limit flags %#x", i, flags)
			}
			minPages, err := body.u64()
			if err != nil {
				return info, err
			}
			if flags&1 != 0 {
				if _, err := body.u64(); err != nil {
					return info, err
				}
			}
			info.count++
			info.shared = info.shared || flags&2 != 0
			info.mem64 = info.mem64 || flags&4 != 0
			if minPages > 1<<32-1 {
				minPages = 1<<32 - 1
			}
			if uint32(minPages) > info.minPages {
				info.minPages = uint32(minPages)
			}
		}
	}
	return info, nil
}

type binReader struct {
	b   []byte
	off int
}

func (r *binReader) byte() (byte, error) {
	if r.off >= len(r.b) {
		return 0, errors.New("unexpected end of module")
	}
	c := r.b[r.off]
	r.off++
	return c, nil
}

func (r *binReader) u64() (uint64, error) {
	var v uint64
	for shift := 0; shift < 70; shift += 7 {
		c, err := r.byte()
		if err != nil {
			return 0, err
		}
		v |= uint64(c&0x7f) << shift
		if c&0x80 == 0 {
			return v, nil
		}
	}
	return 0, errors.New("LEB128 integer too long")
}

func (r *binReader) u32() (uint32, error) {
	v, err := r.u64()
	if err == nil && v > 1<<32-1 {
		err = errors.New("LEB128 integer overflows 32 bits")
	}
	return uint32(v), err
}
