// Package backup takes a consistent copy of a Blueprints instance while it
// serves, and builds a working instance from one.
//
// Take reads the running instance: every repository first, each as a git
// bundle (one moment per repository, see repo.Server.Bundle) taken while
// holding the project's push lock (on PostgreSQL the lock every node
// honours, so no push is half-applied; on SQLite the lock lives in the
// serving process and the bundle's one moment is what keeps it
// consistent), then the metadata (store.Backup: SQLite's VACUUM INTO,
// pg_dump of an exported snapshot for PostgreSQL), then the LFS objects
// the metadata references. That order makes every LFS
// object a bundled commit points at present in the copied metadata (an
// upload is recorded before the push naming it is accepted). It writes a
// manifest with each file's size and SHA-256, and the manifest's own
// checksum.
//
// Restore reads a backup: it verifies the manifest and every file against
// it before writing anything, then lays the metadata (a SQLite file in
// the new data folder, or a pg_dump restored into an empty PostgreSQL
// database), repositories and LFS objects into a new data folder. The search index and previews are
// not in a backup: the caller rebuilds them (blueprints restore reindexes).
package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/lfs"
	"github.com/blueprints-hq/blueprints/repo"
	"github.com/blueprints-hq/blueprints/storage"
)

// ManifestFile is the manifest's name in a backup folder.
const ManifestFile = "MANIFEST.json"

// Format is the manifest format this package writes and reads.
const Format = 1

// Manifest lists what a backup holds.
type Manifest struct {
	Format   int       `json:"format"`
	Created  time.Time `json:"created"`
	Version  string    `json:"version"` // the binary that took it
	Schema   int       `json:"schema"`  // metadata schema version
	Storage  string    `json:"storage"` // --storage of the instance
	Metadata string    `json:"metadata"`
	// MetadataFormat is store.CopySQLite (also when empty: older
	// backups) or store.CopyPgDump.
	MetadataFormat string `json:"metadata_format,omitempty"`
	// Projects are the repositories, "owner/name" → bundle path ("" for a
	// project with no refs yet).
	Projects map[string]string `json:"projects"`
	// Blobs are the LFS objects copied, oid → path; with S3 storage and no
	// --blobs, BlobList names them and the objects stay in the bucket.
	Blobs    map[string]string `json:"blobs"`
	BlobList string            `json:"blob_list,omitempty"`
	Files    []File            `json:"files"`
	// Checksum is the SHA-256 of this manifest written with Checksum "".
	Checksum string `json:"checksum"`
}

