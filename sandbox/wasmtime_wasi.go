//go:build wasmtime && cgo

package sandbox

import (
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"math/rand"
	"path"
	"strings"

	"github.com/bytecodealliance/wasmtime-go/v39"
)

// This file is sgde's own wasi_snapshot_preview1 for the wasmtime engine. wasmtime's built-in
// WASI reads the host's clocks and OS randomness, which would make a node's behaviour differ
// between engines and between runs; instead every function here reproduces, errno for errno,
// what wazero v1.12.0 does for a module configured with no args, no environment, no preopens,
// no sockets, the fake clocks and the seeded random source (see docs/RATIONALE.md, "The
// wasmtime engine brings its own WASI"). The differential tests in wasmtime_wasi_test.go call
// every function on both engines with hostile arguments and compare errnos and memory.
//
// The only open descriptors are 0 (stdin, always at EOF), 1 and 2 (captured, capped). They are
// wazero's "preopened stdio": not directories, so every path_* call on them fails with ENOTDIR
// and every other descriptor is EBADF.

// wasip1 errno values (the WASI snapshot-01 numbering).
const (
	wtErrnoSuccess     = 0
	wtErrnoBadf        = 8
	wtErrnoFault       = 21
	wtErrnoInval       = 28
	wtErrnoIo          = 29
	wtErrnoIsdir       = 31
	wtErrnoNametoolong = 37
	wtErrnoNosys       = 52
	wtErrnoNotdir      = 54
	wtErrnoNotsup      = 58
	wtErrnoPerm        = 63
)

const (
	wtWasiModule = "wasi_snapshot_preview1"

	// wtFakeEpochNanos is where wazero's fake wall clock starts: 2022-01-01T00:00:00Z.
	wtFakeEpochNanos = int64(1640995200000) * 1e6
	wtFakeClockStep  = int64(1e6) // both fake clocks advance 1 ms per reading
	wtFakeRandSeed   = 42

	wtWalltimeResolution = 1000 // ns, wazero's default for the fake wall clock
	wtNanotimeResolution = 1

	wtFiletypeBlockDevice = 1 // wazero reports its stdio as a block device (fs.ModeDevice)

	// wtFileRightsBase is wazero's rights mask for a non-directory, non-character-device file.
	wtFileRightsBase = 1<<0 | 1<<1 | 1<<2 | 1<<3 | 1<<4 | 1<<5 | 1<<6 | 1<<7 | 1<<8 |
		1<<21 | 1<<22 | 1<<23 | 1<<27

	wtFdflagDsync    = 1 << 1
	wtFdflagNonblock = 1 << 2
	wtFdflagRsync    = 1 << 3
	wtFdflagSync     = 1 << 4

	wtFstflagsAtim    = 1 << 0
	wtFstflagsAtimNow = 1 << 1
	wtFstflagsMtim    = 1 << 2
	wtFstflagsMtimNow = 1 << 3

	wtEventTypeClock   = 0
	wtEventTypeFdRead  = 1
	wtEventTypeFdWrite = 2

	wtDirentSize = 24
)

var wtLe = binary.LittleEndian

// wtWasiState is the per-call state behind the WASI functions: one per Store, never shared.
type wtWasiState struct {
	open           [3]bool
	stdout, stderr *cappedWriter
	wall, nano     int64
	rand           io.Reader

	exited   bool
	exitCode uint32
}

func wtNewWASIState(maxOutput int) *wtWasiState {
	return &wtWasiState{
		open:   [3]bool{true, true, true},
		stdout: &cappedWriter{max: maxOutput},
		stderr: &cappedWriter{max: maxOutput},
		wall:   wtFakeEpochNanos - wtFakeClockStep,
		nano:   -wtFakeClockStep,
		rand:   rand.New(rand.NewSource(wtFakeRandSeed)),
	}
}

func (s *wtWasiState) walltime() int64 { s.wall += wtFakeClockStep; return s.wall }
func (s *wtWasiState) nanotime() int64 { s.nano += wtFakeClockStep; return s.nano }

