package repo_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/blueprints-hq/blueprints/internal/testenv"
	"github.com/blueprints-hq/blueprints/repo"
)

// TestGitNice checks that the git processes serving a push and a clone
// run at the configured niceness, and that the server's other git runs
// (creating the repository) do not.
func TestGitNice(t *testing.T) {
	git, err := exec.LookPath("git")
	if err != nil {
		testenv.RequireTool(t, "git")
	}
	dir := t.TempDir()
	record := filepath.Join(dir, "runs")
	// The wrapper waits a moment so the server has set its priority, then
	// notes its subcommand and niceness (field 19 of /proc/PID/stat).
	wrapper := filepath.Join(dir, "git")
	script := "#!/bin/sh\nsleep 0.2\necho \"$* :: $(cut -d' ' -f19 /proc/$$/stat)\" >> " + record + "\nexec " + git + " \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	// Relative to the test's own niceness, so the test holds when run
	// under nice, where a lower value would need privileges.
	stat, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		t.Fatal(err)
	}
	own, err := strconv.Atoi(strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))[16])
	if err != nil {
		t.Fatal(err)
	}
	nice := min(own+7, 19)
	p := startInProcess(t, func(c *repo.Config) { c.Git = wrapper; c.GitNice = nice })

	work := t.TempDir()
	testenv.Git(t, work, "init", "-q", "-b", "main")
	commitFile(t, work, "README.md", "# cart\n")
	testenv.Git(t, work, "push", "-q", p.url+"/alice/cart.git", "main")
	testenv.Git(t, t.TempDir(), "clone", "-q", p.url+"/alice/cart.git", "clone")

	data, err := os.ReadFile(record)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		args, got, _ := strings.Cut(line, " :: ")
		for _, sub := range []string{"upload-pack", "receive-pack", "init"} {
			if !strings.Contains(" "+args+" ", " "+sub+" ") {
				continue
			}
			seen[sub] = true
			want := nice
			if sub == "init" {
				want = own
			}
			if got != strconv.Itoa(want) {
				t.Errorf("git %s ran at niceness %s, want %d", sub, got, want)
			}
		}
	}
	for _, sub := range []string{"upload-pack", "receive-pack", "init"} {
		if !seen[sub] {
			t.Errorf("git %s never ran through the wrapper:\n%s", sub, data)
		}
	}
}
