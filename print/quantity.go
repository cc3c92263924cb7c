package print

import (
	"errors"
	"fmt"
	"math"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// Where a part's count and role come from, first match wins:
//
//  1. print.toml at the project's root, Blueprints' bill of parts:
//
//     [[part]]
//     file = "STLs/idler_*.stl"   # a path, a glob (path.Match), or a list of them
//     quantity = 2
//     role = "accent"             # or "main"
//
//     A pattern without a "/" matches the file name in any folder.
//  2. okh.toml, the Open Know-How manifest the catalogue reads: a
//     [[part]] with "source" (a path or a list) and "quantity".
//  3. The file name, as makers write it: "idler_x2.stl", "idler x2.stl",
//     "2x_idler.stl", "idler (2x).stl"; Voron's "[a]_" prefix marks a part
//     printed in the accent colour.
//  4. Otherwise one, in the main colour.
//
// A manifest's nonsense (a negative, zero, fractional, huge or non-numeric
// quantity, an unknown role, a file that is not TOML) is reported as a
// note, and the part falls back to the next source.

// Manifest file names read from a project's root.
const (
	BillFile     = "print.toml"
	OKHFile      = "okh.toml"
	maxBillBytes = 256 << 10
)

// MaxQuantity is the largest count taken from a manifest or a file name.
const MaxQuantity = 1000

// Roles of a part: the colour it is printed in.
const (
	RoleMain   = "main"
	RoleAccent = "accent"
)

// Sources of a count or a role, as the page shows them.
const (
	FromBill    = BillFile
	FromOKH     = OKHFile
	FromName    = "file name"
	FromDefault = "default"
)

// Count is how many of a part to print and in which role, with where each
// came from.
type Count struct {
	Quantity int    `json:"quantity"`
	From     string `json:"quantity_from"`
	Role     string `json:"role"`
	RoleFrom string `json:"role_from"`
}

// Bill is what a project's manifests say about counts and roles.
type Bill struct {
	entries []billEntry
	used    []bool
}

type billEntry struct {
	source   string // BillFile or OKHFile
	label    string // how notes name it: `print.toml: part 3 ("STLs/a.stl")`
	patterns []string
	quantity int    // 0: not given (or refused)
	role     string // "": not given
}

// ParseBill reads print.toml and okh.toml (either may be nil). Problems
// come back as notes naming the file and the entry; what was sound is kept.
func ParseBill(printTOML, okhTOML []byte) (Bill, []string) {
	var b Bill
	var notes []string
	b.entries = append(b.entries, parseEntries(BillFile, printTOML, "file", true, &notes)...)
	b.entries = append(b.entries, parseEntries(OKHFile, okhTOML, "source", false, &notes)...)
	b.used = make([]bool, len(b.entries))
	return b, notes
}

func parseEntries(file string, data []byte, key string, roles bool, notes *[]string) []billEntry {
	if data == nil {
		return nil
	}
	if len(data) > maxBillBytes {
		*notes = append(*notes, fmt.Sprintf("%s is %d bytes, more than the %d read; it was ignored", file, len(data), maxBillBytes))
		return nil
	}
	var raw map[string]any
	if _, err := toml.Decode(string(data), &raw); err != nil {
		var pe toml.ParseError
		msg := err.Error()
		if errors.As(err, &pe) {
			msg = fmt.Sprintf("line %d: %s", pe.Position.Line, pe.Message)
		}
		msg, _, _ = strings.Cut(msg, "\n")
		*notes = append(*notes, fmt.Sprintf("%s is not valid TOML (%s); it was ignored", file, clip(msg, 160)))
		return nil
	}
	var tables []map[string]any
	switch v := raw["part"].(type) {
	case nil:
		return nil
	case []map[string]any:
		tables = v
	case []any:
		for _, e := range v {
			if t, ok := e.(map[string]any); ok {
				tables = append(tables, t)
			}
		}
	default:
		*notes = append(*notes, fmt.Sprintf("%s: \"part\" should be a list of [[part]] tables", file))
		return nil
	}
	var out []billEntry
	for i, t := range tables {
		e := billEntry{source: file}
		e.patterns = stringsOf(t[key])
		e.label = fmt.Sprintf("%s: part %d", file, i+1)
		if len(e.patterns) > 0 {
			e.label += fmt.Sprintf(" (%q)", clip(e.patterns[0], 80))
		}
		if len(e.patterns) == 0 {
			if file == BillFile {
				*notes = append(*notes, fmt.Sprintf("%s names no file; add file = \"path/to/part.stl\"", e.label))
			}
			continue
		}
		if q, ok := t["quantity"]; ok {
			n, err := quantityOf(q)
			if err != nil {
				*notes = append(*notes, fmt.Sprintf("%s: quantity %s; counted from the file name instead", e.label, err))
			} else {
				e.quantity = n
			}
		}
		if r, ok := t["role"]; ok && roles {
			s, _ := r.(string)
			switch strings.ToLower(strings.TrimSpace(s)) {
			case RoleMain:
				e.role = RoleMain
			case RoleAccent:
				e.role = RoleAccent
			default:
				*notes = append(*notes, fmt.Sprintf("%s: role %s is neither \"main\" nor \"accent\"; ignored", e.label, shown(r)))
			}
		}
		if e.quantity == 0 && e.role == "" {
			continue
		}
		out = append(out, e)
	}
	return out
}

// quantityOf reads a manifest's quantity: a whole number from 1 to
// MaxQuantity. The error says what is wrong with it.
func quantityOf(v any) (int, error) {
	switch q := v.(type) {
	case int64:
		if q < 1 || q > MaxQuantity {
			return 0, fmt.Errorf("%d is not a count from 1 to %d", q, MaxQuantity)
		}
		return int(q), nil
	case float64:
		if q != math.Trunc(q) || q < 1 || q > MaxQuantity {
			return 0, fmt.Errorf("%s is not a whole count from 1 to %d", strconv.FormatFloat(q, 'g', 6, 64), MaxQuantity)
		}
		return int(q), nil
	case string:
		n, err := strconv.Atoi(strings.TrimSpace(q))
		if err != nil || n < 1 || n > MaxQuantity {
			return 0, fmt.Errorf("%s is not a count from 1 to %d", shown(q), MaxQuantity)
		}
		return n, nil
	}
	return 0, fmt.Errorf("%s is not a number", shown(v))
}

// shown quotes a manifest value for a note, cut short.
func shown(v any) string {
	s := fmt.Sprintf("%v", v)
	if _, ok := v.(string); ok {
		s = strconv.Quote(clip(v.(string), 40))
	}
	return clip(s, 60)
}

func stringsOf(v any) []string {
	switch s := v.(type) {
	case string:
		if s = strings.TrimSpace(s); s != "" {
			return []string{s}
		}
	case []any:
		var out []string
		for _, e := range s {
			if str, ok := e.(string); ok && strings.TrimSpace(str) != "" {
				out = append(out, strings.TrimSpace(str))
			}
		}
		return out
	}
	return nil
}

// matches reports whether a manifest pattern names the part at p.
func matches(pattern, p string) bool {
	pattern = strings.TrimPrefix(pattern, "./")
	if pattern == p {
		return true
	}
	target := p
	if !strings.Contains(pattern, "/") {
		target = path.Base(p)
	}
	ok, err := path.Match(pattern, target)
	return err == nil && ok
}

// Count returns the part at p's count and role.
func (b *Bill) Count(p string) Count {
	c := Count{}
	for i, e := range b.entries {
		hit := false
		for _, pat := range e.patterns {
			if matches(pat, p) {
				hit = true
				break
			}
		}
		if !hit {
			continue
		}
		b.used[i] = true
		if c.Quantity == 0 && e.quantity > 0 {
			c.Quantity, c.From = e.quantity, e.source
		}
		if c.Role == "" && e.role != "" {
			c.Role, c.RoleFrom = e.role, e.source
		}
	}
	n, accent := FromFileName(p)
	if c.Quantity == 0 {
		c.Quantity, c.From = 1, FromDefault
		if n > 0 {
			c.Quantity, c.From = n, FromName
		}
	}
	if c.Role == "" {
		c.Role, c.RoleFrom = RoleMain, FromDefault
		if accent {
			c.Role, c.RoleFrom = RoleAccent, FromName
		}
	}
	return c
}

// Unused returns notes for the manifest entries that matched none of the
// parts counted so far.
func (b *Bill) Unused() []string {
	var out []string
	for i, e := range b.entries {
		if !b.used[i] {
			out = append(out, fmt.Sprintf("%s matches no part", e.label))
		}
	}
	return out
}

var (
	accentPrefix = regexp.MustCompile(`(?i)^\[a\][_\- ]?`)
	countSuffix  = regexp.MustCompile(`(?i)(?:^|[_\-. ])x([0-9]{1,4})$`)
	countPrefix  = regexp.MustCompile(`(?i)^([0-9]{1,4})x[_\- ]`)
	countParens  = regexp.MustCompile(`(?i)\(\s*(?:([0-9]{1,4})\s*x|x\s*([0-9]{1,4}))\s*\)`)
)

// FromFileName reads the count and accent mark makers put in file names:
// n is 0 when the name gives no count (or one out of range).
func FromFileName(p string) (n int, accent bool) {
	base := path.Base(p)
	base = strings.TrimSuffix(base, path.Ext(base))
	if loc := accentPrefix.FindStringIndex(base); loc != nil {
		accent = true
		base = base[loc[1]:]
	}
	var digits string
	if m := countSuffix.FindStringSubmatch(base); m != nil {
		digits = m[1]
	} else if m := countPrefix.FindStringSubmatch(base); m != nil {
		digits = m[1]
	} else if m := countParens.FindStringSubmatch(base); m != nil {
		digits = m[1] + m[2]
	}
	if digits != "" {
		if v, err := strconv.Atoi(digits); err == nil && v >= 1 && v <= MaxQuantity {
			n = v
		}
	}
	return n, accent
}

// clip cuts s to at most n bytes on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n] + "…"
}