// lookup reports whether fd is open. Only the three stdio descriptors ever exist.
func (s *wtWasiState) lookup(fd int32) bool { return fd >= 0 && fd < 3 && s.open[fd] }

// wtMemory is the guest's linear memory as seen by one host call. Bounds are checked exactly as
// wazero checks them: offset+length must not pass the end.
type wtMemory []byte

func (m wtMemory) read(off, n uint32) ([]byte, bool) {
	if uint64(off)+uint64(n) > uint64(len(m)) {
		return nil, false
	}
	return m[off : off+n : off+n], true
}

func (m wtMemory) putU32(off, v uint32) bool {
	b, ok := m.read(off, 4)
	if ok {
		wtLe.PutUint32(b, v)
	}
	return ok
}

func (m wtMemory) putU64(off uint32, v uint64) bool {
	b, ok := m.read(off, 8)
	if ok {
		wtLe.PutUint64(b, v)
	}
	return ok
}

// wtWasiFunc is one host function: its wasm parameter types and its body. Parameters arrive as
// uint64 with i32 values zero-extended, as in wazero.
type wtWasiFunc struct {
	name   string
	params []wasmtime.ValKind
	fn     func(s *wtWasiState, m wtMemory, p []uint64) uint32
}

const (
	wtI32 = wasmtime.KindI32
	wtI64 = wasmtime.KindI64
)

func wtSig(kinds ...wasmtime.ValKind) []wasmtime.ValKind { return kinds }

