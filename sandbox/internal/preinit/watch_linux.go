//go:build linux

package preinit

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// A writeWatch tells which pages of a pooled instance's memory the guest wrote, so that a
// restore touches only those. It uses userfaultfd write protection in asynchronous mode (Linux
// 6.7): the kernel resolves a write to a protected page itself, without stopping the writer,
// and leaves the page marked; PAGEMAP_SCAN lists the marked pages of a range and protects them
// again. Pages the guest only reads stay mapped from the snapshot's page cache across calls.
//
// # Notes
//
//   - userfaultfd is often unavailable (kernels before 6.7, container seccomp profiles, the
//     vm.unprivileged_userfaultfd sysctl); the pool then restores with MADV_DONTNEED on the
//     whole image, which is correct but refaults every page a call touches.
//   - The userfaultfd is opened with UFFD_USER_MODE_ONLY, which unprivileged processes may use:
//     only the guest (compiled code) and the host's Go code write guest memory, never the kernel.
type writeWatch struct {
	uffd    int
	pagemap int
}

// Linux ABI constants missing from older headers and from golang.org/x/sys/unix (see
// include/uapi/linux/userfaultfd.h and fs.h).
const (
	uffdUserModeOnly         = 1
	uffdAPI                  = 0xAA
	uffdFeatureWPUnpopulated = 1 << 13
	uffdFeatureWPAsync       = 1 << 15
	uffdioRegisterModeWP     = 1 << 1
	uffdioWriteprotectModeWP = 1 << 0

	// _IOWR(0xAA, nr, size) and _IOWR('f', 16, struct pm_scan_arg).
	uffdioAPI          = 3<<30 | 24<<16 | 0xAA<<8 | 0x3F
	uffdioRegister     = 3<<30 | 32<<16 | 0xAA<<8 // nr 0
	uffdioWriteprotect = 3<<30 | 24<<16 | 0xAA<<8 | 0x06
	pagemapScan        = 3<<30 | 96<<16 | 'f'<<8 | 16

	pmScanWPMatching   = 1 << 0
	pmScanCheckWPAsync = 1 << 1
	pageIsWritten      = 1 << 1
)

type uffdioAPIArg struct{ api, features, ioctls uint64 }

type uffdioRange struct{ start, len uint64 }

type uffdioRegisterArg struct {
	rng    uffdioRange
	mode   uint64
	ioctls uint64
}

type uffdioWriteprotectArg struct {
	rng  uffdioRange
	mode uint64
}

type pmScanArg struct {
	size, flags, start, end, walkEnd, vec, vecLen, maxPages uint64
	categoryInverted, categoryMask, categoryAnyofMask       uint64
	returnMask                                              uint64
}

// pageRegion is the kernel's struct page_region: [start, end) with the categories asked for.
type pageRegion struct{ start, end, categories uint64 }

var (
	watchOnce sync.Once
	watchVal  *writeWatch
	errWatch  error
)

// errNoWatch is returned when the kernel cannot watch writes; pools fall back to madvise.
var errNoWatch = errors.New("write watch unavailable")

// sharedWatch returns the process's write watch, opening it on first use. One userfaultfd
// serves every pool: registrations are per range and end when the range is unmapped.
func sharedWatch() (*writeWatch, error) {
	watchOnce.Do(func() {
		if os.Getenv("SGDE_POOL_RESTORE") == "madvise" {
			errWatch = fmt.Errorf("%w: SGDE_POOL_RESTORE=madvise", errNoWatch)
			return
		}
		watchVal, errWatch = openWatch()
	})
	return watchVal, errWatch
}

func openWatch() (*writeWatch, error) {
	fd, _, errno := syscall.Syscall(unix.SYS_USERFAULTFD, syscall.O_CLOEXEC|syscall.O_NONBLOCK|uffdUserModeOnly, 0, 0)
	if errno != 0 {
		return nil, fmt.Errorf("%w: userfaultfd: %v", errNoWatch, errno)
	}
	w := &writeWatch{uffd: int(fd), pagemap: -1}
	api := uffdioAPIArg{api: uffdAPI, features: uffdFeatureWPAsync | uffdFeatureWPUnpopulated}
	if err := ioctl(w.uffd, uffdioAPI, unsafe.Pointer(&api)); err != nil {
		w.close()
		return nil, fmt.Errorf("%w: UFFDIO_API with asynchronous write protection: %v", errNoWatch, err)
	}
	// Both features are needed for correctness: without WP_UNPOPULATED a write to a page the
	// instance never touched before would go unseen.
	if want := uint64(uffdFeatureWPAsync | uffdFeatureWPUnpopulated); api.features&want != want {
		w.close()
		return nil, fmt.Errorf("%w: kernel lacks asynchronous write protection", errNoWatch)
	}
	pm, err := syscall.Open("/proc/self/pagemap", syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		w.close()
		return nil, fmt.Errorf("%w: %v", errNoWatch, err)
	}
	w.pagemap = pm
	return w, nil
}

func (w *writeWatch) close() {
	if w.pagemap >= 0 {
		_ = syscall.Close(w.pagemap)
	}
	_ = syscall.Close(w.uffd)
}

// register starts watching writes to b: it registers the range for write protection and
// protects every page of it, populated or not.
func (w *writeWatch) register(b []byte) error {
	rng := uffdioRange{start: uint64(uintptr(unsafe.Pointer(&b[0]))), len: uint64(len(b))}
	reg := uffdioRegisterArg{rng: rng, mode: uffdioRegisterModeWP}
	if err := ioctl(w.uffd, uffdioRegister, unsafe.Pointer(&reg)); err != nil {
		return fmt.Errorf("UFFDIO_REGISTER: %w", err)
	}
	wp := uffdioWriteprotectArg{rng: rng, mode: uffdioWriteprotectModeWP}
	if err := ioctl(w.uffd, uffdioWriteprotect, unsafe.Pointer(&wp)); err != nil {
		return fmt.Errorf("UFFDIO_WRITEPROTECT: %w", err)
	}
	return nil
}

// written appends to regions the ranges of b written since they were last protected, as
// offsets into b. With protect, it also protects them again, in the same walk. vec is the
// kernel's output buffer; it must not be on a goroutine stack, which may move.
func (w *writeWatch) written(b []byte, regions []pageRegion, vec *[64]pageRegion, protect bool) ([]pageRegion, error) {
	base := uint64(uintptr(unsafe.Pointer(&b[0])))
	start, end := base, base+uint64(len(b))
	for start < end {
		arg := pmScanArg{
			start: start, end: end,
			vec: uint64(uintptr(unsafe.Pointer(&vec[0]))), vecLen: uint64(len(vec)),
			categoryMask: pageIsWritten, returnMask: pageIsWritten,
		}
		arg.size = uint64(unsafe.Sizeof(arg))
		if protect {
			arg.flags = pmScanWPMatching | pmScanCheckWPAsync
		}
		n, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(w.pagemap), pagemapScan, uintptr(unsafe.Pointer(&arg)))
		if errno != 0 {
			return regions, fmt.Errorf("PAGEMAP_SCAN: %w", errno)
		}
		for _, r := range vec[:n] {
			regions = append(regions, pageRegion{start: r.start - base, end: r.end - base})
		}
		if arg.walkEnd <= start {
			return regions, errors.New("PAGEMAP_SCAN made no progress")
		}
		start = arg.walkEnd
	}
	return regions, nil
}

func ioctl(fd int, req uintptr, arg unsafe.Pointer) error {
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), req, uintptr(arg)); errno != 0 {
		return errno
	}
	return nil
}
