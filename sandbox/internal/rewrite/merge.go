package rewrite

import (
	"sort"

	"github.com/sgde-project/sgde/internal/wasmbin"
)

const pageSize = 65536

// mergeData merges, per defined memory, the active segments with constant offsets. A memory is
// left alone unless every active segment targeting it has a constant offset and lies within the
// memory's initial size: then no segment can trap at instantiation, so the order of writes only
// matters where segments overlap, which the merge reproduces by applying them in order.
func mergeData(m *wasmbin.Module, maxGap uint32) error {
	importedMem := m.NumImported(wasmbin.KindMemory)
	type seg struct {
		idx int
		off uint32
		len uint32
	}
	mapping := make([]int, len(m.Data)) // old index -> new index
	merged := make([]int, len(m.Data))  // old index -> cluster id+1 (0: not merged)
	type cluster struct {
		mem        uint32
		start, end uint32
		first      int // smallest member index
		image      []byte
	}
	var clusters []*cluster
	for mi := importedMem; mi < importedMem+uint32(len(m.Memories)); mi++ {
		bound := uint64(m.Memories[mi-importedMem].Min) * pageSize
		var segs []seg
		ok := true
		for i, d := range m.Data {
			if d.Mode != wasmbin.ModeActive || d.Memory != mi {
				continue
			}
			off, isConst := wasmbin.ConstI32(d.Offset)
			if !isConst || uint64(uint32(off))+uint64(len(d.Init)) > bound {
				ok = false
				break
			}
			segs = append(segs, seg{idx: i, off: uint32(off), len: uint32(len(d.Init))})
		}
		if !ok || len(segs) < 2 {
			continue
		}
		sort.SliceStable(segs, func(a, b int) bool { return segs[a].off < segs[b].off })
		var cur *cluster
		for _, s := range segs {
			if cur != nil {
				gap := int64(s.off) - int64(cur.end)
				if gap <= int64(maxGap) || gap <= int64(segmentOverhead(s.off, s.len)) {
					if e := s.off + s.len; e > cur.end {
						cur.end = e
					}
					cur.first = min(cur.first, s.idx)
					merged[s.idx] = len(clusters)
					continue
				}
			}
			cur = &cluster{mem: mi, start: s.off, end: s.off + s.len, first: s.idx}
			clusters = append(clusters, cur)
			merged[s.idx] = len(clusters)
		}
	}
	if len(clusters) == 0 {
		return nil
	}
	for _, c := range clusters {
		c.image = make([]byte, c.end-c.start)
	}
	for i, d := range m.Data {
		if merged[i] == 0 {
			continue
		}
		c := clusters[merged[i]-1]
		off, _ := wasmbin.ConstI32(d.Offset)
		copy(c.image[uint32(off)-c.start:], d.Init)
	}
	out := make([]wasmbin.Data, 0, len(m.Data))
	clusterIndex := make([]int, len(clusters))
	for i, d := range m.Data {
		if merged[i] == 0 {
			mapping[i] = len(out)
			out = append(out, d)
			continue
		}
		ci := merged[i] - 1
		c := clusters[ci]
		if c.first == i {
			clusterIndex[ci] = len(out)
			nd := wasmbin.Data{Mode: wasmbin.ModeActive, Memory: c.mem, Offset: wasmbin.ConstExprI32(int32(c.start)), Init: c.image}
			if c.mem != 0 {
				nd.Flags = 2
			}
			out = append(out, nd)
		}
	}
	for i := range m.Data {
		if merged[i] != 0 {
			// Active segments are dropped after instantiation, so any dropped segment behaves
			// the same in memory.init and data.drop: the cluster's is as good as the original.
			mapping[i] = clusterIndex[merged[i]-1]
		}
	}
	identity := len(out) == len(m.Data)
	for i, n := range mapping {
		identity = identity && i == n
	}
	m.Data = out
	if m.DataCount != nil {
		n := uint32(len(out))
		m.DataCount = &n
	}
	if identity {
		return nil
	}
	m.DropNameSubsection(9) // data names refer to the old segment indices
	return renumberData(m, mapping)
}

// segmentOverhead is the encoded size of an active segment header at off with length n: the
// bytes saved by filling a gap instead of starting a new segment.
func segmentOverhead(off, n uint32) int {
	return 1 + len(wasmbin.ConstExprI32(int32(off))) + len(wasmbin.AppendULEB(nil, uint64(n)))
}

// renumberData rewrites the data indices of memory.init and data.drop.
func renumberData(m *wasmbin.Module, mapping []int) error {
	ir := wasmbin.NewInstrReader(nil, 0)
	var in wasmbin.Instr
	for fi := range m.Code {
		body := m.Code[fi].Body
		ir.Reset(body, 0)
		var out []byte
		copied := 0
		for {
			if err := ir.Next(&in); err != nil {
				return err
			}
			if (in.Op == wasmbin.OpMemoryInit || in.Op == wasmbin.OpDataDrop) && int64(in.Index) < int64(len(mapping)) {
				if n := uint32(mapping[in.Index]); n != in.Index {
					out = append(out, body[copied:in.Start]...)
					x := in
					x.Index = n
					out = wasmbin.AppendInstr(out, &x)
					copied = in.End
				}
			}
			if ir.Depth() == 0 {
				break
			}
		}
		if out != nil {
			m.Code[fi].Body = append(out, body[copied:]...)
		}
	}
	return nil
}
