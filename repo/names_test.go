package repo

import (
	"errors"
	"strings"
	"testing"
)

func TestValidName(t *testing.T) {
	good := []string{"a", "tractor", "Voron-Trident", "open_flexure.v7", "x1", strings.Repeat("a", MaxNameLen), "a.b-c_d", "git"}
	for _, n := range good {
		if err := ValidName(n); err != nil {
			t.Errorf("ValidName(%q) = %v, want nil", n, err)
		}
	}
	bad := []string{
		"", ".", "..", "../x", "a/../../b", "%2e%2e", ".hidden", "-flag", "a..b", "a/b", `a\b`,
		"a b", "a\x00b", "a\nb", "proj.git", "proj.GIT", strings.Repeat("a", MaxNameLen+1),
		"trаctor", // Cyrillic а
		"ｔractor", // full-width t
		"tractor\u200b", "café", "~root", "a:b", "a?b", "a#b", "*",
	}
	for _, n := range bad {
		err := ValidName(n)
		if !errors.Is(err, ErrInvalidName) {
			t.Errorf("ValidName(%q) = %v, want ErrInvalidName", n, err)
		}
	}
}

func TestValidOwner(t *testing.T) {
	for _, n := range []string{"api", "API", "static", "healthz", "internal", "search", "login", "new", "settings",
		"oembed", "robots.txt", "sitemap.xml", "Sitemap-2.xml", "sitemap-x", "projects.atom", "bob.atom", "bob.ATOM"} {
		if err := ValidOwner(n); !errors.Is(err, ErrInvalidName) {
			t.Errorf("ValidOwner(%q) = %v, want ErrInvalidName", n, err)
		}
	}
	for _, n := range []string{"alice", "Bob-2", "apix", "sitemap", "atom", "atom-smasher"} {
		if err := ValidOwner(n); err != nil {
			t.Errorf("ValidOwner(%q) = %v", n, err)
		}
	}
	if err := ValidOwner("../x"); !errors.Is(err, ErrInvalidName) {
		t.Errorf("ValidOwner(../x) = %v", err)
	}
}

func FuzzValidName(f *testing.F) {
	for _, s := range []string{"a", "..", "a/b", "x.git", "Ünïcode"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ValidName(s) != nil {
			return
		}
		// Whatever passes must be safe as one path segment.
		if strings.ContainsAny(s, "/\\\x00") || strings.HasPrefix(s, ".") || strings.Contains(s, "..") || len(s) > MaxNameLen {
			t.Fatalf("ValidName accepted %q", s)
		}
		for _, r := range s {
			if r > 127 {
				t.Fatalf("ValidName accepted non-ASCII %q", s)
			}
		}
	})
}