// wtWasiFuncs lists every function of wasi_snapshot_preview1 that wazero exports, so that a module
// instantiates on one engine exactly when it does on the other. proc_exit is handled apart.
var wtWasiFuncs = []wtWasiFunc{
	{"args_get", wtSig(wtI32, wtI32), wtEmptyListGet},
	{"args_sizes_get", wtSig(wtI32, wtI32), wtEmptyListSizes},
	{"environ_get", wtSig(wtI32, wtI32), wtEmptyListGet},
	{"environ_sizes_get", wtSig(wtI32, wtI32), wtEmptyListSizes},
	{"clock_res_get", wtSig(wtI32, wtI32), wtClockResGet},
	{"clock_time_get", wtSig(wtI32, wtI64, wtI32), wtClockTimeGet},
	{"fd_advise", wtSig(wtI32, wtI64, wtI64, wtI32), wtFdAdvise},
	{"fd_allocate", wtSig(wtI32, wtI64, wtI64), wtFdAllocate},
	{"fd_close", wtSig(wtI32), wtFdClose},
	{"fd_datasync", wtSig(wtI32), wtFdNoopIfOpen},
	{"fd_fdstat_get", wtSig(wtI32, wtI32), wtFdFdstatGet},
	{"fd_fdstat_set_flags", wtSig(wtI32, wtI32), wtFdFdstatSetFlags},
	{"fd_fdstat_set_rights", wtSig(wtI32, wtI64, wtI64), wtNosys},
	{"fd_filestat_get", wtSig(wtI32, wtI32), wtFdFilestatGet},
	{"fd_filestat_set_size", wtSig(wtI32, wtI64), wtFdNosysIfOpen},
	{"fd_filestat_set_times", wtSig(wtI32, wtI64, wtI64, wtI32), wtFdFilestatSetTimes},
	{"fd_pread", wtSig(wtI32, wtI32, wtI32, wtI64, wtI32), wtFdPread},
	{"fd_prestat_get", wtSig(wtI32, wtI32), wtFdPrestatGet},
	{"fd_prestat_dir_name", wtSig(wtI32, wtI32, wtI32), wtFdPrestatDirName},
	{"fd_pwrite", wtSig(wtI32, wtI32, wtI32, wtI64, wtI32), wtFdPwrite},
	{"fd_read", wtSig(wtI32, wtI32, wtI32, wtI32), wtFdRead},
	{"fd_readdir", wtSig(wtI32, wtI32, wtI32, wtI64, wtI32), wtFdReaddir},
	{"fd_renumber", wtSig(wtI32, wtI32), wtFdRenumber},
	{"fd_seek", wtSig(wtI32, wtI64, wtI32, wtI32), wtFdNosysIfOpen},
	{"fd_sync", wtSig(wtI32), wtFdNoopIfOpen},
	{"fd_tell", wtSig(wtI32, wtI32), wtFdNosysIfOpen},
	{"fd_write", wtSig(wtI32, wtI32, wtI32, wtI32), wtFdWrite},
	{"path_create_directory", wtSig(wtI32, wtI32, wtI32), wtPathAt(0, 1, 2)},
	{"path_filestat_get", wtSig(wtI32, wtI32, wtI32, wtI32, wtI32), wtPathAt(0, 2, 3)},
	{"path_filestat_set_times", wtSig(wtI32, wtI32, wtI32, wtI32, wtI64, wtI64, wtI32), wtPathFilestatSetTimes},
	{"path_link", wtSig(wtI32, wtI32, wtI32, wtI32, wtI32, wtI32, wtI32), wtPathAt2(0, 2, 3, 4, 5, 6)},
	{"path_open", wtSig(wtI32, wtI32, wtI32, wtI32, wtI32, wtI64, wtI64, wtI32, wtI32), wtPathAt(0, 2, 3)},
	{"path_readlink", wtSig(wtI32, wtI32, wtI32, wtI32, wtI32, wtI32), wtPathReadlink},
	{"path_remove_directory", wtSig(wtI32, wtI32, wtI32), wtPathAt(0, 1, 2)},
	{"path_rename", wtSig(wtI32, wtI32, wtI32, wtI32, wtI32, wtI32), wtPathAt2(0, 1, 2, 3, 4, 5)},
	{"path_symlink", wtSig(wtI32, wtI32, wtI32, wtI32, wtI32), wtPathSymlink},
	{"path_unlink_file", wtSig(wtI32, wtI32, wtI32), wtPathAt(0, 1, 2)},
	{"poll_oneoff", wtSig(wtI32, wtI32, wtI32, wtI32), wtPollOneoff},
	{"proc_raise", wtSig(wtI32), wtNosys},
	{"sched_yield", wtSig(), func(*wtWasiState, wtMemory, []uint64) uint32 { return wtErrnoSuccess }},
	{"random_get", wtSig(wtI32, wtI32), wtRandomGet},
	{"sock_accept", wtSig(wtI32, wtI32, wtI32), wtFdBadf},
	{"sock_recv", wtSig(wtI32, wtI32, wtI32, wtI32, wtI32, wtI32), wtFdBadf},
	{"sock_send", wtSig(wtI32, wtI32, wtI32, wtI32, wtI32), wtSockSend},
	{"sock_shutdown", wtSig(wtI32, wtI32), wtFdBadf},
}

func wtNosys(*wtWasiState, wtMemory, []uint64) uint32 { return wtErrnoNosys }

// wtFdBadf is every socket call: no descriptor is a socket.
func wtFdBadf(*wtWasiState, wtMemory, []uint64) uint32 { return wtErrnoBadf }

func wtSockSend(_ *wtWasiState, _ wtMemory, p []uint64) uint32 {
	if uint32(p[3]) != 0 {
		return wtErrnoNotsup
	}
	return wtErrnoBadf
}

func wtEmptyListGet(_ *wtWasiState, m wtMemory, p []uint64) uint32 {
	// No values: wazero still bounds-checks both zero-length regions.
	if _, ok := m.read(uint32(p[0]), 0); !ok {
		return wtErrnoFault
	}
	if _, ok := m.read(uint32(p[1]), 0); !ok {
		return wtErrnoFault
	}
	return wtErrnoSuccess
}

func wtEmptyListSizes(_ *wtWasiState, m wtMemory, p []uint64) uint32 {
	if !m.putU32(uint32(p[0]), 0) || !m.putU32(uint32(p[1]), 0) {
		return wtErrnoFault
	}
	return wtErrnoSuccess
}

