package sandbox

import (
	"encoding/binary"
	"io"
	"io/fs"
	"math/rand"
	"path"

	"github.com/tetratelabs/wazero/api"
)

// This file is sgde's own wasi_snapshot_preview1, for both engines. wasmtime's built-in WASI
// reads the host's clocks and OS randomness, which would make a node's behaviour differ between
// engines and between runs; wazero's keeps its state (descriptors, clocks, random source) in the
// instance, where a pooled instance would carry it from one call to the next, and does work the
// call's fuel does not see. Every function here reproduces, errno for errno, what wazero v1.12.0
// does for a module configured with no args, no environment, no preopens, no sockets, the fake
// clocks and the seeded random source (see docs/RATIONALE.md, "The wasmtime engine brings its
// own WASI"); its state is per call; and the work it does for the guest is charged through
// wasiState.work (fuel in proportion to the bytes and items touched, and a check of the call's
// deadline and context), in chunks of at most wasiChunk bytes, so that no host call runs long
// after its call should have ended.
//
// The only open descriptors are 0 (stdin, always at EOF), 1 and 2 (captured, capped). They are
// wazero's "preopened stdio": not directories, so every path_* call on them fails with ENOTDIR
// and every other descriptor is EBADF.

// wasip1 errno values (the WASI snapshot-01 numbering).
const (
	wasiErrnoSuccess     = 0
	wasiErrnoBadf        = 8
	wasiErrnoFault       = 21
	wasiErrnoInval       = 28
	wasiErrnoIo          = 29
	wasiErrnoIsdir       = 31
	wasiErrnoNametoolong = 37
	wasiErrnoNosys       = 52
	wasiErrnoNotdir      = 54
	wasiErrnoNotsup      = 58
	wasiErrnoPerm        = 63
)

const (
	// wasiFakeEpochNanos is where wazero's fake wall clock starts: 2022-01-01T00:00:00Z.
	wasiFakeEpochNanos = int64(1640995200000) * 1e6
	wasiFakeClockStep  = int64(1e6) // both fake clocks advance 1 ms per reading
	wasiFakeRandSeed   = 42

	wasiWalltimeResolution = 1000 // ns, wazero's default for the fake wall clock
	wasiNanotimeResolution = 1

	wasiFiletypeBlockDevice = 1 // wazero reports its stdio as a block device (fs.ModeDevice)

	// wasiFileRightsBase is wazero's rights mask for a non-directory, non-character-device file.
	wasiFileRightsBase = 1<<0 | 1<<1 | 1<<2 | 1<<3 | 1<<4 | 1<<5 | 1<<6 | 1<<7 | 1<<8 |
		1<<21 | 1<<22 | 1<<23 | 1<<27

	wasiFdflagDsync    = 1 << 1
	wasiFdflagNonblock = 1 << 2
	wasiFdflagRsync    = 1 << 3
	wasiFdflagSync     = 1 << 4

	wasiFstflagsAtim    = 1 << 0
	wasiFstflagsAtimNow = 1 << 1
	wasiFstflagsMtim    = 1 << 2
	wasiFstflagsMtimNow = 1 << 3

	wasiEventTypeClock   = 0
	wasiEventTypeFdRead  = 1
	wasiEventTypeFdWrite = 2

	wasiDirentSize = 24
)

var wasiLE = binary.LittleEndian

// Fuel the WASI functions charge for the work they do for the guest, on top of what the guest's
// own instructions cost: every call, every item (iovec, subscription) and every byte touched,
// priced so that host work burns fuel about as fast as guest code does (1-4 billion fuel per
// second): an item costs ~50 ns of host time, a random byte ~10 ns (math/rand), a copied byte
// well under 1 ns (measured with TestHostileHostBounds's modules on this machine).
const (
	wasiCallFuel       = 100
	wasiItemFuel       = 64
	wasiRandomByteFuel = 8
	// wasiChunk bounds the bytes one host function handles between two charges, so that a call
	// stops within about a millisecond of its deadline whatever it asked for.
	wasiChunk = 64 << 10
	// wasiMaxPath bounds a path's length (Linux allows 4 KiB); wasiPathByteFuel prices a path
	// byte, which is copied, cleaned and validated.
	wasiMaxPath      = 64 << 10
	wasiPathByteFuel = 4
)

