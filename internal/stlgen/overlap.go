package stlgen

import (
	"bufio"
	"encoding/binary"
	"io"
	"math"
)

// WriteOverlapping writes a binary STL file of n facets that each cover
// about half of any preview of the file: the same right triangle, 100 mm
// on its sides, n times. With distinct, each lies a little above the one
// before (0.1 µm), so no two are exact duplicates; without, the file is
// one facet repeated, and compresses to almost nothing. Such files cost a
// naive rasteriser n times the picture: hostile input for previews.
func WriteOverlapping(w io.Writer, n int, distinct bool) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	var hdr [84]byte
	copy(hdr[:], "overlapping facets from stlgen")
	binary.LittleEndian.PutUint32(hdr[80:], uint32(n))
	bw.Write(hdr[:])
	var rec [50]byte
	put := func(off int, v float32) { binary.LittleEndian.PutUint32(rec[off:], math.Float32bits(v)) }
	for i := range n {
		z := float32(0)
		if distinct {
			z = float32(i) * 1e-4
		}
		put(0, 0)
		put(4, 0)
		put(8, 1)
		put(12, 0)
		put(16, 0)
		put(20, z)
		put(24, 100)
		put(28, 0)
		put(32, z)
		put(36, 0)
		put(40, 100)
		put(44, z)
		if _, err := bw.Write(rec[:]); err != nil {
			return err
		}
	}
	return bw.Flush()
}
