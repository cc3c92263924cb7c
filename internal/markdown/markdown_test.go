package markdown

import (
	"bytes"
	"strings"
	"testing"
)

func TestFrontMatter(t *testing.T) {
	md := New()
	cases := []struct {
		name, src string
		want      FrontMatter
		body      string
		err       bool
	}{
		{"yaml", "---\ntitle: Seeder\ntopics: [Farming, tractor]\ncategory: Agriculture\ntags:\n  - seeder\n---\n# Seeder\n\nA drill.\n",
			FrontMatter{Title: "Seeder", Category: "Agriculture", Tags: []string{"Farming", "tractor", "seeder"}}, "# Seeder\n\nA drill.\n", false},
		{"toml", "+++\ntitle = \"Loom\"\nkeywords = [\"weaving\"]\n+++\nText.\n",
			FrontMatter{Title: "Loom", Tags: []string{"weaving"}}, "Text.\n", false},
		{"comma tags", "---\ntags: a, b\n---\nx\n", FrontMatter{Tags: []string{"a", "b"}}, "x\n", false},
		{"bad yaml", "---\ntitle: [unclosed\n---\n# T\n", FrontMatter{}, "# T\n", true},
	}
	for _, c := range cases {
		fm, body, found, err := Split(md, []byte(c.src))
		if !found || (err != nil) != c.err {
			t.Errorf("%s: found %v, err %v", c.name, found, err)
			continue
		}
		if c.err {
			if !strings.Contains(err.Error(), "front matter") {
				t.Errorf("%s: error %q does not name the front matter", c.name, err)
			}
		} else {
			// Tags come from a map: compare as sets.
			if fm.Title != c.want.Title || fm.Category != c.want.Category || len(fm.Tags) != len(c.want.Tags) {
				t.Errorf("%s: %+v, want %+v", c.name, fm, c.want)
			}
			for _, tag := range c.want.Tags {
				if !strings.Contains(strings.Join(fm.Tags, "|"), tag) {
					t.Errorf("%s: tag %q missing from %v", c.name, tag, fm.Tags)
				}
			}
		}
		if string(body) != c.body {
			t.Errorf("%s: body %q, want %q", c.name, body, c.body)
		}
	}
	for _, src := range []string{"# No front matter\n---\nText\n---\n", "Title\n---\n\nText.\n", "\n---\ntitle: x\n---\n"} {
		if _, body, found, err := Split(md, []byte(src)); found || err != nil || string(body) != src {
			t.Errorf("%q has no front matter: found %v, err %v, body %q", src, found, err, body)
		}
	}
}

// TestRenderLeavesFrontMatterOut: the page never shows front matter as a
// rule and a heading.
func TestRenderLeavesFrontMatterOut(t *testing.T) {
	var out bytes.Buffer
	if err := New().Convert([]byte("---\ntitle: x\ntopics: [a]\n---\n# Seeder\n\nText.\n"), &out); err != nil {
		t.Fatal(err)
	}
	html := out.String()
	if strings.Contains(html, "<hr") || strings.Contains(html, "topics") || strings.Contains(html, "<h2") || !strings.Contains(html, `<h1 id="seeder">Seeder</h1>`) {
		t.Errorf("rendered %q", html)
	}
}
