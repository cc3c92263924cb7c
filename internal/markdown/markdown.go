// Package markdown is the one Markdown reader of Blueprints, shared by the
// catalogue (which takes a README's title, description and front matter)
// and the pages (which render READMEs): goldmark with GitHub-flavoured
// Markdown, heading ids, and front matter (YAML between --- lines or TOML
// between +++ lines at the very top) parsed as data and kept out of the
// rendered page.
package markdown

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	"github.com/yuin/goldmark/parser"
	"github.com/yuin/goldmark/text"
	"github.com/yuin/goldmark/util"
	"go.abhg.dev/goldmark/frontmatter"
)

// New returns the Markdown converter pages and the catalogue share.
func New() goldmark.Markdown {
	return goldmark.New(
		goldmark.WithExtensions(extension.GFM),
		goldmark.WithParserOptions(parser.WithAutoHeadingID(), parser.WithBlockParsers(util.Prioritized(firstLine{&frontmatter.Parser{}}, 0))),
	)
}

// firstLine lets the front matter parser open only on the document's
// first line: frontmatter v0.2.0 also accepts the second, which would
// swallow a README starting "# Title" and a "---" rule.
type firstLine struct{ *frontmatter.Parser }

func (f firstLine) Open(parent ast.Node, reader text.Reader, pc parser.Context) (ast.Node, parser.State) {
	if _, pos := reader.Position(); pos.Start != 0 {
		return nil, parser.NoChildren
	}
	return f.Parser.Open(parent, reader, pc)
}

// FrontMatter is what a README's front matter tells the catalogue.
type FrontMatter struct {
	Title       string
	Description string
	Category    string
	Tags        []string // topics, tags and keywords together
}

// Split reads src's front matter with md (made by New) and returns it and
// the Markdown after it. found is false when src has no front matter; err
// says what is wrong with front matter that cannot be read (the body is
// then everything after it all the same).
func Split(md goldmark.Markdown, src []byte) (fm FrontMatter, body []byte, found bool, err error) {
	ctx := parser.NewContext()
	md.Parser().Parse(text.NewReader(src), parser.WithContext(ctx))
	data := frontmatter.Get(ctx)
	if data == nil {
		return fm, src, false, nil
	}
	body = afterFrontMatter(src)
	var raw map[string]any
	if err := data.Decode(&raw); err != nil {
		return fm, body, true, fmt.Errorf("front matter: %w", err)
	}
	for k, v := range raw {
		switch strings.ToLower(k) {
		case "title":
			fm.Title = scalar(v)
		case "description", "summary":
			fm.Description = scalar(v)
		case "category":
			fm.Category = scalar(v)
		case "topics", "tags", "keywords":
			fm.Tags = append(fm.Tags, list(v)...)
		}
	}
	return fm, body, true, nil
}

// afterFrontMatter is src after the closing delimiter line of its front
// matter (the line of dashes or pluses that matches the opening one).
func afterFrontMatter(src []byte) []byte {
	nl := bytes.IndexByte(src, '\n')
	if nl < 0 {
		return nil
	}
	delim := strings.TrimSpace(strings.TrimSuffix(string(src[:nl]), "\r"))
	rest := src[nl+1:]
	for len(rest) > 0 {
		end := bytes.IndexByte(rest, '\n')
		line := rest
		if end >= 0 {
			line = rest[:end]
		}
		if strings.TrimSpace(string(line)) == delim {
			if end < 0 {
				return nil
			}
			return rest[end+1:]
		}
		if end < 0 {
			break
		}
		rest = rest[end+1:]
	}
	return nil
}

func scalar(v any) string {
	switch v := v.(type) {
	case string:
		return strings.TrimSpace(v)
	case nil:
		return ""
	case []any, map[string]any:
		return ""
	}
	return strings.TrimSpace(fmt.Sprint(v))
}

// list reads a list of words: a YAML or TOML list, or one comma-separated
// string.
func list(v any) []string {
	var out []string
	switch v := v.(type) {
	case []any:
		for _, e := range v {
			if s := scalar(e); s != "" {
				out = append(out, s)
			}
		}
	case string:
		for _, s := range strings.Split(v, ",") {
			if s = strings.TrimSpace(s); s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}
