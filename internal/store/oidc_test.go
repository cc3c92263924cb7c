package store

import (
	"context"
	"errors"
	"testing"
	"time"
)

// TestOIDCFlowsAndIdentities checks that a sign-in flow is taken once, not
// after it expires, and only as its own kind; and that an identity names
// one account: linked twice it is refused, a first sign-in creates the
// account and the link together (or neither), and unlinking frees it.
func TestOIDCFlowsAndIdentities(t *testing.T) { eachStore(t, testOIDCFlowsAndIdentities) }

func testOIDCFlowsAndIdentities(t *testing.T, dsn string) {
	ctx := context.Background()
	s := openTest(t, dsn)
	ada, err := s.CreateAccount(ctx, NewAccount{Name: "ada"})
	if err != nil {
		t.Fatal(err)
	}
	f := OIDCFlow{Kind: FlowStart, Nonce: "n1", Verifier: "v1", Next: "/ada", LinkUser: ada.ID}
	if err := s.SaveOIDCFlow(ctx, "secret-1", f, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TakeOIDCFlow(ctx, FlowSignup, "secret-1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a start flow taken as a sign-up: %v", err)
	}
	got, err := s.TakeOIDCFlow(ctx, FlowStart, "secret-1")
	if err != nil || got.Nonce != "n1" || got.Verifier != "v1" || got.Next != "/ada" || got.LinkUser != ada.ID {
		t.Fatalf("take: %+v %v", got, err)
	}
	if _, err := s.TakeOIDCFlow(ctx, FlowStart, "secret-1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a flow taken twice: %v", err)
	}
	s.SaveOIDCFlow(ctx, "secret-2", OIDCFlow{Kind: FlowStart}, -time.Second)
	if _, err := s.TakeOIDCFlow(ctx, FlowStart, "secret-2"); !errors.Is(err, ErrNotFound) {
		t.Errorf("an expired flow taken: %v", err)
	}
	if err := s.SaveOIDCFlow(ctx, "x", OIDCFlow{Kind: "other"}, time.Minute); err == nil {
		t.Error("a flow of an unknown kind saved")
	}

	// A pending sign-up is read without being spent.
	s.SaveOIDCFlow(ctx, "secret-3", OIDCFlow{Kind: FlowSignup, Issuer: "https://id.example", Subject: "s-42", Email: "g@example.org", Name: "grace"}, time.Minute)
	for range 2 {
		if p, err := s.OIDCFlowBySecret(ctx, FlowSignup, "secret-3"); err != nil || p.Subject != "s-42" || p.LinkUser != 0 {
			t.Fatalf("pending sign-up: %+v %v", p, err)
		}
	}
	if _, err := s.CreateAccountWithIdentity(ctx, NewAccount{Name: "ADA"}, "https://id.example", "s-42", "", ""); !errors.Is(err, ErrExists) {
		t.Errorf("an account under a taken name: %v", err)
	}
	if _, err := s.UserByIdentity(ctx, "https://id.example", "s-42"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a failed sign-up left its identity linked: %v", err)
	}
	grace, err := s.CreateAccountWithIdentity(ctx, NewAccount{Name: "grace"}, "https://id.example", "s-42", "g@example.org", "")
	if err != nil {
		t.Fatal(err)
	}
	s.DeleteOIDCFlow(ctx, "secret-3")
	if _, err := s.OIDCFlowBySecret(ctx, FlowSignup, "secret-3"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a deleted flow: %v", err)
	}
	if u, err := s.UserByIdentity(ctx, "https://id.example", "s-42"); err != nil || u.ID != grace.ID {
		t.Errorf("user by identity: %+v %v", u, err)
	}
	if err := s.LinkIdentity(ctx, "https://id.example", "s-42", ada.ID, ""); !errors.Is(err, ErrExists) {
		t.Errorf("one identity linked to two accounts: %v", err)
	}
	// The same subject at another issuer is another identity.
	if err := s.LinkIdentity(ctx, "https://other.example", "s-42", ada.ID, ""); err != nil {
		t.Fatal(err)
	}
	ids, _ := s.Identities(ctx, grace.ID)
	if len(ids) != 1 || ids[0].LastUsed == nil || ids[0].Email != "g@example.org" {
		t.Fatalf("grace's identities: %+v", ids)
	}
	if err := s.UnlinkIdentity(ctx, ada.ID, ids[0].ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("unlinking another person's identity: %v", err)
	}
	if err := s.UnlinkIdentity(ctx, grace.ID, ids[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := s.LinkIdentity(ctx, "https://id.example", "s-42", ada.ID, ""); err != nil {
		t.Errorf("an unlinked identity cannot be linked again: %v", err)
	}
}
