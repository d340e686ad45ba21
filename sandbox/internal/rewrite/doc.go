// Package rewrite applies the post-link passes that make a guest module safe and cheap to run:
// MergeData (fewer data segments, faster instantiation), Meter (deterministic fuel) and
// StackLimit (bounded call depth). It edits modules only; it does not compile or run them.
//
// # Host contract
//
// A module rewritten with WithMeter or WithStackLimit imports functions from module "sgde"
// (abi.HostModule) and exports mutable globals. The host must provide, in its "sgde" host module:
//
//	out_of_fuel    () -> ()   (abi.OutOfFuel)    called when fuel is negative at a check
//	stack_overflow () -> ()   (abi.StackOverflow) called when the call depth exceeds the limit
//
// stack_overflow must not return: in wazero, panic with a sentinel error (for example
// ErrStackOverflow) and the error returned by api.Function.Call wraps it, so errors.Is tells it
// apart from the guest's own traps (Go emits unreachable itself); if it returns anyway, the
// guest executes unreachable right after the call. out_of_fuel either does not return (panic
// with ErrOutOfFuel: the budget is spent) or returns after adding fuel to "sgde_fuel", and the
// guest carries on from the check (a check at a loop header branches back to the loop and checks
// again before it charges the loop's run). A host can so hand a budget out in slices and, between
// slices, look at a deadline or let other goroutines run: a call running compiled guest code
// cannot be preempted by the Go scheduler, so this is where a long call gives the host control
// back. If it returns without adding fuel, the guest runs on to its next check, which calls
// out_of_fuel again.
//
// Metered modules export the mutable i64 global "sgde_fuel" (abi.FuelGlobal): the fuel left. The
// host sets it before a call and reads it after; fuel used = the fuel given (the value set plus
// what out_of_fuel added) - the value read. The value is
// negative after exhaustion (by at most the cost of one run or one sized operation). Costs are
// static per run of straight-line code and identical on every machine: see the Cost constants.
// Instantiate with wazero.ModuleConfig.WithStartFunctions() (none) so that the host can set the
// fuel before calling "_start"; the initial value given to WithMeter applies until then,
// including to a start section.
//
// Stack-limited modules export the mutable i32 global "sgde_depth" (abi.DepthGlobal): the current
// call depth of guest functions. A trap or a proc_exit unwinds frames without decrementing it, so
// a host that reuses an instance after one must set it to 0 before the next call.
//
// Rewrite errors wrap ErrInvalidModule when the input is malformed, exceeds a decoder limit or
// refers to a missing function, global, type, label or segment.
//
// The passes run in the order MergeData, Meter, StackLimit and the output is a deterministic
// function of the input and the Pipeline.
package rewrite
