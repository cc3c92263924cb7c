package backup_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/blueprints-hq/blueprints/backup"
	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/internal/testenv"
	"github.com/blueprints-hq/blueprints/lfs"
	"github.com/blueprints-hq/blueprints/repo"
)

// TestBackupPostgresAndS3 backs up an instance whose metadata is in
// PostgreSQL and whose blobs are in S3 (versitygw): the metadata is a
// pg_dump, each repository is bundled holding its push lock (the backup
// says it waits while another node holds it, and bundles after), the LFS objects are listed, or
// copied with --blobs. The copy restores into an empty PostgreSQL
// database and a new bucket and works; a list-only backup is refused
// when its objects are not in the storage restored into, and a pg_dump
// backup without --db.
func TestBackupPostgresAndS3(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	testenv.RequireTool(t, "git")
	testenv.RequireTool(t, "git-lfs")
	testenv.RequireTool(t, "pg_dump")
	testenv.RequireTool(t, "pg_restore")
	pg := testenv.StartPostgres(t)
	s3 := testenv.StartS3(t)
	db := pg.CreateDatabase(t)
	storageURL := "s3://" + s3.Bucket
	srv := testenv.StartServer(t, testenv.Options{Storage: storageURL, Env: append(s3.Env(), "BLUEPRINTS_DB="+db)})
	alice := srv.AddUser(t, "alice")
	work := t.TempDir()

	lfsBytes := pushBracketAndHeavy(t, srv, alice, work)
	sum := sha256.Sum256(lfsBytes)
	oid := hex.EncodeToString(sum[:])
	waitCatalogued(t, srv, "alice/bracket")
	waitCatalogued(t, srv, "alice/heavy")
	queries := []string{"q=arm", "project=alice/heavy", "q=body"}
	before := map[string]string{}
	for _, q := range queries {
		before[q] = searchAnswer(t, srv, q)
	}

	// Another node holds alice/heavy's push lock: the backup waits for it.
	other, err := store.Open(context.Background(), db)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	unlock, err := other.Lock(context.Background(), repo.PushLockName("alice", "heavy"))
	if err != nil {
		t.Fatal(err)
	}
	listOnly := filepath.Join(t.TempDir(), "list-only")
	cmd := exec.Command(testenv.Binary(t), "backup", listOnly, "--data", srv.Data, "--storage", storageURL)
	cmd.Env = append(os.Environ(), append(s3.Env(), "BLUEPRINTS_DB="+db)...)
	out := &testenv.LockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	for !strings.Contains(out.String(), "waiting for the push lock of alice/heavy") {
		select {
		case err := <-exited:
			unlock()
			t.Fatalf("the backup ended without waiting for alice/heavy's push lock: %v\n%s", err, out.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	if _, err := os.Stat(filepath.Join(listOnly, "repos", "alice", "heavy.bundle")); err == nil {
		t.Errorf("alice/heavy was bundled while its push lock was held")
	}
	unlock()
	if err := <-exited; err != nil {
		t.Fatalf("backup: %v\n%s", err, out.String())
	}
	m, err := backup.Read(listOnly)
	if err != nil {
		t.Fatal(err)
	}
	if m.MetadataFormat != store.CopyPgDump || m.Storage != storageURL || len(m.Blobs) != 0 || m.BlobList == "" {
		t.Errorf("list-only backup: metadata %s %s, storage %s, %d objects copied, list %q", m.Metadata, m.MetadataFormat, m.Storage, len(m.Blobs), m.BlobList)
	}
	if list, _ := os.ReadFile(filepath.Join(listOnly, m.BlobList)); !strings.Contains(string(list), oid+" ") || !strings.Contains(string(list), lfs.BlobKey(oid)) {
		t.Errorf("%s does not list %s:\n%s", m.BlobList, oid, list)
	}

	full := filepath.Join(t.TempDir(), "full")
	if out, err := srv.Run(t, "backup", full, "--storage", storageURL, "--blobs"); err != nil {
		t.Fatalf("backup --blobs: %v\n%s", err, out)
	}
	if m, err := backup.Read(full); err != nil || m.Blobs[oid] == "" {
		t.Fatalf("backup --blobs: %v, copied %v", err, m.Blobs)
	}
	srv.Stop(t)

	bin := testenv.Binary(t)
	// Into a new bucket (a cluster's blobs must be shared: S3).
	s3.CreateBucket(t, "restored")
	newStorage := "s3://restored"
	restore := func(from, data string, args ...string) (string, error) {
		cmd := exec.Command(bin, append([]string{"restore", from, "--data", data, "--storage", newStorage}, args...)...)
		cmd.Env = append(os.Environ(), s3.Env()...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	// Refused before a byte is written.
	fresh := pg.CreateDatabase(t)
	if out, err := restore(listOnly, filepath.Join(t.TempDir(), "r1"), "--db", fresh); err == nil || !strings.Contains(out, "not in the storage") {
		t.Errorf("restoring a list-only backup into storage without its objects: %v\n%s", err, out)
	}
	if out, err := restore(full, filepath.Join(t.TempDir(), "r2")); err == nil || !strings.Contains(out, "PostgreSQL dump") {
		t.Errorf("restoring a pg_dump backup without --db: %v\n%s", err, out)
	}
	if n := pg.Query(t, fresh, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`); len(n) != 1 || n[0] != "0" {
		t.Errorf("refused restores wrote tables: %v", n)
	}

	// The full backup, into an empty database and the new bucket.
	newData := filepath.Join(t.TempDir(), "restored")
	if out, err := restore(full, newData, "--db", fresh); err != nil {
		t.Fatalf("restore: %v\n%s", err, out)
	}
	if out, err := restore(full, filepath.Join(t.TempDir(), "r3"), "--db", fresh); err == nil || !strings.Contains(out, "empty database") {
		t.Errorf("restoring into a database that holds an instance: %v\n%s", err, out)
	}
	if keys := s3.Keys(t, "restored"); !slices.Contains(keys, lfs.BlobKey(oid)) {
		t.Errorf("the restored bucket holds %v, not the LFS object", keys)
	}
	srv2 := testenv.StartServer(t, testenv.Options{Data: newData, Storage: newStorage, Env: append(s3.Env(), "BLUEPRINTS_DB="+fresh)})
	clone := filepath.Join(t.TempDir(), "heavy")
	testenv.Git(t, "", "clone", "-q", srv2.Remote("alice", alice, "alice", "heavy"), clone)
	if got, _ := os.ReadFile(filepath.Join(clone, "body.stl")); !bytes.Equal(got, lfsBytes) {
		t.Errorf("LFS file after restore: %d bytes, want the %d pushed", len(got), len(lfsBytes))
	}
	torus(t, filepath.Join(clone, "lid.stl"), 200)
	testenv.Git(t, clone, "add", ".")
	testenv.Git(t, clone, "commit", "-q", "-m", "lid")
	testenv.Git(t, clone, "push", "-q", "origin", "main")
	for _, q := range queries {
		if got := searchAnswer(t, srv2, q); got != before[q] {
			t.Errorf("search %s after restore:\n%s\nbefore:\n%s", q, got, before[q])
		}
	}
}
