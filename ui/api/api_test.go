package api

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/search"
	"github.com/blueprints-hq/blueprints/ui/api/apitest"
)

func newTestAPI(t testing.TB) *echo.Echo {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, filepath.Join(dir, "blueprints.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	idx, err := search.Open(filepath.Join(dir, "index.bleve"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { idx.Close() })
	if err := idx.Apply(ctx, search.SyntheticParts(200, 3), nil); err != nil {
		t.Fatal(err)
	}
	p, err := st.CreateProject(ctx, "alice", "seeder")
	if err != nil {
		t.Fatal(err)
	}
	st.SetDefaultBranch(ctx, p.ID, "main")
	e := echo.New()
	New(Deps{Store: st, Index: idx}).Register(e)
	return e
}

var (
	validatorOnce sync.Once
	validator     *apitest.Validator
)

// get asks the API and checks the answer against the OpenAPI document.
func get(t testing.TB, e *echo.Echo, target string) (int, map[string]any) {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, target, nil)
	e.ServeHTTP(rec, req)
	validatorOnce.Do(func() { validator = apitest.New(t, OpenAPI) })
	validator.Check(t, req, rec.Code, rec.Header(), rec.Body.Bytes())
	var body map[string]any
	json.Unmarshal(rec.Body.Bytes(), &body)
	return rec.Code, body
}

func TestSearchAnswers(t *testing.T) {
	e := newTestAPI(t)
	code, body := get(t, e, "/api/v1/search?kind=part&per_page=5&page=2")
	if code != http.StatusOK || body["total"].(float64) != 200 || len(body["hits"].([]any)) != 5 {
		t.Fatalf("status %d, body %v", code, body)
	}
	hit := body["hits"].([]any)[0].(map[string]any)
	for _, k := range []string{"kind", "project", "path", "ref", "commit", "triangles", "size", "volume", "sha256", "preview_url", "download_url", "score"} {
		if _, ok := hit[k]; !ok {
			t.Errorf("hit lacks %q: %v", k, hit)
		}
	}
	if u := hit["preview_url"].(string); !strings.HasPrefix(u, "http://example.com/"+hit["project"].(string)+"/preview/") || !strings.HasSuffix(u, ".png") {
		t.Errorf("preview_url %q", u)
	}
	for _, bad := range []string{"max_x=x", "per_page=1000", "sort=size", "q=" + strings.Repeat("a+", 30), "page=0"} {
		code, body := get(t, e, "/api/v1/search?"+bad)
		if code != http.StatusBadRequest || body["error"] == "" {
			t.Errorf("%s: status %d body %v", bad, code, body)
		}
	}
	if code, body := get(t, e, "/api/v1/projects/alice/seeder"); code != http.StatusOK || body["name"] != "seeder" || body["license"] != "none" {
		t.Errorf("project: %d %v", code, body)
	}
	if code, _ := get(t, e, "/api/v1/projects/alice/none"); code != http.StatusNotFound {
		t.Errorf("missing project: %d", code)
	}
	if code, body := get(t, e, "/api/v1/projects?per_page=0"); code != http.StatusBadRequest {
		t.Errorf("bad paging: %d %v", code, body)
	}
}

// FuzzSearchParams checks that no query string makes the search API fail
// with anything but 200 or 400.
func FuzzSearchParams(f *testing.F) {
	f.Add("q=z+carriage&max_x=200&max_y=200&max_z=200")
	f.Add("q=%ff%fe&kind=part")
	f.Add("min_volume=-1&max_volume=1e308&page=999999")
	f.Add("q=brack&prefix=1&sort=updated&license=MIT&license=GPL")
	e := newTestAPI(f)
	f.Fuzz(func(t *testing.T, raw string) {
		if _, err := url.ParseRequestURI("/api/v1/search?" + raw); err != nil || strings.ContainsAny(raw, " #") {
			return // not a request a client can send
		}
		code, body := get(t, e, "/api/v1/search?"+raw)
		if code != http.StatusOK && code != http.StatusBadRequest {
			t.Fatalf("search?%s: status %d %v", raw, code, body)
		}
	})
}

// TestOpenAPIDocument: the document is served, is valid OpenAPI 3.1, and
// the checker catches an answer that differs from it.
func TestOpenAPIDocument(t *testing.T) {
	e := newTestAPI(t)
	code, doc := get(t, e, "/api/v1/openapi.json")
	if code != http.StatusOK || doc["openapi"] != "3.1.0" {
		t.Fatalf("openapi.json: %d %v", code, doc["openapi"])
	}
	v := apitest.New(t, OpenAPI)
	req := httptest.NewRequest(http.MethodGet, "/api/v1/projects/alice/seeder", nil)
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, req)
	body := strings.Replace(rec.Body.String(), `"part_count":`, `"part_total":`, 1)
	ft := &failRecorder{TB: t}
	v.Check(ft, req, rec.Code, rec.Header(), []byte(body))
	if !ft.failed {
		t.Errorf("an answer with a renamed field passed the check")
	}
	ft = &failRecorder{TB: t}
	v.Check(ft, httptest.NewRequest(http.MethodGet, "/api/v1/nowhere", nil), 404, rec.Header(), []byte(`{"error":"x"}`))
	if !ft.failed {
		t.Errorf("a path outside the document passed the check")
	}
}

// failRecorder notes failures instead of failing the test.
type failRecorder struct {
	testing.TB
	failed bool
}

func (f *failRecorder) Errorf(string, ...any) { f.failed = true }
func (f *failRecorder) Fatalf(string, ...any) { f.failed = true }
func (f *failRecorder) Helper()               {}
