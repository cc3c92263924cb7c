package cli

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func testApp(run func(fs *Flags, args []string) error, setup func(fs *Flags)) (*App, *bytes.Buffer, *bytes.Buffer) {
	var out, errb bytes.Buffer
	return &App{
		Name: "bp", Summary: "test", Stdout: &out, Stderr: &errb,
		Commands: []*Command{
			{Name: "render", Args: "FILE", Summary: "render a file", Setup: setup, Run: run},
			{Name: "user add", Args: "NAME", Summary: "add a user", Run: run},
		},
	}, &out, &errb
}

func TestFlagsAfterArguments(t *testing.T) {
	var size int
	var out string
	var got []string
	app, _, _ := testApp(func(fs *Flags, args []string) error { got = args; return nil }, func(fs *Flags) {
		fs.IntVar(&size, "size", 512, "size")
		fs.StringVar(&out, "o", "", "output")
	})
	if code := app.Main([]string{"render", "part.stl", "-o", "part.png", "--size", "256"}); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if size != 256 || out != "part.png" || len(got) != 1 || got[0] != "part.stl" {
		t.Fatalf("size=%d out=%q args=%q", size, out, got)
	}
}

// Arguments after "--" are never flags, even past the first argument
// after it (git appends "git pack-objects --revs ..." to a hook's command).
func TestArgumentsAfterDoubleDash(t *testing.T) {
	var size int
	var got []string
	app, _, errb := testApp(func(fs *Flags, args []string) error { got = args; return nil }, func(fs *Flags) {
		fs.IntVar(&size, "size", 512, "size")
	})
	if code := app.Main([]string{"render", "a", "--size", "7", "--", "git", "pack-objects", "--revs", "--size", "9"}); code != 0 {
		t.Fatalf("exit %d: %s", code, errb)
	}
	want := []string{"a", "git", "pack-objects", "--revs", "--size", "9"}
	if size != 7 || strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("size=%d args=%q, want 7 and %q", size, got, want)
	}
}

func TestEnvTwinAndFlagPrecedence(t *testing.T) {
	var addr string
	setup := func(fs *Flags) {
		fs.StringVar(&addr, "addr", "127.0.0.1:8080", "listen address")
		fs.Env("addr", "BP_TEST_ADDR")
	}
	app, _, _ := testApp(func(*Flags, []string) error { return nil }, setup)
	t.Setenv("BP_TEST_ADDR", "127.0.0.1:9999")
	app.Main([]string{"render", "x"})
	if addr != "127.0.0.1:9999" {
		t.Fatalf("env twin not applied: %q", addr)
	}
	app.Main([]string{"render", "x", "--addr", "127.0.0.1:1"})
	if addr != "127.0.0.1:1" {
		t.Fatalf("flag should win over env: %q", addr)
	}
}

// A bad value in a flag's environment twin is said, naming the variable,
// rather than ending the program silently.
func TestEnvTwinBadValue(t *testing.T) {
	var size int
	ran := false
	setup := func(fs *Flags) {
		fs.IntVar(&size, "size", 512, "size")
		fs.Env("size", "BP_TEST_SIZE")
	}
	app, _, errb := testApp(func(*Flags, []string) error { ran = true; return nil }, setup)
	t.Setenv("BP_TEST_SIZE", "lots")
	if code := app.Main([]string{"render", "x"}); code != 2 || ran {
		t.Fatalf("exit %d, ran %v; want 2 without running", code, ran)
	}
	if msg := errb.String(); !strings.Contains(msg, `BP_TEST_SIZE="lots"`) || !strings.Contains(msg, "bp render:") {
		t.Fatalf("stderr %q should name the variable and its value", msg)
	}
}

func TestMultiWordCommandAndErrors(t *testing.T) {
	var got []string
	app, out, errb := testApp(func(fs *Flags, args []string) error {
		got = args
		if len(args) != 1 {
			return errors.New("missing: " + ErrUsage.Error())
		}
		return nil
	}, nil)
	if code := app.Main([]string{"user", "add", "alice"}); code != 0 || len(got) != 1 || got[0] != "alice" {
		t.Fatalf("user add: code %d args %q", code, got)
	}
	if code := app.Main([]string{"user", "add"}); code != 1 || !strings.Contains(errb.String(), "bp user add: missing") {
		t.Fatalf("failing command: code %d stderr %q", code, errb.String())
	}
	if code := app.Main([]string{"frobnicate"}); code != 2 || !strings.Contains(errb.String(), "unknown command") {
		t.Fatalf("unknown command: code %d", code)
	}
	if code := app.Main([]string{"render", "--help"}); code != 0 || !strings.Contains(out.String(), "Usage: bp render FILE") {
		t.Fatalf("--help: code %d out %q", code, out.String())
	}
}

func TestBytes(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "65536": 65536, "512MiB": 512 << 20, "2GiB": 2 << 30, "2G": 2 << 30,
		"1.5GB": 1_500_000_000, "10 kB": 10_000, "3KiB": 3 << 10, " 7B ": 7,
	} {
		got, err := ParseBytes(in)
		if err != nil || got != want {
			t.Errorf("ParseBytes(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "-1", "12 parsecs", "MiB", "1e3", "99999999TiB", "0x10"} {
		if n, err := ParseBytes(in); err == nil {
			t.Errorf("ParseBytes(%q) = %d, want an error", in, n)
		}
	}
	for _, c := range []struct {
		n    Bytes
		want string
	}{{0, "0"}, {1 << 30, "1GiB"}, {1536 << 20, "1536MiB"}, {1000, "1000"}} {
		if got := c.n.String(); got != c.want {
			t.Errorf("Bytes(%d).String() = %q, want %q", int64(c.n), got, c.want)
		}
	}
}