// File is one file of a backup.
type File struct {
	Path   string `json:"path"` // slash-separated, inside the backup folder
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Source is the running instance Take copies.
type Source struct {
	Store   *store.Store
	Repos   *repo.Server
	Blobs   storage.Blobs
	Storage string // the --storage setting, recorded
	// CopyBlobs copies LFS objects into the backup; with S3 storage it is
	// --blobs (otherwise only their list is written).
	CopyBlobs bool
	Version   string
	Schema    int
	// Programs are the PostgreSQL client programs (pg_dump).
	Programs store.BackupOptions
	// Progress, when set, hears about each step.
	Progress func(format string, args ...any)
}

// Take writes a backup of src into dir, which must not exist or be empty.
func Take(ctx context.Context, src Source, dir string) (Manifest, error) {
	say := src.Progress
	if say == nil {
		say = func(string, ...any) {}
	}
	if err := emptyDir(dir); err != nil {
		return Manifest{}, err
	}
	m := Manifest{Format: Format, Created: time.Now().UTC(), Version: src.Version, Schema: src.Schema, Storage: src.Storage, Projects: map[string]string{}, Blobs: map[string]string{}}

	// 1. Repositories, from the project list as it is now.
	projects, err := src.Store.Projects(ctx, 0, 0)
	if err != nil {
		return m, err
	}
	for _, p := range projects {
		rel := path.Join("repos", p.Owner, p.Name+".bundle")
		out := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return m, err
		}
		err := bundle(ctx, src, p, out, say)
		switch {
		case errors.Is(err, repo.ErrEmpty):
			m.Projects[p.FullName()] = ""
		case err != nil:
			return m, fmt.Errorf("back up %s: %w", p.FullName(), err)
		default:
			m.Projects[p.FullName()] = rel
		}
	}
	say("bundled %d repositories", len(m.Projects))

	// 2. Metadata, after the bundles: it knows every LFS object they name.
	m.Metadata = "blueprints.db"
	if src.Store.Dialect() == store.Postgres {
		m.Metadata = "blueprints.pgdump"
	}
	format, oids, err := src.Store.Backup(ctx, filepath.Join(dir, m.Metadata), src.Programs)
	if err != nil {
		return m, err
	}
	m.MetadataFormat = format
	say("copied the metadata (%s)", format)

	// 3. LFS objects the copied metadata references.
	sorted := make([]string, 0, len(oids))
	for oid := range oids {
		sorted = append(sorted, oid)
	}
	sort.Strings(sorted)
	if src.CopyBlobs {
		for _, oid := range sorted {
			rel := lfs.BlobKey(oid)
			if err := copyBlob(ctx, src.Blobs, rel, filepath.Join(dir, filepath.FromSlash(rel))); err != nil {
				return m, fmt.Errorf("back up LFS object %s: %w", oid, err)
			}
			m.Blobs[oid] = rel
		}
		say("copied %d LFS objects", len(sorted))
	} else {
		m.BlobList = "lfs-objects.txt"
		var b strings.Builder
		for _, oid := range sorted {
			fmt.Fprintf(&b, "%s %d %s\n", oid, oids[oid], lfs.BlobKey(oid))
		}
		if err := os.WriteFile(filepath.Join(dir, m.BlobList), []byte(b.String()), 0o644); err != nil {
			return m, err
		}
		say("listed %d LFS objects left in %s (add --blobs to copy them)", len(sorted), src.Storage)
	}

	// 4. The manifest, over every file written.
	err = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		sum, size, err := hashFile(p)
		if err != nil {
			return err
		}
		m.Files = append(m.Files, File{Path: filepath.ToSlash(rel), Size: size, SHA256: sum})
		return nil
	})
	if err != nil {
		return m, err
	}
	sort.Slice(m.Files, func(i, j int) bool { return m.Files[i].Path < m.Files[j].Path })
	m.Checksum = m.sum()
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return m, err
	}
	return m, writeFileSync(filepath.Join(dir, ManifestFile), append(data, '\n'))
}

// bundle writes p's repository to out holding its push lock, saying so
// when it has to wait for a push.
func bundle(ctx context.Context, src Source, p store.Project, out string, say func(string, ...any)) error {
	unlock, ok, err := src.Store.TryLock(ctx, repo.PushLockName(p.Owner, p.Name))
	if err == nil && !ok {
		say("waiting for the push lock of %s (a push is under way)", p.FullName())
		unlock, err = src.Repos.LockProject(ctx, p.Owner, p.Name)
	}
	if err != nil {
		return err
	}
	defer unlock()
	return src.Repos.Bundle(ctx, p.Owner, p.Name, out)
}

// sum is the SHA-256 of the manifest with an empty Checksum.
func (m Manifest) sum() string {
	m.Checksum = ""
	data, _ := json.Marshal(m)
	h := sha256.Sum256(data)
	return hex.EncodeToString(h[:])
}

