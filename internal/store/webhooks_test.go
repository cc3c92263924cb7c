package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestWebhooks(t *testing.T) { eachStore(t, testWebhooks) }

// testWebhooks: a project's webhooks and its organisation's both get the
// project's events; an organisation's go with the organisation (not with
// a project transferred away), a project's with the project; deliveries
// are queued, retried and listed newest first.
func testWebhooks(t *testing.T, dsn string) {
	ctx := context.Background()
	s := openTest(t, dsn)
	olivia, _ := s.CreateUser(ctx, "olivia")
	if _, err := s.CreateOrg(ctx, "Acme", olivia.ID); err != nil {
		t.Fatal(err)
	}
	rover, err := s.CreateProject(ctx, "acme", "rover")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateProject(ctx, "acme", "arm"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateProject(ctx, "olivia", "desk"); err != nil {
		t.Fatal(err)
	}
	own, err := s.CreateWebhook(ctx, "acme", "rover", "https://ci.example.org/rover", "s1", []string{"push"})
	if err != nil || own.Project != "acme/rover" || own.Target() != "acme/rover" {
		t.Fatalf("project webhook: %+v %v", own, err)
	}
	org, err := s.CreateOrgWebhook(ctx, "ACME", "https://ci.example.org/acme", "s2", []string{"push", "catalog.done"})
	if err != nil || org.Org != "Acme" || org.Project != "" || org.Target() != "Acme" {
		t.Fatalf("organisation webhook: %+v %v", org, err)
	}
	if _, err := s.CreateOrgWebhook(ctx, "olivia", "https://x.example.org", "s", []string{"push"}); !errors.Is(err, ErrNotOrg) {
		t.Errorf("a person's webhook: %v, want ErrNotOrg", err)
	}
	if _, err := s.CreateOrgWebhook(ctx, "nobody", "https://x.example.org", "s", []string{"push"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("a missing organisation's webhook: %v, want ErrNotFound", err)
	}
	ids := func(hs []Webhook, err error) []int64 {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		var out []int64
		for _, h := range hs {
			out = append(out, h.ID)
		}
		return out
	}
	same := func(what string, got []int64, want ...int64) {
		t.Helper()
		if len(got) != len(want) {
			t.Errorf("%s: %v, want %v", what, got, want)
			return
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%s: %v, want %v", what, got, want)
				return
			}
		}
	}
	same("push to acme/rover", ids(s.WebhooksFor(ctx, "acme", "rover", "push")), own.ID, org.ID)
	same("catalog.done of acme/rover", ids(s.WebhooksFor(ctx, "acme", "rover", "catalog.done")), org.ID)
	same("push to acme/arm", ids(s.WebhooksFor(ctx, "acme", "arm", "push")), org.ID)
	same("push to olivia/desk", ids(s.WebhooksFor(ctx, "olivia", "desk", "push")))
	same("acme/rover's own", ids(s.Webhooks(ctx, "acme", "rover")), own.ID)
	same("acme's own", ids(s.OrgWebhooks(ctx, "acme")), org.ID)
	if got, err := s.WebhookByID(ctx, org.ID); err != nil || got.Org != "Acme" || got.Secret != "s2" || len(got.Events) != 2 {
		t.Errorf("organisation webhook by id: %+v %v", got, err)
	}

	// Deliveries: queued, due, retried later, listed newest first.
	for i, ev := range []string{"push", "catalog.done"} {
		if err := s.EnqueueDelivery(ctx, org.ID, "guid-"+ev, ev, []byte(`{"n":`+string(rune('0'+i))+`}`)); err != nil {
			t.Fatal(err)
		}
	}
	due, err := s.DueDeliveries(ctx, time.Now().Add(time.Second), 10)
	if err != nil || len(due) != 2 || due[0].GUID != "guid-push" || string(due[0].Payload) != `{"n":0}` {
		t.Fatalf("due deliveries: %+v %v", due, err)
	}
	d := due[0]
	d.Attempts, d.StatusCode, d.Error, d.State, d.NextAt = 1, 500, "answered 500", DeliveryPending, time.Now().Add(time.Hour)
	if err := s.RecordAttempt(ctx, d); err != nil {
		t.Fatal(err)
	}
	if due, _ := s.DueDeliveries(ctx, time.Now().Add(time.Second), 10); len(due) != 1 || due[0].GUID != "guid-catalog.done" {
		t.Errorf("after a retry was scheduled, due: %+v", due)
	}
	recent, err := s.RecentDeliveries(ctx, org.ID, 10)
	if err != nil || len(recent) != 2 || recent[0].GUID != "guid-catalog.done" || recent[1].StatusCode != 500 || recent[1].Attempts != 1 {
		t.Errorf("recent deliveries: %+v %v", recent, err)
	}

	// A project transferred away keeps its own webhook and leaves the
	// organisation's.
	if _, err := s.RenameProject(ctx, rover.ID, "olivia", "rover"); err != nil {
		t.Fatal(err)
	}
	same("push to olivia/rover", ids(s.WebhooksFor(ctx, "olivia", "rover", "push")), own.ID)
	// Deleting removes the webhook with its deliveries.
	if err := s.DeleteWebhook(ctx, org.ID); err != nil {
		t.Fatal(err)
	}
	if recent, _ := s.RecentDeliveries(ctx, org.ID, 10); len(recent) != 0 {
		t.Errorf("deliveries of a deleted webhook: %+v", recent)
	}
	if err := s.DeleteWebhook(ctx, org.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("deleting twice: %v", err)
	}
}
