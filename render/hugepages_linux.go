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
// once, asking for huge pages when it spans at least one. The array starts
// on a huge page boundary and its last huge page is whole, so no part of
// it falls back to 4 KiB pages: the Go heap aligns big objects to 8 KiB
// only, and a 12 MB array would otherwise fault in about 2 MB at its two
// ends 4 KiB at a time. The padding is address space, never touched.
func largeSlice[T any](n, capacity int) []T {
	var zero T
	size := unsafe.Sizeof(zero)
	if size == 0 || uintptr(capacity)*size < hugePage {
		return make([]T, n, capacity)
	}
	pad := int(hugePage/size) + 1 // elements in a huge page, and one
	raw := make([]T, capacity+2*pad)
	start := uintptr(unsafe.Pointer(unsafe.SliceData(raw)))
	aligned := (start + hugePage - 1) &^ (hugePage - 1)
	off := int((aligned - start + size - 1) / size)
	s := raw[off : off+n : off+capacity]
	// Advise from the boundary to the end of the huge page holding the
	// last element: the padding after it is part of raw.
	end := (start + uintptr(off+capacity)*size + hugePage - 1) &^ (hugePage - 1)
	p := unsafe.Add(unsafe.Pointer(unsafe.SliceData(raw)), aligned-start)
	_ = syscall.Madvise(unsafe.Slice((*byte)(p), end-aligned), syscall.MADV_HUGEPAGE)
	return s
}

// endLargeSlice withdraws largeSlice's request for s's memory (the whole
// huge pages inside it).
func endLargeSlice[T any](s []T) {
	var zero T
	size := uintptr(cap(s)) * unsafe.Sizeof(zero)
	if size < hugePage {
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
	_ = syscall.Madvise(b, syscall.MADV_NOHUGEPAGE)
}

// frameSamples returns n zeroed samples for a frame. A big frame gets a
// mapping of its own, starting on a huge page boundary and asked for huge
// pages before anything touches it; release unmaps it (nil for memory
// of the Go heap). A frame made in the Go heap could land on memory the
// heap used before (its first collection frees what start-up allocated):
// the heap then clears the whole array as it hands it out, before
// largeSlice asks for huge pages, so the frame faulted in 4 KiB at a
// time: some 3,300 faults and 9 ms of CPU more for a 512-pixel preview.
func frameSamples(n int) (samples []uint32, release func()) {
	size := uintptr(n) * unsafe.Sizeof(uint32(0))
	if size < hugePage {
		return make([]uint32, n), nil
	}
	whole := (size + hugePage - 1) &^ (hugePage - 1) // the huge pages it spans
	mem, err := syscall.Mmap(-1, 0, int(whole+hugePage), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
	if err != nil {
		return largeSlice[uint32](n, n), nil
	}
	start := uintptr(unsafe.Pointer(unsafe.SliceData(mem)))
	off := (hugePage - start%hugePage) % hugePage
	// An error (THP disabled, an old kernel) only means small pages.
	_ = syscall.Madvise(mem[off:off+whole], syscall.MADV_HUGEPAGE)
	samples = unsafe.Slice((*uint32)(unsafe.Pointer(&mem[off])), n)
	return samples, func() { _ = syscall.Munmap(mem) }
}
