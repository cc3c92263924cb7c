package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/blueprints-hq/blueprints/internal/testenv"
)

// Big-file settings: one 256 MiB file stored in git (not LFS), as issue 12
// measured, and a project of 20,000 packed tags.
const (
	bigFileSize   = 256 << 20
	bigFileTags   = 20000
	bigFileReqs   = 30 // sequential requests per case
	bigTailGoal   = 2.0
	bigRefsGoal   = 1.5
	bigFileWindow = 1024 // bytes asked for by each ranged request
)

// benchBigFiles measures the two costs issue 12 found in big repositories:
// a Range request for the last KiB of a 256 MiB git file (it inflated the
// blob from its start every time; now the blob cache keeps it inflated),
// beside the first KiB of the same file from the same server, a static
// file server (Go's http.ServeContent from disk) and git cat-file
// inflating the blob; and a 2-byte raw file of a project with 20,000
// packed tags beside the same file of a project with none (every page
// listed every ref; now one is looked up by name).
func benchBigFiles(b *Bench) error {
	testenv.RequireTool(b, "git")
	srv := testenv.StartServer(b, testenv.Options{Args: []string{"--max-blob-size", "300MiB"}})
	token := srv.AddUser(b, "bench")
	work := b.TempDir()
	testenv.Git(b, work, "init", "-q", "-b", "main")
	big := filepath.Join(work, "big.bin")
	if err := writeRandom(big, bigFileSize); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(work, "small.txt"), []byte("hi"), 0o644); err != nil {
		return err
	}
	testenv.Git(b, work, "add", "-A")
	testenv.Git(b, work, "commit", "-q", "-m", "a big file")
	head := strings.TrimSpace(testenv.Git(b, work, "rev-parse", "HEAD"))
	for _, p := range []string{"tagged", "plain"} {
		testenv.Git(b, work, "push", "-q", srv.Remote("bench", token, "bench", p), "main")
	}
	var in strings.Builder
	for i := range bigFileTags {
		fmt.Fprintf(&in, "create refs/tags/v%d %s\n", i, head)
	}
	bare := srv.RepoDir("bench", "tagged")
	cmd := exec.Command("git", "update-ref", "--stdin")
	cmd.Dir, cmd.Stdin = bare, strings.NewReader(in.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("git update-ref: %v\n%s", err, out)
	}
	testenv.Git(b, bare, "pack-refs", "--all")
	b.Logf("pushed a %d MiB file to two projects, %d tags in one", bigFileSize>>20, bigFileTags)

	f, err := os.Open(big)
	if err != nil {
		return err
	}
	defer f.Close()
	static := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.ServeContent(w, r, "big.bin", time.Time{}, f)
	}))
	defer static.Close()

	client := &http.Client{Timeout: time.Minute}
	tail := fmt.Sprintf("bytes=-%d", bigFileWindow)
	first := fmt.Sprintf("bytes=0-%d", bigFileWindow-1)
	raw := srv.URL + "/bench/plain/raw/main/"
	fill, err := timedGet(client, raw+"big.bin", tail)
	if err != nil {
		return err
	}
	inflate := time.Now()
	if out, err := exec.Command("git", "-C", srv.RepoDir("bench", "plain"), "cat-file", "blob", "HEAD:big.bin").Output(); err != nil || len(out) != bigFileSize {
		return fmt.Errorf("git cat-file: %d bytes, %v", len(out), err)
	}
	catFile := time.Since(inflate)
	median := func(url, rng string) (time.Duration, error) {
		var ds []time.Duration
		for range bigFileReqs {
			d, err := timedGet(client, url, rng)
			if err != nil {
				return 0, err
			}
			ds = append(ds, d)
		}
		return percentile(ds, 50), nil
	}
	cases := []struct{ url, rng string }{
		{raw + "big.bin", tail}, {raw + "big.bin", first}, {static.URL, tail},
		{srv.URL + "/bench/tagged/raw/main/small.txt", ""}, {raw + "small.txt", ""},
	}
	p50 := make([]time.Duration, len(cases))
	for i, c := range cases {
		if p50[i], err = median(c.url, c.rng); err != nil {
			return err
		}
	}
	verdict := func(ratio, goal float64) string {
		if ratio > goal {
			return fmt.Sprintf("≤ %.1f× (missed)", goal)
		}
		return fmt.Sprintf("≤ %.1f×", goal)
	}
	mb := bigFileSize >> 20
	rows := [][]string{
		{fmt.Sprintf("last KiB of a %d MiB git file, first request (inflates it into the blob cache)", mb), fineMS(fill), fmt.Sprintf("git cat-file blob (inflating it) %s", fineMS(catFile)), Ratio(float64(fill), float64(catFile)), "reference"},
		{fmt.Sprintf("last KiB of a %d MiB git file, later requests (p50)", mb), fineMS(p50[0]), "first KiB of the same file " + fineMS(p50[1]), Ratio(float64(p50[0]), float64(p50[1])), verdict(float64(p50[0])/float64(p50[1]), bigTailGoal)},
		{fmt.Sprintf("last KiB of a %d MiB git file, later requests (p50)", mb), fineMS(p50[0]), "static file server (http.ServeContent) " + fineMS(p50[2]), Ratio(float64(p50[0]), float64(p50[2])), "reference"},
		{fmt.Sprintf("2-byte raw file, %d packed tags (p50)", bigFileTags), fineMS(p50[3]), "same file, no tags " + fineMS(p50[4]), Ratio(float64(p50[3]), float64(p50[4])), verdict(float64(p50[3])/float64(p50[4]), bigRefsGoal)},
	}
	fmt.Printf("Big repositories: one client, %d sequential requests per case, loopback, %s, load %s.\n\n", bigFileReqs, Machine(), loadAverage())
	Table([]string{"case", "Blueprints", "peer", "ratio", "target"}, rows)
	return nil
}

// timedGet GETs url (with a Range header when rng is set), reads the
// answer and returns how long it took.
func timedGet(client *http.Client, url, rng string) (time.Duration, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	start := time.Now()
	res, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	took := time.Since(start)
	if err != nil {
		return 0, err
	}
	if want := map[bool]int{true: http.StatusPartialContent, false: http.StatusOK}[rng != ""]; res.StatusCode != want {
		return 0, fmt.Errorf("GET %s (%s): status %d, want %d", url, rng, res.StatusCode, want)
	}
	return took, nil
}

// writeRandom writes n bytes that do not compress (as a big mesh or an
// archive in a repository would not).
func writeRandom(name string, n int) error {
	rng := rand.New(rand.NewPCG(256, 20000))
	buf := make([]byte, 1<<20)
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	for left := n; left > 0; left -= len(buf) {
		for i := 0; i < len(buf); i += 8 {
			v := rng.Uint64()
			for j := range 8 {
				buf[i+j] = byte(v >> (8 * j))
			}
		}
		if _, err := f.Write(buf[:min(left, len(buf))]); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// fineMS formats d in milliseconds to the hundredth: the cached reads take
// well under one.
func fineMS(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}
