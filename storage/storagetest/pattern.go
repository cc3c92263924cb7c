package storagetest

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"io"
)

// Pattern is a reproducible stream of pseudo-random bytes (an AES-CTR key
// stream) of a given size, readable at any offset, so tests can move large
// blobs without holding them in memory.
type Pattern struct {
	block cipher.Block
	size  int64
	off   int64
}

// NewPattern returns a stream of size bytes determined by seed.
func NewPattern(seed string, size int64) *Pattern {
	key := sha256.Sum256([]byte(seed))
	block, err := aes.NewCipher(key[:16])
	if err != nil {
		panic(err) // a 16-byte key is always valid
	}
	return &Pattern{block: block, size: size}
}

// Read reads the next bytes of the stream.
func (p *Pattern) Read(b []byte) (int, error) {
	n, err := p.ReadAt(b, p.off)
	p.off += int64(n)
	return n, err
}

// ReadAt reads bytes at off.
func (p *Pattern) ReadAt(b []byte, off int64) (int, error) {
	if off >= p.size {
		return 0, io.EOF
	}
	if rest := p.size - off; int64(len(b)) > rest {
		b = b[:rest]
	}
	var iv [aes.BlockSize]byte
	binary.BigEndian.PutUint64(iv[8:], uint64(off/aes.BlockSize))
	stream := cipher.NewCTR(p.block, iv[:])
	var skip [aes.BlockSize]byte
	stream.XORKeyStream(skip[:off%aes.BlockSize], skip[:off%aes.BlockSize])
	clear(b)
	stream.XORKeyStream(b, b)
	return len(b), nil
}

// Sum returns the SHA-256 of the whole stream, computed by reading it.
func (p *Pattern) Sum() [32]byte {
	h := sha256.New()
	io.Copy(h, io.NewSectionReader(p, 0, p.size))
	var sum [32]byte
	h.Sum(sum[:0])
	return sum
}