// wasiState is the per-call state behind the WASI functions: one per call, never shared.
type wasiState struct {
	// work, when set, is told of work of n units before the host does it: the engine charges it
	// as fuel and checks the call's deadline and context, and panics to stop the call.
	work func(n int64)

	open           [3]bool
	stdout, stderr *cappedWriter
	wall, nano     int64
	rand           io.Reader
}

func newWASIState(maxOutput int) *wasiState {
	return &wasiState{
		open:   [3]bool{true, true, true},
		stdout: &cappedWriter{max: maxOutput},
		stderr: &cappedWriter{max: maxOutput},
		wall:   wasiFakeEpochNanos - wasiFakeClockStep,
		nano:   -wasiFakeClockStep,
		rand:   rand.New(rand.NewSource(wasiFakeRandSeed)),
	}
}

// charge reports work of n units to s.work.
func (s *wasiState) charge(n int64) {
	if s.work != nil {
		s.work(n)
	}
}

func (s *wasiState) walltime() int64 { s.wall += wasiFakeClockStep; return s.wall }
func (s *wasiState) nanotime() int64 { s.nano += wasiFakeClockStep; return s.nano }

// lookup reports whether fd is open. Only the three stdio descriptors ever exist.
func (s *wasiState) lookup(fd int32) bool { return fd >= 0 && fd < 3 && s.open[fd] }

// wasiMemory is the guest's linear memory as seen by one host call. Bounds are checked exactly as
// wazero checks them: offset+length must not pass the end.
type wasiMemory []byte

func (m wasiMemory) read(off, n uint32) ([]byte, bool) {
	if uint64(off)+uint64(n) > uint64(len(m)) {
		return nil, false
	}
	return m[off : off+n : off+n], true
}

func (m wasiMemory) putU32(off, v uint32) bool {
	b, ok := m.read(off, 4)
	if ok {
		wasiLE.PutUint32(b, v)
	}
	return ok
}

func (m wasiMemory) putU64(off uint32, v uint64) bool {
	b, ok := m.read(off, 8)
	if ok {
		wasiLE.PutUint64(b, v)
	}
	return ok
}

// wasiFunc is one host function: its wasm parameter types and its body. Parameters arrive as
// uint64 with i32 values zero-extended, as in wazero.
type wasiFunc struct {
	name   string
	params []api.ValueType
	fn     func(s *wasiState, m wasiMemory, p []uint64) uint32
}

const (
	wasiI32 = api.ValueTypeI32
	wasiI64 = api.ValueTypeI64
)

func wasiSig(kinds ...api.ValueType) []api.ValueType { return kinds }

