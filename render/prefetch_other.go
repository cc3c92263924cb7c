//go:build !amd64

package render

// prefetch does nothing where there is no assembly for it.
func prefetch(addr uintptr) {}
