package catalog

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
)

// ManifestFile is the Open Know-How (OKH-LOSH) manifest at a project's root.
const ManifestFile = "okh.toml"

// maxManifestSize bounds the manifest read, in bytes.
const maxManifestSize = 256 << 10

// Manifest is what the catalog takes from an OKH-LOSH manifest.
type Manifest struct {
	Name                  string
	Version               string
	License               string // SPDX expression
	Function              string
	DocumentationLanguage string
	Category              string
	Tags                  []string
	Parts                 []ManifestPart
}

// ManifestPart is one [[part]] of the manifest.
type ManifestPart struct {
	Name   string
	Source []string
}

// ParseManifest reads an okh.toml manifest. A file that is not TOML gives
// an error naming the line; a field of the wrong type or with a bad value
// is left out and reported in problems, so one slip does not lose the
// rest of the manifest.
func ParseManifest(data []byte) (m Manifest, problems []string, err error) {
	if len(data) > maxManifestSize {
		return Manifest{}, nil, fmt.Errorf("%s is %d bytes, more than the %d allowed", ManifestFile, len(data), maxManifestSize)
	}
	var raw map[string]any
	if _, err := toml.Decode(string(data), &raw); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return Manifest{}, nil, fmt.Errorf("%s: line %d: %s", ManifestFile, pe.Position.Line, firstLine(pe.Message))
		}
		return Manifest{}, nil, fmt.Errorf("%s: %s", ManifestFile, firstLine(err.Error()))
	}
	str := func(key string) string {
		v, ok := raw[key]
		if !ok {
			return ""
		}
		s, ok := v.(string)
		if !ok {
			problems = append(problems, fmt.Sprintf("%s: %q should be a string, not %s", ManifestFile, key, typeName(v)))
			return ""
		}
		return clip(strings.TrimSpace(s), 500)
	}
	strs := func(key string) []string {
		v, ok := raw[key]
		if !ok {
			return nil
		}
		return stringList(v, key, &problems)
	}
	m.Name = str("name")
	m.Version = str("version")
	m.Function = str("function")
	m.DocumentationLanguage = str("documentation-language")
	m.Category = strings.ToLower(str("category"))
	switch v := raw["license"].(type) {
	case nil:
	case string:
		m.License = strings.TrimSpace(v)
	case map[string]any:
		// Some manifests write [license] with an spdx-id key.
		for _, k := range []string{"spdx-id", "spdx", "id"} {
			if s, ok := v[k].(string); ok {
				m.License = strings.TrimSpace(s)
				break
			}
		}
		if m.License == "" {
			problems = append(problems, fmt.Sprintf("%s: [license] has no spdx-id", ManifestFile))
		}
	default:
		problems = append(problems, fmt.Sprintf("%s: \"license\" should be a string, not %s", ManifestFile, typeName(v)))
	}
	if m.License != "" && !validSPDX(m.License) {
		problems = append(problems, fmt.Sprintf("%s: license %q is not an SPDX licence id", ManifestFile, clip(m.License, 80)))
		m.License = ""
	}
	tags := append(strs("keywords"), strs("tags")...)
	m.Tags = normalizeTags(tags)
	switch v := raw["part"].(type) {
	case nil:
	case []map[string]any:
		for _, p := range v {
			m.Parts = append(m.Parts, manifestPart(p, &problems))
		}
	case []any:
		for _, e := range v {
			p, ok := e.(map[string]any)
			if !ok {
				problems = append(problems, fmt.Sprintf("%s: a [[part]] entry should be a table, not %s", ManifestFile, typeName(e)))
				continue
			}
			m.Parts = append(m.Parts, manifestPart(p, &problems))
		}
	default:
		problems = append(problems, fmt.Sprintf("%s: \"part\" should be an array of tables ([[part]]), not %s", ManifestFile, typeName(v)))
	}
	return m, problems, nil
}

func manifestPart(p map[string]any, problems *[]string) ManifestPart {
	var mp ManifestPart
	if v, ok := p["name"]; ok {
		if s, ok := v.(string); ok {
			mp.Name = clip(s, 200)
		} else {
			*problems = append(*problems, fmt.Sprintf("%s: part name should be a string, not %s", ManifestFile, typeName(v)))
		}
	}
	if v, ok := p["source"]; ok {
		mp.Source = stringList(v, "part.source", problems)
	}
	return mp
}

// stringList accepts a string or an array of strings.
func stringList(v any, key string, problems *[]string) []string {
	switch v := v.(type) {
	case string:
		return []string{clip(v, 200)}
	case []any:
		var out []string
		for _, e := range v {
			s, ok := e.(string)
			if !ok {
				*problems = append(*problems, fmt.Sprintf("%s: %q should hold strings, not %s", ManifestFile, key, typeName(e)))
				continue
			}
			out = append(out, clip(s, 200))
		}
		return out
	}
	*problems = append(*problems, fmt.Sprintf("%s: %q should be a string or a list of strings, not %s", ManifestFile, key, typeName(v)))
	return nil
}

func typeName(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a number"
	case bool:
		return "a boolean"
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	return "a date"
}

// normalizeTags lower-cases, trims, de-duplicates and sorts tags, keeping
// at most 20 of them.
func normalizeTags(tags []string) []string {
	seen := map[string]bool{}
	out := []string{}
	for _, t := range tags {
		t = strings.ToLower(strings.TrimSpace(t))
		if t == "" || len(t) > 50 || seen[t] {
			continue
		}
		seen[t] = true
		out = append(out, t)
	}
	sort.Strings(out)
	if len(out) > 20 {
		out = out[:20]
	}
	return out
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return clip(s, 200)
}

// clip cuts s to at most n bytes on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}
