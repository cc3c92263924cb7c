package testenv

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// CorpusProject is one folder of testdata/corpus (one public repository) as
// MANIFEST.tsv lists it.
type CorpusProject struct {
	Dir     string   // folder under testdata/corpus, "owner__repo"
	Name    string   // the repository's name
	License string   // SPDX id from the manifest
	Parts   []string // paths of its STL files
}

// Corpus reads testdata/corpus/MANIFEST.tsv, projects in manifest order.
func Corpus(t T) []CorpusProject {
	t.Helper()
	f, err := os.Open(filepath.Join(ModuleRoot(t), "testdata", "corpus", "MANIFEST.tsv"))
	if err != nil {
		t.Fatalf("corpus: %v", err)
	}
	defer f.Close()
	index := map[string]int{}
	var out []CorpusProject
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) < 6 {
			continue
		}
		dir := strings.Replace(cols[0], "/", "__", 1)
		i, ok := index[dir]
		if !ok {
			_, name, _ := strings.Cut(dir, "__")
			i = len(out)
			index[dir] = i
			out = append(out, CorpusProject{Dir: dir, Name: name, License: cols[5]})
		}
		out[i].Parts = append(out[i].Parts, cols[2])
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("corpus: %v", err)
	}
	return out
}

// CopyTree copies every file under src into dst, creating folders as needed.
// The corpus keeps READMEs as README.excerpt.md; those become README.md.
func CopyTree(t T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.Name() == "README.excerpt.md" {
			rel = filepath.Join(filepath.Dir(rel), "README.md")
		}
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatalf("copy %s: %v", src, err)
	}
}

// CorpusWorkTree lays corpus project p out as a new git work tree on branch
// main (its STL files, README.md and licence file), not yet committed.
func CorpusWorkTree(t T, p CorpusProject) string {
	t.Helper()
	work := t.TempDir()
	CopyTree(t, filepath.Join(ModuleRoot(t), "testdata", "corpus", p.Dir), work)
	Git(t, work, "init", "--quiet", "-b", "main")
	return work
}
