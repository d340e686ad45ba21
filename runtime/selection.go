package runtime

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"strconv"
	"strings"

	"github.com/sgde-project/sgde/plans"
)

// Selection is which records of a JSONL data file an eval runs: the first Limit (0: all),
// then, when Shard is "K/N", slice K of N of those (records K, K+N, ...).
type Selection struct {
	Fields Fields
	Limit  int
	Shard  string
}

// Read reads the items of r for p, applies the selection, and returns them with the digest
// of everything read ("sha256:HEX"), which the results file records.
func (s Selection) Read(r io.Reader, p *plans.Plan) (items []Item, digest string, err error) {
	sum := sha256.New()
	items, err = ReadItems(io.TeeReader(r, sum), p, s.Fields)
	if err != nil {
		return nil, "", err
	}
	if s.Limit > 0 && s.Limit < len(items) {
		items = items[:s.Limit]
	}
	if s.Shard != "" {
		k, n, err := ParseShard(s.Shard)
		if err != nil {
			return nil, "", err
		}
		items = Shard(items, k, n)
	}
	return items, "sha256:" + hex.EncodeToString(sum.Sum(nil)), nil
}

// ResultsPath is the default results file of p on the data file dataPath
// (DefaultResultsPath), with the shard in its name, so that the shards of one eval run side by
// side.
func (s Selection) ResultsPath(p *plans.Plan, dataPath string) (string, error) {
	path, err := DefaultResultsPath(p, dataPath)
	if err != nil || s.Shard == "" {
		return path, err
	}
	return strings.TrimSuffix(path, ".results.jsonl") + ".shard-" + strings.ReplaceAll(s.Shard, "/", "-of-") + ".results.jsonl", nil
}

// AddSettings records in settings what a merge of shards must agree on: the shard, its number
// of items, and the limit (slices of different lists never merge). Without a shard it adds
// nothing.
func (s Selection) AddSettings(settings map[string]string, items int) {
	if s.Shard == "" {
		return
	}
	settings[SettingShard] = s.Shard
	settings[SettingShardItems] = strconv.Itoa(items)
	settings["limit"] = strconv.Itoa(s.Limit)
}
