// Package cache is the content-addressed store of student responses on disk (bbolt), keyed by
// everything that determines a reply, so that a finished eval or compile re-runs offline bit
// for bit. It stores and looks up; it must not decide when to call the student.
package cache
