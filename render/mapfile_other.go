//go:build !linux

package render

import "os"

// mapFile maps files on Linux only (see mapfile_linux.go); elsewhere the
// caller reads them.
func mapFile(f *os.File, size int64) (data []byte, unmap func(), ok bool) {
	return nil, nil, false
}
