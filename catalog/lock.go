package catalog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// LockFile is the file in the data folder that a running catalog (the
// server) holds locked, so that `blueprints reindex` can tell it runs.
const LockFile = "catalog.lock"

// ErrLocked is returned by LockData when another process holds the lock.
var ErrLocked = errors.New("the data folder is in use by a running blueprints serve")

// LockData takes the catalog lock of the data folder (an advisory lock on
// data/catalog.lock, released by the returned function or when the
// process dies, even by SIGKILL).
func LockData(data string) (unlock func(), err error) {
	p := filepath.Join(data, LockFile)
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lock file %s: %w", p, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("lock %s: %w", p, ErrLocked)
		}
		return nil, fmt.Errorf("lock %s: %w", p, err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
