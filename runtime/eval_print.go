package runtime

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// Print writes the report as `sgde eval` shows it; results names the results file.
func (r *EvalReport) Print(w io.Writer, results string) {
	fmt.Fprintf(w, "plan %s, metric %s: %d of %d items", r.Plan, r.Metric, r.Accuracy.N, r.Total)
	if r.Resumed > 0 {
		fmt.Fprintf(w, " (%d resumed)", r.Resumed)
	}
	if r.Rerun > 0 {
		fmt.Fprintf(w, " (%d run again: they had failed for reasons outside the plan)", r.Rerun)
	}
	fmt.Fprintln(w)
	if r.CacheWriteErrors > 0 {
		fmt.Fprintf(w, "WARNING: %d student answers could not be stored in the response cache (results are right; a replay will miss them)\n", r.CacheWriteErrors)
	}
	if r.CacheReadErrors > 0 {
		fmt.Fprintf(w, "WARNING: %d response cache entries were unreadable or failed their checksum (asked again)\n", r.CacheReadErrors)
	}
	pct := func(s Score) string {
		return fmt.Sprintf("%.1f%% (%d/%d), 95%% CI [%.1f%%, %.1f%%]", 100*s.Accuracy, s.Correct, s.N, 100*s.CI95Low, 100*s.CI95High)
	}
	fmt.Fprintf(w, "accuracy            %s; %s\n", pct(r.Accuracy), r.Answers)
	if r.Subset != nil {
		fmt.Fprintf(w, "  without suspects  %s\n", pct(*r.Subset))
	}
	fmt.Fprintf(w, "parse failures      %.1f%%\n", 100*r.ParseFailureRate)
	fmt.Fprintf(w, "errors              %d", r.Errors)
	if len(r.ErrorKinds) > 0 {
		kinds := make([]string, 0, len(r.ErrorKinds))
		for k := range r.ErrorKinds {
			kinds = append(kinds, k)
		}
		sort.Slice(kinds, func(i, j int) bool {
			if r.ErrorKinds[kinds[i]] != r.ErrorKinds[kinds[j]] {
				return r.ErrorKinds[kinds[i]] > r.ErrorKinds[kinds[j]]
			}
			return kinds[i] < kinds[j]
		})
		parts := make([]string, len(kinds))
		for i, k := range kinds {
			parts[i] = fmt.Sprintf("%s %d", k, r.ErrorKinds[k])
		}
		fmt.Fprintf(w, " (%s)", strings.Join(parts, ", "))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "plan calls/item     %.2f (student completions the plan asked for, cached or not)\n", r.PlanCallsPerItem)
	fmt.Fprintf(w, "student requests    %d sent (%.2f/item), %d retries, %d cache hits\n", r.Requests, r.CallsPerItem, r.Retries, r.CacheHits)
	fmt.Fprintf(w, "tokens/item         %.1f\n", r.TokensPerItem)
	fmt.Fprintf(w, "latency             p50 %.1fms, p95 %.1fms\n", r.LatencyP50MS, r.LatencyP95MS)
	printRouters(w, r.Routers, r.Answers)
	if r.RouteCheckRequests > 0 {
		fmt.Fprintf(w, "route checks        %d student requests (other branches run on wrong items; not in the figures above)\n", r.RouteCheckRequests)
	}
	fmt.Fprintf(w, "results             %s\n", results)
}