// Read reads dir's manifest and verifies it and every file it lists:
// the manifest's own checksum, each path staying inside dir, each file's
// size and SHA-256, and every path the manifest refers to being listed.
// Any difference is an error naming the file.
func Read(dir string) (Manifest, error) {
	var m Manifest
	mf := filepath.Join(dir, ManifestFile)
	data, err := os.ReadFile(mf)
	if err != nil {
		return m, fmt.Errorf("read backup manifest: %w", err)
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("backup manifest %s: not a manifest: %w", mf, err)
	}
	if m.Format != Format {
		return m, fmt.Errorf("backup manifest %s: format %d; this binary reads format %d", mf, m.Format, Format)
	}
	if m.Checksum == "" || m.sum() != m.Checksum {
		return m, fmt.Errorf("backup manifest %s has been changed since the backup was taken (its checksum does not match): refusing to restore from it", mf)
	}
	listed := map[string]bool{}
	for _, f := range m.Files {
		if !localPath(f.Path) {
			return m, fmt.Errorf("backup manifest %s names %q, outside the backup folder", mf, f.Path)
		}
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		sum, size, err := hashFile(p)
		if err != nil {
			return m, fmt.Errorf("backup file %s: %w", p, err)
		}
		if size != f.Size || sum != f.SHA256 {
			return m, fmt.Errorf("backup file %s does not match the manifest (size %d, want %d; SHA-256 %s, want %s): refusing to restore", p, size, f.Size, sum, f.SHA256)
		}
		listed[f.Path] = true
	}
	refs := []string{m.Metadata}
	for _, b := range m.Projects {
		if b != "" {
			refs = append(refs, b)
		}
	}
	for _, b := range m.Blobs {
		refs = append(refs, b)
	}
	for _, r := range refs {
		if !listed[r] {
			return m, fmt.Errorf("backup manifest %s refers to %q without its checksum: refusing to restore", mf, r)
		}
	}
	return m, nil
}

// Target is where Restore builds the new instance.
type Target struct {
	Data string // the new data folder, holding no instance yet
	// DB is the PostgreSQL database (postgres://…, holding no tables) a
	// pg_dump backup goes into; "" for a SQLite backup, which goes into
	// Data/blueprints.db.
	DB       string
	Programs store.BackupOptions // pg_restore
	Blobs    storage.Blobs       // its blob storage
	// Repos builds repositories in Data/repos; it needs the restored
	// metadata store, so Restore calls it once that is in place.
	Repos func(st *store.Store) (*repo.Server, error)
	// Progress, when set, hears about each step.
	Progress func(format string, args ...any)
}

// Restore verifies the backup in dir and lays it into t. It returns the
// projects it dropped because the backup has no repository for them (made
// after the repositories were copied).
func Restore(ctx context.Context, dir string, t Target) (dropped []string, err error) {
	say := t.Progress
	if say == nil {
		say = func(string, ...any) {}
	}
	m, err := Read(dir)
	if err != nil {
		return nil, err
	}
	say("verified %d files of the backup taken %s by %s", len(m.Files), m.Created.Format(time.RFC3339), m.Version)
	if m.BlobList != "" {
		if err := checkListedBlobs(ctx, dir, m, t.Blobs); err != nil {
			return nil, err
		}
	}
	st, err := restoreMetadata(ctx, dir, m, t)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	repos, err := t.Repos(st)
	if err != nil {
		return nil, err
	}
	projects, err := st.Projects(ctx, 0, 0)
	if err != nil {
		return nil, err
	}
	for _, p := range projects {
		bundle, ok := m.Projects[p.FullName()]
		if !ok {
			if err := st.DeleteProject(ctx, p.ID); err != nil {
				return nil, err
			}
			dropped = append(dropped, p.FullName())
			continue
		}
		if bundle == "" {
			// No refs when backed up: an empty repository, as push-to-create leaves.
			if err := repos.Unbundle(ctx, p.Owner, p.Name, "", ""); err != nil {
				return nil, err
			}
			continue
		}
		if err := repos.Unbundle(ctx, p.Owner, p.Name, p.DefaultBranch, filepath.Join(dir, filepath.FromSlash(bundle))); err != nil {
			return nil, err
		}
	}
	say("restored %d repositories", len(projects)-len(dropped))
	for oid, rel := range m.Blobs {
		if err := putBlob(ctx, t.Blobs, oid, filepath.Join(dir, filepath.FromSlash(rel))); err != nil {
			return nil, fmt.Errorf("restore LFS object %s: %w", oid, err)
		}
	}
	if len(m.Blobs) > 0 {
		say("restored %d LFS objects", len(m.Blobs))
	}
	if err := st.AbandonPendingDeliveries(ctx, "not sent: restored from a backup"); err != nil {
		return nil, err
	}
	return dropped, nil
}