func wtClockResGet(_ *wtWasiState, m wtMemory, p []uint64) uint32 {
	var res uint64
	switch uint32(p[0]) {
	case 0:
		res = wtWalltimeResolution
	case 1:
		res = wtNanotimeResolution
	default:
		return wtErrnoInval
	}
	if !m.putU64(uint32(p[1]), res) {
		return wtErrnoFault
	}
	return wtErrnoSuccess
}

func wtClockTimeGet(s *wtWasiState, m wtMemory, p []uint64) uint32 {
	var v int64
	switch uint32(p[0]) {
	case 0:
		v = s.walltime()
	case 1:
		v = s.nanotime()
	default:
		return wtErrnoInval
	}
	if !m.putU64(uint32(p[2]), uint64(v)) {
		return wtErrnoFault
	}
	return wtErrnoSuccess
}

func wtRandomGet(s *wtWasiState, m wtMemory, p []uint64) uint32 {
	b, ok := m.read(uint32(p[0]), uint32(p[1]))
	if !ok {
		return wtErrnoFault
	}
	if _, err := io.ReadAtLeast(s.rand, b, len(b)); err != nil {
		return wtErrnoIo
	}
	return wtErrnoSuccess
}

func wtFdNoopIfOpen(s *wtWasiState, _ wtMemory, p []uint64) uint32 {
	if !s.lookup(int32(p[0])) {
		return wtErrnoBadf
	}
	return wtErrnoSuccess
}

func wtFdNosysIfOpen(s *wtWasiState, _ wtMemory, p []uint64) uint32 {
	if !s.lookup(int32(p[0])) {
		return wtErrnoBadf
	}
	return wtErrnoNosys
}

func wtFdAdvise(s *wtWasiState, _ wtMemory, p []uint64) uint32 {
	if !s.lookup(int32(p[0])) {
		return wtErrnoBadf
	}
	if byte(p[3]) > 5 {
		return wtErrnoInval
	}
	return wtErrnoSuccess
}

func wtFdAllocate(s *wtWasiState, _ wtMemory, p []uint64) uint32 {
	if !s.lookup(int32(p[0])) {
		return wtErrnoBadf
	}
	tail := int64(p[1] + p[2])
	switch {
	case tail < 0:
		return wtErrnoInval
	case tail == 0: // the stdio "file" has size 0, so there is already room
		return wtErrnoSuccess
	}
	return wtErrnoNosys
}

func wtFdClose(s *wtWasiState, _ wtMemory, p []uint64) uint32 {
	fd := int32(p[0])
	if !s.lookup(fd) {
		return wtErrnoBadf
	}
	s.open[fd] = false
	return wtErrnoSuccess
}

func wtFdFdstatGet(s *wtWasiState, m wtMemory, p []uint64) uint32 {
	b, ok := m.read(uint32(p[1]), 24)
	if !ok {
		return wtErrnoFault
	}
	if !s.lookup(int32(p[0])) {
		return wtErrnoBadf
	}
	wtLe.PutUint16(b[0:], wtFiletypeBlockDevice)
	wtLe.PutUint16(b[2:], 0)
	wtLe.PutUint32(b[4:], 0)
	wtLe.PutUint64(b[8:], wtFileRightsBase)
	wtLe.PutUint64(b[16:], 0)
	return wtErrnoSuccess
}

func wtFdFdstatSetFlags(s *wtWasiState, _ wtMemory, p []uint64) uint32 {
	flags := uint16(p[1])
	if flags&(wtFdflagDsync|wtFdflagRsync|wtFdflagSync) != 0 {
		return wtErrnoInval
	}
	if !s.lookup(int32(p[0])) {
		return wtErrnoBadf
	}
	if flags&wtFdflagNonblock != 0 {
		return wtErrnoNosys
	}
	return wtErrnoSuccess
}

