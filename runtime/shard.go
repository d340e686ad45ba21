package runtime

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"sort"
	"strconv"
	"strings"
)

// Settings keys an eval of one shard adds to its results header.
const (
	// SettingShard is "K/N": the results are of the K-th (from 0) of N slices.
	SettingShard = "shard"
	// SettingShardItems is the number of items in that slice, so that a merge can tell a shard
	// that was cut short.
	SettingShardItems = "shard_items"
)

// ErrShard matches every error about shards: a bad K/N, or results files that do not make up
// one eval.
var ErrShard = errors.New("bad shards")

// ParseShard reads "K/N" (0 <= K < N): the K-th of N slices, numbered from 0 like a Kubernetes
// Indexed Job's JOB_COMPLETION_INDEX.
func ParseShard(s string) (k, n int, err error) {
	ks, ns, ok := strings.Cut(s, "/")
	k, kerr := strconv.Atoi(ks)
	n, nerr := strconv.Atoi(ns)
	if !ok || kerr != nil || nerr != nil || n < 1 || k < 0 || k >= n {
		return 0, 0, fmt.Errorf("%w: shard %q must be K/N with 0 <= K < N (e.g. 0/4 ... 3/4)", ErrShard, s)
	}
	return k, n, nil
}

// Shard returns the K-th of N slices of items: those at positions K, K+N, K+2N, ... The slices
// are disjoint, cover every item, differ in size by at most one, and depend only on the order of
// the data (recorded by the data digest), so every machine computes the same ones; taking every
// N-th item rather than a block spreads easy and hard stretches of a data set evenly.
func Shard(items []Item, k, n int) []Item {
	out := make([]Item, 0, len(items)/n+1)
	for i := k; i < len(items); i += n {
		out = append(out, items[i])
	}
	return out
}

// MergeResults reads the results files of the N shards of one eval and returns the header of the
// whole eval (without the shard settings), every result, and the number of items the eval
// covers. It refuses (ErrShard, or ErrProvenance for files of different evals) files without
// headers, files of another plan, data set, metric or settings, missing or repeated shards, a
// shard with fewer results than its slice had items (unless partial), and an item in two
// shards.
func MergeResults(paths []string, partial bool) (ResultsHeader, []ItemResult, int, error) {
	var base ResultsHeader
	var baseFrom string
	var all []ItemResult
	seenShard := map[int]string{}
	seenID := map[string]string{}
	n, total := 0, 0
	for _, path := range paths {
		h, rs, err := ReadResults(path)
		if err != nil {
			return ResultsHeader{}, nil, 0, err
		}
		if h == nil {
			return ResultsHeader{}, nil, 0, fmt.Errorf("%w: %s has no header (written before results recorded their provenance)", ErrShard, path)
		}
		k, sn, err := ParseShard(h.Settings[SettingShard])
		if err != nil {
			return ResultsHeader{}, nil, 0, fmt.Errorf("%s is not the results of a shard (eval --shard K/N): %w", path, err)
		}
		want, err := strconv.Atoi(h.Settings[SettingShardItems])
		if err != nil {
			return ResultsHeader{}, nil, 0, fmt.Errorf("%w: %s: bad %s %q", ErrShard, path, SettingShardItems, h.Settings[SettingShardItems])
		}
		whole := *h
		whole.Settings = maps.Clone(h.Settings)
		delete(whole.Settings, SettingShard)
		delete(whole.Settings, SettingShardItems)
		if baseFrom == "" {
			base, baseFrom, n = whole, path, sn
		} else {
			if d := whole.mismatch(base); d != "" {
				return ResultsHeader{}, nil, 0, fmt.Errorf("%w: %s and %s differ: %s", ErrProvenance, path, baseFrom, strings.ReplaceAll(d, "(now", "(in "+baseFrom+":"))
			}
			if sn != n {
				return ResultsHeader{}, nil, 0, fmt.Errorf("%w: %s is shard %d/%d but %s is of %d shards", ErrShard, path, k, sn, baseFrom, n)
			}
		}
		if prev, dup := seenShard[k]; dup {
			return ResultsHeader{}, nil, 0, fmt.Errorf("%w: shard %d/%d is in both %s and %s", ErrShard, k, n, prev, path)
		}
		seenShard[k] = path
		if len(rs) < want && !partial {
			return ResultsHeader{}, nil, 0, fmt.Errorf("%w: %s (shard %d/%d) has %d of its %d results: finish it with eval --resume (or merge with --partial)", ErrShard, path, k, n, len(rs), want)
		}
		for _, r := range rs {
			if prev, dup := seenID[r.ID]; dup {
				return ResultsHeader{}, nil, 0, fmt.Errorf("%w: item %q is in both %s and %s", ErrShard, r.ID, prev, path)
			}
			seenID[r.ID] = path
		}
		all = append(all, rs...)
		total += want
	}
	if len(paths) == 0 {
		return ResultsHeader{}, nil, 0, fmt.Errorf("%w: no results files", ErrShard)
	}
	if len(seenShard) != n {
		var missing []string
		for k := range n {
			if seenShard[k] == "" {
				missing = append(missing, fmt.Sprintf("%d/%d", k, n))
			}
		}
		return ResultsHeader{}, nil, 0, fmt.Errorf("%w: missing shards %s", ErrShard, strings.Join(missing, ", "))
	}
	if len(base.Settings) == 0 {
		base.Settings = nil
	}
	return base, all, total, nil
}

// WriteResults writes a results file: h, then one line per result. It refuses to replace an
// existing file.
func WriteResults(path string, h ResultsHeader, rs []ItemResult) (err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("write results %s: %w", path, cerr)
		}
		if err != nil {
			os.Remove(path)
		}
	}()
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	if err := enc.Encode(h); err != nil {
		return fmt.Errorf("write results %s: %w", path, err)
	}
	sorted := append([]ItemResult(nil), rs...)
	sort.SliceStable(sorted, func(i, j int) bool { return lessID(sorted[i].ID, sorted[j].ID) })
	for _, r := range sorted {
		if err := enc.Encode(r); err != nil {
			return fmt.Errorf("write results %s: %w", path, err)
		}
	}
	if err := w.Flush(); err != nil {
		return fmt.Errorf("write results %s: %w", path, err)
	}
	return f.Sync()
}

// lessID orders ids numerically when both are integers (positions, GSM-Hard's idx), else as
// strings, so a merged file reads in data order for the usual ids.
func lessID(a, b string) bool {
	ai, aerr := strconv.Atoi(a)
	bi, berr := strconv.Atoi(b)
	if aerr == nil && berr == nil {
		return ai < bi
	}
	return a < b
}
