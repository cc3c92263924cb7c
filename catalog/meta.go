package catalog

import (
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/blueprints-hq/blueprints/internal/markdown"
	"github.com/blueprints-hq/blueprints/internal/store"
)

// maxMetaFile bounds how much of a README or licence file is read.
const maxMetaFile = 512 << 10

var readmeNames = []string{"README.md", "README.markdown", "README", "README.txt", "README.rst"}

// maxReadmeWords bounds the README text indexed for search.
const maxReadmeWords = 32 << 10

// readProjectMeta reads a project's title, description, licence, category
// and tags from the README, licence file and okh.toml at the root of tree,
// and the README's words (ReadmeWords) for the search index. Problems (a
// malformed manifest, an unknown licence text) are recorded in Problems,
// never fatal.
func readProjectMeta(tree *object.Tree) store.ProjectMeta {
	meta := store.ProjectMeta{License: "none", Tags: []string{}, Problems: []string{}}
	files := map[string]*object.TreeEntry{}
	for i := range tree.Entries {
		e := &tree.Entries[i]
		if isFileMode(e.Mode) {
			files[strings.ToLower(e.Name)] = e
		}
	}
	read := func(e *object.TreeEntry) (string, error) {
		b, err := tree.TreeEntryFile(e)
		if err != nil {
			return "", err
		}
		rd, err := b.Reader()
		if err != nil {
			return "", err
		}
		defer rd.Close()
		data, err := io.ReadAll(io.LimitReader(rd, maxMetaFile))
		return string(data), err
	}
	for _, n := range readmeNames {
		e := files[strings.ToLower(n)]
		if e == nil {
			continue
		}
		text, err := read(e)
		if err != nil {
			meta.Problems = append(meta.Problems, fmt.Sprintf("%s: cannot be read: %v", e.Name, err))
			break
		}
		r := ParseReadme(text)
		meta.ReadmeWords = ReadmeWords(text)
		meta.Title, meta.Description, meta.Category = r.Title, r.Description, r.Category
		if r.Problem != "" {
			meta.Problems = append(meta.Problems, e.Name+": "+r.Problem)
		}
		meta.Tags = normalizeTags(r.Tags)
		break
	}
	for _, n := range licenseFiles {
		e := files[strings.ToLower(n)]
		if e == nil {
			continue
		}
		text, err := read(e)
		if err != nil {
			meta.Problems = append(meta.Problems, fmt.Sprintf("%s: cannot be read: %v", e.Name, err))
			break
		}
		if id := DetectLicense(text); id != "" {
			meta.License = id
		} else {
			meta.Problems = append(meta.Problems, fmt.Sprintf("%s: licence text not recognised; declare it with `license = \"SPDX-ID\"` in %s", e.Name, ManifestFile))
		}
		break
	}
	if e := files[ManifestFile]; e != nil {
		text, err := read(e)
		if err != nil {
			meta.Problems = append(meta.Problems, fmt.Sprintf("%s: cannot be read: %v", e.Name, err))
			return meta
		}
		m, problems, err := ParseManifest([]byte(text))
		if err != nil {
			meta.Problems = append(meta.Problems, err.Error())
			return meta
		}
		meta.Problems = append(meta.Problems, problems...)
		if m.Name != "" {
			meta.Title = m.Name
		}
		if meta.Description == "" {
			meta.Description = m.Function
		}
		if m.License != "" {
			meta.License = currentExpression(m.License)
		}
		if m.Category != "" {
			meta.Category = m.Category
		}
		if len(m.Tags) > 0 {
			meta.Tags = normalizeTags(append(meta.Tags, m.Tags...))
		}
		meta.Version = m.Version
	}
	return meta
}

var (
	mdLinkTarget = regexp.MustCompile(`\]\([^)]*\)`)
	mdRefDef     = regexp.MustCompile(`(?m)^\s*\[[^\]]+\]:\s*\S+.*$`)
)

// ReadmeWords is the text of a README with what is not prose for a reader
// taken out (link and image addresses, bare URLs, HTML tags and comments,
// front matter), at most maxReadmeWords bytes of it: what search indexes.
func ReadmeWords(text string) string {
	var r Readme
	text = strings.TrimPrefix(strings.ReplaceAll(text, "\r\n", "\n"), "\ufeff")
	text = r.frontMatter(text)
	text = htmlComment.ReplaceAllString(text, " ")
	text = mdLinkTarget.ReplaceAllString(text, "] ")
	text = mdRefDef.ReplaceAllString(text, " ")
	text = bareURL.ReplaceAllString(text, " ")
	text = htmlTag.ReplaceAllString(text, " ")
	text = strings.Join(strings.Fields(text), " ")
	if len(text) > maxReadmeWords {
		text = clip(text, maxReadmeWords)
	}
	return text
}

// Readme is what the catalog takes from a README.
type Readme struct {
	Title       string   // first heading, Markdown removed
	Description string   // first paragraph of prose, Markdown removed
	Category    string   // "category:" in front matter
	Tags        []string // "topics:", "tags:" or "keywords:" in front matter
	FrontTitle  string   // "title:" in front matter, the title when no heading gives one
	Problem     string   // what is wrong with the front matter, "" when nothing
}