func wtFdFilestatGet(s *wtWasiState, m wtMemory, p []uint64) uint32 {
	b, ok := m.read(uint32(p[1]), 64)
	if !ok {
		return wtErrnoFault
	}
	if !s.lookup(int32(p[0])) {
		return wtErrnoBadf
	}
	clear(b)
	wtLe.PutUint64(b[16:], wtFiletypeBlockDevice)
	wtLe.PutUint64(b[24:], 1) // nlink
	return wtErrnoSuccess
}

// wtFdFilestatSetTimes fails on every open descriptor. In wazero the fallback after ENOSYS
// dereferences the stdio entry's nil file system and the host function panics; the engines
// agree that the call traps.
func wtFdFilestatSetTimes(s *wtWasiState, _ wtMemory, p []uint64) uint32 {
	if !s.lookup(int32(p[0])) {
		return wtErrnoBadf
	}
	if errno := s.toTimes(uint16(p[3])); errno != 0 {
		return errno
	}
	panic("fd_filestat_set_times on a stdio descriptor")
}

// wtToTimes validates fst_flags as wazero does, reading the wall clock (which advances it) when a
// "now" flag is set.
func (s *wtWasiState) toTimes(flags uint16) uint32 {
	var now int64
	if set, isNow := flags&wtFstflagsAtim != 0, flags&wtFstflagsAtimNow != 0; set && isNow {
		return wtErrnoInval
	} else if !set && isNow {
		now = s.walltime()
	}
	if set, isNow := flags&wtFstflagsMtim != 0, flags&wtFstflagsMtimNow != 0; set && isNow {
		return wtErrnoInval
	} else if !set && isNow && now == 0 {
		s.walltime()
	}
	return wtErrnoSuccess
}

func wtFdPrestatGet(s *wtWasiState, m wtMemory, p []uint64) uint32 {
	if !s.lookup(int32(p[0])) {
		return wtErrnoBadf
	}
	// wazero treats stdio as preopened but not a directory, and reports it as a directory
	// preopen with an empty name.
	if !m.putU64(uint32(p[1]), 0) {
		return wtErrnoFault
	}
	return wtErrnoSuccess
}

func wtFdPrestatDirName(s *wtWasiState, m wtMemory, p []uint64) uint32 {
	if !s.lookup(int32(p[0])) {
		return wtErrnoBadf
	}
	if uint32(p[2]) > 0 {
		return wtErrnoNametoolong
	}
	if _, ok := m.read(uint32(p[1]), 0); !ok {
		return wtErrnoFault
	}
	return wtErrnoSuccess
}

// wtIovecs returns the iovec array, with wazero's 32-bit arithmetic for its size.
func wtIovecs(m wtMemory, iovs, count uint32) ([]byte, bool) {
	return m.read(iovs, count<<3)
}

// wtReadv reads into the iovecs from a descriptor whose reads return n bytes (stdin at EOF: 0)
// or, when unreadable, ENOSYS, which wazero reports as EBADF.
func wtReadv(m wtMemory, iovs, count uint32, readable bool) (uint32, uint32) {
	buf, ok := wtIovecs(m, iovs, count)
	if !ok {
		return 0, wtErrnoFault
	}
	for pos := uint32(0); pos < count<<3; pos += 8 {
		off, l := wtLe.Uint32(buf[pos:]), wtLe.Uint32(buf[pos+4:])
		if l == 0 {
			continue
		}
		if _, ok := m.read(off, l); !ok {
			return 0, wtErrnoFault
		}
		if !readable {
			return 0, wtErrnoBadf
		}
		break // read 0 bytes, fewer than asked: stop
	}
	return 0, wtErrnoSuccess
}

func wtFdRead(s *wtWasiState, m wtMemory, p []uint64) uint32 {
	fd := int32(p[0])
	if !s.lookup(fd) {
		return wtErrnoBadf
	}
	n, errno := wtReadv(m, uint32(p[1]), uint32(p[2]), fd == 0)
	if errno != 0 {
		return errno
	}
	if !m.putU32(uint32(p[3]), n) {
		return wtErrnoFault
	}
	return wtErrnoSuccess
}

