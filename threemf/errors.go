package threemf

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Errors that *Error wraps, for errors.Is.
var (
	// ErrMalformed marks a package or model that is not readable 3MF.
	ErrMalformed = errors.New("malformed 3MF")
	// ErrTooLarge marks a package over Limits (a zip bomb, too many
	// entries or triangles, nesting too deep).
	ErrTooLarge = errors.New("3MF over limits")
)

// Error says which file is bad, which entry of its package, where in that
// entry, and what is wrong.
type Error struct {
	File   string // the package's name, as given to Read
	Entry  string // the package entry ("3D/3dmodel.model"), or ""
	Offset int64  // byte offset in the entry's uncompressed bytes, or -1
	Reason string
	Err    error // ErrMalformed or ErrTooLarge
}

func (e *Error) Error() string {
	s := e.File + ": "
	if e.Entry != "" {
		s += printable(e.Entry) + ": "
	}
	if e.Offset >= 0 {
		s += fmt.Sprintf("byte %d: ", e.Offset)
	}
	return s + e.Reason
}

// Unwrap returns ErrMalformed or ErrTooLarge.
func (e *Error) Unwrap() error { return e.Err }

// printable is s, quoted when it holds anything but printable characters
// (entry names come from the package: an error stays one line).
func printable(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return !strconv.IsPrint(r) }) >= 0 {
		return strconv.Quote(s)
	}
	return s
}
