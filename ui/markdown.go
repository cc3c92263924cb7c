package ui

import (
	"bytes"
	"html/template"
	"path"
	"strings"
	"time"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/text"
)

// maxReadme is the largest README rendered.
const maxReadme = 1 << 20

// readme finds README.md (any case, or README / README.txt) in the folder
// dir at commit and renders it.
func (u *UI) readme(p *projectRef, commit plumbing.Hash, dir string) (template.HTML, string, error) {
	entries, err := p.Browse.Names(commit, dir)
	if err != nil {
		return "", "", err
	}
	best, rank := -1, 99
	for i, e := range entries {
		if e.Dir || isLink(e) {
			continue
		}
		n := strings.ToLower(e.Name)
		r := 99
		switch {
		case n == "readme.md" || n == "readme.markdown":
			r = 0
		case strings.HasPrefix(n, "readme.md"):
			r = 1
		case n == "readme" || n == "readme.txt":
			r = 2
		}
		if r < rank {
			best, rank = i, r
		}
	}
	if best < 0 {
		return "", "", nil
	}
	e := entries[best]
	if err := p.Browse.FillSize(&e); err != nil {
		return "", "", err
	}
	if e.Size > maxReadme {
		return "", e.Path, nil
	}
	data, err := p.Browse.ReadBlob(e.Hash, maxReadme)
	if err != nil {
		return "", "", err
	}
	l := &located{P: p, Ref: commit.String(), Commit: commit.String()}
	if branch, head, err := p.Browse.Head(); err == nil && head == commit {
		l.Ref = branch
	}
	if rank == 2 {
		return template.HTML("<pre class=\"readme-text\">" + template.HTMLEscapeString(string(data)) + "</pre>"), e.Path, nil
	}
	key := "readme:" + e.Hash.String() + ":" + l.P.Full() + ":" + l.Ref + ":" + dir
	if html, ok := u.cache.get(key); ok {
		return template.HTML(html), e.Path, nil
	}
	html := u.markdown(data, l, dir)
	u.cache.put(key, []byte(html), time.Hour)
	return html, e.Path, nil
}

// markdown renders GitHub-flavoured Markdown and sanitises the result.
// Relative links point at the file pages (at the ref the page shows),
// relative images at image/ (at the commit).
func (u *UI) markdown(src []byte, l *located, dir string) template.HTML {
	md := u.md
	doc := md.Parser().Parse(text.NewReader(src))
	ast.Walk(doc, func(n ast.Node, entering bool) (ast.WalkStatus, error) {
		if !entering {
			return ast.WalkContinue, nil
		}
		switch n := n.(type) {
		case *ast.Link:
			n.Destination = []byte(relativeURL(string(n.Destination), dir, l.BlobURL))
		case *ast.Image:
			n.Destination = []byte(relativeURL(string(n.Destination), dir, l.ImageURL))
		}
		return ast.WalkContinue, nil
	})
	var buf bytes.Buffer
	if err := md.Renderer().Render(&buf, src, doc); err != nil {
		return ""
	}
	return template.HTML(u.policy.SanitizeBytes(buf.Bytes()))
}

// relativeURL maps a link written relative to the README's folder to a
// page URL; absolute URLs, anchors and site paths are left alone.
func relativeURL(dest, dir string, to func(string) string) string {
	if dest == "" || strings.HasPrefix(dest, "#") || strings.HasPrefix(dest, "/") || strings.Contains(dest, "://") || strings.HasPrefix(dest, "mailto:") || strings.HasPrefix(dest, "data:") {
		return dest
	}
	p, frag, _ := strings.Cut(dest, "#")
	p, _, _ = strings.Cut(p, "?")
	p = path.Clean(path.Join("/", dir, p))[1:]
	if p == "" || strings.HasPrefix(p, "..") {
		return dest
	}
	out := to(p)
	if frag != "" {
		out += "#" + frag
	}
	return out
}
