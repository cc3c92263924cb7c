// Package version says which Blueprints this binary is: the module
// version, the commit it was built from and the Go version, as the Go
// toolchain stamped them into the binary (debug.ReadBuildInfo). It is read
// by `blueprints version`, the blueprints_build_info metric and the
// metadata store, which records which binary last wrote a database.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Info is what the binary knows about its own build.
type Info struct {
	Version   string // module version: a tag, a pseudo-version, or "(devel)"
	Commit    string // full VCS revision, "" when not built from a checkout
	Time      string // commit time (RFC 3339), "" when unknown
	Modified  bool   // built from a checkout with uncommitted changes
	GoVersion string // "go1.26.8"
}

// Set at link time by make build (-ldflags -X), for builds the Go
// toolchain does not stamp (a git worktree, or GOFLAGS=-buildvcs=false).
var (
	linkedVersion  string // "v1.2.0" or a git describe
	linkedCommit   string // full commit id
	linkedModified string // "true" for a dirty checkout
)

// Read returns this binary's Info.
func Read() Info {
	i := readToolchain()
	if linkedVersion != "" && i.Version == "(devel)" {
		i.Version = linkedVersion
	}
	if linkedCommit != "" && i.Commit == "" {
		i.Commit, i.Modified = linkedCommit, linkedModified == "true"
	}
	return i
}

func readToolchain() Info {
	i := Info{Version: "(devel)", GoVersion: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return i
	}
	if v := bi.Main.Version; v != "" {
		i.Version = v
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			i.Commit = s.Value
		case "vcs.time":
			i.Time = s.Value
		case "vcs.modified":
			i.Modified = s.Value == "true"
		}
	}
	return i
}

// ShortCommit is the first 12 digits of the commit ("unknown" without
// one), with "+dirty" for a modified checkout.
func (i Info) ShortCommit() string {
	c := i.Commit
	if c == "" {
		c = "unknown"
	} else if len(c) > 12 {
		c = c[:12]
	}
	if i.Modified {
		c += "+dirty"
	}
	return c
}

// String is one line naming the build: "v1.2.0 (commit 0123456789ab, go1.26.8)".
func (i Info) String() string {
	return fmt.Sprintf("%s (commit %s, %s)", i.Version, i.ShortCommit(), i.GoVersion)
}
