package metrics

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/blueprints-hq/blueprints/storage"
)

// The op label values of blueprints_storage_errors_total. "read" is a
// failure while reading a blob that Get or GetRange opened.
var storageOps = []string{"put", "get", "read", "stat", "delete", "list", "check", "presign"}

// Blobs wraps b so that its failures are counted in
// blueprints_storage_errors_total by operation. A missing blob
// (storage.ErrNotExist) is an answer, not a failure, and neither is an
// error after the caller's context ended (the client went away). The
// result keeps b's optional abilities: RangeGetter and Checker always
// (falling back to Get and to a Stat probe when b lacks them), Presigner
// only when b has it, since callers test for it to choose presigned URLs.
// With a nil m, Blobs returns b unchanged.
func (m *Metrics) Blobs(b storage.Blobs) storage.Blobs {
	if m == nil {
		return b
	}
	mb := &meteredBlobs{inner: b, m: m}
	if p, ok := b.(storage.Presigner); ok {
		return &meteredPresigner{meteredBlobs: mb, presigner: p}
	}
	return mb
}

// meteredBlobs is the decorator Blobs returns.
type meteredBlobs struct {
	inner storage.Blobs
	m     *Metrics
}

var (
	_ storage.Blobs       = (*meteredBlobs)(nil)
	_ storage.RangeGetter = (*meteredBlobs)(nil)
	_ storage.Checker     = (*meteredBlobs)(nil)
	_ storage.Presigner   = (*meteredPresigner)(nil)
)

// count records err against op unless it is not a storage failure.
func (b *meteredBlobs) count(ctx context.Context, op string, err error) error {
	if err == nil || errors.Is(err, storage.ErrNotExist) || ctx.Err() != nil {
		return err
	}
	b.m.storageErrors.WithLabelValues(op).Inc()
	return err
}

// Put implements storage.Blobs.
func (b *meteredBlobs) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	cr := &callerReader{r: r}
	err := b.inner.Put(ctx, key, cr, size)
	if cr.err != nil {
		// The content being stored broke off or did not match its id:
		// the sender's failure, not the store's.
		return err
	}
	return b.count(ctx, "put", err)
}

// callerReader remembers the error the caller's reader gave, so that Put
// does not count it as a storage failure.
type callerReader struct {
	r   io.Reader
	err error
}

func (c *callerReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}

// Get implements storage.Blobs.
func (b *meteredBlobs) Get(ctx context.Context, key string) (io.ReadCloser, storage.Info, error) {
	rc, info, err := b.inner.Get(ctx, key)
	if err != nil {
		return rc, info, b.count(ctx, "get", err)
	}
	return &meteredReader{ReadCloser: rc, ctx: ctx, b: b}, info, nil
}

// GetRange implements storage.RangeGetter, through Get when the wrapped
// store cannot read ranges.
func (b *meteredBlobs) GetRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	rc, err := storage.GetRange(ctx, b.inner, key, offset, length)
	if err != nil {
		return rc, b.count(ctx, "get", err)
	}
	return &meteredReader{ReadCloser: rc, ctx: ctx, b: b}, nil
}

// meteredReader counts a failure while reading an opened blob, once.
type meteredReader struct {
	io.ReadCloser
	ctx     context.Context
	b       *meteredBlobs
	counted bool
}

func (r *meteredReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if err != nil && err != io.EOF && !r.counted {
		r.counted = true
		r.b.count(r.ctx, "read", err)
	}
	return n, err
}

// Stat implements storage.Blobs.
func (b *meteredBlobs) Stat(ctx context.Context, key string) (storage.Info, error) {
	info, err := b.inner.Stat(ctx, key)
	return info, b.count(ctx, "stat", err)
}

// Delete implements storage.Blobs.
func (b *meteredBlobs) Delete(ctx context.Context, key string) error {
	return b.count(ctx, "delete", b.inner.Delete(ctx, key))
}

// List implements storage.Blobs. An error fn returns is the caller's, not
// a storage failure.
func (b *meteredBlobs) List(ctx context.Context, prefix string, fn func(storage.Info) error) error {
	var fnErr error
	err := b.inner.List(ctx, prefix, func(i storage.Info) error {
		fnErr = fn(i)
		return fnErr
	})
	if fnErr != nil && errors.Is(err, fnErr) {
		return err
	}
	return b.count(ctx, "list", err)
}

// Check implements storage.Checker: the wrapped store's Check, or a Stat
// probe when it has none (storage.Check).
func (b *meteredBlobs) Check(ctx context.Context) error {
	return b.count(ctx, "check", storage.Check(ctx, b.inner))
}

// meteredPresigner is meteredBlobs over a store that presigns URLs.
type meteredPresigner struct {
	*meteredBlobs
	presigner storage.Presigner
}

// PresignGet implements storage.Presigner.
func (b *meteredPresigner) PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error) {
	u, err := b.presigner.PresignGet(ctx, key, ttl)
	return u, b.count(ctx, "presign", err)
}
