package render

import (
	"syscall"
	"unsafe"
)

// Big arrays (the facet list, the welding tables, topology's buckets, the
// frame) are filled right after they are made, so their first touch costs a
// page fault per 4 KiB. Under virtualisation a fault costs microseconds: a
// 1M-facet part faults in some 50 MB, which took tens of milliseconds, as
// long as the parsing. Transparent huge pages make that one fault per 2 MiB.
// Where the system offers them only on request (the common "madvise"
// setting), largeSlice asks for them on the arrays it makes, and
// endLargeSlice withdraws the request once an array is filled or dead, so
// memory the Go heap later reuses for small objects is not backed by huge
// pages it would not fill.

const hugePage = 2 << 20

// largeSlice is make([]T, n, capacity) for arrays that will be filled at
// once, asking for huge pages when it spans at least two of them.
func largeSlice[T any](n, capacity int) []T {
	s := make([]T, n, capacity)
	hugeAdvice(s, syscall.MADV_HUGEPAGE)
	return s
}

// endLargeSlice withdraws largeSlice's request for s's memory.
func endLargeSlice[T any](s []T) {
	hugeAdvice(s, syscall.MADV_NOHUGEPAGE)
}

func hugeAdvice[T any](s []T, advice int) {
	var zero T
	size := uintptr(cap(s)) * unsafe.Sizeof(zero)
	if size < 2*hugePage {
		return
	}
	p := unsafe.Pointer(unsafe.SliceData(s[:cap(s)]))
	start := uintptr(p)
	lo := (start + hugePage - 1) &^ (hugePage - 1)
	hi := (start + size) &^ (hugePage - 1)
	if hi <= lo {
		return
	}
	// The range lies inside s, which the Go heap gave to no one else; an
	// error (an old kernel, THP disabled) only means the advice is not taken.
	b := unsafe.Slice((*byte)(unsafe.Add(p, lo-start)), hi-lo)
	_ = syscall.Madvise(b, advice)
}
