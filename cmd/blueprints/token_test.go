package main

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/blueprints-hq/blueprints/internal/testenv"
)

// pushStatus is the status of the push advertisement for alice/p with the
// given credentials: 200 when they are good, 401 when not.
func pushStatus(t *testing.T, srv *testenv.Server, user, secret string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", srv.URL+"/"+user+"/p.git/info/refs?service=git-receive-pack", nil)
	req.SetBasicAuth(user, secret)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

var hexRun = regexp.MustCompile(`[0-9a-fA-F]{32,}`)

// TestTokenListAndRevoke runs the token commands against a running server:
// the list shows ids, dates and state but no secret or hash, and a revoked
// token is refused at once, without a restart.
func TestTokenListAndRevoke(t *testing.T) {
	srv := testenv.StartServer(t, testenv.Options{})
	alice := srv.AddUser(t, "alice")
	bob := srv.AddUser(t, "bob")
	if pushStatus(t, srv, "alice", alice) != 200 || pushStatus(t, srv, "bob", bob) != 200 {
		t.Fatal("fresh tokens refused")
	}
	sum := sha256.Sum256([]byte(alice))
	secretFree := func(out string) {
		t.Helper()
		for what, s := range map[string]string{"secret": alice, "secret body": strings.TrimPrefix(alice, "bp_"), "hash": hex.EncodeToString(sum[:]), "token prefix": "bp_"} {
			if strings.Contains(out, s) {
				t.Errorf("token list shows the %s:\n%s", what, out)
			}
		}
		if m := hexRun.FindString(out); m != "" {
			t.Errorf("token list shows a long hex string %q (a hash?):\n%s", m, out)
		}
	}

	out, err := srv.Run(t, "token", "list", "alice")
	if err != nil {
		t.Fatalf("token list: %v\n%s", err, out)
	}
	secretFree(out)
	today := time.Now().UTC().Format("2006-01-02")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "ID") || !regexp.MustCompile(`^1\s+`+today+`T\S+Z\s+`+today+`T\S+Z\s+active\s+write\s+never\s*$`).MatchString(lines[1]) {
		t.Fatalf("token list alice: want a header and token 1, created and used today, active:\n%s", out)
	}

	if out, err := srv.Run(t, "token", "revoke", "1"); err != nil {
		t.Fatalf("token revoke 1: %v\n%s", err, out)
	}
	if code := pushStatus(t, srv, "alice", alice); code != 401 {
		t.Fatalf("revoked token: %d, want 401 at once", code)
	}
	if code := pushStatus(t, srv, "bob", bob); code != 200 {
		t.Fatalf("bob's token after revoking alice's: %d, want 200", code)
	}
	out, err = srv.Run(t, "token", "list", "ALICE")
	if err != nil || !regexp.MustCompile(`(?m)^1\s.*revoked `+today+`T\S+Z\s+write\s+never\s*$`).MatchString(out) {
		t.Fatalf("token list after revoke: %v\n%s", err, out)
	}
	secretFree(out)
	// Revoking twice is harmless; bad ids and names are errors.
	if _, err := srv.Run(t, "token", "revoke", "1"); err != nil {
		t.Errorf("revoke again: %v", err)
	}
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"token", "revoke", "99"}, "no token 99"},
		{[]string{"token", "revoke", "x"}, "not a positive number"},
		{[]string{"token", "revoke", "0"}, "not a positive number"},
		{[]string{"token", "list", "nobody"}, "no user nobody"},
		{[]string{"token", "list"}, "usage"},
	} {
		if out, err := srv.Run(t, c.args...); err == nil || !strings.Contains(out, c.msg) {
			t.Errorf("%s: %v, want an error saying %q\n%s", strings.Join(c.args, " "), err, c.msg, out)
		}
	}
}
