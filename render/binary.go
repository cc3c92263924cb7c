package render

import (
	"encoding/binary"
	"math"

	"github.com/hschendel/stl"
)

// Binary STL layout: an 80-byte header, a little-endian uint32 facet count,
// then 50 bytes per facet (normal, three vertices, 16 attribute bits).
const (
	binaryHeaderSize = 84
	binaryFacetSize  = 50
)

// readBinary streams binary facets from s into sw. size is the input's
// length when known in advance, else -1. It returns the facet count.
func readBinary(s *stream, sw stl.Writer, lim Limits, size int64) (int64, error) {
	for len(s.buf)-s.pos < binaryHeaderSize && s.refill() {
	}
	if s.err != nil {
		return 0, s.err
	}
	if have := len(s.buf) - s.pos; have < binaryHeaderSize {
		return 0, malformed(s.name, int64(have), 0, "file has %d bytes: too short for binary STL (84-byte header) and not ASCII STL (which starts with \"solid\")", have)
	}
	head := s.buf[s.pos : s.pos+binaryHeaderSize]
	count := int64(binary.LittleEndian.Uint32(head[80:]))
	sw.SetASCII(false)
	sw.SetBinaryHeader(append([]byte(nil), head[:80]...))
	sw.SetName(headerText(head[:80]))
	need := binaryHeaderSize + binaryFacetSize*count
	if size >= 0 && need > size {
		return 0, malformed(s.name, 80, 0, "binary header declares %d triangles (%d bytes) but the file has %d bytes: it is truncated or not an STL file", count, need, size)
	}
	if count > lim.MaxTriangles {
		return 0, tooLarge(s.name, 80, "binary header declares %d triangles, over the limit of %d", count, lim.MaxTriangles)
	}
	if need > lim.MaxBytes {
		return 0, tooLarge(s.name, 80, "binary header declares %d triangles (%d bytes), over the limit of %d bytes", count, need, lim.MaxBytes)
	}
	if size >= 0 && count > 0 {
		sw.SetTriangleCount(uint32(count))
	}
	s.pos += binaryHeaderSize

	// A count of 0 with facets following is written by some exporters: then
	// the facets run to the end of the file.
	untilEOF := count == 0
	var n int64
	var t stl.Triangle
	mb, _ := sw.(vertexSink)
	for untilEOF || n < count {
		if len(s.buf)-s.pos < binaryFacetSize {
			if s.refill() {
				continue
			}
			if s.err != nil {
				return n, s.err
			}
			if untilEOF {
				break
			}
			return n, malformed(s.name, s.total, 0, "binary header declares %d triangles but the file ends after %d of them (%d bytes): it is truncated", count, n, s.total)
		}
		if untilEOF && n >= lim.MaxTriangles {
			return n, tooLarge(s.name, s.offset(s.pos), "more than %d triangles", lim.MaxTriangles)
		}
		buf := s.buf
		end := len(buf) - binaryFacetSize
		if !untilEOF {
			end = min(end, s.pos+int(count-n-1)*binaryFacetSize)
		}
		if mb != nil {
			// ReadMesh ignores normals and attributes.
			k := (end-s.pos)/binaryFacetSize + 1
			if untilEOF {
				k = int(min(int64(k), lim.MaxTriangles-n))
			}
			if bad := mb.addBinary(buf[s.pos : s.pos+k*binaryFacetSize]); bad >= 0 {
				n += int64(bad)
				s.pos += bad * binaryFacetSize
				b := buf[s.pos : s.pos+binaryFacetSize]
				i := nonFinite(b[12:48])
				return n, malformed(s.name, s.offset(s.pos+12+i*4), 0, "facet %d has a non-finite vertex coordinate (%v)", n, math.Float32frombits(binary.LittleEndian.Uint32(b[12+i*4:])))
			}
			n += int64(k)
			s.pos += k * binaryFacetSize
			continue
		}
		for p := s.pos; p <= end; p += binaryFacetSize {
			b := buf[p : p+binaryFacetSize]
			if bad := nonFinite(b[12:48]); bad >= 0 {
				return n, malformed(s.name, s.offset(p+12+bad*4), 0, "facet %d has a non-finite vertex coordinate (%v)", n, math.Float32frombits(binary.LittleEndian.Uint32(b[12+bad*4:])))
			}
			for v := range 3 {
				for k := range 3 {
					t.Vertices[v][k] = math.Float32frombits(binary.LittleEndian.Uint32(b[12+12*v+4*k:]))
				}
			}
			for k := range 3 {
				t.Normal[k] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*k:]))
			}
			t.Attributes = binary.LittleEndian.Uint16(b[48:])
			sw.AppendTriangle(t)
			n++
			s.pos = p + binaryFacetSize
		}
	}
	return n, nil
}

// nonFinite returns the index of the first NaN or infinite float32 in b, or -1.
func nonFinite(b []byte) int {
	for i := 0; i+4 <= len(b); i += 4 {
		if binary.LittleEndian.Uint32(b[i:])&0x7f800000 == 0x7f800000 {
			return i / 4
		}
	}
	return -1
}

// headerText is the printable prefix of a binary header, trimmed.
func headerText(h []byte) string {
	end := 0
	for end < len(h) && h[end] >= 0x20 && h[end] < 0x7f {
		end++
	}
	return trimSpace(string(h[:end]))
}

func trimSpace(s string) string {
	i, j := 0, len(s)
	for i < j && asciiSpace[s[i]] {
		i++
	}
	for j > i && asciiSpace[s[j-1]] {
		j--
	}
	return s[i:j]
}
