package ui_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/blueprints-hq/blueprints/internal/testenv"
)

// TestRangedBigBlobs: a Range request for the end of a big file stored in
// git (not LFS) inflates the blob once into the blob cache; the next
// ranged reads of it seek in the copy (counted by
// blueprints_blob_cache_reads_total, never timed) and answer the right
// bytes. The cache stays within --blob-cache-size, the least recently
// used blob going first. A private project's big file is served to its
// owner only, before and after its blob is in the cache.
func TestRangedBigBlobs(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end")
	}
	testenv.RequireTool(t, "git")
	const mib = 1 << 20
	srv := testenv.StartServer(t, testenv.Options{Args: []string{"--blob-cache-size", "20MiB"}})
	token := srv.AddUser(t, owner)
	const pw = "a long enough password"
	srv.SetPassword(t, owner, pw)
	work := t.TempDir()
	rng := rand.New(rand.NewPCG(12, 1))
	files := map[string][]byte{}
	project := func(name string, sizes map[string]int, pushArgs ...string) string {
		t.Helper()
		dir := filepath.Join(work, name)
		testenv.Git(t, "", "init", "-q", "-b", "main", dir)
		for f, n := range sizes {
			data := make([]byte, n)
			for i := 0; i < n; i += 8 {
				v := rng.Uint64()
				for j := 0; j < 8 && i+j < n; j++ {
					data[i+j] = byte(v >> (8 * j))
				}
			}
			files[name+"/"+f] = data
			if err := os.WriteFile(filepath.Join(dir, f), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		testenv.Git(t, dir, "add", "-A")
		testenv.Git(t, dir, "commit", "-q", "-m", "big files")
		testenv.Git(t, dir, append(append([]string{"push", "-q"}, pushArgs...), srv.Remote(owner, token, owner, name), "main")...)
		return dir
	}
	bigDir := project("big", map[string]int{"one.bin": 12 * mib, "two.bin": 12*mib + 7})
	project("secret", map[string]int{"three.bin": 3 * mib}, "-o", "visibility=private")
	blobID := func(dir, file string) string {
		return strings.TrimSpace(testenv.Git(t, dir, "rev-parse", "HEAD:"+file))
	}

	reads := func() (hit, fill int) {
		t.Helper()
		code, body, _ := get(t, srv.URL+"/metrics", nil)
		if code != 200 {
			t.Fatalf("/metrics: %d", code)
		}
		count := func(result string) int {
			m := regexp.MustCompile(`(?m)^blueprints_blob_cache_reads_total\{result="` + result + `"\} (\d+)$`).FindStringSubmatch(body)
			if m == nil {
				t.Fatalf("/metrics has no blueprints_blob_cache_reads_total{result=%q}", result)
			}
			n, _ := strconv.Atoi(m[1])
			return n
		}
		return count("hit"), count("fill")
	}
	// ranged GETs file (project/path) as client (nil: anonymous) and
	// checks the answer: 206 with the bytes asked for, or 404.
	anon := testenv.NewWebClient(t, srv.URL)
	maker := testenv.NewWebClient(t, srv.URL)
	maker.SignIn(owner, pw)
	ranged := func(who *testenv.WebClient, file string, from, to int, want int) {
		t.Helper()
		proj, p, _ := strings.Cut(file, "/")
		code, body, hd := who.Do("GET", "/"+owner+"/"+proj+"/raw/main/"+p, map[string]string{"Range": fmt.Sprintf("bytes=%d-%d", from, to)}, nil)
		if code != want {
			t.Fatalf("%s bytes %d-%d: %d, want %d\n%.300s", file, from, to, code, want, body)
		}
		if want != 206 {
			return
		}
		data := files[file]
		if !bytes.Equal([]byte(body), data[from:to+1]) || hd.Get("Content-Range") != fmt.Sprintf("bytes %d-%d/%d", from, to, len(data)) {
			t.Fatalf("%s bytes %d-%d: %d bytes (Content-Range %q), not the file's", file, from, to, len(body), hd.Get("Content-Range"))
		}
	}
	check := func(step string, wantHit, wantFill int) {
		t.Helper()
		if hit, fill := reads(); hit != wantHit || fill != wantFill {
			t.Errorf("%s: %d hits and %d fills of the blob cache, want %d and %d", step, hit, fill, wantHit, wantFill)
		}
	}
	cached := func() []string {
		t.Helper()
		ents, err := os.ReadDir(filepath.Join(srv.Data, "git", "blob-cache"))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		return names
	}

	one, two := len(files["big/one.bin"]), len(files["big/two.bin"])
	// The start of a file is read from git: no copy is made.
	ranged(anon, "big/one.bin", 0, 99, 206)
	check("the first 100 bytes", 0, 0)
	ranged(anon, "big/one.bin", one-100, one-1, 206)
	check("the last 100 bytes", 0, 1)
	ranged(anon, "big/one.bin", one-100, one-1, 206)
	ranged(anon, "big/one.bin", 5*mib, 5*mib+4095, 206)
	check("the last bytes again, then the middle", 2, 1)
	// A second 12 MiB blob does not fit beside the first in 20 MiB: the
	// first goes.
	ranged(anon, "big/two.bin", two-1000, two-1, 206)
	check("the end of a second big file", 2, 2)
	if got, want := cached(), []string{blobID(bigDir, "two.bin")}; !slices.Equal(got, want) {
		t.Errorf("the blob cache holds %v, want only the second file's blob %v", got, want)
	}
	ranged(anon, "big/one.bin", one-100, one-1, 206)
	check("the first file, evicted, again", 2, 3)

	// A private project: the owner reads, nobody else, cached or not.
	three := len(files["secret/three.bin"])
	ranged(anon, "secret/three.bin", three-10, three-1, 404)
	check("an anonymous read of a private file", 2, 3)
	ranged(maker, "secret/three.bin", three-10, three-1, 206)
	check("the owner's read of a private file", 2, 4)
	ranged(anon, "secret/three.bin", three-10, three-1, 404)
	ranged(maker, "secret/three.bin", 2*mib, 2*mib+9, 206)
	check("reads of the private file once cached", 3, 4)
}