// wasiFuncs lists every function of wasi_snapshot_preview1 that wazero exports, so that a module
// instantiates on one engine exactly when it does on the other. proc_exit is handled apart.
var wasiFuncs = []wasiFunc{
	{"args_get", wasiSig(wasiI32, wasiI32), wasiEmptyListGet},
	{"args_sizes_get", wasiSig(wasiI32, wasiI32), wasiEmptyListSizes},
	{"environ_get", wasiSig(wasiI32, wasiI32), wasiEmptyListGet},
	{"environ_sizes_get", wasiSig(wasiI32, wasiI32), wasiEmptyListSizes},
	{"clock_res_get", wasiSig(wasiI32, wasiI32), wasiClockResGet},
	{"clock_time_get", wasiSig(wasiI32, wasiI64, wasiI32), wasiClockTimeGet},
	{"fd_advise", wasiSig(wasiI32, wasiI64, wasiI64, wasiI32), wasiFdAdvise},
	{"fd_allocate", wasiSig(wasiI32, wasiI64, wasiI64), wasiFdAllocate},
	{"fd_close", wasiSig(wasiI32), wasiFdClose},
	{"fd_datasync", wasiSig(wasiI32), wasiFdNoopIfOpen},
	{"fd_fdstat_get", wasiSig(wasiI32, wasiI32), wasiFdFdstatGet},
	{"fd_fdstat_set_flags", wasiSig(wasiI32, wasiI32), wasiFdFdstatSetFlags},
	{"fd_fdstat_set_rights", wasiSig(wasiI32, wasiI64, wasiI64), wasiNosys},
	{"fd_filestat_get", wasiSig(wasiI32, wasiI32), wasiFdFilestatGet},
	{"fd_filestat_set_size", wasiSig(wasiI32, wasiI64), wasiFdNosysIfOpen},
	{"fd_filestat_set_times", wasiSig(wasiI32, wasiI64, wasiI64, wasiI32), wasiFdFilestatSetTimes},
	{"fd_pread", wasiSig(wasiI32, wasiI32, wasiI32, wasiI64, wasiI32), wasiFdPread},
	{"fd_prestat_get", wasiSig(wasiI32, wasiI32), wasiFdPrestatGet},
	{"fd_prestat_dir_name", wasiSig(wasiI32, wasiI32, wasiI32), wasiFdPrestatDirName},
	{"fd_pwrite", wasiSig(wasiI32, wasiI32, wasiI32, wasiI64, wasiI32), wasiFdPwrite},
	{"fd_read", wasiSig(wasiI32, wasiI32, wasiI32, wasiI32), wasiFdRead},
	{"fd_readdir", wasiSig(wasiI32, wasiI32, wasiI32, wasiI64, wasiI32), wasiFdReaddir},
	{"fd_renumber", wasiSig(wasiI32, wasiI32), wasiFdRenumber},
	{"fd_seek", wasiSig(wasiI32, wasiI64, wasiI32, wasiI32), wasiFdNosysIfOpen},
	{"fd_sync", wasiSig(wasiI32), wasiFdNoopIfOpen},
	{"fd_tell", wasiSig(wasiI32, wasiI32), wasiFdNosysIfOpen},
	{"fd_write", wasiSig(wasiI32, wasiI32, wasiI32, wasiI32), wasiFdWrite},
	{"path_create_directory", wasiSig(wasiI32, wasiI32, wasiI32), wasiPathAt(0, 1, 2)},
	{"path_filestat_get", wasiSig(wasiI32, wasiI32, wasiI32, wasiI32, wasiI32), wasiPathAt(0, 2, 3)},
	{"path_filestat_set_times", wasiSig(wasiI32, wasiI32, wasiI32, wasiI32, wasiI64, wasiI64, wasiI32), wasiPathFilestatSetTimes},
	{"path_link", wasiSig(wasiI32, wasiI32, wasiI32, wasiI32, wasiI32, wasiI32, wasiI32), wasiPathAt2(0, 2, 3, 4, 5, 6)},
	{"path_open", wasiSig(wasiI32, wasiI32, wasiI32, wasiI32, wasiI32, wasiI64, wasiI64, wasiI32, wasiI32), wasiPathAt(0, 2, 3)},
	{"path_readlink", wasiSig(wasiI32, wasiI32, wasiI32, wasiI32, wasiI32, wasiI32), wasiPathReadlink},
	{"path_remove_directory", wasiSig(wasiI32, wasiI32, wasiI32), wasiPathAt(0, 1, 2)},
	{"path_rename", wasiSig(wasiI32, wasiI32, wasiI32, wasiI32, wasiI32, wasiI32), wasiPathAt2(0, 1, 2, 3, 4, 5)},
	{"path_symlink", wasiSig(wasiI32, wasiI32, wasiI32, wasiI32, wasiI32), wasiPathSymlink},
	{"path_unlink_file", wasiSig(wasiI32, wasiI32, wasiI32), wasiPathAt(0, 1, 2)},
	{"poll_oneoff", wasiSig(wasiI32, wasiI32, wasiI32, wasiI32), wasiPollOneoff},
	{"proc_raise", wasiSig(wasiI32), wasiNosys},
	{"sched_yield", wasiSig(), func(*wasiState, wasiMemory, []uint64) uint32 { return wasiErrnoSuccess }},
	{"random_get", wasiSig(wasiI32, wasiI32), wasiRandomGet},
	{"sock_accept", wasiSig(wasiI32, wasiI32, wasiI32), wasiFdBadf},
	{"sock_recv", wasiSig(wasiI32, wasiI32, wasiI32, wasiI32, wasiI32, wasiI32), wasiFdBadf},
	{"sock_send", wasiSig(wasiI32, wasiI32, wasiI32, wasiI32, wasiI32), wasiSockSend},
	{"sock_shutdown", wasiSig(wasiI32, wasiI32), wasiFdBadf},
}

