// Package storage keeps large blobs (Git LFS objects, part previews and
// other derived files) behind one small interface, Blobs, with a local-disk
// implementation (fs, the default, under the data folder) and an
// S3-compatible one (s3). Keys are slash-separated and content-addressed by
// the callers, e.g. "lfs/ab/cd/<sha256>" or "previews/<blob>/<size>.png".
// Open picks the implementation from the serve command's --storage
// setting; optional interfaces (RangeGetter, Presigner, Checker) add what
// only some stores can do; storagetest.Run is the conformance suite that
// every implementation passes.
package storage

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"time"
)

// ErrNotExist is returned (possibly wrapped) for a key that is not stored.
// errors.Is(err, fs.ErrNotExist) also holds for it.
var ErrNotExist = notExist{}

type notExist struct{}

func (notExist) Error() string        { return "blob does not exist" }
func (notExist) Is(target error) bool { return target == fs.ErrNotExist }

// ErrInvalidKey is returned for a key that is empty, absolute, or tries to
// escape the store (".." segments, backslashes, NUL bytes).
var ErrInvalidKey = errors.New("invalid blob key")

// ErrUnavailable wraps failures of the backing service (an S3 server that is
// down); the HTTP layer maps it to 503.
var ErrUnavailable = errors.New("blob storage unavailable")

// Info describes a stored blob.
type Info struct {
	Key     string
	Size    int64
	ModTime time.Time
}

// Blobs stores immutable-by-convention blobs by key. Implementations are
// safe for concurrent use; a Put becomes visible to readers only once it has
// completed (readers never see a partial blob), and concurrent Puts of the
// same key leave one complete value. A Put that fails (read error, wrong
// size, cancelled context, unavailable backend) leaves nothing behind.
// Keys are checked with CheckKey; a bad one gives an error wrapping
// ErrInvalidKey. A missing blob gives an error wrapping ErrNotExist.
type Blobs interface {
	// Put stores r's bytes under key. size is the length if known, or -1;
	// when it is known and r yields a different number of bytes, Put fails
	// and stores nothing.
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	// Get opens the blob for reading; the caller closes it.
	Get(ctx context.Context, key string) (io.ReadCloser, Info, error)
	// Stat reports the blob's size and time without reading it.
	Stat(ctx context.Context, key string) (Info, error)
	// Delete removes the blob; deleting a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// List calls fn for every blob whose key starts with prefix, in key order.
	List(ctx context.Context, prefix string, fn func(Info) error) error
}

// RangeGetter is implemented by stores that can read part of a blob
// (used for HTTP range requests on large files).
type RangeGetter interface {
	// GetRange opens length bytes of the blob starting at offset (to the
	// end when length < 0). A range past the end is cut short at the end
	// of the blob; callers that must answer 416 check the size with Stat.
	GetRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error)
}

// Checker is implemented by stores that can tell whether their backing
// service answers and is set up (for start-up and /healthz). The error
// wraps ErrUnavailable when the service cannot be reached; a missing
// bucket is a plain error naming it.
type Checker interface {
	Check(ctx context.Context) error
}

// Presigner is implemented by stores that can hand out a time-limited URL
// for a direct download (S3), so large downloads bypass the server.
type Presigner interface {
	// PresignGet returns a URL that downloads the blob without credentials
	// until ttl has passed.
	PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error)
}
