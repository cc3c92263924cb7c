// Command vulngate runs govulncheck offline and fails on a reachable
// vulnerability that the allow list does not name (make vulncheck, part of
// make test).
//
// The vulnerability database comes from the golang.org/x/vulndb module at
// a pinned version (its data/osv folder, fetched through the Go module
// proxy like any module), laid out as govulncheck's v1 file database in
// the user cache folder once per version. govulncheck reports in JSON; a
// finding whose trace names a function is reachable. Each allow-list line
// is "ID reason…"; an entry no longer found is reported as stale.
package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

func main() {
	version := flag.String("vulndb", "", "version of the golang.org/x/vulndb module to take the database from")
	allowFile := flag.String("allow", "vulncheck-allow.txt", "file of allowed findings, one \"ID reason\" a line")
	flag.Parse()
	if *version == "" {
		fail("-vulndb VERSION is required")
	}
	db, err := database(*version)
	if err != nil {
		fail("build the vulnerability database: %v", err)
	}
	allowed, err := readAllow(*allowFile)
	if err != nil {
		fail("%v", err)
	}
	pkgs := flag.Args()
	if len(pkgs) == 0 {
		pkgs = []string{"./..."}
	}
	found, summaries, err := scan(db, pkgs)
	if err != nil {
		fail("govulncheck: %v", err)
	}
	var bad []string
	for _, id := range sortedKeys(found) {
		if reason, ok := allowed[id]; ok {
			fmt.Printf("vulncheck: %s (%s) is reachable, allowed: %s\n", id, summaries[id], reason)
			continue
		}
		bad = append(bad, id)
		fmt.Printf("vulncheck: %s is reachable: %s\n  %s\n  see https://pkg.go.dev/vuln/%s\n", id, summaries[id], found[id], id)
	}
	for _, id := range sortedKeys(allowed) {
		if _, ok := found[id]; !ok {
			fmt.Printf("vulncheck: %s is allowed in %s but no longer found: remove the line\n", id, *allowFile)
		}
	}
	if len(bad) > 0 {
		fail("%d reachable vulnerabilities not in %s: upgrade the module (or Go), or, if the code cannot reach the flaw, add a line saying why", len(bad), *allowFile)
	}
	fmt.Printf("vulncheck: no reachable vulnerability outside %s (database golang.org/x/vulndb@%s)\n", *allowFile, *version)
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "vulncheck: "+format+"\n", args...)
	os.Exit(1)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func readAllow(path string) (map[string]string, error) {
	out := map[string]string{}
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, reason, _ := strings.Cut(line, " ")
		if !strings.HasPrefix(id, "GO-") || strings.TrimSpace(reason) == "" {
			return nil, fmt.Errorf("%s:%d: want \"GO-YYYY-NNNN reason\"", path, i+1)
		}
		out[id] = strings.TrimSpace(reason)
	}
	return out, nil
}

// osv is the part of an OSV entry the index needs.
type osv struct {
	ID       string `json:"id"`
	Modified string `json:"modified"`
	Summary  string `json:"summary"`
	Affected []struct {
		Package struct {
			Name string `json:"name"`
		} `json:"package"`
		Ranges []struct {
			Events []map[string]string `json:"events"`
		} `json:"ranges"`
	} `json:"affected"`
}

type indexVuln struct {
	ID       string `json:"id"`
	Modified string `json:"modified"`
	Fixed    string `json:"fixed,omitempty"`
}

type indexModule struct {
	Path  string      `json:"path"`
	Vulns []indexVuln `json:"vulns"`
}