func wasiNosys(*wasiState, wasiMemory, []uint64) uint32 { return wasiErrnoNosys }

// wasiFdBadf is every socket call: no descriptor is a socket.
func wasiFdBadf(*wasiState, wasiMemory, []uint64) uint32 { return wasiErrnoBadf }

func wasiSockSend(_ *wasiState, _ wasiMemory, p []uint64) uint32 {
	if uint32(p[3]) != 0 {
		return wasiErrnoNotsup
	}
	return wasiErrnoBadf
}

func wasiEmptyListGet(_ *wasiState, m wasiMemory, p []uint64) uint32 {
	// No values: wazero still bounds-checks both zero-length regions.
	if _, ok := m.read(uint32(p[0]), 0); !ok {
		return wasiErrnoFault
	}
	if _, ok := m.read(uint32(p[1]), 0); !ok {
		return wasiErrnoFault
	}
	return wasiErrnoSuccess
}

func wasiEmptyListSizes(_ *wasiState, m wasiMemory, p []uint64) uint32 {
	if !m.putU32(uint32(p[0]), 0) || !m.putU32(uint32(p[1]), 0) {
		return wasiErrnoFault
	}
	return wasiErrnoSuccess
}

func wasiClockResGet(_ *wasiState, m wasiMemory, p []uint64) uint32 {
	var res uint64
	switch uint32(p[0]) {
	case 0:
		res = wasiWalltimeResolution
	case 1:
		res = wasiNanotimeResolution
	default:
		return wasiErrnoInval
	}
	if !m.putU64(uint32(p[1]), res) {
		return wasiErrnoFault
	}
	return wasiErrnoSuccess
}

func wasiClockTimeGet(s *wasiState, m wasiMemory, p []uint64) uint32 {
	var v int64
	switch uint32(p[0]) {
	case 0:
		v = s.walltime()
	case 1:
		v = s.nanotime()
	default:
		return wasiErrnoInval
	}
	if !m.putU64(uint32(p[2]), uint64(v)) {
		return wasiErrnoFault
	}
	return wasiErrnoSuccess
}

func wasiRandomGet(s *wasiState, m wasiMemory, p []uint64) uint32 {
	b, ok := m.read(uint32(p[0]), uint32(p[1]))
	if !ok {
		return wasiErrnoFault
	}
	for len(b) > 0 {
		n := min(len(b), wasiChunk)
		s.charge(wasiRandomByteFuel * int64(n))
		if _, err := io.ReadAtLeast(s.rand, b[:n], n); err != nil {
			return wasiErrnoIo
		}
		b = b[n:]
	}
	return wasiErrnoSuccess
}

func wasiFdNoopIfOpen(s *wasiState, _ wasiMemory, p []uint64) uint32 {
	if !s.lookup(int32(p[0])) {
		return wasiErrnoBadf
	}
	return wasiErrnoSuccess
}

func wasiFdNosysIfOpen(s *wasiState, _ wasiMemory, p []uint64) uint32 {
	if !s.lookup(int32(p[0])) {
		return wasiErrnoBadf
	}
	return wasiErrnoNosys
}

