package trust_test

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/blueprints-hq/blueprints/internal/testenv"
)

// TestMigrateDB moves a SQLite instance holding the corpus to PostgreSQL
// with `blueprints migrate-db`, then serves the same repositories and
// bucket from a node on PostgreSQL with a new, empty data folder: it must
// serve the same pages, the same searches (its index built from the
// database, not the repositories) and the same clones.
func TestMigrateDB(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: SQLite to PostgreSQL through the real binary")
	}
	testenv.RequireTool(t, "git")
	s3 := testenv.StartS3(t)
	src := testenv.StartServer(t, testenv.Options{Storage: "s3://" + s3.Bucket, Env: s3.Env()})
	token := src.AddUser(t, "corpus")
	var projects []string
	var first string // a part path, owner/name/path
	for _, cp := range testenv.Corpus(t) {
		work := testenv.CorpusWorkTree(t, cp)
		mustGit(t, work, "add", "-A")
		mustGit(t, work, "commit", "-q", "-m", "import "+cp.Name)
		mustGit(t, work, "push", "-q", src.Remote("corpus", token, "corpus", cp.Name), "main")
		projects = append(projects, "corpus/"+cp.Name)
		if first == "" && len(cp.Parts) > 0 {
			first = cp.Name + "/blob/main/" + cp.Parts[0]
		}
	}
	waitDrained(t, src, projects)
	before := catalogView(t, src)
	pages := []string{"/", "/corpus/" + projects[0][len("corpus/"):], "/corpus/" + first, "/search?q=bracket", "/search?q=gear&kind=part"}
	beforePages := map[string]string{}
	for _, p := range pages {
		beforePages[p] = pageText(getBody(t, src.URL+p), src.Addr)
	}
	beforeClones := map[string]string{}
	for _, p := range projects {
		beforeClones[p] = cloneListing(t, src.URL+"/"+p)
	}
	src.Stop(t)

	pg := testenv.StartPostgres(t)
	db := pg.CreateDatabase(t)
	cmd := exec.Command(testenv.Binary(t), "migrate-db", "--data", src.Data, "--to", db)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "row counts and checksums verified") {
		t.Fatalf("blueprints migrate-db: %v\n%s", err, out)
	}
	t.Logf("migrate-db:\n%s", out)

	// A node on a shared database refuses local blob storage.
	refused := exec.Command(testenv.Binary(t), "serve", "--addr", "127.0.0.1:0", "--data", t.TempDir(), "--db", db, "--storage", "fs")
	if out, err := refused.CombinedOutput(); err == nil || !strings.Contains(string(out), "with a shared database blob storage must be S3") {
		t.Errorf("serve on PostgreSQL with fs storage: %v\n%s", err, out)
	}

	dst := testenv.StartServer(t, testenv.Options{
		Storage: "s3://" + s3.Bucket,
		Repos:   filepath.Join(src.Data, "repos"),
		Env:     append(s3.Env(), "BLUEPRINTS_DB="+db),
	})
	waitDrained(t, dst, projects)
	after := catalogView(t, dst)
	if diff := diffViews(before, after); diff != "" {
		t.Errorf("PostgreSQL instance answers differently:\n%s", diff)
	}
	for _, p := range pages {
		if got := pageText(getBody(t, dst.URL+p), dst.Addr); got != beforePages[p] {
			t.Errorf("page %s differs after the move:\n--- SQLite\n%s\n--- PostgreSQL\n%s", p, beforePages[p], got)
		}
	}
	for _, p := range projects {
		if got := cloneListing(t, dst.URL+"/"+p); got != beforeClones[p] {
			t.Errorf("clone of %s differs after the move", p)
		}
	}
	t.Logf("moved %d projects, %d parts; pages, %d searches and clones are the same", len(after.projects), len(after.parts), len(after.hits))
}

var (
	tags    = regexp.MustCompile(`(?s)<script.*?</script>|<style.*?</style>|<[^>]*>`)
	elapsed = regexp.MustCompile(`just now|\b(an?|\d+) (second|minute|hour|day|week|month|year)s? ago`)
)

// pageText is a page's visible text, the server's address and the time
// since things happened ("3 minutes ago") taken out.
func pageText(html, addr string) string {
	text := tags.ReplaceAllString(strings.ReplaceAll(html, addr, "HOST"), " ")
	return elapsed.ReplaceAllString(strings.Join(strings.Fields(text), " "), "WHEN")
}

// cloneListing clones a project and lists its head commit and every file
// with its blob id.
func cloneListing(t *testing.T, remote string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "clone")
	mustGit(t, "", "clone", "-q", "--no-checkout", remote, dir)
	return mustGit(t, dir, "rev-parse", "HEAD") + "\n" + mustGit(t, dir, "ls-tree", "-r", "HEAD")
}