// database lays out data/osv of golang.org/x/vulndb@version as a v1
// database (index/db.json, index/modules.json, ID/<id>.json), once.
func database(version string) (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, "blueprints", "vulndb", version)
	if _, err := os.Stat(filepath.Join(dir, "index", "modules.json")); err == nil {
		return dir, nil
	}
	cmd := exec.Command("go", "mod", "download", "-json", "golang.org/x/vulndb@"+version)
	cmd.Env = append(os.Environ(), "GOFLAGS=")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go mod download golang.org/x/vulndb@%s: %w", version, err)
	}
	var mod struct{ Dir string }
	if err := json.Unmarshal(out, &mod); err != nil || mod.Dir == "" {
		return "", fmt.Errorf("go mod download: %v %s", err, out)
	}
	files, err := filepath.Glob(filepath.Join(mod.Dir, "data", "osv", "*.json"))
	if err != nil || len(files) == 0 {
		return "", fmt.Errorf("no OSV entries in %s/data/osv", mod.Dir)
	}
	tmp := dir + ".tmp"
	os.RemoveAll(tmp)
	if err := os.MkdirAll(filepath.Join(tmp, "ID"), 0o755); err != nil {
		return "", err
	}
	os.MkdirAll(filepath.Join(tmp, "index"), 0o755)
	modules := map[string][]indexVuln{}
	newest := ""
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return "", err
		}
		var e osv
		if err := json.Unmarshal(data, &e); err != nil {
			return "", fmt.Errorf("%s: %w", f, err)
		}
		if err := os.WriteFile(filepath.Join(tmp, "ID", e.ID+".json"), data, 0o644); err != nil {
			return "", err
		}
		newest = max(newest, e.Modified)
		for _, a := range e.Affected {
			fixed := ""
			for _, r := range a.Ranges {
				for _, ev := range r.Events {
					if v := ev["fixed"]; v != "" {
						fixed = v
					}
				}
			}
			modules[a.Package.Name] = append(modules[a.Package.Name], indexVuln{ID: e.ID, Modified: e.Modified, Fixed: fixed})
		}
	}
	var index []indexModule
	for _, path := range sortedKeys(modules) {
		index = append(index, indexModule{Path: path, Vulns: modules[path]})
	}
	if err := writeJSON(filepath.Join(tmp, "index", "modules.json"), index); err != nil {
		return "", err
	}
	if err := writeJSON(filepath.Join(tmp, "index", "db.json"), map[string]string{"modified": newest}); err != nil {
		return "", err
	}
	os.RemoveAll(dir)
	return dir, os.Rename(tmp, dir)
}

// writeJSON writes v to path and a gzipped copy to path.gz.
func writeJSON(path string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return err
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(data)
	zw.Close()
	return os.WriteFile(path+".gz", gz.Bytes(), 0o644)
}

// scan runs govulncheck and returns the reachable findings' ids, each
// with one trace, and the entries' summaries.
func scan(db string, pkgs []string) (map[string]string, map[string]string, error) {
	cmd := exec.Command("govulncheck", append([]string{"-db", "file://" + db, "-format", "json"}, pkgs...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("%w (is it installed? make vulncheck installs it)", err)
	}
	found, summaries := map[string]string{}, map[string]string{}
	dec := json.NewDecoder(bufio.NewReader(out))
	for {
		var msg struct {
			OSV *struct {
				ID      string `json:"id"`
				Summary string `json:"summary"`
			} `json:"osv"`
			Finding *struct {
				OSV   string `json:"osv"`
				Trace []struct {
					Module   string `json:"module"`
					Package  string `json:"package"`
					Function string `json:"function"`
					Receiver string `json:"receiver"`
				} `json:"trace"`
			} `json:"finding"`
		}
		if err := dec.Decode(&msg); err == io.EOF {
			break
		} else if err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			return nil, nil, fmt.Errorf("read govulncheck's answer: %w", err)
		}
		if msg.OSV != nil {
			summaries[msg.OSV.ID] = msg.OSV.Summary
		}
		if f := msg.Finding; f != nil && len(f.Trace) > 0 && f.Trace[0].Function != "" {
			if _, seen := found[f.OSV]; !seen {
				t := f.Trace[0]
				found[f.OSV] = fmt.Sprintf("reached: %s.%s%s", t.Package, recv(t.Receiver), t.Function)
			}
		}
	}
	// govulncheck exits 3 when it finds vulnerabilities in JSON mode only
	// on newer versions; any other failure is an error.
	if err := cmd.Wait(); err != nil {
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
			return nil, nil, err
		}
	}
	return found, summaries, nil
}

func recv(r string) string {
	if r == "" {
		return ""
	}
	return strings.TrimPrefix(r, "*") + "."
}