func wasiFdAdvise(s *wasiState, _ wasiMemory, p []uint64) uint32 {
	if !s.lookup(int32(p[0])) {
		return wasiErrnoBadf
	}
	if byte(p[3]) > 5 {
		return wasiErrnoInval
	}
	return wasiErrnoSuccess
}

func wasiFdAllocate(s *wasiState, _ wasiMemory, p []uint64) uint32 {
	if !s.lookup(int32(p[0])) {
		return wasiErrnoBadf
	}
	tail := int64(p[1] + p[2])
	switch {
	case tail < 0:
		return wasiErrnoInval
	case tail == 0: // the stdio "file" has size 0, so there is already room
		return wasiErrnoSuccess
	}
	return wasiErrnoNosys
}

func wasiFdClose(s *wasiState, _ wasiMemory, p []uint64) uint32 {
	fd := int32(p[0])
	if !s.lookup(fd) {
		return wasiErrnoBadf
	}
	s.open[fd] = false
	return wasiErrnoSuccess
}

func wasiFdFdstatGet(s *wasiState, m wasiMemory, p []uint64) uint32 {
	b, ok := m.read(uint32(p[1]), 24)
	if !ok {
		return wasiErrnoFault
	}
	if !s.lookup(int32(p[0])) {
		return wasiErrnoBadf
	}
	wasiLE.PutUint16(b[0:], wasiFiletypeBlockDevice)
	wasiLE.PutUint16(b[2:], 0)
	wasiLE.PutUint32(b[4:], 0)
	wasiLE.PutUint64(b[8:], wasiFileRightsBase)
	wasiLE.PutUint64(b[16:], 0)
	return wasiErrnoSuccess
}

func wasiFdFdstatSetFlags(s *wasiState, _ wasiMemory, p []uint64) uint32 {
	flags := uint16(p[1])
	if flags&(wasiFdflagDsync|wasiFdflagRsync|wasiFdflagSync) != 0 {
		return wasiErrnoInval
	}
	if !s.lookup(int32(p[0])) {
		return wasiErrnoBadf
	}
	if flags&wasiFdflagNonblock != 0 {
		return wasiErrnoNosys
	}
	return wasiErrnoSuccess
}

func wasiFdFilestatGet(s *wasiState, m wasiMemory, p []uint64) uint32 {
	b, ok := m.read(uint32(p[1]), 64)
	if !ok {
		return wasiErrnoFault
	}
	if !s.lookup(int32(p[0])) {
		return wasiErrnoBadf
	}
	clear(b)
	wasiLE.PutUint64(b[16:], wasiFiletypeBlockDevice)
	wasiLE.PutUint64(b[24:], 1) // nlink
	return wasiErrnoSuccess
}

// wasiFdFilestatSetTimes fails on every open descriptor. In wazero the fallback after ENOSYS
// dereferences the stdio entry's nil file system and the host function panics; the engines
// agree that the call traps.
func wasiFdFilestatSetTimes(s *wasiState, _ wasiMemory, p []uint64) uint32 {
	if !s.lookup(int32(p[0])) {
		return wasiErrnoBadf
	}
	if errno := s.toTimes(uint16(p[3])); errno != 0 {
		return errno
	}
	panic("fd_filestat_set_times on a stdio descriptor")
}

// wasiToTimes validates fst_flags as wazero does, reading the wall clock (which advances it) when a
// "now" flag is set.
func (s *wasiState) toTimes(flags uint16) uint32 {
	var now int64
	if set, isNow := flags&wasiFstflagsAtim != 0, flags&wasiFstflagsAtimNow != 0; set && isNow {
		return wasiErrnoInval
	} else if !set && isNow {
		now = s.walltime()
	}
	if set, isNow := flags&wasiFstflagsMtim != 0, flags&wasiFstflagsMtimNow != 0; set && isNow {
		return wasiErrnoInval
	} else if !set && isNow && now == 0 {
		s.walltime()
	}
	return wasiErrnoSuccess
}

