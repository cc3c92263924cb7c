package scad

import (
	"fmt"
	"path"
	"strings"
)

// RefKind is how a source names another file.
type RefKind string

// The statements that read other files.
const (
	Include RefKind = "include"
	Use     RefKind = "use"
	Import  RefKind = "import"
	Surface RefKind = "surface"
)

// Ref is one file a source names: include <x>, use <x>, import("x") or
// surface("x") with a literal path.
type Ref struct {
	Kind RefKind
	Path string
	Line int
}

// Refs lists the files src names with literal paths, skipping comments
// and strings. Paths computed at run time cannot be seen: those are
// left to the sandbox, which holds only the files found here.
func Refs(src []byte) []Ref {
	var out []Ref
	line := 1
	i, n := 0, len(src)
	for i < n {
		c := src[i]
		switch {
		case c == '\n':
			line++
			i++
		case c == '/' && i+1 < n && src[i+1] == '/':
			for i < n && src[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < n && src[i+1] == '*':
			i += 2
			for i < n && !(src[i] == '*' && i+1 < n && src[i+1] == '/') {
				if src[i] == '\n' {
					line++
				}
				i++
			}
			i += 2
		case c == '"':
			_, j, nl := readString(src, i)
			line += nl
			i = j
		case isIdentStart(c) && (i == 0 || !isIdent(src[i-1])):
			j := i
			for j < n && isIdent(src[j]) {
				j++
			}
			word := string(src[i:j])
			switch word {
			case "include", "use":
				k := skipBlank(src, j)
				if k < n && src[k] == '<' {
					end := k + 1
					for end < n && src[end] != '>' && src[end] != '\n' {
						end++
					}
					if end < n && src[end] == '>' {
						out = append(out, Ref{Kind: RefKind(word), Path: string(src[k+1 : end]), Line: line})
						i = end + 1
						continue
					}
				}
			case "import", "surface":
				k := skipSpace(src, j)
				if k < n && src[k] == '(' {
					k = skipSpace(src, k+1)
					// An optional file= before the literal.
					if strings.HasPrefix(string(src[k:min(n, k+4)]), "file") {
						m := skipSpace(src, k+4)
						if m < n && src[m] == '=' {
							k = skipSpace(src, m+1)
						}
					}
					if k < n && src[k] == '"' {
						s, _, _ := readString(src, k)
						out = append(out, Ref{Kind: RefKind(word), Path: s, Line: line})
					}
				}
			}
			i = j
		default:
			i++
		}
	}
	return out
}

// readString reads the string literal at src[i] ('"'): its value, the
// index after it, and the newlines inside.
func readString(src []byte, i int) (string, int, int) {
	var b strings.Builder
	nl := 0
	i++
	for i < len(src) && src[i] != '"' {
		if src[i] == '\\' && i+1 < len(src) {
			i++
			switch src[i] {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			default:
				b.WriteByte(src[i])
			}
			i++
			continue
		}
		if src[i] == '\n' {
			nl++
		}
		b.WriteByte(src[i])
		i++
	}
	return b.String(), i + 1, nl
}

func skipBlank(src []byte, i int) int {
	for i < len(src) && (src[i] == ' ' || src[i] == '\t') {
		i++
	}
	return i
}

func skipSpace(src []byte, i int) int {
	for i < len(src) && (src[i] == ' ' || src[i] == '\t' || src[i] == '\n' || src[i] == '\r') {
		i++
	}
	return i
}

func isIdentStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == '$'
}

func isIdent(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }

// RefusedError is a reference that would read outside the repository.
type RefusedError struct {
	File string // the source, a repository path
	Ref  Ref
	Why  string
}

func (e *RefusedError) Error() string {
	call := string(e.Ref.Kind) + " <" + e.Ref.Path + ">"
	if e.Ref.Kind == Import || e.Ref.Kind == Surface {
		call = fmt.Sprintf("%s(%q)", e.Ref.Kind, e.Ref.Path)
	}
	return fmt.Sprintf("%s: line %d: %s refused: %s; OpenSCAD sources may only read files of their own repository", e.File, e.Ref.Line, call, e.Why)
}

// resolve turns a reference in the source at file into a repository path.
// ok is false with a *RefusedError for an absolute path or one that
// climbs out of the repository.
func resolve(file string, r Ref) (string, error) {
	p := strings.ReplaceAll(r.Path, "\\", "/")
	if p == "" {
		return "", &RefusedError{File: file, Ref: r, Why: "the path is empty"}
	}
	if strings.HasPrefix(p, "/") || strings.HasPrefix(p, "~") || len(p) > 1 && p[1] == ':' {
		return "", &RefusedError{File: file, Ref: r, Why: "absolute paths are not followed"}
	}
	j := path.Join(path.Dir(file), p)
	if j == ".." || strings.HasPrefix(j, "../") {
		return "", &RefusedError{File: file, Ref: r, Why: "the path leaves the repository"}
	}
	return j, nil
}
