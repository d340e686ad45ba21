package compiler

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// FileLedger records every student request a compile sent, one byte each, across all its
// sessions.
const FileLedger = "requests.ledger"

// Ledger counts the student requests of a compile durably. The checkpoint is written once per
// iteration, so on its own it forgets the requests of an iteration cut short by a crash (a
// resumed compile used to report 773 calls against 840 sent). The ledger is appended to before
// each request goes out: a write(2) to the page cache, which survives kill -9 of the process
// (not a power cut). Its size is the number of requests ever sent for the output directory.
type Ledger struct {
	mu  sync.Mutex
	f   *os.File
	n   int64
	err error
}

// OpenLedger opens (creating) the ledger of an output directory.
func OpenLedger(dir string) (*Ledger, error) {
	f, err := os.OpenFile(filepath.Join(dir, FileLedger), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open request ledger: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("open request ledger: %w", err)
	}
	return &Ledger{f: f, n: st.Size()}, nil
}

var ledgerByte = []byte{'.'}

// Add records one request. A failed write is remembered (Err) and the request still counted in
// memory: losing the ledger must not stop the compile.
func (l *Ledger) Add() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n++
	if l.err == nil {
		if _, err := l.f.Write(ledgerByte); err != nil {
			l.err = fmt.Errorf("request ledger: %w", err)
		}
	}
}

// Count is the number of requests recorded, earlier sessions included.
func (l *Ledger) Count() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n
}

// Err is the first write error, if any.
func (l *Ledger) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// Close closes the ledger file.
func (l *Ledger) Close() error { return l.f.Close() }
