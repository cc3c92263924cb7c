// Package lfs is Blueprints' Git LFS server: the batch API, the basic
// transfer adapter (uploads and downloads streamed through the server into
// storage.Blobs), verify, and the file-locking API, plus the pointer format
// that the catalog, the pages and the pre-receive check use to find LFS
// content in a repository.
//
// Objects are content-addressed in the blob store (BlobKey) but owned per
// project in the metadata store: a project sees only the objects that were
// uploaded to it, so the API never tells one project about another's.
package lfs

import (
	"bytes"
	"strconv"
)

// PointerVersion is the spec URL on the first line of every pointer file.
const PointerVersion = "https://git-lfs.github.com/spec/v1"

// MaxPointerSize is the largest blob that can be a pointer file, in bytes.
const MaxPointerSize = 1024

// Pointer is what a Git LFS pointer file names: the SHA-256 of the real
// content (64 lower-case hex digits) and its size in bytes.
type Pointer struct {
	OID  string
	Size int64
}

// Encode returns the canonical pointer file for p, as git-lfs writes it.
func (p Pointer) Encode() []byte {
	return []byte("version " + PointerVersion + "\noid sha256:" + p.OID + "\nsize " + strconv.FormatInt(p.Size, 10) + "\n")
}

// BlobKey returns the storage key of the LFS object with the given OID:
// "lfs/{oid[0:2]}/{oid[2:4]}/{oid}". The OID must be valid (ValidOID).
func BlobKey(oid string) string {
	if len(oid) < 4 {
		return "lfs/" + oid
	}
	return "lfs/" + oid[0:2] + "/" + oid[2:4] + "/" + oid
}

// ValidOID reports whether oid is a SHA-256 in 64 lower-case hex digits.
func ValidOID(oid string) bool {
	if len(oid) != 64 {
		return false
	}
	for i := 0; i < len(oid); i++ {
		c := oid[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// ParsePointer reports whether data is a Git LFS pointer file and, if so,
// what it names. It is strict, per the spec: at most MaxPointerSize bytes;
// lines "key value" each ending in LF (no CR, no blank lines); the first
// line is "version https://git-lfs.github.com/spec/v1"; then optional
// extension keys ("ext-N-name"), "oid sha256:<64 lower hex>" and
// "size <decimal>", keys in ascending order, none repeated, nothing else.
func ParsePointer(data []byte) (Pointer, bool) {
	if len(data) == 0 || len(data) > MaxPointerSize || data[len(data)-1] != '\n' {
		return Pointer{}, false
	}
	lines := bytes.Split(data[:len(data)-1], []byte{'\n'})
	if len(lines) < 3 {
		return Pointer{}, false
	}
	var p Pointer
	var haveOID, haveSize bool
	prev := ""
	for i, line := range lines {
		key, value, ok := bytes.Cut(line, []byte{' '})
		if !ok || len(value) == 0 || bytes.IndexByte(value, '\r') >= 0 {
			return Pointer{}, false
		}
		k := string(key)
		if i == 0 {
			if k != "version" || string(value) != PointerVersion {
				return Pointer{}, false
			}
			continue
		}
		if k <= prev {
			return Pointer{}, false
		}
		prev = k
		switch {
		case k == "oid":
			oid, ok := bytes.CutPrefix(value, []byte("sha256:"))
			if !ok || !ValidOID(string(oid)) {
				return Pointer{}, false
			}
			p.OID, haveOID = string(oid), true
		case k == "size":
			n, ok := parseSize(value)
			if !ok {
				return Pointer{}, false
			}
			p.Size, haveSize = n, true
		case validExtensionKey(key):
			if !validExtensionValue(value) {
				return Pointer{}, false
			}
		default:
			return Pointer{}, false
		}
	}
	if !haveOID || !haveSize {
		return Pointer{}, false
	}
	return p, true
}

// parseSize accepts a canonical non-negative decimal: digits only, no sign,
// no leading zeros, fits in an int64.
func parseSize(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 19 || (len(b) > 1 && b[0] == '0') {
		return 0, false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	return n, err == nil
}

// validExtensionKey matches "ext-N-name" with one digit N and a name of
// letters, digits and underscores, as git-lfs writes extension lines.
func validExtensionKey(k []byte) bool {
	rest, ok := bytes.CutPrefix(k, []byte("ext-"))
	if !ok || len(rest) < 3 || rest[0] < '0' || rest[0] > '9' || rest[1] != '-' {
		return false
	}
	for _, c := range rest[2:] {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func validExtensionValue(v []byte) bool {
	oid, ok := bytes.CutPrefix(v, []byte("sha256:"))
	return ok && ValidOID(string(oid))
}
