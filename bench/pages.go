package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/blueprints-hq/blueprints/internal/stlgen"
	"github.com/blueprints-hq/blueprints/internal/testenv"
)

// Page benchmark settings: 16 clients on loopback, a bounded number of
// requests per page.
const (
	pageClients  = 16
	pageRequests = 800 // per page
	pageParts    = 100
	pageP95Goal  = 50 * time.Millisecond
	pageSizeGoal = 300 << 10
)

// benchPages measures time to first byte of the home, search, project
// (100 parts) and part pages under 16 concurrent clients, and the project
// page's weight before images.
func benchPages(b *Bench) error {
	testenv.RequireTool(b, "git")
	srv := testenv.StartServer(b, testenv.Options{})
	token := srv.AddUser(b, "bench")

	work := b.TempDir()
	testenv.Git(b, work, "init", "-q", "-b", "main")
	for i := range pageParts {
		dir := filepath.Join(work, "parts", fmt.Sprintf("group_%d", i/10))
		os.MkdirAll(dir, 0o755)
		var buf bytes.Buffer
		t := stlgen.Torus{Major: 20 + float64(i), Minor: 4 + float64(i%7), Center: [3]float64{0, 0, 4 + float64(i%7)}, Triangles: 2000 + 40*i}
		if err := t.Write(&buf); err != nil {
			return err
		}
		name := filepath.Join(dir, fmt.Sprintf("bracket_%03d_ring.stl", i))
		if err := os.WriteFile(name, buf.Bytes(), 0o644); err != nil {
			return err
		}
	}
	readme := "# Hundred parts\n\nA benchmark project: a hundred rings of different sizes.\n\n" + strings.Repeat("Some text about the build. ", 200) + "\n"
	os.WriteFile(filepath.Join(work, "README.md"), []byte(readme), 0o644)
	os.WriteFile(filepath.Join(work, "LICENSE"), []byte("MIT License\n\nCopyright (c) bench\n\nPermission is hereby granted, free of charge, to any person obtaining a copy of this software.\n"), 0o644)
	testenv.Git(b, work, "add", "-A")
	testenv.Git(b, work, "commit", "-q", "-m", "a hundred parts")
	testenv.Git(b, work, "push", "-q", srv.Remote("bench", token, "bench", "hundred"), "main")
	head := strings.TrimSpace(testenv.Git(b, work, "rev-parse", "HEAD"))
	b.Logf("pushed %d parts; waiting for the catalog", pageParts)
	if err := waitCatalog(srv.URL+"/bench/hundred", 5*time.Minute); err != nil {
		return err
	}

	pages := []struct {
		name, path string
		reference  bool // shown for comparison, not held to the target
	}{
		{"home", "/", false},
		{"search", "/search?q=bracket+ring", false},
		{"search, a new query each time (no page cache)", "/search?q=bracket+ring&min_volume=%d", false},
		{"search API, the same new queries (reference)", "/api/v1/search?q=bracket+ring&min_volume=%d", true},
		{"search, fits 60×60×20", "/search?q=&kind=part&max_x=60&max_y=60&max_z=20", false},
		{"project (100 parts)", "/bench/hundred", false},
		{"part", "/bench/hundred/blob/main/parts/group_4/bracket_042_ring.stl", false},
		{"history", "/bench/hundred/commits/main", false},
		{"commit (100 parts added)", "/bench/hundred/commit/" + head, false},
		{"tree", "/bench/hundred/tree/main/parts/group_3", false},
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: pageClients, MaxConnsPerHost: pageClients, DisableCompression: true}, Timeout: 30 * time.Second}
	var rows, tags [][]string
	fail := false
	for _, p := range pages {
		url := func(i int) string {
			if strings.Contains(p.path, "%d") {
				return srv.URL + fmt.Sprintf(p.path, i+1)
			}
			return srv.URL + p.path
		}
		ttfb, size, err := loadPage(client, url)
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		p50, p95 := percentile(ttfb, 50), percentile(ttfb, 95)
		verdict := "ok"
		if p.reference {
			verdict = "reference"
		} else if p95 >= pageP95Goal {
			verdict, fail = "over target", true
		}
		weight := fmt.Sprintf("%.1f KB", float64(size)/1024)
		zipped, err := gzippedSize(client, url(0))
		if err != nil {
			return fmt.Errorf("%s gzipped: %w", p.name, err)
		}
		if strings.HasPrefix(p.name, "project") && size >= pageSizeGoal {
			verdict, fail = "too heavy", true
		}
		rows = append(rows, []string{p.name, ms(p50), ms(p95), ms(pageP95Goal), Ratio(float64(p95), float64(pageP95Goal)), weight, fmt.Sprintf("%.1f KB", float64(zipped)/1024), verdict})
		if !p.reference {
			full, notModified, err := revalidation(client, url(0))
			if err != nil {
				return fmt.Errorf("%s revalidated: %w", p.name, err)
			}
			tags = append(tags, []string{p.name, ms(full), ms(notModified), Ratio(float64(notModified), float64(full))})
		}
	}
	fmt.Printf("Time to first byte, %d clients, %d requests per page, loopback, %s.\n\n", pageClients, pageRequests, Machine())
	Table([]string{"page", "TTFB p50", "TTFB p95", "target p95", "p95 / target", "HTML size", "gzipped", ""}, rows)
	fmt.Printf("\nTargets: p95 < %s on every page; the 100-part project page < %d KB before images.\n", ms(pageP95Goal), pageSizeGoal>>10)
	fmt.Printf("\nRevalidation: one client, %d requests each, the page's whole answer (200) beside If-None-Match with its ETag (304, no body).\n\n", revalidations)
	Table([]string{"page", "200 p50", "304 p50", "304 / 200"}, tags)
	if fail {
		fmt.Println("Some pages missed their target.")
	}
	return nil
}

