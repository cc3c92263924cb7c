package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// GetRange opens length bytes of the blob at key starting at offset (to
// the end when length < 0): with b's own GetRange when it is a
// RangeGetter, else by reading the whole blob past offset. As with
// RangeGetter, a range past the end is cut short at the end of the blob.
func GetRange(ctx context.Context, b Blobs, key string, offset, length int64) (io.ReadCloser, error) {
	if rg, ok := b.(RangeGetter); ok {
		return rg.GetRange(ctx, key, offset, length)
	}
	rc, _, err := b.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	if offset > 0 {
		if _, err := io.CopyN(io.Discard, rc, offset); err != nil && err != io.EOF {
			rc.Close()
			return nil, fmt.Errorf("skip to byte %d of %s: %w", offset, key, err)
		}
	}
	if length < 0 {
		return rc, nil
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(rc, length), rc}, nil
}

// probeKey is a key Check looks up and that is never stored.
const probeKey = "healthz/probe"

// Check reports whether b's backing service answers: b's own Check when it
// is a Checker, else a Stat of a key that is never stored, for which
// ErrNotExist is the healthy answer.
func Check(ctx context.Context, b Blobs) error {
	if c, ok := b.(Checker); ok {
		return c.Check(ctx)
	}
	if _, err := b.Stat(ctx, probeKey); err != nil && !errors.Is(err, ErrNotExist) {
		return err
	}
	return nil
}
