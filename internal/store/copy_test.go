package store

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/blueprints-hq/blueprints/internal/testenv"
	"github.com/blueprints-hq/blueprints/render"
)

// fillStore puts a row in every table of a store, through its own API,
// and returns a token secret of alice's.
func fillStore(t *testing.T, s *Store) string {
	t.Helper()
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	alice, err := s.CreateUser(ctx, "Alice")
	must(err)
	_, err = s.CreateUser(ctx, "bob")
	must(err)
	_, secret, err := s.CreateToken(ctx, "alice")
	must(err)
	old, _, err := s.CreateToken(ctx, "alice")
	must(err)
	must(s.RevokeToken(ctx, old.ID))
	p, err := s.CreateProject(ctx, "Alice", "Tractor")
	must(err)
	must(s.SetDefaultBranch(ctx, p.ID, "main"))
	oid := strings.Repeat("ab", 32)
	must(s.AddLFSObject(ctx, p.ID, oid, 1<<33)) // over 32 bits
	_, err = s.CreateLFSLock(ctx, p.ID, "parts/axle.stl", alice.ID)
	must(err)
	must(s.AddPendingLFSObject(ctx, "bob", "Plough", strings.Repeat("cd", 32), 7))
	zero := strings.Repeat("0", 40)
	j, err := s.EnqueueCatalogJob(ctx, "Alice/Tractor", "refs/heads/main", zero, strings.Repeat("1", 40), 2)
	must(err)
	if _, _, err := s.ClaimCatalogJob(ctx, Lease{Node: "n", TTL: time.Hour}); err != nil {
		t.Fatal(err)
	}
	must(s.FinishCatalogJob(ctx, j, "n", ""))
	_, err = s.EnqueueCatalogJob(ctx, "Alice/Tractor", "refs/heads/main", strings.Repeat("1", 40), strings.Repeat("2", 40), 1)
	must(err)
	must(s.PutBlobPart(ctx, BlobPart{Blob: "b1", Part: &render.Part{Triangles: 12, Volume: 1.5, Size: [3]float64{1, 2, 3}}, Preview: "previews/x/512.png"}))
	must(s.PutBlobPart(ctx, BlobPart{Blob: "b2", Error: "not an STL file: “ünïcode” reason"}))
	must(s.ApplyCatalog(ctx, ProjectMeta{Project: "Alice/Tractor", Title: "Tractor", License: "MIT", Tags: []string{"farm"}, Ref: "main", LatestCommit: strings.Repeat("1", 40), LatestAt: time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)},
		[]Part{{Path: "axle.stl", Blob: "b1", Ref: "main", Commit: "c1", Updated: time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)}, {Path: "bad.stl", Blob: "b2", Ref: "main", Commit: "c1", Error: "not an STL file"}}, nil))
	return secret
}