func wtFdPread(s *wtWasiState, m wtMemory, p []uint64) uint32 {
	if !s.lookup(int32(p[0])) {
		return wtErrnoBadf
	}
	n, errno := wtReadv(m, uint32(p[1]), uint32(p[2]), false)
	if errno != 0 {
		return errno
	}
	if !m.putU32(uint32(p[4]), n) {
		return wtErrnoFault
	}
	return wtErrnoSuccess
}

// wtWritev writes the iovecs to w; a nil w is a descriptor that cannot be written (ENOSYS in
// wazero, reported as EBADF). Zero-length writes to it succeed when skipEmpty is set (pwrite).
func wtWritev(m wtMemory, iovs, count uint32, w io.Writer, skipEmpty bool) (uint32, uint32) {
	buf, ok := wtIovecs(m, iovs, count)
	if !ok {
		return 0, wtErrnoFault
	}
	var total uint32
	for pos := uint32(0); pos < count<<3; pos += 8 {
		off, l := wtLe.Uint32(buf[pos:]), wtLe.Uint32(buf[pos+4:])
		b, ok := m.read(off, l)
		if !ok {
			return 0, wtErrnoFault
		}
		if skipEmpty && l == 0 {
			continue
		}
		if w == nil {
			return 0, wtErrnoBadf
		}
		n, _ := w.Write(b)
		total += uint32(n)
	}
	return total, wtErrnoSuccess
}

func (s *wtWasiState) writer(fd int32) io.Writer {
	switch fd {
	case 1:
		return s.stdout
	case 2:
		return s.stderr
	}
	return nil
}

func wtFdWrite(s *wtWasiState, m wtMemory, p []uint64) uint32 {
	fd := int32(p[0])
	if !s.lookup(fd) {
		return wtErrnoBadf
	}
	n, errno := wtWritev(m, uint32(p[1]), uint32(p[2]), s.writer(fd), false)
	if errno != 0 {
		return errno
	}
	if !m.putU32(uint32(p[3]), n) {
		return wtErrnoFault
	}
	return wtErrnoSuccess
}

func wtFdPwrite(s *wtWasiState, m wtMemory, p []uint64) uint32 {
	if !s.lookup(int32(p[0])) {
		return wtErrnoBadf
	}
	n, errno := wtWritev(m, uint32(p[1]), uint32(p[2]), nil, true)
	if errno != 0 {
		return errno
	}
	if !m.putU32(uint32(p[4]), n) {
		return wtErrnoFault
	}
	return wtErrnoSuccess
}

func wtFdReaddir(s *wtWasiState, _ wtMemory, p []uint64) uint32 {
	if uint32(p[2]) < wtDirentSize {
		return wtErrnoInval
	}
	return wtErrnoBadf // closed, or open but not a directory
}

func wtFdRenumber(s *wtWasiState, _ wtMemory, p []uint64) uint32 {
	if !s.lookup(int32(p[0])) || int32(p[1]) < 0 {
		return wtErrnoBadf
	}
	return wtErrnoNotsup // stdio is preopened and cannot be renumbered
}

// atPath resolves a path relative to a directory descriptor as wazero does; since no
// descriptor is a directory, it can only fail.
func (s *wtWasiState) atPath(m wtMemory, fd int32, ptr, n uint32) uint32 {
	b, ok := m.read(ptr, n)
	if !ok {
		return wtErrnoFault
	}
	if !fs.ValidPath(path.Clean(string(b))) {
		return wtErrnoPerm
	}
	if !s.lookup(fd) {
		return wtErrnoBadf
	}
	return wtErrnoNotdir
}

// wtPathAt is a path_* function whose only failure modes come from resolving one path.
func wtPathAt(fd, ptr, n int) func(*wtWasiState, wtMemory, []uint64) uint32 {
	return func(s *wtWasiState, m wtMemory, p []uint64) uint32 {
		return s.atPath(m, int32(p[fd]), uint32(p[ptr]), uint32(p[n]))
	}
}

