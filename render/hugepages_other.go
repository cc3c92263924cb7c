//go:build !linux

package render

// largeSlice is make([]T, n, capacity); huge pages are only requested on
// Linux (see hugepages_linux.go).
func largeSlice[T any](n, capacity int) []T { return make([]T, n, capacity) }

// endLargeSlice does nothing off Linux.
func endLargeSlice[T any](s []T) {}

// frameSamples returns n zeroed samples for a frame, from the Go heap;
// release is nil.
func frameSamples(n int) (samples []uint32, release func()) { return make([]uint32, n), nil }