var (
	htmlComment = regexp.MustCompile(`(?s)<!--.*?-->`)
	mdImage     = regexp.MustCompile(`!\[[^\]]*\]\([^)]*\)`)
	mdLink      = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)
	mdRefLink   = regexp.MustCompile(`\[([^\]]*)\]\[[^\]]*\]`)
	htmlTag     = regexp.MustCompile(`</?[A-Za-z][^>]*>`)
	mdEmphasis  = regexp.MustCompile(`(\*\*|__|\*|~~|` + "`" + `)`)
	mdUnderline = regexp.MustCompile(`(^|\W)_([^_]+)_(\W|$)`)
	setextLine  = regexp.MustCompile(`^(=+|-+)\s*$`)
	listMarker  = regexp.MustCompile(`^\s*([-*+]|\d+[.)])\s+`)
	// A URL written out, bare or as an autolink: a README that is only an
	// address ("https://github.com/x/y") has no prose to describe with.
	bareURL = regexp.MustCompile(`(?i)<?\b(?:https?|ftp)://[^\s>]*>?|\bwww\.[^\s]+|<[^\s@>]+@[^\s@>]+>`)
)

// ParseReadme takes the title (first heading), the description (first
// paragraph that is prose, not only a link, an image or HTML) and front
// matter topics from a Markdown README.
func ParseReadme(text string) Readme {
	var r Readme
	text = strings.ReplaceAll(text, "\r\n", "\n")
	text = strings.TrimPrefix(text, "\ufeff")
	text = r.frontMatter(text)
	text = htmlComment.ReplaceAllString(text, "")
	lines := strings.Split(text, "\n")
	var para []string
	fence := false
	flush := func() {
		if len(para) == 0 || r.Description != "" {
			para = nil
			return
		}
		raw := strings.Join(para, " ")
		para = nil
		if isDecoration(raw) {
			return
		}
		if d := stripMarkdown(raw); len(d) >= 3 {
			r.Description = clip(d, 500)
		}
	}
	for i, line := range lines {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "```") || strings.HasPrefix(t, "~~~") {
			flush()
			fence = !fence
			continue
		}
		if fence {
			continue
		}
		switch {
		case strings.HasPrefix(t, "#"):
			flush()
			h := strings.TrimSpace(strings.TrimRight(strings.TrimLeft(t, "#"), "#"))
			if r.Title == "" && h != "" {
				r.Title = clip(stripMarkdown(h), 200)
			}
		case t == "":
			flush()
		case setextLine.MatchString(t) && len(para) == 1 && i > 0:
			if r.Title == "" {
				r.Title = clip(stripMarkdown(para[0]), 200)
			}
			para = nil
		case strings.HasPrefix(t, ">"), strings.HasPrefix(t, "|"), listMarker.MatchString(line):
			flush()
		default:
			para = append(para, t)
		}
		if r.Title != "" && r.Description != "" {
			break
		}
	}
	flush()
	if r.Title == "" {
		r.Title = r.FrontTitle
	}
	return r
}

// isDecoration reports whether a paragraph holds no prose: only links,
// addresses, images, badges or HTML.
func isDecoration(raw string) bool {
	s := mdImage.ReplaceAllString(raw, "")
	s = mdLink.ReplaceAllString(s, "")
	s = bareURL.ReplaceAllString(s, "")
	s = htmlTag.ReplaceAllString(s, "")
	s = mdEmphasis.ReplaceAllString(s, "")
	return strings.TrimSpace(strings.Trim(s, " |:-")) == ""
}

func stripMarkdown(s string) string {
	s = mdImage.ReplaceAllString(s, "")
	s = mdLink.ReplaceAllString(s, "$1")
	s = mdRefLink.ReplaceAllString(s, "$1")
	s = htmlTag.ReplaceAllString(s, "")
	s = mdEmphasis.ReplaceAllString(s, "")
	s = mdUnderline.ReplaceAllString(s, "$1$2$3")
	s = strings.NewReplacer("&amp;", "&", "&lt;", "<", "&gt;", ">", "&quot;", `"`, "&nbsp;", " ", `\`, "").Replace(s)
	return strings.Join(strings.Fields(s), " ")
}

// readmeMarkdown reads README front matter with the parser the pages
// render READMEs with, so both agree on where it ends.
var readmeMarkdown = markdown.New()

// frontMatter reads the README's front matter (YAML between --- lines or
// TOML between +++ lines at the top) and returns the text after it.
func (r *Readme) frontMatter(text string) string {
	fm, body, found, err := markdown.Split(readmeMarkdown, []byte(text))
	if !found {
		return text
	}
	if err != nil {
		r.Problem = err.Error()
	}
	r.FrontTitle = clip(fm.Title, 200)
	for _, t := range fm.Tags {
		r.addFront("tags", t)
	}
	r.addFront("category", fm.Category)
	return string(body)
}

func (r *Readme) addFront(key, v string) {
	v = strings.Trim(strings.TrimSpace(v), `"'`)
	if v == "" {
		return
	}
	switch key {
	case "topics", "tags", "keywords":
		r.Tags = append(r.Tags, v)
	case "category":
		r.Category = strings.ToLower(clip(v, 100))
	}
}
