// Package aptest checks ActivityPub, WebFinger and NodeInfo documents
// against requirements.json: each field this server must publish, with the
// section of the specification (or the Mastodon code) that asks for it.
// Unit tests check the documents package ap builds; end-to-end tests check
// what a running server serves.
package aptest

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/blueprints-hq/blueprints/federation/httpsig"
)

//go:embed requirements.json
var requirementsJSON []byte

//go:embed nodeinfo-2.1.schema.json
var nodeInfoSchema []byte

// Requirement is one line of requirements.json.
type Requirement struct {
	Kinds  []string `json:"kinds"`
	Path   string   `json:"path"`
	Rule   string   `json:"rule"`
	Value  string   `json:"value"`
	Values []string `json:"values"`
	Spec   string   `json:"spec"`
}

// Requirements are the fixture's lines.
func Requirements() []Requirement {
	var f struct {
		Requirements []Requirement `json:"requirements"`
	}
	if err := json.Unmarshal(requirementsJSON, &f); err != nil {
		panic("aptest: requirements.json: " + err.Error())
	}
	return f.Requirements
}

// Kinds lists every kind the fixture names.
func Kinds() []string {
	seen := map[string]bool{}
	var out []string
	for _, r := range Requirements() {
		for _, k := range r.Kinds {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	return out
}

// Check applies every requirement of kind to doc and returns one error
// per requirement not met, each naming the field, the rule and the
// specification.
func Check(kind string, doc []byte) []error {
	var v any
	d := json.NewDecoder(bytes.NewReader(doc))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return []error{fmt.Errorf("%s: not JSON: %v", kind, err)}
	}
	var errs []error
	n := 0
	for _, r := range Requirements() {
		if !has(r.Kinds, kind) {
			continue
		}
		n++
		if err := r.check(v, doc); err != nil {
			errs = append(errs, fmt.Errorf("%s %s (%s): %v [%s]", kind, r.Path, r.Rule, err, r.Spec))
		}
	}
	if n == 0 {
		errs = append(errs, fmt.Errorf("no requirement names kind %q", kind))
	}
	return errs
}

func has(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// lookup follows a dotted path; numbers index arrays.
func lookup(v any, path string) (any, bool) {
	if path == "" {
		return v, true
	}
	for _, p := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[p]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

var mastodonUsername = regexp.MustCompile(`^(?i)[a-z0-9_]+([a-z0-9_.-]+[a-z0-9_]+)?$`)

func isIRI(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func (r Requirement) check(doc any, raw []byte) error {
	v, ok := lookup(doc, r.Path)
	if !ok && r.Rule != "nodeinfo-schema" {
		return fmt.Errorf("missing")
	}
	s, isString := v.(string)
	switch r.Rule {
	case "present":
		return nil
	case "string":
		if !isString || s == "" {
			return fmt.Errorf("want a non-empty string, got %v", v)
		}
	case "iri":
		if !isString || !isIRI(s) {
			return fmt.Errorf("want an absolute http(s) URL, got %v", v)
		}
	case "equals":
		if !isString || s != r.Value {
			return fmt.Errorf("want %q, got %v", r.Value, v)
		}
	case "prefix":
		if !isString || !strings.HasPrefix(s, r.Value) {
			return fmt.Errorf("want a string starting %q, got %v", r.Value, v)
		}
	case "oneof":
		if !isString || !has(r.Values, s) {
			return fmt.Errorf("want one of %v, got %v", r.Values, v)
		}
	case "contains":
		switch x := v.(type) {
		case string:
			if x != r.Value {
				return fmt.Errorf("want %q, got %q", r.Value, x)
			}
		case []any:
			for _, item := range x {
				if item == r.Value {
					return nil
				}
			}
			return fmt.Errorf("want %q among %v", r.Value, x)
		default:
			return fmt.Errorf("want a string or array, got %v", v)
		}
	case "same-as":
		other, ok := lookup(doc, r.Value)
		if !ok || other != v {
			return fmt.Errorf("%v differs from %s (%v)", v, r.Value, other)
		}
	case "same-host":
		id, _ := lookup(doc, "id")
		ids, _ := id.(string)
		a, err1 := url.Parse(s)
		b, err2 := url.Parse(ids)
		if !isString || err1 != nil || err2 != nil || a.Host != b.Host {
			return fmt.Errorf("%v is not on the host of id %v", v, id)
		}
	case "rsa-pem":
		if _, err := httpsig.ParsePublicKeyPEM(s); err != nil {
			return err
		}
	case "datetime":
		if _, err := time.Parse(time.RFC3339, s); err != nil {
			return fmt.Errorf("want an RFC 3339 date-time, got %v", v)
		}
	case "username":
		if !isString || !mastodonUsername.MatchString(s) {
			return fmt.Errorf("%v does not match Mastodon's remote username pattern", v)
		}
	case "self-link":
		links, _ := v.([]any)
		for _, l := range links {
			m, _ := l.(map[string]any)
			if m["rel"] == "self" && m["type"] == "application/activity+json" {
				if h, _ := m["href"].(string); isIRI(h) {
					return nil
				}
			}
		}
		return fmt.Errorf("no rel=self link of type application/activity+json with an absolute href")
	case "nodeinfo-schema":
		return checkNodeInfo(raw)
	default:
		return fmt.Errorf("unknown rule")
	}
	return nil
}

func checkNodeInfo(raw []byte) error {
	schema, err := jsonschema.UnmarshalJSON(bytes.NewReader(nodeInfoSchema))
	if err != nil {
		return err
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("nodeinfo-2.1.json", schema); err != nil {
		return err
	}
	sch, err := c.Compile("nodeinfo-2.1.json")
	if err != nil {
		return err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	return sch.Validate(doc)
}