func wasiFdPrestatGet(s *wasiState, m wasiMemory, p []uint64) uint32 {
	if !s.lookup(int32(p[0])) {
		return wasiErrnoBadf
	}
	// wazero treats stdio as preopened but not a directory, and reports it as a directory
	// preopen with an empty name.
	if !m.putU64(uint32(p[1]), 0) {
		return wasiErrnoFault
	}
	return wasiErrnoSuccess
}

func wasiFdPrestatDirName(s *wasiState, m wasiMemory, p []uint64) uint32 {
	if !s.lookup(int32(p[0])) {
		return wasiErrnoBadf
	}
	if uint32(p[2]) > 0 {
		return wasiErrnoNametoolong
	}
	if _, ok := m.read(uint32(p[1]), 0); !ok {
		return wasiErrnoFault
	}
	return wasiErrnoSuccess
}

// wasiIovecs returns the iovec array, with wazero's 32-bit arithmetic for its size.
func wasiIovecs(m wasiMemory, iovs, count uint32) ([]byte, bool) {
	return m.read(iovs, count<<3)
}

// wasiReadv reads into the iovecs from a descriptor whose reads return n bytes (stdin at EOF: 0)
// or, when unreadable, ENOSYS, which wazero reports as EBADF.
func wasiReadv(s *wasiState, m wasiMemory, iovs, count uint32, readable bool) (uint32, uint32) {
	buf, ok := wasiIovecs(m, iovs, count)
	if !ok {
		return 0, wasiErrnoFault
	}
	for pos := uint32(0); pos < count<<3; pos += 8 {
		s.charge(wasiItemFuel)
		off, l := wasiLE.Uint32(buf[pos:]), wasiLE.Uint32(buf[pos+4:])
		if l == 0 {
			continue
		}
		if _, ok := m.read(off, l); !ok {
			return 0, wasiErrnoFault
		}
		if !readable {
			return 0, wasiErrnoBadf
		}
		break // read 0 bytes, fewer than asked: stop
	}
	return 0, wasiErrnoSuccess
}

func wasiFdRead(s *wasiState, m wasiMemory, p []uint64) uint32 {
	fd := int32(p[0])
	if !s.lookup(fd) {
		return wasiErrnoBadf
	}
	n, errno := wasiReadv(s, m, uint32(p[1]), uint32(p[2]), fd == 0)
	if errno != 0 {
		return errno
	}
	if !m.putU32(uint32(p[3]), n) {
		return wasiErrnoFault
	}
	return wasiErrnoSuccess
}

func wasiFdPread(s *wasiState, m wasiMemory, p []uint64) uint32 {
	if !s.lookup(int32(p[0])) {
		return wasiErrnoBadf
	}
	n, errno := wasiReadv(s, m, uint32(p[1]), uint32(p[2]), false)
	if errno != 0 {
		return errno
	}
	if !m.putU32(uint32(p[4]), n) {
		return wasiErrnoFault
	}
	return wasiErrnoSuccess
}

// wasiWritev writes the iovecs to w; a nil w is a descriptor that cannot be written (ENOSYS in
// wazero, reported as EBADF). Zero-length writes to it succeed when skipEmpty is set (pwrite).
func wasiWritev(s *wasiState, m wasiMemory, iovs, count uint32, w io.Writer, skipEmpty bool) (uint32, uint32) {
	buf, ok := wasiIovecs(m, iovs, count)
	if !ok {
		return 0, wasiErrnoFault
	}
	var total uint32
	for pos := uint32(0); pos < count<<3; pos += 8 {
		off, l := wasiLE.Uint32(buf[pos:]), wasiLE.Uint32(buf[pos+4:])
		s.charge(wasiItemFuel + int64(l))
		b, ok := m.read(off, l)
		if !ok {
			return 0, wasiErrnoFault
		}
		if skipEmpty && l == 0 {
			continue
		}
		if w == nil {
			return 0, wasiErrnoBadf
		}
		n, _ := w.Write(b)
		total += uint32(n)
	}
	return total, wasiErrnoSuccess
}