// wtPathAt2 resolves two paths in order, as path_link and path_rename do.
func wtPathAt2(fd1, ptr1, n1, fd2, ptr2, n2 int) func(*wtWasiState, wtMemory, []uint64) uint32 {
	return func(s *wtWasiState, m wtMemory, p []uint64) uint32 {
		if errno := s.atPath(m, int32(p[fd1]), uint32(p[ptr1]), uint32(p[n1])); errno != 0 {
			return errno
		}
		return s.atPath(m, int32(p[fd2]), uint32(p[ptr2]), uint32(p[n2]))
	}
}

func wtPathFilestatSetTimes(s *wtWasiState, m wtMemory, p []uint64) uint32 {
	if errno := s.toTimes(uint16(p[6])); errno != 0 {
		return errno
	}
	return s.atPath(m, int32(p[0]), uint32(p[2]), uint32(p[3]))
}

func wtPathReadlink(s *wtWasiState, m wtMemory, p []uint64) uint32 {
	if uint32(p[2]) == 0 || uint32(p[4]) == 0 {
		return wtErrnoInval
	}
	return s.atPath(m, int32(p[0]), uint32(p[1]), uint32(p[2]))
}

func wtPathSymlink(s *wtWasiState, _ wtMemory, p []uint64) uint32 {
	if !s.lookup(int32(p[2])) {
		return wtErrnoBadf
	}
	return wtErrnoNotdir
}

// wtPollOneoff follows wazero step for step, including its 32-bit size arithmetic: clock
// subscriptions are due at once (the fake sleep returns immediately), stdin is always ready.
// Where wazero allocates an event per deferred subscription (about 50 bytes each, so up to
// the guest's memory size again), this keeps one bit per subscription.
func wtPollOneoff(s *wtWasiState, m wtMemory, p []uint64) uint32 {
	in, out, nsubs, resultN := uint32(p[0]), uint32(p[1]), uint32(p[2]), uint32(p[3])
	if nsubs == 0 {
		return wtErrnoInval
	}
	inBuf, ok := m.read(in, nsubs*48)
	if !ok {
		return wtErrnoFault
	}
	outBuf, ok := m.read(out, nsubs*32)
	clear(outBuf)
	if !ok {
		return wtErrnoFault
	}
	if !m.putU32(resultN, nsubs) {
		return wtErrnoFault
	}
	nevents := uint32(0)
	var deferred []byte // bit i: subscription i is an fd_read waiting for stdin
	for i := uint32(0); i < nsubs; i++ {
		inOff, outOff := i*48, nevents*32
		eventType := inBuf[inOff+8]
		arg := inBuf[inOff+16:]
		userData := inBuf[inOff : inOff+8]
		switch eventType {
		case wtEventTypeClock:
			switch wtLe.Uint16(arg[24:32]) {
			case 0:
			case 1:
				return wtErrnoNotsup
			default:
				return wtErrnoInval
			}
			wtWriteEvent(outBuf[outOff:], userData, eventType, 0)
			nevents++
		case wtEventTypeFdRead:
			fd := int32(wtLe.Uint32(arg))
			if fd < 0 {
				return wtErrnoBadf
			}
			if !s.lookup(fd) {
				wtWriteEvent(outBuf[outOff:], userData, eventType, wtErrnoBadf)
				nevents++
			} else {
				if deferred == nil {
					deferred = make([]byte, (nsubs+7)/8)
				}
				deferred[i/8] |= 1 << (i % 8)
			}
		case wtEventTypeFdWrite:
			fd := int32(wtLe.Uint32(arg))
			if fd < 0 {
				return wtErrnoBadf
			}
			errno := byte(wtErrnoBadf)
			if s.lookup(fd) {
				errno = wtErrnoNotsup
			}
			nevents++
			wtWriteEvent(outBuf[outOff:], userData, eventType, errno)
		default:
			return wtErrnoInval
		}
	}
	if nevents == nsubs {
		return wtErrnoSuccess
	}
	if !s.lookup(0) {
		return wtErrnoBadf
	}
	// Stdin is always ready (at EOF): every deferred fd_read is due, in subscription order. Its
	// userdata is read now, as wazero reads it, even if writing events changed it meanwhile.
	for i := uint32(0); i < nsubs; i++ {
		if deferred[i/8]&(1<<(i%8)) == 0 {
			continue
		}
		wtWriteEvent(outBuf[nevents*32:], inBuf[i*48:i*48+8], wtEventTypeFdRead, 0)
		nevents++
	}
	if nevents != nsubs {
		if !m.putU32(resultN, nevents) {
			return wtErrnoFault
		}
	}
	return wtErrnoSuccess
}

