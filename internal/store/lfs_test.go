package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestLFSObjectsPerProject(t *testing.T) { eachStore(t, testLFSObjectsPerProject) }

func testLFSObjectsPerProject(t *testing.T, dsn string) {
	ctx := context.Background()
	s := openTest(t, dsn)
	a, err := s.CreateProject(ctx, "alice", "cart")
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.CreateProject(ctx, "bob", "plough")
	if err != nil {
		t.Fatal(err)
	}
	oid := strings.Repeat("ab", 32)
	other := strings.Repeat("cd", 32)
	if err := s.AddLFSObject(ctx, a.ID, oid, 42); err != nil {
		t.Fatal(err)
	}
	if err := s.AddLFSObject(ctx, a.ID, oid, 42); err != nil {
		t.Fatalf("adding twice: %v", err)
	}
	o, err := s.LFSObject(ctx, a.ID, oid)
	if err != nil || o.Size != 42 || o.Created.IsZero() {
		t.Fatalf("LFSObject = %+v, %v", o, err)
	}
	if _, err := s.LFSObject(ctx, b.ID, oid); !errors.Is(err, ErrNotFound) {
		t.Fatalf("other project sees the object: %v", err)
	}
	// Many OIDs, more than one chunk.
	var oids []string
	for i := range 1200 {
		oids = append(oids, fmt.Sprintf("%064x", i))
	}
	oids = append(oids, oid, other)
	got, err := s.LFSObjects(ctx, a.ID, oids)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[oid].Size != 42 {
		t.Fatalf("LFSObjects = %v", got)
	}
	got, err = s.LFSObjects(ctx, b.ID, oids)
	if err != nil || len(got) != 0 {
		t.Fatalf("LFSObjects of bob = %v, %v", got, err)
	}
	if err := s.DeleteProject(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM lfs_objects`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("objects left after the project went: %d, %v", n, err)
	}
}

func TestLFSLocks(t *testing.T) { eachStore(t, testLFSLocks) }

func testLFSLocks(t *testing.T, dsn string) {
	ctx := context.Background()
	s := openTest(t, dsn)
	p, err := s.CreateProject(ctx, "alice", "cart")
	if err != nil {
		t.Fatal(err)
	}
	q, err := s.CreateProject(ctx, "alice", "wagon")
	if err != nil {
		t.Fatal(err)
	}
	alice, err := s.CreateUser(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	bob, err := s.CreateUser(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	l, err := s.CreateLFSLock(ctx, p.ID, "parts/axle.stl", alice.ID)
	if err != nil {
		t.Fatal(err)
	}
	if l.Owner != "alice" || l.Path != "parts/axle.stl" || l.ID == 0 || l.Created.IsZero() {
		t.Fatalf("lock = %+v", l)
	}
	clash, err := s.CreateLFSLock(ctx, p.ID, "parts/axle.stl", bob.ID)
	if !errors.Is(err, ErrExists) || clash.ID != l.ID || clash.Owner != "alice" {
		t.Fatalf("second lock: %+v, %v", clash, err)
	}
	if _, err := s.CreateLFSLock(ctx, q.ID, "parts/axle.stl", bob.ID); err != nil {
		t.Fatalf("same path in another project: %v", err)
	}
	l2, err := s.CreateLFSLock(ctx, p.ID, "parts/wheel.stl", bob.ID)
	if err != nil {
		t.Fatal(err)
	}
	all, err := s.LFSLocks(ctx, p.ID, LFSLockFilter{})
	if err != nil || len(all) != 2 || all[0].ID != l.ID || all[1].Owner != "bob" {
		t.Fatalf("locks = %+v, %v", all, err)
	}
	page, err := s.LFSLocks(ctx, p.ID, LFSLockFilter{After: l.ID, Limit: 1})
	if err != nil || len(page) != 1 || page[0].ID != l2.ID {
		t.Fatalf("page = %+v, %v", page, err)
	}
	byPath, err := s.LFSLocks(ctx, p.ID, LFSLockFilter{Path: "parts/wheel.stl"})
	if err != nil || len(byPath) != 1 || byPath[0].ID != l2.ID {
		t.Fatalf("by path = %+v, %v", byPath, err)
	}
	if _, err := s.LFSLock(ctx, q.ID, l.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("lock visible from another project: %v", err)
	}
	if _, err := s.DeleteLFSLock(ctx, q.ID, l.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unlock through another project: %v", err)
	}
	gone, err := s.DeleteLFSLock(ctx, p.ID, l.ID)
	if err != nil || gone.ID != l.ID {
		t.Fatalf("unlock: %+v, %v", gone, err)
	}
	if _, err := s.CreateLFSLock(ctx, p.ID, "parts/axle.stl", bob.ID); err != nil {
		t.Fatalf("relock after unlock: %v", err)
	}
}

func TestLFSPendingAdoption(t *testing.T) { eachStore(t, testLFSPendingAdoption) }

func testLFSPendingAdoption(t *testing.T, dsn string) {
	ctx := context.Background()
	s := openTest(t, dsn)
	oid := strings.Repeat("ef", 32)
	if err := s.AddPendingLFSObject(ctx, "alice", "NewCart", oid, 9); err != nil {
		t.Fatal(err)
	}
	got, err := s.PendingLFSObjects(ctx, "Alice", "newcart", []string{oid, strings.Repeat("0", 64)})
	if err != nil || len(got) != 1 || got[oid].Size != 9 {
		t.Fatalf("pending = %v, %v", got, err)
	}
	if got, _ := s.PendingLFSObjects(ctx, "bob", "newcart", []string{oid}); len(got) != 0 {
		t.Fatalf("bob sees alice's pending object: %v", got)
	}
	other, err := s.CreateProject(ctx, "alice", "othercart")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.AdoptPendingLFSObjects(ctx, other); err != nil || n != 0 {
		t.Fatalf("other project adopted %d, %v", n, err)
	}
	p, err := s.CreateProject(ctx, "alice", "newcart")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.AdoptPendingLFSObjects(ctx, p); err != nil || n != 1 {
		t.Fatalf("adopted %d, %v", n, err)
	}
	if o, err := s.LFSObject(ctx, p.ID, oid); err != nil || o.Size != 9 {
		t.Fatalf("after adoption: %+v, %v", o, err)
	}
	if got, _ := s.PendingLFSObjects(ctx, "alice", "newcart", []string{oid}); len(got) != 0 {
		t.Fatalf("still pending: %v", got)
	}
	if err := s.AddPendingLFSObject(ctx, "alice", "never", oid, 9); err != nil {
		t.Fatal(err)
	}
	if n, err := s.ExpirePendingLFSObjects(ctx, time.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Fatalf("expired a fresh upload: %d, %v", n, err)
	}
	if n, err := s.ExpirePendingLFSObjects(ctx, time.Now().Add(time.Minute)); err != nil || n != 1 {
		t.Fatalf("expire: %d, %v", n, err)
	}
}