// checkListedBlobs checks that the LFS objects a backup only lists (left
// in S3) are in the storage being restored into, before anything is
// written: without them the new instance's LFS files would not download.
func checkListedBlobs(ctx context.Context, dir string, m Manifest, blobs storage.Blobs) error {
	data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(m.BlobList)))
	if err != nil {
		return err
	}
	var listed, missing int
	var first string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 || !localPath(f[2]) {
			if line == "" {
				continue
			}
			return fmt.Errorf("backup list %s: line %q is not \"OID SIZE KEY\"", m.BlobList, line)
		}
		listed++
		if _, err := blobs.Stat(ctx, f[2]); err != nil {
			if missing++; first == "" {
				first = f[2]
			}
		}
	}
	if missing > 0 {
		return fmt.Errorf("backup %s lists %d LFS objects it did not copy (taken without --blobs from %s); %d are not in the storage being restored into (first: %s): restore with that same --storage, or take the backup with --blobs", dir, listed, m.Storage, missing, first)
	}
	return nil
}

// restoreMetadata lays the backup's metadata where t says and opens it.
func restoreMetadata(ctx context.Context, dir string, m Manifest, t Target) (*store.Store, error) {
	from := filepath.Join(dir, filepath.FromSlash(m.Metadata))
	switch m.MetadataFormat {
	case store.CopyPgDump:
		if t.DB == "" {
			return nil, fmt.Errorf("backup %s holds a PostgreSQL dump (%s): restore it with --db postgres://… naming an empty database", dir, m.Metadata)
		}
		if err := store.RestoreDump(ctx, t.DB, from, t.Programs); err != nil {
			return nil, err
		}
		return store.Open(ctx, t.DB)
	case "", store.CopySQLite:
		if t.DB != "" {
			return nil, fmt.Errorf("backup %s holds a SQLite database: restore it without --db, then move it with blueprints migrate-db --to postgres://…", dir)
		}
		db := filepath.Join(t.Data, "blueprints.db")
		if _, err := os.Stat(db); err == nil {
			return nil, fmt.Errorf("%s already holds an instance (%s): restore into a new folder", t.Data, db)
		}
		if err := copyFile(from, db); err != nil {
			return nil, err
		}
		return store.Open(ctx, db)
	default:
		return nil, fmt.Errorf("backup %s: metadata format %q is not one this binary reads", dir, m.MetadataFormat)
	}
}

func localPath(p string) bool {
	if p == "" || strings.Contains(p, "\\") || path.IsAbs(p) || p == ManifestFile {
		return false
	}
	c := path.Clean(p)
	return c == p && c != "." && !strings.HasPrefix(c, "../") && c != ".."
}

// emptyDir makes dir, or checks that it is an empty folder.
func emptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return os.MkdirAll(dir, 0o755)
	}
	if err != nil {
		return err
	}
	if len(entries) > 0 {
		return fmt.Errorf("%s is not empty: give a new or empty folder", dir)
	}
	return nil
}

func hashFile(p string) (string, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

func writeFileSync(p string, data []byte) error {
	f, err := os.Create(p)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

func copyBlob(ctx context.Context, blobs storage.Blobs, key, to string) error {
	rc, _, err := blobs.Get(ctx, key)
	if err != nil {
		return err
	}
	defer rc.Close()
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, rc); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// putBlob stores a backed-up LFS object, checking its content is its id.
func putBlob(ctx context.Context, blobs storage.Blobs, oid, from string) error {
	sum, size, err := hashFile(from)
	if err != nil {
		return err
	}
	if sum != oid {
		return fmt.Errorf("%s holds content with SHA-256 %s", from, sum)
	}
	f, err := os.Open(from)
	if err != nil {
		return err
	}
	defer f.Close()
	return blobs.Put(ctx, lfs.BlobKey(oid), f, size)
}
