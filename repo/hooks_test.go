package repo_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blueprints-hq/blueprints/internal/server"
	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/internal/testenv"
	"github.com/blueprints-hq/blueprints/repo"
)

// inProcess runs the server inside the test, so it can register hooks.
type inProcess struct {
	srv   *server.Server
	repos *repo.Server
	url   string
	token string
}

func startInProcess(t *testing.T, configure ...func(*repo.Config)) *inProcess {
	t.Helper()
	testenv.RequireTool(t, "git")
	data := t.TempDir()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(data, "blueprints.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if _, err := st.CreateUser(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	_, token, err := st.CreateToken(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := repo.Config{Data: data, Store: st, Executable: testenv.Binary(t), Logger: log}
	for _, f := range configure {
		f(&cfg)
	}
	repos, err := repo.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Config{Addr: "127.0.0.1:0", ShutdownTimeout: 20 * time.Second, Logger: log}, server.Deps{Store: st, Repos: repos})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	return &inProcess{srv: srv, repos: repos, url: "http://alice:" + token + "@" + srv.Addr().String(), token: token}
}

func commitFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	testenv.Git(t, dir, "add", name)
	testenv.Git(t, dir, "commit", "-q", "-m", name)
	return revParse(t, dir, "HEAD")
}

func TestHooks(t *testing.T) {
	p := startInProcess(t)
	var (
		mu    sync.Mutex
		posts []repo.Push
	)
	p.repos.OnPreReceive(func(ctx context.Context, push repo.Push, gitEnv []string) error {
		for _, u := range push.Updates {
			if u.New == repo.ZeroID {
				continue
			}
			// The pushed objects are readable through gitEnv (quarantine).
			cmd := exec.CommandContext(ctx, "git", "cat-file", "-p", u.New+":secret.txt")
			cmd.Env = append(os.Environ(), gitEnv...)
			if out, err := cmd.Output(); err == nil && strings.Contains(string(out), "password") {
				return fmt.Errorf("%s: secret.txt holds a password; remove it and push again", u.Ref)
			}
		}
		if push.DefaultBranch != "main" {
			return fmt.Errorf("default branch %q, want main", push.DefaultBranch)
		}
		return nil
	})
	p.repos.OnPostReceive(func(ctx context.Context, push repo.Push) []string {
		mu.Lock()
		posts = append(posts, push)
		mu.Unlock()
		return []string{"catalogued " + push.Owner + "/" + push.Project}
	})

	work := t.TempDir()
	testenv.Git(t, work, "init", "-q", "-b", "main")
	first := commitFile(t, work, "a.txt", "a")
	out := testenv.Git(t, work, "push", p.url+"/alice/hooked.git", "main")
	if !strings.Contains(out, "remote: catalogued alice/hooked") {
		t.Errorf("post-receive lines not shown to the pusher:\n%s", out)
	}
	mu.Lock()
	if len(posts) != 1 || posts[0].Pusher != "alice" || posts[0].DefaultBranch != "main" ||
		len(posts[0].Updates) != 1 || posts[0].Updates[0] != (repo.RefUpdate{Old: repo.ZeroID, New: first, Ref: "refs/heads/main"}) {
		t.Errorf("post-receive got %+v", posts)
	}
	mu.Unlock()

	bad := commitFile(t, work, "secret.txt", "password=hunter2")
	out, err := testenv.GitErr(t, work, "push", p.url+"/alice/hooked.git", "main")
	if err == nil || !strings.Contains(out, "remote: refs/heads/main: secret.txt holds a password") {
		t.Fatalf("refused push: %v\n%s", err, out)
	}
	repoDir := p.repos.Path("alice", "hooked")
	if got := strings.TrimSpace(testenv.Git(t, "", "--git-dir", repoDir, "rev-parse", "main")); got != first {
		t.Fatalf("refused push moved main to %s", got)
	}
	// The refused objects never entered the repository.
	if _, err := testenv.GitErr(t, "", "--git-dir", repoDir, "cat-file", "-e", bad); err == nil {
		t.Errorf("refused commit %s is in the repository", bad)
	}
	mu.Lock()
	if len(posts) != 1 {
		t.Errorf("post-receive ran for a refused push")
	}
	mu.Unlock()

	// A refused push-to-create leaves no project behind.
	if out, err := testenv.GitErr(t, work, "push", p.url+"/alice/other.git", "main"); err == nil {
		t.Fatalf("push-to-create with a secret accepted:\n%s", out)
	}
	if _, err := p.repos.Project(context.Background(), "alice", "other"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("refused push-to-create left a project: %v", err)
	}
	if _, err := os.Stat(p.repos.Path("alice", "other")); !os.IsNotExist(err) {
		t.Errorf("refused push-to-create left a repository: %v", err)
	}

	// A push straight into the folder, around the server, is refused.
	testenv.Git(t, work, "reset", "-q", "--hard", first)
	commitFile(t, work, "b.txt", "b")
	cmd := exec.Command("git", "push", repoDir, "main")
	cmd.Dir = work
	cmd.Env = testenv.GitEnv(t)
	if out, err := cmd.CombinedOutput(); err == nil {
		t.Errorf("push around the server accepted:\n%s", out)
	}
}

// Shutdown lets a push in flight finish and refuses new requests.
func TestShutdownDuringPush(t *testing.T) {
	p := startInProcess(t)
	arrived := make(chan struct{})
	p.repos.OnPreReceive(func(ctx context.Context, push repo.Push, gitEnv []string) error {
		close(arrived)
		time.Sleep(time.Second)
		return nil
	})
	work := t.TempDir()
	testenv.Git(t, work, "init", "-q", "-b", "main")
	want := commitFile(t, work, "a.txt", "a")
	pushed := make(chan error, 1)
	go func() {
		out, err := testenv.GitErr(t, work, "push", p.url+"/alice/p.git", "main")
		if err != nil {
			err = fmt.Errorf("%v: %s", err, out)
		}
		pushed <- err
	}()
	<-arrived
	if err := p.srv.Shutdown(context.Background()); err != nil {
		t.Fatalf("shutdown: %v", err)
	}
	if err := <-pushed; err != nil {
		t.Fatalf("push in flight during shutdown failed: %v", err)
	}
	got := strings.TrimSpace(testenv.Git(t, "", "--git-dir", p.repos.Path("alice", "p"), "rev-parse", "main"))
	if got != want {
		t.Fatalf("main is %q, want %s", got, want)
	}
	if _, err := http.Get("http://" + p.srv.Addr().String() + "/healthz"); err == nil {
		t.Fatalf("server still answers after shutdown")
	}
}
