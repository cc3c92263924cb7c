package render

// prefetch asks the CPU to bring the cache line at addr into its caches
// without waiting for it: unlike a load, it does not hold up the
// instructions after it, so many misses overlap. Any address is safe.
//
//go:noescape
func prefetch(addr uintptr)
