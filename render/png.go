package render

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"hash/adler32"
	"hash/crc32"
	"image"
	"io"
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
		fw, err := flate.NewWriter(&bd.z, flate.BestSpeed)
		if err != nil {
			failed[h] = err
			return
		}
		cur := make([]byte, 1+3*width)
		prev := make([]byte, 1+3*width)
		out := make([]byte, 1+3*width)
		if y0 > 0 {
			rgbRow(prev[1:], img, y0-1)
		}
		sum := adler32.New()
		for y := y0; y < y1; y++ {
			rgbRow(cur[1:], img, y)
			// Up: each byte less the byte above (the first row of
			// the image has none above: zeros).
			out[0] = 2
			if y == 0 {
				copy(out[1:], cur[1:])
			} else {
				for i := 1; i < len(cur); i++ {
					out[i] = cur[i] - prev[i]
				}
			}
			sum.Write(out)
			if _, err := fw.Write(out); err != nil {
				failed[h] = err
				return
			}
			cur, prev = prev, cur
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

// rgbRow copies row y of img into dst as RGB triples.
func rgbRow(dst []byte, img *image.RGBA, y int) {
	src := img.Pix[img.PixOffset(img.Rect.Min.X, y+img.Rect.Min.Y):]
	for x := 0; x < len(dst)/3; x++ {
		dst[3*x], dst[3*x+1], dst[3*x+2] = src[4*x], src[4*x+1], src[4*x+2]
	}
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
