package render

import (
	"bytes"
	"io"
	"io/fs"

	"github.com/hschendel/stl"
)

// Formats of STL files, as Part.Format names them.
const (
	FormatASCII  = "ascii"
	FormatBinary = "binary"
)

// Decoded describes a file that Decode read to its end.
type Decoded struct {
	Format    string // FormatASCII, FormatBinary, Format3MF or FormatOBJ
	Triangles int64  // facets passed to the writer
	Bytes     int64  // length of the input
	SHA256    string // hex SHA-256 of the input's bytes
	Trailing  int64  // bytes after the last binary facet, ignored
	Objects   int    // objects placed (3MF build items, OBJ objects); 0 for STL
	Units     string // the unit the file declares (3MF), or ""
}

// Decode streams the facets of a mesh file from r into sw and checks the
// input against lim. Its kind is told by name's extension (KindOf; STL
// when it has none of theirs); STL tells binary from ASCII by the first
// bytes (no seeking). name is also used in errors. Decode reads r to its
// end so that the SHA-256 covers every byte; on error it stops early.
func Decode(r io.Reader, name string, lim Limits, sw stl.Writer) (Decoded, error) {
	return decode(kindFor(name), r, name, lim, sw, true)
}

// decodeSTL is Decode for STL; without hashing, Decoded.SHA256 is left
// empty.
func decodeSTL(r io.Reader, name string, lim Limits, sw stl.Writer, hashing bool) (Decoded, error) {
	lim = lim.withDefaults()
	size := sizeOf(r)
	if size > lim.MaxBytes {
		return Decoded{}, tooLarge(name, -1, "file has %d bytes, over the limit of %d", size, lim.MaxBytes)
	}
	s := startStream(r, name, lim.MaxBytes, size, hashing)
	defer s.close()
	s.refill()
	if s.err != nil {
		return Decoded{}, s.err
	}
	if len(s.buf) == s.pos {
		return Decoded{}, malformed(name, 0, 0, "file is empty")
	}
	d := Decoded{Format: FormatBinary}
	var err error
	if isASCII(s.buf[s.pos:]) {
		d.Format = FormatASCII
		d.Triangles, err = readASCII(s, sw, lim)
	} else {
		d.Triangles, err = readBinary(s, sw, lim, size)
	}
	if err != nil {
		return d, err
	}
	d.Trailing = s.drain()
	if s.err != nil {
		return d, s.err
	}
	if d.Format == FormatASCII {
		d.Trailing = 0
	}
	d.Bytes = s.total
	d.SHA256 = s.finish()
	if d.Triangles == 0 {
		return d, malformed(name, -1, 0, "file holds no facets")
	}
	return d, nil
}

// isASCII tells ASCII STL from binary by the first bytes: ASCII starts with
// "solid" (any case, after optional whitespace) and its first 512 bytes are
// text. Binary files whose header also starts with "solid" fail the second
// test on their facet count, floats or attribute bytes.
func isASCII(head []byte) bool {
	head = head[:min(len(head), 512)]
	head = bytes.TrimPrefix(head, []byte("\xef\xbb\xbf"))
	i := 0
	for i < len(head) && asciiSpace[head[i]] {
		i++
	}
	if len(head)-i < 5 || !keyword(head[i:i+5], "solid") {
		return false
	}
	for _, c := range head {
		if c < 0x20 && !asciiSpace[c] || c == 0x7f {
			return false
		}
	}
	return true
}

// sizeOf returns r's length when r can tell it without reading (a file, a
// bytes.Reader), else -1.
func sizeOf(r io.Reader) int64 {
	switch v := r.(type) {
	case interface{ Stat() (fs.FileInfo, error) }:
		if fi, err := v.Stat(); err == nil && fi.Mode().IsRegular() {
			if sk, ok := r.(io.Seeker); ok {
				if pos, err := sk.Seek(0, io.SeekCurrent); err == nil {
					return fi.Size() - pos
				}
			}
		}
	case interface{ Len() int }:
		return int64(v.Len())
	}
	return -1
}
