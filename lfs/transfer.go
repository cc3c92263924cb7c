package lfs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/blueprints-hq/blueprints/internal/httprange"
	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/storage"
)

// ErrContentMismatch is returned (wrapped) by a VerifyingReader whose
// content does not hash to the object id or has the wrong size.
var ErrContentMismatch = errors.New("content does not match the object id")

// VerifyingReader passes an upload through while hashing and counting it.
// At the end of the content it returns io.EOF only if the bytes hash to the
// object id (and, when the size is known, are exactly that long); otherwise
// it returns an error wrapping ErrContentMismatch or io.ErrUnexpectedEOF,
// so a storage Put reading it fails and stores nothing.
type VerifyingReader struct {
	r    io.Reader
	oid  string
	size int64 // -1: unknown
	h    hash.Hash
	n    int64
	err  error // sticky result once the end is reached
	ok   bool
}

// NewVerifyingReader wraps r, the content of object oid; size is its
// length if known, or -1.
func NewVerifyingReader(r io.Reader, oid string, size int64) *VerifyingReader {
	return &VerifyingReader{r: r, oid: oid, size: size, h: sha256.New()}
}

// Read implements io.Reader.
func (v *VerifyingReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	if v.size >= 0 {
		// Read at most one byte past the size, to notice overlong input.
		if rest := v.size - v.n + 1; int64(len(p)) > rest {
			p = p[:rest]
		}
	}
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	switch {
	case v.size >= 0 && v.n > v.size:
		v.err = fmt.Errorf("upload %s: more than %d bytes: %w", v.oid, v.size, ErrContentMismatch)
		return 0, v.err
	case v.size >= 0 && v.n == v.size:
		// Decide now rather than wait for an EOF that a consumer reading
		// exactly size bytes would never ask for.
		if v.finish() != io.EOF {
			return 0, v.err
		}
		return n, io.EOF
	case err == io.EOF:
		if v.size >= 0 {
			v.err = fmt.Errorf("upload %s: got %d of %d bytes: %w", v.oid, v.n, v.size, io.ErrUnexpectedEOF)
			return 0, v.err
		}
		if v.finish() != io.EOF {
			return 0, v.err
		}
		return n, io.EOF
	case err != nil:
		v.err = err
		return n, err
	}
	return n, nil
}

// finish checks the digest and sets the sticky result.
func (v *VerifyingReader) finish() error {
	if sum := hex.EncodeToString(v.h.Sum(nil)); sum != v.oid {
		v.err = fmt.Errorf("upload %s: the %d bytes sent have sha256 %s: %w", v.oid, v.n, sum, ErrContentMismatch)
		return v.err
	}
	v.ok = true
	v.err = io.EOF
	return io.EOF
}

// Verified reports whether the whole content was read and matched.
func (v *VerifyingReader) Verified() bool { return v.ok }

// N is the number of bytes read so far.
func (v *VerifyingReader) N() int64 { return v.n }

// upload receives an object (basic transfer PUT), streaming it into the
// blob store through a VerifyingReader; ownership is recorded only once
// the bytes are stored and verified.
func (s *Server) upload(c echo.Context) error {
	oid := c.Param("oid")
	if !ValidOID(oid) {
		return s.writeError(c, fail(http.StatusUnprocessableEntity, "invalid object id %q: want a SHA-256 in 64 lower-case hex digits", oid))
	}
	t, err := s.resolve(c, true, true)
	if err != nil {
		return s.writeError(c, err)
	}
	req := c.Request()
	ctx := req.Context()
	key := BlobKey(oid)
	body := NewVerifyingReader(req.Body, oid, req.ContentLength)
	defer func() { s.countBytes("in", body.N()) }()

	info, err := s.blobs.Stat(ctx, key)
	switch {
	case err == nil:
		// Stored already (by another project, or earlier): the uploader
		// must still prove it has the bytes, and they are never written
		// over the good copy.
		if _, err := io.Copy(io.Discard, body); err != nil {
			return s.writeError(c, uploadError(err))
		}
		if !body.Verified() || body.N() != info.Size {
			return s.writeError(c, fail(http.StatusUnprocessableEntity, "upload %s: content does not match the object id", oid))
		}
	case errors.Is(err, storage.ErrNotExist):
		if err := s.blobs.Put(ctx, key, body, req.ContentLength); err != nil {
			if body.err != nil && body.err != io.EOF {
				return s.writeError(c, uploadError(body.err))
			}
			if ctx.Err() != nil {
				return s.writeError(c, fail(http.StatusBadRequest, "upload %s: the client went away", oid))
			}
			return s.writeError(c, s.storageError("store object: nothing was stored", err))
		}
		if !body.Verified() {
			// The store stopped reading early without failing: what it
			// holds is unverified, so it must go.
			s.blobs.Delete(ctx, key)
			return s.writeError(c, fail(http.StatusUnprocessableEntity, "upload %s: content was not fully received", oid))
		}
	default:
		return s.writeError(c, s.storageError("look up object: nothing was stored", err))
	}
	if err := s.grant(ctx, t, oid, body.N()); err != nil {
		return s.writeError(c, err)
	}
	if t.pending {
		// Claims on projects whose push never came do not live forever.
		if _, err := s.store.ExpirePendingLFSObjects(ctx, time.Now().Add(-pendingTTL)); err != nil {
			s.log.Warn("expire pending lfs uploads", "err", err)
		}
	}
	return c.NoContent(http.StatusOK)
}

