package catalog

import (
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/google/licensecheck"
)

// licenseFiles are the root files a licence is read from, in order of
// preference (compared without regard to case).
var licenseFiles = []string{"LICENSE", "LICENSE.md", "LICENSE.txt", "LICENCE", "LICENCE.md", "LICENCE.txt", "COPYING", "COPYING.md", "COPYING.txt", "License", "License.md", "License.txt"}

var spdxLine = regexp.MustCompile(`(?i)SPDX-License-Identifier:\s*([A-Za-z0-9.+-]+(?:\s+(?:AND|OR|WITH)\s+[A-Za-z0-9.+-]+)*)`)

// scannedLicenses are the licences DetectLicense recognises by their text
// or URL: those makers and software projects use. licensecheck knows
// hundreds; compiling them all takes seconds per process, these about a
// second (once, on the first licence read; serve warms it up at start).
var scannedLicenses = []string{
	"0BSD", "AGPL-1.0", "AGPL-3.0", "Apache-2.0", "BSD-2-Clause", "BSD-3-Clause", "BSD-4-Clause", "BSL-1.0",
	"CC0-1.0", "CERN-OHL-1.1", "CERN-OHL-1.2", "CERN-OHL-P-2.0", "CERN-OHL-S-2.0", "CERN-OHL-W-2.0",
	"EPL-2.0", "EUPL-1.2", "GPL-2.0", "GPL-3.0", "ISC", "LGPL-2.0", "LGPL-2.1", "LGPL-3.0", "MIT", "MPL-2.0",
	"SHL-0.5", "SHL-0.51", "TAPR-OHL-1.0", "Unlicense", "WTFPL", "Zlib",
}

// ccVersions are the Creative Commons versions recognised, every variant
// (BY, BY-SA, BY-NC, …) of each.
var ccVersions = []string{"3.0", "4.0"}

var (
	scannerOnce sync.Once
	scanner     *licensecheck.Scanner
	scannerErr  error
)

// licenseScanner compiles the scanner on first use.
func licenseScanner() (*licensecheck.Scanner, error) {
	scannerOnce.Do(func() {
		var keep []licensecheck.License
		for _, l := range licensecheck.BuiltinLicenses() {
			// The ids, and the notices of the GNU licences (GPL-3.0-or-later).
			if slices.Contains(scannedLicenses, l.ID) || slices.Contains(scannedLicenses, strings.TrimSuffix(strings.TrimSuffix(l.ID, "-only"), "-or-later")) {
				keep = append(keep, l)
				continue
			}
			for _, v := range ccVersions {
				if strings.HasPrefix(l.ID, "CC-BY") && strings.HasSuffix(l.ID, "-"+v) {
					keep = append(keep, l)
				}
			}
		}
		scanner, scannerErr = licensecheck.NewScanner(keep)
	})
	return scanner, scannerErr
}

// WarmLicenses compiles the licence scanner now, so that the first
// catalogue job does not wait for it.
func WarmLicenses() { licenseScanner() }

// minCoverage is how much of a licence file, in per cent of its words,
// must be licence text for the licence to count; a URL naming a licence
// (Creative Commons notices) counts on its own.
const minCoverage = 60

// DetectLicense returns the SPDX id of a licence file's text, or "" when
// it is not a licence it knows. An SPDX-License-Identifier line wins;
// otherwise licensecheck matches the text (or a licence URL in it), and
// the largest match is the answer, made precise by a notice beside it (a
// GPL text under a notice granting later versions is GPL-3.0-or-later).
// Ids are current SPDX ids: the deprecated bare GPL-3.0 is GPL-3.0-only.
func DetectLicense(text string) string {
	if m := spdxLine.FindStringSubmatch(text); m != nil {
		return currentExpression(m[1])
	}
	sc, err := licenseScanner()
	if err != nil {
		return ""
	}
	cov := sc.Scan([]byte(text))
	var best licensecheck.Match
	for _, m := range cov.Match {
		if m.End-m.Start > best.End-best.Start || (best.ID == "" && m.ID != "") {
			best = m
		}
	}
	if best.ID == "" || (!best.IsURL && cov.Percent < minCoverage) {
		return ""
	}
	if best.IsURL {
		// A notice naming the licence by URL: every match must agree.
		for _, m := range cov.Match {
			if m.ID != best.ID {
				return ""
			}
		}
	}
	// A notice beside the text says which form it is ("GPL-3.0-or-later"
	// above the GPL-3.0 text).
	for _, m := range cov.Match {
		if strings.HasPrefix(m.ID, best.ID+"-") {
			return currentID(m.ID, false)
		}
	}
	return currentID(best.ID, false)
}

// deprecatedIDs map SPDX ids deprecated in favour of -only/-or-later
// forms and a few renamed ones to their current id.
var deprecatedIDs = map[string]string{
	"BSD-2-Clause-FreeBSD": "BSD-2-Clause", "BSD-2-Clause-NetBSD": "BSD-2-Clause", "StandardML-NJ": "SMLNJ",
}

// gnuFamilies are the licences whose bare id is deprecated.
var gnuFamilies = []string{"GPL-1.0", "GPL-2.0", "GPL-3.0", "LGPL-2.0", "LGPL-2.1", "LGPL-3.0", "AGPL-1.0", "AGPL-3.0", "GFDL-1.1", "GFDL-1.2", "GFDL-1.3"}

// currentID turns a possibly deprecated id into the current one.
func currentID(id string, later bool) string {
	if strings.HasSuffix(id, "+") && slices.Contains(gnuFamilies, strings.TrimSuffix(id, "+")) {
		return strings.TrimSuffix(id, "+") + "-or-later"
	}
	if slices.Contains(gnuFamilies, id) {
		if later {
			return id + "-or-later"
		}
		return id + "-only"
	}
	if cur, ok := deprecatedIDs[id]; ok {
		return cur
	}
	return id
}

// currentExpression applies currentID to each id of an SPDX expression.
func currentExpression(expr string) string {
	f := strings.Fields(expr)
	for i, w := range f {
		if w != "AND" && w != "OR" && w != "WITH" {
			f[i] = currentID(w, false)
		}
	}
	return strings.Join(f, " ")
}

var spdxID = regexp.MustCompile(`^[A-Za-z0-9.+-]+( (AND|OR|WITH) [A-Za-z0-9.+-]+)*$`)

// validSPDX reports whether s looks like an SPDX licence expression
// (ids joined by AND, OR or WITH; no parentheses).
func validSPDX(s string) bool {
	return len(s) <= 200 && spdxID.MatchString(s)
}
