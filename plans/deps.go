package plans

// Dependencies returns the ids of the nodes whose values node id reads directly: references in
// its templates and code inputs, and for a consensus its members. The order is that of first
// appearance; the result is a fresh slice.
func (p *Plan) Dependencies(id string) []string {
	deps := p.graph()[id]
	return append([]string(nil), deps...)
}

// ConsensusOf returns the id of the consensus node that replicates node id, or "".
func (p *Plan) ConsensusOf(id string) string {
	for i := range p.Nodes {
		if k := p.Nodes[i].Consensus; k != nil && p.Nodes[i].Substrate == SubstrateConsensus {
			for _, m := range k.Members {
				if m == id {
					return p.Nodes[i].ID
				}
			}
		}
	}
	return ""
}

// Order returns the ids of the top-level nodes (every node that is not a consensus member) in
// an order where each comes after everything it needs, including everything its consensus
// members read. Ties keep declaration order, so the order is deterministic. Call it on a valid
// plan; nodes on a cycle are left out.
func (p *Plan) Order() []string {
	unit := map[string]string{}
	for i := range p.Nodes {
		id := p.Nodes[i].ID
		unit[id] = id
		if c := p.ConsensusOf(id); c != "" {
			unit[id] = c
		}
	}
	g := p.graph()
	needs := map[string]map[string]bool{}
	for id, deps := range g {
		u := unit[id]
		if needs[u] == nil {
			needs[u] = map[string]bool{}
		}
		for _, d := range deps {
			if du, ok := unit[d]; ok && du != u {
				needs[u][du] = true
			}
		}
	}
	var order []string
	done := map[string]bool{}
	for progress := true; progress; {
		progress = false
		for i := range p.Nodes {
			id := p.Nodes[i].ID
			if unit[id] != id || done[id] {
				continue
			}
			ready := true
			for d := range needs[id] {
				ready = ready && done[d]
			}
			if ready {
				done[id] = true
				order = append(order, id)
				progress = true
			}
		}
	}
	return order
}

// MemberOrder returns the members of consensus id in an order where each member comes after
// the members it reads (the llm member first), ties in the order of the members list.
func (p *Plan) MemberOrder(id string) []string {
	n := p.Node(id)
	if n == nil || n.Consensus == nil {
		return nil
	}
	members := n.Consensus.Members
	in := map[string]bool{}
	for _, m := range members {
		in[m] = true
	}
	g := p.graph()
	var order []string
	done := map[string]bool{}
	for progress := true; progress; {
		progress = false
		for _, m := range members {
			if done[m] {
				continue
			}
			ready := true
			for _, d := range g[m] {
				ready = ready && (!in[d] || done[d])
			}
			if ready {
				done[m] = true
				order = append(order, m)
				progress = true
			}
		}
	}
	return order
}

// ExternalDependencies returns the top-level nodes a consensus needs before it can run: what
// its members and perturbations read outside the consensus, sorted.
func (p *Plan) ExternalDependencies(id string) []string {
	n := p.Node(id)
	if n == nil || n.Consensus == nil {
		return p.Dependencies(id)
	}
	in := map[string]bool{id: true}
	for _, m := range n.Consensus.Members {
		in[m] = true
	}
	g := p.graph()
	set := map[string]bool{}
	for m := range in {
		for _, d := range g[m] {
			if !in[d] {
				set[d] = true
			}
		}
	}
	return sortedKeys(set)
}

// EffectiveSampling merges the node's sampling over the plan defaults (fields the node leaves
// unset come from the defaults).
func (p *Plan) EffectiveSampling(n *Node) Sampling {
	var s Sampling
	if p.Defaults != nil && p.Defaults.Sampling != nil {
		s = *p.Defaults.Sampling
	}
	if n != nil && n.LLM != nil && n.LLM.Sampling != nil {
		o := n.LLM.Sampling
		if o.Temperature != nil {
			s.Temperature = o.Temperature
		}
		if o.TopP != nil {
			s.TopP = o.TopP
		}
		if o.MaxTokens != nil {
			s.MaxTokens = o.MaxTokens
		}
		if o.Seed != nil {
			s.Seed = o.Seed
		}
	}
	return s
}

// EffectiveLimits merges the node's limits over the plan defaults and the package defaults
// (DefaultFuel, DefaultMemoryMiB, DefaultMaxOutputBytes, DefaultCodeTimeout); every field of
// the result is set.
func (p *Plan) EffectiveLimits(n *Node) Limits {
	fuel, mem, out := uint64(DefaultFuel), uint32(DefaultMemoryMiB), DefaultMaxOutputBytes
	l := Limits{Fuel: &fuel, MemoryMiB: &mem, MaxOutputBytes: &out, Timeout: DefaultCodeTimeout.String()}
	merge := func(o *Limits) {
		if o == nil {
			return
		}
		if o.Fuel != nil {
			v := *o.Fuel
			l.Fuel = &v
		}
		if o.MemoryMiB != nil {
			v := *o.MemoryMiB
			l.MemoryMiB = &v
		}
		if o.MaxOutputBytes != nil {
			v := *o.MaxOutputBytes
			l.MaxOutputBytes = &v
		}
		if o.Timeout != "" {
			l.Timeout = o.Timeout
		}
	}
	if p.Defaults != nil {
		merge(p.Defaults.Limits)
	}
	if n != nil && n.Code != nil {
		merge(n.Code.Limits)
	}
	return l
}
