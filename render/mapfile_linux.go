package render

import (
	"os"
	"syscall"
)

// mapFile maps the first size bytes of f read-only, for reading straight
// from the page cache without copying; ok is false where it cannot (the
// caller then reads the file). unmap releases the mapping.
func mapFile(f *os.File, size int64) (data []byte, unmap func(), ok bool) {
	if size <= 0 || int64(int(size)) != size {
		return nil, nil, false
	}
	conn, err := f.SyscallConn()
	if err != nil {
		return nil, nil, false
	}
	var merr error
	if err := conn.Control(func(fd uintptr) {
		data, merr = syscall.Mmap(int(fd), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	}); err != nil || merr != nil {
		return nil, nil, false
	}
	return data, func() { _ = syscall.Munmap(data) }, true
}
