package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/blueprints-hq/blueprints/internal/testenv"
)

// TestAdminCommandsNeedADataFolder runs admin commands where no data
// folder is: without --data they refuse, name the folder they looked in
// and create nothing; with --init they create it and work.
func TestAdminCommandsNeedADataFolder(t *testing.T) {
	bin := testenv.Binary(t)
	dir := t.TempDir()
	run := func(args ...string) (string, string, error) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		var env []string
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "BLUEPRINTS_") {
				env = append(env, kv)
			}
		}
		cmd.Env = env
		var stdout, stderr strings.Builder
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		return stdout.String(), stderr.String(), err
	}
	want := filepath.Join(dir, "data")
	for _, args := range [][]string{{"user", "add", "alice"}, {"token", "list", "alice"}, {"token", "revoke", "1"},
		{"webhook", "add", "alice/x", "https://example.org/hook"}, {"webhook", "list", "alice/x"}, {"webhook", "remove", "1"}} {
		out, errOut, err := run(args...)
		if err == nil {
			t.Errorf("%s without a data folder succeeded:\n%s", strings.Join(args, " "), out)
		}
		if !strings.Contains(errOut, "no Blueprints data folder at "+want) || !strings.Contains(errOut, "--init") {
			t.Errorf("%s: stderr does not name %s and --init:\n%s", strings.Join(args, " "), want, errOut)
		}
		if _, err := os.Stat(want); !os.IsNotExist(err) {
			t.Fatalf("%s created %s (stat: %v)", strings.Join(args, " "), want, err)
		}
	}
	// An existing folder without a store is refused too.
	other := filepath.Join(dir, "empty")
	os.Mkdir(other, 0o755)
	if _, errOut, err := run("user", "add", "alice", "--data", other); err == nil || !strings.Contains(errOut, other) {
		t.Errorf("user add --data on an empty folder: %v\n%s", err, errOut)
	}
	if _, err := os.Stat(filepath.Join(other, storeFile)); !os.IsNotExist(err) {
		t.Errorf("user add --data on an empty folder created %s", storeFile)
	}

	out, errOut, err := run("user", "add", "alice", "--init")
	if err != nil {
		t.Fatalf("user add --init: %v\n%s", err, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if !strings.HasPrefix(lines[len(lines)-1], "bp_") {
		t.Errorf("user add --init: last line %q is not a token", lines[len(lines)-1])
	}
	if !strings.Contains(errOut, "created data folder "+want) || !strings.Contains(errOut, "in data folder "+want) {
		t.Errorf("user add --init does not say where the data folder is:\n%s", errOut)
	}
	// Now the folder exists: no --init needed.
	if out, errOut, err := run("token", "list", "alice"); err != nil || !strings.Contains(out, "active") {
		t.Errorf("token list after --init: %v\n%s%s", err, out, errOut)
	}
}