func wtWriteEvent(out, userData []byte, eventType, errno byte) {
	copy(out, userData)
	out[8] = errno
	out[9] = 0
	wtLe.PutUint32(out[10:], uint32(eventType))
}

// wtExitTrapMessage is the trap proc_exit raises to unwind the guest; the exit code is in wasiState.
const wtExitTrapMessage = "sgde: proc_exit"

// wtDefineWASI defines every WASI function on l. Each reads its per-call state from the store's
// data and its memory from the caller's "memory" export.
func wtDefineWASI(l *wasmtime.Linker) error {
	for _, f := range wtWasiFuncs {
		f := f
		params := make([]*wasmtime.ValType, len(f.params))
		for i, k := range f.params {
			params[i] = wasmtime.NewValType(k)
		}
		ty := wasmtime.NewFuncType(params, []*wasmtime.ValType{wasmtime.NewValType(wtI32)})
		err := l.FuncNew(wtWasiModule, f.name, ty, func(c *wasmtime.Caller, args []wasmtime.Val) (res []wasmtime.Val, trap *wasmtime.Trap) {
			st := wtCallStateOf(c)
			defer wtRecoverHostPanic(st, f.name, &trap)
			m, trap := wtCallerMemory(c)
			if trap != nil {
				return nil, trap
			}
			errno := f.fn(st.wasi, m, wtValsToU64(args))
			return []wasmtime.Val{wasmtime.ValI32(int32(errno))}, nil
		})
		if err != nil {
			return fmt.Errorf("define %s.%s: %w", wtWasiModule, f.name, err)
		}
	}
	ty := wasmtime.NewFuncType([]*wasmtime.ValType{wasmtime.NewValType(wtI32)}, nil)
	return l.FuncNew(wtWasiModule, "proc_exit", ty, func(c *wasmtime.Caller, args []wasmtime.Val) ([]wasmtime.Val, *wasmtime.Trap) {
		st := wtCallStateOf(c)
		st.wasi.exited = true
		st.wasi.exitCode = uint32(args[0].I32())
		return nil, wasmtime.NewTrap(wtExitTrapMessage)
	})
}

func wtValsToU64(args []wasmtime.Val) []uint64 {
	p := make([]uint64, len(args))
	for i, a := range args {
		if a.Kind() == wtI64 {
			p[i] = uint64(a.I64())
		} else {
			p[i] = uint64(uint32(a.I32()))
		}
	}
	return p
}

// wtCallerMemory returns the calling instance's exported memory. A module without one cannot
// use any function that touches memory; wazero fails such a call too.
func wtCallerMemory(c *wasmtime.Caller) (wtMemory, *wasmtime.Trap) {
	ext := c.GetExport("memory")
	if ext == nil || ext.Memory() == nil {
		return nil, wasmtime.NewTrap("sgde: module exports no memory")
	}
	return wtMemory(ext.Memory().UnsafeData(c)), nil
}

// wtRecoverHostPanic turns a panic in a host function into a trap (wazero turns it into an
// error), so that hostile arguments can never take the host down.
func wtRecoverHostPanic(st *wtCallState, name string, trap **wasmtime.Trap) {
	if r := recover(); r != nil {
		st.hostPanic = fmt.Sprintf("%s: %v", name, r)
		*trap = wasmtime.NewTrap("sgde: host function " + strings.TrimSpace(st.hostPanic))
	}
}
