package repo

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalidName is wrapped by the errors ValidName and ValidOwner return.
var ErrInvalidName = errors.New("invalid name")

// MaxNameLen is the longest owner or project name accepted.
const MaxNameLen = 100

// reservedOwners are first URL segments the server's own pages and APIs use,
// so no user may take them as a name. Compared without regard to case.
var reservedOwners = []string{
	"about", "admin", "ap", "api", "assets", "blob", "explore", "favicon.ico", "git",
	"healthz", "help", "internal", "invite", "login", "logout", "metrics", "new", "oembed", "oidc", "organisations",
	"organizations", "orgs", "previews", "projects", "projects.atom", "raw", "robots.txt", "search", "settings", "signup",
	"sitemap.xml", "static", "ui", "user", "users",
}

// reservedPrefixes and reservedSuffixes are the shapes of other top-level
// paths: paged sitemaps (/sitemap-2.xml) and owners' feeds (/NAME.atom).
var (
	reservedPrefixes = []string{"sitemap-"}
	reservedSuffixes = []string{".atom"}
)

// ValidName reports whether name may be a project (or owner) name: 1 to
// MaxNameLen characters from [A-Za-z0-9._-], not starting with a dot or a
// dash, without "..", and not ending in ".git" (that suffix is how remote
// URLs are written). Names are ASCII, so no Unicode look-alikes get in.
func ValidName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty", ErrInvalidName)
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("%w: longer than %d characters", ErrInvalidName, MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return fmt.Errorf("%w: %q has a character other than letters, digits, '.', '_' and '-'", ErrInvalidName, name)
		}
	}
	switch {
	case name[0] == '.' || name[0] == '-':
		return fmt.Errorf("%w: %q starts with %q", ErrInvalidName, name, name[0])
	case strings.Contains(name, ".."):
		return fmt.Errorf("%w: %q contains \"..\"", ErrInvalidName, name)
	case strings.HasSuffix(strings.ToLower(name), ".git"):
		return fmt.Errorf("%w: %q ends in \".git\"", ErrInvalidName, name)
	}
	return nil
}

// ValidOwner reports whether name may be a user name: a ValidName that is
// not one of the server's own top-level URL segments (api, static, ...).
func ValidOwner(name string) error {
	if err := ValidName(name); err != nil {
		return err
	}
	for _, r := range reservedOwners {
		if strings.EqualFold(name, r) {
			return fmt.Errorf("%w: %q is reserved", ErrInvalidName, name)
		}
	}
	lower := strings.ToLower(name)
	for _, p := range reservedPrefixes {
		if strings.HasPrefix(lower, p) {
			return fmt.Errorf("%w: %q starts with %q, which the server's own paths use", ErrInvalidName, name, p)
		}
	}
	for _, s := range reservedSuffixes {
		if strings.HasSuffix(lower, s) {
			return fmt.Errorf("%w: %q ends in %q, which the server's own paths use", ErrInvalidName, name, s)
		}
	}
	return nil
}
