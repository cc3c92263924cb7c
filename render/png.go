package render

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"hash/adler32"
	"hash/crc32"
	"image"
	"io"
	"sync"
)

// EncodePNG writes a preview as an 8-bit RGB PNG (previews are opaque),
// on every core: each worker filters and compresses its band of rows into
// its own run of deflate blocks, and the runs are joined into the one
// zlib stream PNG wants (a run that is not the last ends on a sync flush,
// so the next starts on a byte boundary; the checksums are combined).
// Rows are filtered with Up, the cheapest filter that still turns a
// preview's plain background into zeros. It decodes to the same pixels
// as image/png's encoding of img.
func EncodePNG(w io.Writer, img *image.RGBA) error {
	b := img.Bounds()
	width, height := b.Dx(), b.Dy()
	workers := 1
	if height >= 64 {
		workers = cores()
	}
	type band struct {
		z     bytes.Buffer
		adler uint32
		n     int // filtered bytes
	}
	bands := make([]band, workers)
	var failed [2]error
	parallel(workers, func(h int) {
		y0, y1 := height*h/workers, height*(h+1)/workers
		bd := &bands[h]
		fw, err := getFlate(&bd.z)
		if err != nil {
			failed[h] = err
			return
		}
		defer putFlate(fw)
		out := make([]byte, 1+3*width)
		out[0] = 2 // Up: each byte less the byte above (none above row 0)
		sum := adler32.New()
		for y := y0; y < y1; y++ {
			cur := img.Pix[img.PixOffset(b.Min.X, b.Min.Y+y):][:4*width]
			if y == 0 {
				for x := range width {
					out[1+3*x], out[2+3*x], out[3+3*x] = cur[4*x], cur[4*x+1], cur[4*x+2]
				}
			} else {
				prev := img.Pix[img.PixOffset(b.Min.X, b.Min.Y+y-1):][:4*width]
				for x := range width {
					out[1+3*x] = cur[4*x] - prev[4*x]
					out[2+3*x] = cur[4*x+1] - prev[4*x+1]
					out[3+3*x] = cur[4*x+2] - prev[4*x+2]
				}
			}
			sum.Write(out)
			if _, err := fw.Write(out); err != nil {
				failed[h] = err
				return
			}
		}
		if h == workers-1 {
			err = fw.Close()
		} else {
			err = fw.Flush()
		}
		failed[h] = err
		bd.adler, bd.n = sum.Sum32(), (y1-y0)*(1+3*width)
	})
	for _, err := range failed {
		if err != nil {
			return err
		}
	}
	var idat bytes.Buffer
	idat.Write([]byte{0x78, 0x01}) // zlib: deflate, 32K window, fastest
	adler := uint32(1)
	for i := range bands {
		idat.Write(bands[i].z.Bytes())
		adler = adler32Combine(adler, bands[i].adler, bands[i].n)
	}
	idat.Write(binary.BigEndian.AppendUint32(nil, adler))

	var out bytes.Buffer
	out.WriteString("\x89PNG\r\n\x1a\n")
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(width))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(height))
	ihdr[8], ihdr[9] = 8, 2 // 8 bits, RGB; compression, filter and interlace 0
	writeChunk(&out, "IHDR", ihdr)
	writeChunk(&out, "IDAT", idat.Bytes())
	writeChunk(&out, "IEND", nil)
	_, err := w.Write(out.Bytes())
	return err
}

func writeChunk(w *bytes.Buffer, kind string, data []byte) {
	w.Write(binary.BigEndian.AppendUint32(nil, uint32(len(data))))
	start := w.Len()
	w.WriteString(kind)
	w.Write(data)
	w.Write(binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(w.Bytes()[start:])))
}

// adler32Combine is the Adler-32 of a then b, given a's checksum, b's
// and b's length.
func adler32Combine(a, b uint32, lenB int) uint32 {
	const mod = 65521
	rem := uint64(lenB % mod)
	a1, a2 := uint64(a&0xffff), uint64(a>>16)
	b1, b2 := uint64(b&0xffff), uint64(b>>16)
	s1 := (a1 + b1 + mod - 1) % mod
	s2 := (a2 + b2 + rem*a1 + mod - rem) % mod
	return uint32(s2<<16 | s1)
}

// flateWriters keeps deflate compressors for the next previews: each
// holds about a megabyte of tables, which a new one allocates and clears.
var flateWriters sync.Pool // of *flate.Writer at BestSpeed

// getFlate returns a BestSpeed compressor writing to w.
func getFlate(w io.Writer) (*flate.Writer, error) {
	if fw, ok := flateWriters.Get().(*flate.Writer); ok {
		fw.Reset(w)
		return fw, nil
	}
	return flate.NewWriter(w, flate.BestSpeed)
}

// putFlate keeps fw for another preview, holding on to nothing it wrote.
func putFlate(fw *flate.Writer) {
	fw.Reset(io.Discard)
	flateWriters.Put(fw)
}