var catalogDone = regexp.MustCompile(`data-catalog="done" data-pending="false"`)

// waitCatalog polls the project page until the catalog has finished.
func waitCatalog(url string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		res, err := http.Get(url)
		if err == nil {
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode == 200 && catalogDone.Match(body) {
				return nil
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	return fmt.Errorf("wait for the catalog of %s: not done after %s", url, limit)
}

// loadPage requests url(i) for i < pageRequests from pageClients goroutines and
// returns each request's time to first byte and the page's size.
func loadPage(client *http.Client, url func(i int) string) ([]time.Duration, int, error) {
	// Warm up: connections, caches.
	for i := range pageClients {
		if _, _, err := fetchTTFB(client, url(pageRequests+i)); err != nil {
			return nil, 0, err
		}
	}
	var (
		mu    sync.Mutex
		all   []time.Duration
		size  int
		first error
		wg    sync.WaitGroup
	)
	next := make(chan int, pageRequests)
	for i := range pageRequests {
		next <- i
	}
	close(next)
	for range pageClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				d, n, err := fetchTTFB(client, url(i))
				mu.Lock()
				if err != nil && first == nil {
					first = err
				}
				all = append(all, d)
				size = n
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return all, size, first
}

func fetchTTFB(client *http.Client, url string) (time.Duration, int, error) {
	var start time.Time
	var ttfb time.Duration
	trace := &httptrace.ClientTrace{GotFirstResponseByte: func() { ttfb = time.Since(start) }}
	req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), http.MethodGet, url, nil)
	if err != nil {
		return 0, 0, err
	}
	start = time.Now()
	res, err := client.Do(req)
	if err != nil {
		return 0, 0, err
	}
	n, err := io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if err != nil {
		return 0, 0, err
	}
	if res.StatusCode != 200 {
		return 0, 0, fmt.Errorf("GET %s: status %d", url, res.StatusCode)
	}
	return ttfb, int(n), nil
}

func percentile(ds []time.Duration, p int) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (len(s)*p + 99) / 100
	return s[max(0, min(len(s)-1, i-1))]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

// gzippedSize is how many bytes the page takes on the wire for a client
// that accepts gzip.
func gzippedSize(client *http.Client, url string) (int, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if resp.Header.Get("Content-Encoding") != "gzip" {
		return 0, fmt.Errorf("answered without gzip (Content-Encoding %q)", resp.Header.Get("Content-Encoding"))
	}
	return int(n), err
}

// revalidations is how many requests each side of the revalidation
// table makes.
const revalidations = 200

// revalidation measures, from one client in turn, the time to the last
// byte of the page's whole answer and of a revalidation with its entity
// tag (which must answer 304), and returns their medians.
func revalidation(client *http.Client, url string) (full, notModified time.Duration, err error) {
	get := func(tag string, want int) (time.Duration, string, error) {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			return 0, "", err
		}
		if tag != "" {
			req.Header.Set("If-None-Match", tag)
		}
		start := time.Now()
		res, err := client.Do(req)
		if err != nil {
			return 0, "", err
		}
		_, err = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		d := time.Since(start)
		if err == nil && res.StatusCode != want {
			err = fmt.Errorf("GET %s (If-None-Match %q): status %d, want %d", url, tag, res.StatusCode, want)
		}
		return d, res.Header.Get("ETag"), err
	}
	_, tag, err := get("", http.StatusOK)
	if err != nil {
		return 0, 0, err
	}
	if tag == "" {
		return 0, 0, fmt.Errorf("GET %s: no ETag", url)
	}
	var a, b []time.Duration
	for range revalidations {
		d, _, err := get("", http.StatusOK)
		if err != nil {
			return 0, 0, err
		}
		a = append(a, d)
		if d, _, err = get(tag, http.StatusNotModified); err != nil {
			return 0, 0, err
		}
		b = append(b, d)
	}
	return percentile(a, 50), percentile(b, 50), nil
}
