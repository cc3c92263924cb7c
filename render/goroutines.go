package render

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
)

// Reading, welding, topology and drawing share big meshes between at most
// two goroutines (the machines this runs on have few cores, and two
// already overlap memory waits well).

// cores is how many goroutines share a big mesh: two, or one where only
// one core is there.
func cores() int { return min(2, runtime.GOMAXPROCS(0)) }

// parallel runs f(0)..f(workers-1), each on its own goroutine but the last,
// and waits for all. A panic in any of them is raised again on the
// caller's goroutine, where the caller can recover it (the catalog turns
// it into one failed file instead of a dead server).
func parallel(workers int, f func(h int)) {
	var wg sync.WaitGroup
	failed := make([]*goroutinePanic, workers)
	for h := range workers - 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer catchPanic(&failed[h])
			f(h)
		}()
	}
	func() {
		defer wg.Wait()
		f(workers - 1)
	}()
	for _, p := range failed {
		p.raise()
	}
}

// goroutinePanic is a panic caught on a helper goroutine, with its stack.
type goroutinePanic struct {
	value any
	stack []byte
}

// catchPanic, deferred on a helper goroutine, stores a panic in *to.
func catchPanic(to **goroutinePanic) {
	if v := recover(); v != nil {
		*to = caught(v)
	}
}

// caught wraps a recovered panic value with the stack of the goroutine
// recovering it (call it in the deferred function).
func caught(v any) *goroutinePanic {
	return &goroutinePanic{value: v, stack: debug.Stack()}
}

// raise panics again with the caught value and its goroutine's stack;
// it does nothing for nil.
func (p *goroutinePanic) raise() {
	if p != nil {
		panic(fmt.Sprintf("%v\n\non a helper goroutine:\n%s", p.value, p.stack))
	}
}