// pendingTTL is how long an upload into a project that does not exist yet
// waits for the push that creates it.
const pendingTTL = 7 * 24 * time.Hour

// uploadError maps a failure reading an upload onto the status the client
// gets: 422 for content that does not match its id, 400 otherwise.
func uploadError(err error) *httpError {
	if errors.Is(err, ErrContentMismatch) {
		return fail(http.StatusUnprocessableEntity, "%v", err)
	}
	return fail(http.StatusBadRequest, "upload incomplete: %v", err)
}

// verifyRequest is the body of the verify action.
type verifyRequest struct {
	OID  string `json:"oid"`
	Size int64  `json:"size"`
}

// verify confirms, after an upload, that the project owns the object with
// that size and that it is stored.
func (s *Server) verify(c echo.Context) error {
	var req verifyRequest
	if err := decodeJSON(c, &req); err != nil {
		return s.writeError(c, err)
	}
	if !ValidOID(req.OID) {
		return s.writeError(c, fail(http.StatusUnprocessableEntity, "invalid object id %q: want a SHA-256 in 64 lower-case hex digits", req.OID))
	}
	t, err := s.resolve(c, true, true)
	if err != nil {
		return s.writeError(c, err)
	}
	ctx := c.Request().Context()
	owned, err := s.owns(ctx, t, []string{req.OID})
	if err != nil {
		return s.writeError(c, err)
	}
	size, ok := owned[req.OID]
	if !ok {
		return s.writeError(c, fail(http.StatusNotFound, "object %s was not uploaded to this project", req.OID))
	}
	if size != req.Size {
		return s.writeError(c, fail(http.StatusUnprocessableEntity, "object %s has %d bytes, not %d", req.OID, size, req.Size))
	}
	info, err := s.blobs.Stat(ctx, BlobKey(req.OID))
	if errors.Is(err, storage.ErrNotExist) || err == nil && info.Size != size {
		return s.writeError(c, fail(http.StatusNotFound, "object %s is not stored; upload it again", req.OID))
	}
	if err != nil {
		return s.writeError(c, s.storageError("look up object", err))
	}
	return writeJSON(c, http.StatusOK, struct{}{})
}