// TestCopyToPostgres: migrate-db's copy carries every table from SQLite
// to PostgreSQL, the store answers the same on both, ids continue after
// the copied ones, and the search index's change log keeps its identity.
func TestCopyToPostgres(t *testing.T) {
	ctx := context.Background()
	src := openTest(t, filepath.Join(t.TempDir(), "blueprints.db"))
	secret := fillStore(t, src)
	pg := testenv.SharedPostgres(t)
	dst := openTest(t, pg.CreateDatabase(t))

	var started []string
	tables, err := CopyTo(ctx, src, dst, func(table string, rows, total int64) {
		if rows == 0 {
			started = append(started, table)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, tc := range tables {
		got[tc.Table] = tc.Rows
		if len(tc.Checksum) != 64 {
			t.Errorf("%s: checksum %q", tc.Table, tc.Checksum)
		}
	}
	for table, n := range map[string]int64{"users": 2, "tokens": 2, "projects": 1, "lfs_objects": 1, "lfs_locks": 1, "lfs_pending": 1, "catalog_jobs": 2, "blob_parts": 2, "parts": 2, "project_meta": 1, "index_log": 3, "counters": 2} {
		if got[table] != n {
			t.Errorf("%s: copied %d rows, want %d", table, got[table], n)
		}
	}
	if strings.Join(started, " ") == "" || indexOf(started, "users") > indexOf(started, "tokens") || indexOf(started, "projects") > indexOf(started, "lfs_objects") {
		t.Errorf("tables copied in order %v: parents must come first", started)
	}

	// The same answers from PostgreSQL.
	if u, err := dst.Authenticate(ctx, "ALICE", secret); err != nil || u.Name != "Alice" {
		t.Errorf("sign-in with a copied token: %+v %v", u, err)
	}
	p, err := dst.ProjectByName(ctx, "alice", "tractor")
	if err != nil || p.FullName() != "Alice/Tractor" || p.DefaultBranch != "main" {
		t.Fatalf("project: %+v %v", p, err)
	}
	for _, s := range []*Store{src, dst} {
		parts, err := s.ProjectParts(ctx, "Alice/Tractor")
		if err != nil || len(parts) != 2 || parts[0].Measure == nil || parts[0].Measure.Volume != 1.5 || parts[1].Error == "" {
			t.Errorf("%s parts: %+v %v", s.Dialect(), parts, err)
		}
		m, err := s.ProjectMeta(ctx, "Alice/Tractor")
		if err != nil || m.LatestAt.Truncate(time.Microsecond).Format(time.RFC3339Nano) != "2024-05-06T07:08:09.123456Z" || m.Tags[0] != "farm" || m.PendingJobs != 1 {
			t.Errorf("%s meta: %+v %v", s.Dialect(), m, err)
		}
		if o, err := s.LFSObject(ctx, p.ID, strings.Repeat("ab", 32)); err != nil || o.Size != 1<<33 {
			t.Errorf("%s lfs object: %+v %v", s.Dialect(), o, err)
		}
	}
	id1, head1, _ := src.IndexLog(ctx)
	id2, head2, _ := dst.IndexLog(ctx)
	if id1 != id2 || head1 != head2 {
		t.Errorf("change log: SQLite %d@%d, PostgreSQL %d@%d", id1, head1, id2, head2)
	}
	// New rows get new ids: the identity columns go on from the copied ones.
	u, err := dst.CreateUser(ctx, "carol")
	if err != nil || u.ID != 3 {
		t.Errorf("a new user after the copy: %+v %v, want id 3", u, err)
	}

	// A second copy into the same database is refused and changes nothing.
	if _, err := CopyTo(ctx, src, dst, nil); !errors.Is(err, ErrNotEmpty) {
		t.Errorf("copy into a filled database: %v, want ErrNotEmpty", err)
	}
	if _, err := dst.UserByName(ctx, "carol"); err != nil {
		t.Errorf("the refused copy changed the target: %v", err)
	}
}

// TestCopyVerifies: when what PostgreSQL holds differs from what was
// read (here a trigger rewrites names on their way in), the copy fails
// naming the table, and nothing is committed.
func TestCopyVerifies(t *testing.T) {
	ctx := context.Background()
	src := openTest(t, filepath.Join(t.TempDir(), "blueprints.db"))
	fillStore(t, src)
	dst := openTest(t, testenv.SharedPostgres(t).CreateDatabase(t))
	for _, q := range []string{
		`CREATE FUNCTION shout() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.title := upper(NEW.title); RETURN NEW; END $$`,
		`CREATE TRIGGER shout BEFORE INSERT ON project_meta FOR EACH ROW EXECUTE FUNCTION shout()`,
	} {
		if _, err := dst.DB.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	_, err := CopyTo(ctx, src, dst, nil)
	if err == nil || !strings.Contains(err.Error(), "verify project_meta") || !strings.Contains(err.Error(), "nothing was committed") {
		t.Fatalf("copy through a rewriting trigger: %v", err)
	}
	var n int
	if err := dst.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil || n != 0 {
		t.Errorf("%d users in the target after a failed copy (%v)", n, err)
	}

	// A value PostgreSQL cannot hold is named with its table, row and column.
	if _, err := src.DB.ExecContext(ctx, `UPDATE parts SET updated_at = 'last tuesday' WHERE path = 'axle.stl'`); err != nil {
		t.Fatal(err)
	}
	dst2 := openTest(t, testenv.SharedPostgres(t).CreateDatabase(t))
	_, err = CopyTo(ctx, src, dst2, nil)
	if err == nil || !strings.Contains(err.Error(), "table parts") || !strings.Contains(err.Error(), "path=axle.stl") || !strings.Contains(err.Error(), "column updated_at") {
		t.Fatalf("copy of a bad time: %v", err)
	}
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}
