// Package testenv is the harness Blueprints' end-to-end tests and
// benchmarks share: it builds the real blueprints binary, starts servers on
// free loopback ports with their own data folders, creates users, runs the
// real git with an isolated configuration, and starts an S3 server (s3.go).
// Everything it starts is stopped at the test's cleanup.
package testenv

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// T is what the harness needs from a test; testing.TB satisfies it, and so
// does the benchmark runner.
type T interface {
	Helper()
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
	Cleanup(func())
	TempDir() string
}

// RequireTool makes sure the program name is on PATH. When it is missing
// the test fails under CI=true (CI must not skip silently) and is skipped
// otherwise (t must then have Skipf, as testing.TB does).
func RequireTool(t T, name string) {
	t.Helper()
	if _, err := exec.LookPath(name); err == nil {
		return
	}
	msg := fmt.Sprintf("%s is not installed (run make deps)", name)
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s", msg)
	}
	if s, ok := t.(interface{ Skipf(string, ...any) }); ok {
		s.Skipf("%s", msg)
	}
	t.Fatalf("%s", msg)
}

// ModuleRoot returns the folder holding the module's go.mod, found by
// walking up from the working directory.
func ModuleRoot(t T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("find module root: %v", err)
	}
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.Contains(data, []byte("module github.com/blueprints-hq/blueprints\n")) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("find module root: no blueprints go.mod above the working directory")
		}
		dir = parent
	}
}

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
)

// Binary builds ./cmd/blueprints once per process and returns its path.
// The build goes to a fixed place per module folder in the temp directory
// (written atomically), so parallel test processes share the go build
// cache and leave nothing behind but one binary.
func Binary(t T) string {
	t.Helper()
	root := ModuleRoot(t)
	buildOnce.Do(func() {
		sum := sha256.Sum256([]byte(root))
		dir := filepath.Join(os.TempDir(), "blueprints-test-"+hex.EncodeToString(sum[:6]))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			buildErr = err
			return
		}
		tmp, err := os.CreateTemp(dir, "build-*")
		if err != nil {
			buildErr = err
			return
		}
		tmp.Close()
		cmd := exec.Command("go", "build", "-o", tmp.Name(), "./cmd/blueprints")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0") // as make build does
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			os.Remove(tmp.Name())
			buildErr = fmt.Errorf("go build ./cmd/blueprints: %v\n%s", err, out)
			return
		}
		buildPath = filepath.Join(dir, "blueprints")
		buildErr = os.Rename(tmp.Name(), buildPath)
	})
	if buildErr != nil {
		t.Fatalf("build blueprints: %v", buildErr)
	}
	return buildPath
}

var (
	homes   sync.Map // T → isolated HOME folder
	homesMu sync.Mutex
)

// GitEnv is the environment Git runs git in: the process environment
// without GIT_* variables, plus an isolated HOME (one per test, with a
// .gitconfig naming a test user and the default branch main),
// GIT_CONFIG_NOSYSTEM=1 and GIT_TERMINAL_PROMPT=0. Use it for git-lfs and
// other tools that must see the same configuration.
func GitEnv(t T) []string {
	t.Helper()
	home := gitHome(t)
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "GIT_") || k == "HOME" || k == "XDG_CONFIG_HOME" || k == "SSH_ASKPASS" {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"HOME="+home,
		"XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_TERMINAL_PROMPT=0",
		"GIT_ASKPASS=",
	)
}

func gitHome(t T) string {
	homesMu.Lock()
	defer homesMu.Unlock()
	if h, ok := homes.Load(t); ok {
		return h.(string)
	}
	home := t.TempDir()
	config := "[user]\n\tname = Blueprints Test\n\temail = test@blueprints.invalid\n" +
		"[init]\n\tdefaultBranch = main\n" +
		"[advice]\n\tdetachedHead = false\n" +
		"[credential]\n\thelper =\n"
	if err := os.WriteFile(filepath.Join(home, ".gitconfig"), []byte(config), 0o644); err != nil {
		t.Fatalf("write test gitconfig: %v", err)
	}
	homes.Store(t, home)
	t.Cleanup(func() { homes.Delete(t) })
	return home
}

// Git runs the real git in dir ("" for the current folder) with GitEnv and
// returns its combined output; failure fails t with that output.
func Git(t T, dir string, args ...string) string {
	t.Helper()
	out, err := GitErr(t, dir, args...)
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// GitErr runs git like Git but returns its error instead of failing.
func GitErr(t T, dir string, args ...string) (string, error) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		return "", errors.New("git is not installed")
	}
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = GitEnv(t)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
