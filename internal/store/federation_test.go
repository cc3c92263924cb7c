package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestFederationStore(t *testing.T) { eachStore(t, testFederationStore) }

func testFederationStore(t *testing.T, dsn string) {
	s := openTest(t, dsn)
	ctx := context.Background()

	// Keys: made once, the same for every later caller.
	made := 0
	mk := func() (string, string, error) { made++; return "priv", "pub", nil }
	p1, _, err := s.ActorKey(ctx, UserActor(1), mk)
	if err != nil || p1 != "priv" {
		t.Fatal(p1, err)
	}
	if _, _, err := s.ActorKey(ctx, UserActor(1), func() (string, string, error) { return "other", "other", nil }); err != nil {
		t.Fatal(err)
	}
	if p, _, _ := s.ActorKey(ctx, UserActor(1), mk); p != "priv" || made != 1 {
		t.Errorf("key changed: %q, made %d times", p, made)
	}

	// Remote actors, by uri and key.
	ra := RemoteActor{URI: "https://b.example/ap/users/bob", Type: "Person", Username: "bob", Host: "b.example", Inbox: "https://b.example/ap/users/bob/inbox", KeyID: "https://b.example/ap/users/bob#main-key", PublicPEM: "pem"}
	if err := s.PutRemoteActor(ctx, ra); err != nil {
		t.Fatal(err)
	}
	ra.Name = "Bob"
	if err := s.PutRemoteActor(ctx, ra); err != nil {
		t.Fatal(err)
	}
	if got, err := s.RemoteActorByKey(ctx, ra.KeyID); err != nil || got.Name != "Bob" || got.Inbox != ra.Inbox {
		t.Errorf("%+v %v", got, err)
	}
	if _, err := s.RemoteActorByURI(ctx, "https://c.example/x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown actor: %v", err)
	}

	// Followers.
	f := Follower{Actor: ProjectActor(7), Follower: ra.URI, FollowID: "https://b.example/f/1", Inbox: "https://b.example/ap/inbox"}
	if err := s.AddFollower(ctx, f); err != nil {
		t.Fatal(err)
	}
	if err := s.AddFollower(ctx, f); err != nil {
		t.Fatal("following twice:", err)
	}
	if fs, err := s.Followers(ctx, ProjectActor(7)); err != nil || len(fs) != 1 || fs[0].Inbox != f.Inbox {
		t.Errorf("%+v %v", fs, err)
	}
	if ok, err := s.RemoveFollower(ctx, ProjectActor(7), ra.URI); !ok || err != nil {
		t.Errorf("remove: %v %v", ok, err)
	}
	if ok, _ := s.RemoveFollower(ctx, ProjectActor(7), ra.URI); ok {
		t.Error("removed twice")
	}

	// Following, by a real user.
	u, err := s.CreateUser(ctx, "carol")
	if err != nil {
		t.Fatal(err)
	}
	fl, err := s.AddFollowing(ctx, Following{UserID: u.ID, Target: "https://a.example/ap/projects/alice/tractor", FollowID: "https://c.example/f/1", MirrorProjectID: 3})
	if err != nil || fl.ID == 0 {
		t.Fatal(fl, err)
	}
	if got, err := s.SetFollowingState(ctx, "https://c.example/f/1", "accepted"); err != nil || got.State != "accepted" || got.MirrorProjectID != 3 {
		t.Errorf("%+v %v", got, err)
	}
	if _, err := s.SetFollowingState(ctx, "https://c.example/f/never", "accepted"); !errors.Is(err, ErrNotFound) {
		t.Errorf("accept of a follow never sent: %v", err)
	}
	if fs, _ := s.FollowingTarget(ctx, "https://a.example/ap/projects/alice/tractor"); len(fs) != 1 || fs[0].UserID != u.ID {
		t.Errorf("%+v", fs)
	}

	// Deliveries: claimed once, retried later, then sent.
	if err := s.EnqueueAPDelivery(ctx, ProjectActor(7), "https://b.example/ap/inbox", `{"type":"Update"}`); err != nil {
		t.Fatal(err)
	}
	d, err := s.ClaimAPDelivery(ctx, "node-a", time.Minute)
	if err != nil || d.Attempts != 1 || d.Body != `{"type":"Update"}` {
		t.Fatalf("%+v %v", d, err)
	}
	if _, err := s.ClaimAPDelivery(ctx, "node-b", time.Minute); !errors.Is(err, ErrNotFound) {
		t.Errorf("a leased delivery was claimed again: %v", err)
	}
	if err := s.FinishAPDelivery(ctx, d.ID, "503", false, time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	d2, err := s.ClaimAPDelivery(ctx, "node-b", time.Minute)
	if err != nil || d2.ID != d.ID || d2.Attempts != 2 {
		t.Fatalf("retry: %+v %v", d2, err)
	}
	if err := s.FinishAPDelivery(ctx, d.ID, "", false, time.Time{}); err != nil {
		t.Fatal(err)
	}
	if ds, _ := s.APDeliveries(ctx, 10); len(ds) != 1 || ds[0].State != "sent" {
		t.Errorf("%+v", ds)
	}

	// Replays.
	if seen, err := s.SeenSignature(ctx, "abc", time.Hour); seen || err != nil {
		t.Errorf("first: %v %v", seen, err)
	}
	if seen, err := s.SeenSignature(ctx, "abc", time.Hour); !seen || err != nil {
		t.Errorf("again: %v %v", seen, err)
	}

	// Blocks.
	if err := s.AddBlock(ctx, "evil.example", "spam"); err != nil {
		t.Fatal(err)
	}
	if b, _ := s.Blocked(ctx, "", "b.example", "evil.example"); !b {
		t.Error("block not found")
	}
	if b, _ := s.Blocked(ctx, "b.example"); b {
		t.Error("unblocked host blocked")
	}

	// Outbox.
	if err := s.Publish(ctx, Published{Actor: ProjectActor(7), ActivityID: "https://a.example/n/1/update", ObjectID: "https://a.example/n/1", Body: "{}", Published: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if ps, n, err := s.Outbox(ctx, ProjectActor(7), 10); err != nil || n != 1 || len(ps) != 1 {
		t.Errorf("%v %d %v", ps, n, err)
	}
	if _, err := s.PublishedObject(ctx, "https://a.example/n/1"); err != nil {
		t.Error(err)
	}

	// Mirrors.
	p, err := s.CreateProject(ctx, "carol", "tractor")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateMirror(ctx, Mirror{ProjectID: p.ID, URL: "https://a.example/alice/tractor.git", OriginActor: "https://a.example/ap/projects/alice/tractor", CreatedBy: u.ID}); err != nil {
		t.Fatal(err)
	}
	if m, ok, err := s.IsMirror(ctx, "CAROL", "tractor"); !ok || err != nil || m.URL != "https://a.example/alice/tractor.git" || m.Project != "carol/tractor" {
		t.Errorf("%+v %v %v", m, ok, err)
	}
	if due, _ := s.Mirrors(ctx, true, ""); len(due) != 1 {
		t.Errorf("new mirror not due: %+v", due)
	}
	if err := s.MirrorChecked(ctx, p.ID, "refs1", true, 2, "", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if due, _ := s.Mirrors(ctx, true, ""); len(due) != 0 {
		t.Errorf("refreshed mirror still due: %+v", due)
	}
	if byOrigin, _ := s.Mirrors(ctx, false, "https://a.example/ap/projects/alice/tractor"); len(byOrigin) != 1 || byOrigin[0].Refs != "refs1" || byOrigin[0].LFSObjects != 2 || byOrigin[0].Changed == nil {
		t.Errorf("%+v", byOrigin)
	}
	if _, ok, _ := s.IsMirror(ctx, "carol", "other"); ok {
		t.Error("a plain project is a mirror")
	}
}
