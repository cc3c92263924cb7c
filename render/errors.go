package render

import (
	"errors"
	"fmt"
)

// Errors that FormatError wraps, for errors.Is.
var (
	// ErrMalformed marks input that is not a readable mesh file.
	ErrMalformed = errors.New("malformed mesh file")
	// ErrTooLarge marks input over the configured Limits.
	ErrTooLarge = errors.New("mesh file over limits")
)

// FormatError says which file is bad, what is wrong and where.
type FormatError struct {
	File   string // name as given to ReadMesh
	Offset int64  // byte offset of the problem, -1 when not known
	Line   int    // line number in an ASCII file, 0 for binary
	Reason string // what is wrong, and what to do when that is not obvious
	Err    error  // ErrMalformed or ErrTooLarge
}

func (e *FormatError) Error() string {
	where := ""
	switch {
	case e.Line > 0 && e.Offset >= 0:
		where = fmt.Sprintf("line %d (byte %d): ", e.Line, e.Offset)
	case e.Line > 0:
		where = fmt.Sprintf("line %d: ", e.Line)
	case e.Offset >= 0:
		where = fmt.Sprintf("byte %d: ", e.Offset)
	}
	return e.File + ": " + where + e.Reason
}

// Unwrap returns ErrMalformed or ErrTooLarge.
func (e *FormatError) Unwrap() error { return e.Err }

func malformed(file string, off int64, line int, format string, args ...any) *FormatError {
	return &FormatError{File: file, Offset: off, Line: line, Reason: fmt.Sprintf(format, args...), Err: ErrMalformed}
}

func tooLarge(file string, off int64, format string, args ...any) *FormatError {
	return &FormatError{File: file, Offset: off, Reason: fmt.Sprintf(format, args...), Err: ErrTooLarge}
}
