package store

import (
	"context"
	"strings"
	"testing"
)

// TestAuthenticateFailuresAlike checks that an unknown user, a wrong token,
// another user's token, a revoked token and a token differing only in its
// last character all fail the same way: the same error value, and no
// write (last use is recorded only for a good sign-in).
func TestAuthenticateFailuresAlike(t *testing.T) { eachStore(t, testAuthenticateFailuresAlike) }

func testAuthenticateFailuresAlike(t *testing.T, dsn string) {
	ctx := context.Background()
	s := openTest(t, dsn)
	for _, n := range []string{"alice", "bob"} {
		if _, err := s.CreateUser(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	_, alice, err := s.CreateToken(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	_, bob, err := s.CreateToken(ctx, "bob")
	if err != nil {
		t.Fatal(err)
	}
	old, revokedSecret, err := s.CreateToken(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeToken(ctx, old.ID); err != nil {
		t.Fatal(err)
	}
	last := alice[len(alice)-1:]
	flipped := alice[:len(alice)-1] + map[bool]string{true: "b", false: "a"}[last == "a"]
	cases := map[string][2]string{
		"unknown user, unknown token": {"mallory", TokenPrefix + strings.Repeat("a", 40)},
		"unknown user, real token":    {"mallory", alice},
		"known user, unknown token":   {"alice", TokenPrefix + strings.Repeat("a", 40)},
		"known user, last char wrong": {"alice", flipped},
		"another user's token":        {"alice", bob},
		"revoked token":               {"alice", revokedSecret},
		"secret hash as the token":    {"alice", hashSecret(alice)},
	}
	var msg string
	for name, c := range cases {
		u, err := s.Authenticate(ctx, c[0], c[1])
		if err != ErrBadCredentials || u != (User{}) {
			t.Errorf("%s: got %+v, %v; want exactly ErrBadCredentials", name, u, err)
			continue
		}
		if msg != "" && err.Error() != msg {
			t.Errorf("%s: message %q differs from %q", name, err, msg)
		}
		msg = err.Error()
	}
	ts, err := s.Tokens(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range ts {
		if tok.LastUsed != nil {
			t.Errorf("token %d marked used by failed sign-ins", tok.ID)
		}
	}
	if _, err := s.Authenticate(ctx, "Alice", alice); err != nil {
		t.Fatalf("good token refused: %v", err)
	}
}
