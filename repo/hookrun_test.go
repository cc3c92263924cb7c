package repo

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestFirstBranch(t *testing.T) {
	up := func(refs ...string) []RefUpdate {
		var us []RefUpdate
		for _, r := range refs {
			new := "1111111111111111111111111111111111111111"
			if strings.HasPrefix(r, "-") {
				r, new = r[1:], ZeroID
			}
			us = append(us, RefUpdate{Old: ZeroID, New: new, Ref: r})
		}
		return us
	}
	for _, c := range []struct {
		updates  []RefUpdate
		existing []string
		want     string
	}{
		{up("refs/heads/feature", "refs/heads/main"), nil, "main"},
		{up("refs/heads/feature", "refs/heads/master"), nil, "master"},
		{up("refs/tags/v1", "refs/heads/trunk", "refs/heads/dev"), nil, "trunk"},
		{up("refs/tags/v1"), nil, ""},
		{up("-refs/heads/main"), []string{"dev", "master"}, "master"},
		{up("refs/tags/v1"), []string{"b", "a"}, "b"},
	} {
		if got := firstBranch(c.updates, c.existing); got != c.want {
			t.Errorf("firstBranch(%v, %v) = %q, want %q", c.updates, c.existing, got, c.want)
		}
	}
}

func TestRunHook(t *testing.T) {
	var got HookRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer s3cret" || r.URL.Path != "/internal/hooks/pre-receive" {
			http.Error(w, "bad", http.StatusUnauthorized)
			return
		}
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &got); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, "no pushes on Tuesdays\n")
	}))
	defer srv.Close()
	env := map[string]string{
		envHookURL: srv.URL, envHookSecret: "s3cret", envOwner: "alice", envProject: "p", envPusher: "alice",
		"GIT_QUARANTINE_PATH": "objects/incoming",
	}
	stdin := strings.NewReader(ZeroID + " 2222222222222222222222222222222222222222 refs/heads/main\n")
	var out strings.Builder
	err := RunHook(context.Background(), "pre-receive", func(k string) string { return env[k] }, stdin, &out)
	if err != ErrRefused {
		t.Fatalf("RunHook = %v, want ErrRefused", err)
	}
	if out.String() != "no pushes on Tuesdays\n" {
		t.Errorf("stdout %q", out.String())
	}
	if got.Owner != "alice" || len(got.Updates) != 1 || got.Updates[0].Ref != "refs/heads/main" ||
		!strings.HasPrefix(got.Env["GIT_QUARANTINE_PATH"], "/") {
		t.Errorf("server got %+v", got)
	}

	// Outside a server-run push (no environment) the hook refuses.
	err = RunHook(context.Background(), "pre-receive", func(string) string { return "" }, strings.NewReader(""), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "push through the Blueprints server") {
		t.Errorf("RunHook without environment = %v", err)
	}
	env[envHookSecret] = "wrong"
	if err := RunHook(context.Background(), "pre-receive", func(k string) string { return env[k] }, strings.NewReader(""), io.Discard); err == nil || err == ErrRefused {
		t.Errorf("RunHook with a wrong secret = %v, want a failure", err)
	}
	if err := RunHook(context.Background(), "update", func(k string) string { return env[k] }, strings.NewReader(""), io.Discard); err == nil {
		t.Errorf("RunHook for an unknown hook succeeded")
	}
	env[envHookSecret] = "s3cret"
	if err := RunHook(context.Background(), "pre-receive", func(k string) string { return env[k] }, strings.NewReader("garbage\n"), io.Discard); err == nil {
		t.Errorf("RunHook accepted a malformed update line")
	}
}
