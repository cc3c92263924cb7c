// Package startgc keeps the garbage collector off while the program's
// packages are initialised; main calls Done first thing to turn it back
// on as GOGC asks.
//
// The blueprints binary links many libraries whose initialisation
// allocates several megabytes (compiled regular expressions, tables), so
// the collector ran a cycle before main started: a few milliseconds of
// every command's start, and of every git hook the server runs. Package
// main imports this package, which needs nothing but runtime/debug, os
// and strconv: Go initialises packages that are ready in import-path
// order, so it is initialised before those libraries. Nothing enters or
// leaves but the collector's setting.
package startgc

import (
	"os"
	"runtime/debug"
	"strconv"
)

func init() { debug.SetGCPercent(-1) }

// Done gives the collector the target the runtime takes from GOGC: off
// for "off", the percentage GOGC holds, else 100.
func Done() { debug.SetGCPercent(percent(os.Getenv("GOGC"))) }

// percent is the collector's target for GOGC's value gogc.
func percent(gogc string) int {
	if gogc == "off" {
		return -1
	}
	if p, err := strconv.Atoi(gogc); err == nil {
		return p
	}
	return 100
}
