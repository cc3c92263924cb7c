package catalog

import (
	"regexp"
	"strings"
)

// licenseFiles are the root files a licence is read from, in order of
// preference (compared without regard to case).
var licenseFiles = []string{"LICENSE", "LICENSE.md", "LICENSE.txt", "LICENCE", "LICENCE.md", "LICENCE.txt", "COPYING", "COPYING.md", "COPYING.txt", "License", "License.md", "License.txt"}

var spdxLine = regexp.MustCompile(`(?i)SPDX-License-Identifier:\s*([A-Za-z0-9.+-]+(?:\s+(?:AND|OR|WITH)\s+[A-Za-z0-9.+-]+)*)`)

// normalizeLicense lower-cases text, turns curly quotes and dashes into
// ASCII, drops punctuation other than dots inside version numbers and
// collapses white space, so that re-wrapped or re-typeset licence texts
// compare equal.
func normalizeLicense(text string) string {
	var b strings.Builder
	b.Grow(len(text))
	space := true
	for _, r := range strings.ToLower(text) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.':
			b.WriteRune(r)
			space = false
		case r == '\u2013' || r == '\u2014' || r == '-':
			if !space {
				b.WriteByte(' ')
				space = true
			}
		default:
			if !space {
				b.WriteByte(' ')
				space = true
			}
		}
	}
	return strings.TrimSpace(strings.ReplaceAll(b.String(), ". ", " "))
}

// DetectLicense returns the SPDX id of a licence text, or "" when the text
// is not one of the licences it knows. It never guesses: each licence is
// recognised by phrases only its text contains.
func DetectLicense(text string) string {
	if m := spdxLine.FindStringSubmatch(text); m != nil {
		return m[1]
	}
	n := " " + normalizeLicense(text) + " "
	has := func(phrases ...string) bool {
		for _, p := range phrases {
			if !strings.Contains(n, p) {
				return false
			}
		}
		return true
	}
	head := n
	if len(head) > 1500 {
		head = head[:1500]
	}
	headHas := func(p string) bool { return strings.Contains(head, p) }
	// The family is named in the title; later text mentions the others.
	title := n
	if len(title) > 300 {
		title = title[:300]
	}
	titleHas := func(p string) bool { return strings.Contains(title, p) }
	switch {
	case titleHas("gnu affero general public license"):
		if headHas("version 3") {
			return "AGPL-3.0"
		}
	case titleHas("gnu lesser general public license"):
		switch {
		case headHas("version 3"):
			return "LGPL-3.0"
		case headHas("version 2.1"):
			return "LGPL-2.1"
		}
	case titleHas("gnu library general public license"):
		if headHas("version 2") {
			return "LGPL-2.0"
		}
	case titleHas("gnu general public license"):
		switch {
		case headHas("version 3 29 june 2007"), headHas("either version 3 of the license"):
			return "GPL-3.0"
		case headHas("version 2 june 1991"), headHas("either version 2 of the license"):
			return "GPL-2.0"
		}
	case has("cern open hardware licence"), has("cern ohl"):
		switch {
		case headHas("strongly reciprocal"):
			return "CERN-OHL-S-2.0"
		case headHas("weakly reciprocal"):
			return "CERN-OHL-W-2.0"
		case headHas("permissive") && headHas("version 2"):
			return "CERN-OHL-P-2.0"
		case headHas("v1.2"), headHas("version 1.2"):
			return "CERN-OHL-1.2"
		case headHas("v1.1"), headHas("version 1.1"):
			return "CERN-OHL-1.1"
		}
	case has("apache license", "version 2.0"), has("licensed under the apache license version 2.0"):
		return "Apache-2.0"
	case has("mozilla public license version 2.0"):
		return "MPL-2.0"
	case has("this is free and unencumbered software released into the public domain"):
		return "Unlicense"
	case has("permission is hereby granted free of charge to any person obtaining a copy", "the above copyright notice and this permission notice shall be included"):
		return "MIT"
	case has("redistribution and use in source and binary forms with or without modification are permitted"):
		switch {
		case has("all advertising materials mentioning features"):
			return "BSD-4-Clause"
		case has("neither the name"), has("may be used to endorse or promote products derived from this software without specific prior written permission"):
			return "BSD-3-Clause"
		default:
			return "BSD-2-Clause"
		}
	case has("creative commons"):
		return detectCC(n)
	}
	return ""
}

// detectCC recognises the Creative Commons 4.0 licences (legal code or the
// usual short notice).
func detectCC(n string) string {
	if !strings.Contains(n, "4.0") {
		return ""
	}
	variants := []struct{ phrase, id string }{
		{"attribution noncommercial sharealike 4.0", "CC-BY-NC-SA-4.0"},
		{"attribution noncommercial noderivatives 4.0", "CC-BY-NC-ND-4.0"},
		{"attribution noncommercial 4.0", "CC-BY-NC-4.0"},
		{"attribution noderivatives 4.0", "CC-BY-ND-4.0"},
		{"attribution sharealike 4.0", "CC-BY-SA-4.0"},
		{"attribution 4.0", "CC-BY-4.0"},
		{"cc0 1.0 universal", "CC0-1.0"},
	}
	for _, v := range variants {
		if strings.Contains(n, v.phrase) {
			return v.id
		}
	}
	return ""
}

var spdxID = regexp.MustCompile(`^[A-Za-z0-9.+-]+( (AND|OR|WITH) [A-Za-z0-9.+-]+)*$`)

// validSPDX reports whether s looks like an SPDX licence expression
// (ids joined by AND, OR or WITH; no parentheses).
func validSPDX(s string) bool {
	return len(s) <= 200 && spdxID.MatchString(s)
}
