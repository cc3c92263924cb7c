// Package gittree reads git tree objects without trusting them: a strict
// parser of the tree format, walks and diffs that stream entry by entry
// and stop at the caller's cap or context, and the push limits (paths per
// commit, folder depth, entries per folder) checked with one visit per
// distinct tree, so a "git bomb" of a few objects that expand to millions
// of paths costs what its objects cost, not what its paths cost.
//
// Trees come from a Source: a go-git object storer (FromStorer) for the
// read side, or a running `git cat-file --batch-command` (CatFile), which
// sees a push's quarantined objects in pre-receive. Data leaves as Entry
// values passed to callbacks; nothing here holds a whole tree of paths.
package gittree

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
)

// Entry is one entry of a tree object. Mode is canonical: Dir, Regular,
// Executable, Symlink or Submodule (a gitlink, naming a commit of another
// repository, or anything a hand-built tree puts there).
type Entry struct {
	Name string
	Mode filemode.FileMode
	ID   plumbing.Hash
}

// IsDir reports whether the entry is a folder (a tree).
func (e Entry) IsDir() bool { return e.Mode == filemode.Dir }

// IsGitlink reports whether the entry is a submodule gitlink. Its id is
// not followed by git's own walks, so whatever it names (in a hand-built
// pack, any object) is never a file of this repository.
func (e Entry) IsGitlink() bool { return e.Mode == filemode.Submodule }

// IsFile reports whether the entry is a regular or executable file.
func (e Entry) IsFile() bool { return e.Mode == filemode.Regular || e.Mode == filemode.Executable }

// ErrMalformed is wrapped by every error Parse returns.
var ErrMalformed = errors.New("malformed tree object")

// Parse reads a tree object's content: entries of "MODE NAME\0" and a
// 20-byte object id. Modes are octal; their type bits decide the kind
// (legacy modes such as 100664 read as Regular). A name must be non-empty
// and hold no slash, may not be "." or "..", and appears once in a tree
// (as git fsck asks). Entries are returned in the order stored.
func Parse(data []byte) ([]Entry, error) {
	var out []Entry
	var seen nameSet
	for pos := 0; pos < len(data); {
		sp := bytes.IndexByte(data[pos:], ' ')
		if sp <= 0 || sp > 7 {
			return nil, fmt.Errorf("%w: entry at byte %d: no mode", ErrMalformed, pos)
		}
		var mode uint32
		for _, c := range data[pos : pos+sp] {
			if c < '0' || c > '7' {
				return nil, fmt.Errorf("%w: entry at byte %d: mode %q is not octal", ErrMalformed, pos, data[pos:pos+sp])
			}
			mode = mode<<3 | uint32(c-'0')
		}
		m, ok := canonicalMode(mode)
		if !ok {
			return nil, fmt.Errorf("%w: entry at byte %d: unknown mode %o", ErrMalformed, pos, mode)
		}
		nameStart := pos + sp + 1
		nul := bytes.IndexByte(data[nameStart:], 0)
		if nul < 0 {
			return nil, fmt.Errorf("%w: entry at byte %d: name not terminated", ErrMalformed, pos)
		}
		name := data[nameStart : nameStart+nul]
		if len(name) == 0 || bytes.IndexByte(name, '/') >= 0 || string(name) == "." || string(name) == ".." {
			return nil, fmt.Errorf("%w: entry at byte %d: bad name %q", ErrMalformed, pos, name)
		}
		idStart := nameStart + nul + 1
		if len(data)-idStart < 20 {
			return nil, fmt.Errorf("%w: entry %q: object id cut short", ErrMalformed, name)
		}
		if seen.add(name) {
			// git fsck's duplicateEntries: a file and a folder of one name
			// make two paths that read alike, and limits name the wrong one.
			return nil, fmt.Errorf("%w: entry at byte %d: name %q appears twice", ErrMalformed, pos, name)
		}
		var id plumbing.Hash
		copy(id[:], data[idStart:idStart+20])
		out = append(out, Entry{Name: string(name), Mode: m, ID: id})
		pos = idStart + 20
	}
	return out, nil
}

// nameSet remembers the names of one tree's entries: a scan while they
// are few, a map beyond.
type nameSet struct {
	few  [][]byte
	many map[string]struct{}
}

// add remembers name and reports whether it was there already.
func (s *nameSet) add(name []byte) bool {
	if s.many == nil {
		for _, n := range s.few {
			if bytes.Equal(n, name) {
				return true
			}
		}
		if len(s.few) < 16 {
			s.few = append(s.few, name)
			return false
		}
		s.many = make(map[string]struct{}, 64)
		for _, n := range s.few {
			s.many[string(n)] = struct{}{}
		}
	}
	if _, ok := s.many[string(name)]; ok {
		return true
	}
	s.many[string(name)] = struct{}{}
	return false
}

// canonicalMode maps a stored mode onto the five kinds git knows, by its
// type bits.
func canonicalMode(m uint32) (filemode.FileMode, bool) {
	switch m & 0o170000 {
	case 0o040000:
		return filemode.Dir, true
	case 0o100000:
		if m&0o111 != 0 {
			return filemode.Executable, true
		}
		return filemode.Regular, true
	case 0o120000:
		return filemode.Symlink, true
	case 0o160000:
		return filemode.Submodule, true
	}
	return 0, false
}

// Source reads tree objects by id.
type Source interface {
	// Tree returns the entries of tree id. A missing object, or one that
	// is not a tree, is an error.
	Tree(id plumbing.Hash) ([]Entry, error)
}

// sortKey is the key git orders tree entries by: the name, with a slash
// after a folder's.
func sortKey(e Entry) string {
	if e.IsDir() {
		return e.Name + "/"
	}
	return e.Name
}
