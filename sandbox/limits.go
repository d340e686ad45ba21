package sandbox

import "time"

// Default limits, used for every zero field of Limits.
const (
	DefaultMemoryMiB      = 64
	DefaultMaxOutputBytes = 1 << 20
	DefaultTimeout        = 10 * time.Second
)

// maxMessageBytes bounds the message of an error that carries guest-controlled text.
const maxMessageBytes = 2 << 10

// withDefaults returns l with every zero field replaced by its default.
func (l Limits) withDefaults() Limits {
	if l.MemoryMiB == 0 {
		l.MemoryMiB = DefaultMemoryMiB
	}
	if l.MaxOutputBytes <= 0 {
		l.MaxOutputBytes = DefaultMaxOutputBytes
	}
	if l.Timeout <= 0 {
		l.Timeout = DefaultTimeout
	}
	return l
}
