package render

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"

	"github.com/hschendel/stl"

	"github.com/blueprints-hq/blueprints/threemf"
)

// decode3MF reads a 3MF package with package threemf. A zip needs random
// access: a file or an in-memory reader is read in place; any other
// stream is first copied to a temporary file (and hashed on the way).
func decode3MF(r io.Reader, name string, lim Limits, sw stl.Writer) (Decoded, error) {
	lim = lim.withDefaults()
	size := sizeOf(r)
	if size > lim.MaxBytes {
		return Decoded{}, tooLarge(name, -1, "file has %d bytes, over the limit of %d", size, lim.MaxBytes)
	}
	var ra io.ReaderAt
	var sum string
	h := sha256.New()
	switch v := r.(type) {
	case *os.File:
		if size >= 0 {
			pos, _ := v.Seek(0, io.SeekCurrent)
			ra = io.NewSectionReader(v, pos, size)
		}
	case io.ReaderAt:
		if size >= 0 {
			ra = v
		}
	}
	var hashed chan error
	if ra != nil {
		// The file is hashed beside the reading, which waits for it only
		// at the end.
		hashed = make(chan error, 1)
		go func() {
			_, err := io.Copy(h, io.NewSectionReader(ra, 0, size))
			hashed <- err
		}()
	} else {
		f, n, err := spool(r, name, lim, h)
		if err != nil {
			return Decoded{}, err
		}
		defer os.Remove(f.Name())
		defer f.Close()
		ra, size = f, n
	}
	if size == 0 {
		return Decoded{}, malformed(name, 0, 0, "file is empty")
	}
	info, err := threemf.Read(ra, size, name, threemf.Limits{MaxTriangles: lim.MaxTriangles}, sw)
	if hashed != nil {
		if herr := <-hashed; herr != nil && err == nil {
			return Decoded{}, fmt.Errorf("read %s: %w", name, herr)
		}
	}
	sum = hex.EncodeToString(h.Sum(nil))
	if err != nil {
		var e *threemf.Error
		if errors.As(err, &e) {
			where := ""
			if e.Entry != "" {
				where = e.Entry + ": "
			}
			if e.Offset >= 0 {
				where += fmt.Sprintf("byte %d: ", e.Offset)
			}
			fe := malformed(name, -1, 0, "%s%s", where, e.Reason)
			if errors.Is(err, threemf.ErrTooLarge) {
				fe.Err = ErrTooLarge
			}
			return Decoded{}, fe
		}
		return Decoded{}, err
	}
	return Decoded{Format: Format3MF, Triangles: info.Triangles, Bytes: size, SHA256: sum, Objects: info.Objects, Units: info.Unit}, nil
}

// spool copies r into a new temporary file, hashing it, up to lim.MaxBytes.
func spool(r io.Reader, name string, lim Limits, h hash.Hash) (*os.File, int64, error) {
	f, err := os.CreateTemp("", "blueprints-3mf-*")
	if err != nil {
		return nil, 0, fmt.Errorf("read %s: spool to a temporary file: %w", name, err)
	}
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(r, lim.MaxBytes+1))
	if err == nil && n > lim.MaxBytes {
		err = tooLarge(name, lim.MaxBytes, "file is larger than the limit of %d bytes", lim.MaxBytes)
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		var fe *FormatError
		if errors.As(err, &fe) {
			return nil, 0, err
		}
		return nil, 0, fmt.Errorf("read %s: %w", name, err)
	}
	return f, n, nil
}

var _ threemf.VertexPreparer = (*meshBuilder)(nil)