// download streams an object the project owns (basic transfer GET), with
// Content-Length and single-range support.
func (s *Server) download(c echo.Context) error {
	oid := c.Param("oid")
	if !ValidOID(oid) {
		return s.writeError(c, fail(http.StatusUnprocessableEntity, "invalid object id %q: want a SHA-256 in 64 lower-case hex digits", oid))
	}
	t, err := s.resolve(c, false, false)
	if err != nil {
		return s.writeError(c, err)
	}
	ctx := c.Request().Context()
	if _, err := s.store.LFSObject(ctx, t.project.ID, oid); errors.Is(err, store.ErrNotFound) {
		return s.writeError(c, fail(http.StatusNotFound, "object %s does not exist in %s", oid, t.project.FullName()))
	} else if err != nil {
		return s.writeError(c, err)
	}
	key := BlobKey(oid)
	if c.Request().Method == http.MethodHead {
		info, err := s.blobs.Stat(ctx, key)
		if errors.Is(err, storage.ErrNotExist) {
			return s.writeError(c, fail(http.StatusNotFound, "object %s is missing from blob storage", oid))
		}
		if err != nil {
			return s.writeError(c, s.storageError("look up object", err))
		}
		h := c.Response().Header()
		h.Set(echo.HeaderContentType, "application/octet-stream")
		h.Set("Accept-Ranges", "bytes")
		h.Set(echo.HeaderContentLength, strconv.FormatInt(info.Size, 10))
		return c.NoContent(http.StatusOK)
	}
	r, info, err := s.openRange(ctx, key, c.Request().Header.Get("Range"))
	if errors.Is(err, storage.ErrNotExist) {
		return s.writeError(c, fail(http.StatusNotFound, "object %s is missing from blob storage", oid))
	}
	var he *httpError
	if errors.As(err, &he) {
		if he.code == http.StatusRequestedRangeNotSatisfiable {
			c.Response().Header().Set("Content-Range", httprange.Unsatisfied(info.Size))
		}
		return s.writeError(c, he)
	}
	if err != nil {
		return s.writeError(c, s.storageError("read object", err))
	}
	defer r.Close()
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "application/octet-stream")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Accept-Ranges", "bytes")
	h.Set("ETag", `"`+oid+`"`)
	h.Set(echo.HeaderContentLength, strconv.FormatInt(r.length, 10))
	status := http.StatusOK
	if r.partial {
		h.Set("Content-Range", httprange.Range{Start: r.start, Length: r.length}.ContentRange(info.Size))
		status = http.StatusPartialContent
	}
	c.Response().WriteHeader(status)
	// Large reads and writes: fewer system calls than io.Copy's 32 KiB,
	// which is what keeps a proxied download near the store's own speed.
	buf := s.buffers.Get().(*[]byte)
	defer s.buffers.Put(buf)
	n, err := io.CopyBuffer(writerOnly{c.Response().Writer}, io.LimitReader(r, r.length), *buf)
	s.countBytes("out", n)
	if err != nil {
		// The status is sent; all that can be done is cut the connection
		// short, which the client sees as a truncated body.
		s.log.Warn("lfs download cut short", "oid", oid, "project", t.project.FullName(), "err", err)
	}
	return nil
}

// countBytes tells the Meter, if any, that n object bytes moved.
func (s *Server) countBytes(direction string, n int64) {
	if s.meter != nil && n > 0 {
		s.meter.LFSBytes(direction, n)
	}
}

// copyBufferSize is the size of the buffers downloads copy through.
const copyBufferSize = 1 << 20

// writerOnly hides a writer's ReadFrom, so io.CopyBuffer uses our buffer.
type writerOnly struct{ io.Writer }

// rangeReader is an open (part of a) blob.
type rangeReader struct {
	io.ReadCloser
	start, length int64
	partial       bool
}

// openRange opens the blob, or the single range the Range header asks
// for. A whole blob needs one request to the store (Get gives the size); a
// range needs its size first.
func (s *Server) openRange(ctx context.Context, key, rangeHeader string) (*rangeReader, storage.Info, error) {
	if rangeHeader == "" {
		rc, info, err := s.blobs.Get(ctx, key)
		if err != nil {
			return nil, info, err
		}
		return &rangeReader{ReadCloser: rc, length: info.Size}, info, nil
	}
	info, err := s.blobs.Stat(ctx, key)
	if err != nil {
		return nil, info, err
	}
	r, kind := httprange.Parse(rangeHeader, info.Size)
	start, length, partial := r.Start, r.Length, kind == httprange.Partial
	if kind == httprange.Unsatisfiable {
		return nil, info, fail(http.StatusRequestedRangeNotSatisfiable, "range not satisfiable: the object has %d bytes", info.Size)
	}
	var rc io.ReadCloser
	if partial {
		rc, err = storage.GetRange(ctx, s.blobs, key, start, length)
	} else {
		rc, _, err = s.blobs.Get(ctx, key)
	}
	if err != nil {
		return nil, info, err
	}
	return &rangeReader{ReadCloser: rc, start: start, length: length, partial: partial}, info, nil
}