func (s *wasiState) writer(fd int32) io.Writer {
	switch fd {
	case 1:
		return s.stdout
	case 2:
		return s.stderr
	}
	return nil
}

func wasiFdWrite(s *wasiState, m wasiMemory, p []uint64) uint32 {
	fd := int32(p[0])
	if !s.lookup(fd) {
		return wasiErrnoBadf
	}
	n, errno := wasiWritev(s, m, uint32(p[1]), uint32(p[2]), s.writer(fd), false)
	if errno != 0 {
		return errno
	}
	if !m.putU32(uint32(p[3]), n) {
		return wasiErrnoFault
	}
	return wasiErrnoSuccess
}

func wasiFdPwrite(s *wasiState, m wasiMemory, p []uint64) uint32 {
	if !s.lookup(int32(p[0])) {
		return wasiErrnoBadf
	}
	n, errno := wasiWritev(s, m, uint32(p[1]), uint32(p[2]), nil, true)
	if errno != 0 {
		return errno
	}
	if !m.putU32(uint32(p[4]), n) {
		return wasiErrnoFault
	}
	return wasiErrnoSuccess
}

func wasiFdReaddir(s *wasiState, _ wasiMemory, p []uint64) uint32 {
	if uint32(p[2]) < wasiDirentSize {
		return wasiErrnoInval
	}
	return wasiErrnoBadf // closed, or open but not a directory
}

func wasiFdRenumber(s *wasiState, _ wasiMemory, p []uint64) uint32 {
	if !s.lookup(int32(p[0])) || int32(p[1]) < 0 {
		return wasiErrnoBadf
	}
	return wasiErrnoNotsup // stdio is preopened and cannot be renumbered
}

// atPath resolves a path relative to a directory descriptor as wazero does; since no
// descriptor is a directory, it can only fail.
func (s *wasiState) atPath(m wasiMemory, fd int32, ptr, n uint32) uint32 {
	b, ok := m.read(ptr, n)
	if !ok {
		return wasiErrnoFault
	}
	// Where wazero would copy and clean a path of any length in one go (about 5 ms per MiB),
	// a path longer than wasiMaxPath is too long: no call does more than a chunk's worth of
	// work without a check of its deadline.
	if n > wasiMaxPath {
		s.charge(wasiItemFuel)
		return wasiErrnoNametoolong
	}
	s.charge(wasiPathByteFuel * int64(n))
	if !fs.ValidPath(path.Clean(string(b))) {
		return wasiErrnoPerm
	}
	if !s.lookup(fd) {
		return wasiErrnoBadf
	}
	return wasiErrnoNotdir
}

// wasiPathAt is a path_* function whose only failure modes come from resolving one path.
func wasiPathAt(fd, ptr, n int) func(*wasiState, wasiMemory, []uint64) uint32 {
	return func(s *wasiState, m wasiMemory, p []uint64) uint32 {
		return s.atPath(m, int32(p[fd]), uint32(p[ptr]), uint32(p[n]))
	}
}

// wasiPathAt2 resolves two paths in order, as path_link and path_rename do.
func wasiPathAt2(fd1, ptr1, n1, fd2, ptr2, n2 int) func(*wasiState, wasiMemory, []uint64) uint32 {
	return func(s *wasiState, m wasiMemory, p []uint64) uint32 {
		if errno := s.atPath(m, int32(p[fd1]), uint32(p[ptr1]), uint32(p[n1])); errno != 0 {
			return errno
		}
		return s.atPath(m, int32(p[fd2]), uint32(p[ptr2]), uint32(p[n2]))
	}
}

func wasiPathFilestatSetTimes(s *wasiState, m wasiMemory, p []uint64) uint32 {
	if errno := s.toTimes(uint16(p[6])); errno != 0 {
		return errno
	}
	return s.atPath(m, int32(p[0]), uint32(p[2]), uint32(p[3]))
}

func wasiPathReadlink(s *wasiState, m wasiMemory, p []uint64) uint32 {
	if uint32(p[2]) == 0 || uint32(p[4]) == 0 {
		return wasiErrnoInval
	}
	return s.atPath(m, int32(p[0]), uint32(p[1]), uint32(p[2]))
}

