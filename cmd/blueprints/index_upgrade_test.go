package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/blevesearch/bleve/v2"

	"github.com/blueprints-hq/blueprints/internal/testenv"
)

// TestIndexOfAnEarlierShapeIsRebuilt: a search index written by an
// earlier release, in another shape, does not stop the server: it is
// built again from the database at start, and finds what it found.
func TestIndexOfAnEarlierShapeIsRebuilt(t *testing.T) {
	testenv.RequireTool(t, "git")
	srv := testenv.StartServer(t, testenv.Options{})
	token := srv.AddUser(t, "alice")
	work := t.TempDir()
	testenv.Git(t, work, "init", "-q", "-b", "main")
	part, err := os.ReadFile(filepath.Join(testenv.ModuleRoot(t), "testdata/corpus/prusa3d__Original-Prusa-i3/Printed-Parts/STL/plug-aligner.stl"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(work, "plugAligner.stl"), part, 0o644)
	testenv.Git(t, work, "add", "-A")
	testenv.Git(t, work, "commit", "-q", "-m", "one part")
	testenv.Git(t, work, "push", "-q", srv.Remote("alice", token, "alice", "plugs"), "main")

	hits := func() int {
		t.Helper()
		deadline := time.Now().Add(90 * time.Second)
		for time.Now().Before(deadline) {
			res, err := http.Get(srv.URL + "/api/v1/search?q=plugaligner")
			if err == nil {
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				var r struct {
					Total int `json:"total"`
				}
				if res.StatusCode == 200 && json.Unmarshal(body, &r) == nil && r.Total > 0 {
					return r.Total
				}
			}
			time.Sleep(200 * time.Millisecond)
		}
		return 0
	}
	if n := hits(); n != 1 {
		t.Fatalf("before: %d hits for plugaligner, want 1\n%s", n, srv.Log())
	}
	srv.Stop(t)
	// Mark the index as written in the first shape.
	idx, err := bleve.Open(filepath.Join(srv.Data, "index.bleve"))
	if err != nil {
		t.Fatal(err)
	}
	if err := idx.SetInternal([]byte("blueprints_mapping_version"), []byte("1")); err != nil {
		t.Fatal(err)
	}
	idx.Close()

	srv.Start(t)
	if n := hits(); n != 1 {
		t.Fatalf("after the restart: %d hits for plugaligner, want 1\n%s", n, srv.Log())
	}
	if !strings.Contains(srv.Log(), "search index was written by another version") {
		t.Errorf("the server did not say it rebuilt the index:\n%s", srv.Log())
	}
}
