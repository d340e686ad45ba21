package wasm

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"path"
	"sort"
	"strings"
)

// sdkFS holds the guest SDK's source. The builder copies it into every private build module, so
// a node links against exactly this SDK and nothing from the user's environment.
//
//go:embed guest/*.go
var sdkFS embed.FS

// sdkFile is one non-test source file of the SDK.
type sdkFile struct {
	name string
	data []byte
}

// sdkFiles returns the SDK's non-test files sorted by name.
func sdkFiles() []sdkFile {
	entries, err := fs.ReadDir(sdkFS, "guest")
	if err != nil {
		panic("wasm: embedded SDK unreadable: " + err.Error())
	}
	var files []sdkFile
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		data, err := sdkFS.ReadFile(path.Join("guest", e.Name()))
		if err != nil {
			panic("wasm: embedded SDK unreadable: " + err.Error())
		}
		files = append(files, sdkFile{e.Name(), data})
	}
	sort.Slice(files, func(i, j int) bool { return files[i].name < files[j].name })
	return files
}

// SDKDigest is "sha256:<hex>" over the names and contents of the SDK's files. It is part of
// every artefact's cache key, so changing the SDK rebuilds every node.
func SDKDigest() string {
	h := sha256.New()
	for _, f := range sdkFiles() {
		h.Write([]byte(f.name))
		h.Write([]byte{0})
		h.Write(f.data)
		h.Write([]byte{0})
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}