func wasiPathSymlink(s *wasiState, _ wasiMemory, p []uint64) uint32 {
	if !s.lookup(int32(p[2])) {
		return wasiErrnoBadf
	}
	return wasiErrnoNotdir
}

// wasiPollOneoff follows wazero step for step, including its 32-bit size arithmetic: clock
// subscriptions are due at once (the fake sleep returns immediately), stdin is always ready.
// Where wazero allocates an event per deferred subscription (about 50 bytes each, so up to
// the guest's memory size again), this keeps one bit per subscription.
func wasiPollOneoff(s *wasiState, m wasiMemory, p []uint64) uint32 {
	in, out, nsubs, resultN := uint32(p[0]), uint32(p[1]), uint32(p[2]), uint32(p[3])
	if nsubs == 0 {
		return wasiErrnoInval
	}
	inBuf, ok := m.read(in, nsubs*48)
	if !ok {
		return wasiErrnoFault
	}
	outBuf, ok := m.read(out, nsubs*32)
	s.charge(int64(len(outBuf)))
	clear(outBuf)
	if !ok {
		return wasiErrnoFault
	}
	if !m.putU32(resultN, nsubs) {
		return wasiErrnoFault
	}
	nevents := uint32(0)
	var deferred []byte // bit i: subscription i is an fd_read waiting for stdin
	for i := uint32(0); i < nsubs; i++ {
		s.charge(wasiItemFuel)
		inOff, outOff := i*48, nevents*32
		eventType := inBuf[inOff+8]
		arg := inBuf[inOff+16:]
		userData := inBuf[inOff : inOff+8]
		switch eventType {
		case wasiEventTypeClock:
			switch wasiLE.Uint16(arg[24:32]) {
			case 0:
			case 1:
				return wasiErrnoNotsup
			default:
				return wasiErrnoInval
			}
			wasiWriteEvent(outBuf[outOff:], userData, eventType, 0)
			nevents++
		case wasiEventTypeFdRead:
			fd := int32(wasiLE.Uint32(arg))
			if fd < 0 {
				return wasiErrnoBadf
			}
			if !s.lookup(fd) {
				wasiWriteEvent(outBuf[outOff:], userData, eventType, wasiErrnoBadf)
				nevents++
			} else {
				if deferred == nil {
					deferred = make([]byte, (nsubs+7)/8)
				}
				deferred[i/8] |= 1 << (i % 8)
			}
		case wasiEventTypeFdWrite:
			fd := int32(wasiLE.Uint32(arg))
			if fd < 0 {
				return wasiErrnoBadf
			}
			errno := byte(wasiErrnoBadf)
			if s.lookup(fd) {
				errno = wasiErrnoNotsup
			}
			nevents++
			wasiWriteEvent(outBuf[outOff:], userData, eventType, errno)
		default:
			return wasiErrnoInval
		}
	}
	if nevents == nsubs {
		return wasiErrnoSuccess
	}
	if !s.lookup(0) {
		return wasiErrnoBadf
	}
	// Stdin is always ready (at EOF): every deferred fd_read is due, in subscription order. Its
	// userdata is read now, as wazero reads it, even if writing events changed it meanwhile.
	for i := uint32(0); i < nsubs; i++ {
		if deferred[i/8]&(1<<(i%8)) == 0 {
			continue
		}
		s.charge(wasiItemFuel)
		wasiWriteEvent(outBuf[nevents*32:], inBuf[i*48:i*48+8], wasiEventTypeFdRead, 0)
		nevents++
	}
	if nevents != nsubs {
		if !m.putU32(resultN, nevents) {
			return wasiErrnoFault
		}
	}
	return wasiErrnoSuccess
}

func wasiWriteEvent(out, userData []byte, eventType, errno byte) {
	copy(out, userData)
	out[8] = errno
	out[9] = 0
	wasiLE.PutUint32(out[10:], uint32(eventType))
}
