// Package stats holds the statistics the compiler decides with: the exact McNemar test on paired
// outcomes (the Wilson interval is the runtime's, runtime/metric.Wilson). It owns only
// arithmetic; it must not run plans or know what an outcome means.
package stats
