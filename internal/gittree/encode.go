package gittree

import (
	"fmt"
	"strconv"
)

// Encode returns the content of a tree object holding entries, in the
// order given (git wants them in tree order: see Sort).
func Encode(entries []Entry) []byte {
	var b []byte
	for _, e := range entries {
		b = strconv.AppendUint(b, uint64(e.Mode), 8)
		b = append(b, ' ')
		b = append(b, e.Name...)
		b = append(b, 0)
		b = append(b, e.ID[:]...)
	}
	return b
}

// Sort puts entries in git's tree order.
func Sort(entries []Entry) {
	sortEntries(entries)
}

// String describes an entry as `git ls-tree` does.
func (e Entry) String() string {
	return fmt.Sprintf("%06o %s\t%s", uint32(e.Mode), e.ID, e.Name)
}
