package mirror

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"

	"github.com/blueprints-hq/blueprints/lfs"
)

// Git LFS objects are fetched by this package's own batch client, not by
// the git-lfs program: every request (the batch API and each object's
// download, wherever its href points, redirects included) then goes
// through the guarded outgoing client, objects stream straight into blob
// storage with their SHA-256 checked before they become visible, and no
// working copy or .git/lfs cache doubles the disk they take.

// pointers lists the LFS objects the repository's blobs point to: every
// blob small enough to be a pointer file is read and parsed.
func pointers(ctx context.Context, git, dir string) (map[string]int64, error) {
	check := exec.CommandContext(ctx, git, "--git-dir", dir, "cat-file", "--batch-all-objects", "--batch-check=%(objectname) %(objecttype) %(objectsize)")
	out, err := check.Output()
	if err != nil {
		return nil, fmt.Errorf("list objects: %w", err)
	}
	var small bytes.Buffer
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 || f[1] != "blob" {
			continue
		}
		if n, _ := strconv.Atoi(f[2]); n > 0 && n <= 1024 {
			small.WriteString(f[0] + "\n")
		}
	}
	found := map[string]int64{}
	if small.Len() == 0 {
		return found, nil
	}
	read := exec.CommandContext(ctx, git, "--git-dir", dir, "cat-file", "--batch")
	read.Stdin = &small
	data, err := read.Output()
	if err != nil {
		return nil, fmt.Errorf("read small blobs: %w", err)
	}
	r := bufio.NewReader(bytes.NewReader(data))
	for {
		hdr, err := r.ReadString('\n')
		if err != nil {
			break
		}
		f := strings.Fields(hdr)
		if len(f) != 3 {
			break
		}
		n, _ := strconv.Atoi(f[2])
		body := make([]byte, n+1) // and its newline
		if _, err := io.ReadFull(r, body); err != nil {
			break
		}
		if p, ok := lfs.ParsePointer(body[:n]); ok {
			found[p.OID] = p.Size
		}
	}
	return found, nil
}

type batchObject struct {
	OID     string `json:"oid"`
	Size    int64  `json:"size"`
	Actions struct {
		Download *struct {
			Href   string            `json:"href"`
			Header map[string]string `json:"header"`
		} `json:"download"`
	} `json:"actions"`
	Error *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// batch asks the origin's LFS API where to download objects.
func (s *Service) batch(ctx context.Context, repoURL string, want map[string]int64) ([]batchObject, error) {
	type obj struct {
		OID  string `json:"oid"`
		Size int64  `json:"size"`
	}
	req := struct {
		Operation string   `json:"operation"`
		Transfers []string `json:"transfers"`
		Objects   []obj    `json:"objects"`
	}{Operation: "download", Transfers: []string{"basic"}}
	for oid, size := range want {
		req.Objects = append(req.Objects, obj{oid, size})
	}
	body, _ := json.Marshal(req)
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(repoURL, "/")+"/info/lfs/objects/batch", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Accept", "application/vnd.git-lfs+json")
	hr.Header.Set("Content-Type", "application/vnd.git-lfs+json")
	resp, err := s.cfg.Client.Do(hr)
	if err != nil {
		return nil, fmt.Errorf("LFS batch: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("LFS batch: origin answered %s", resp.Status)
	}
	var out struct {
		Objects []batchObject `json:"objects"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 8<<20)).Decode(&out); err != nil {
		return nil, fmt.Errorf("LFS batch: bad answer: %w", err)
	}
	return out.Objects, nil
}

// fetchLFS downloads the objects of want that the project lacks into blob
// storage and records them as the project's. It returns how many it got.
func (s *Service) fetchLFS(ctx context.Context, projectID int64, repoURL string, want map[string]int64) (int, error) {
	oids := make([]string, 0, len(want))
	for oid := range want {
		oids = append(oids, oid)
	}
	have, err := s.cfg.Store.LFSObjects(ctx, projectID, oids)
	if err != nil {
		return 0, err
	}
	missing := map[string]int64{}
	for oid, size := range want {
		if _, ok := have[oid]; !ok && lfs.ValidOID(oid) {
			missing[oid] = size
		}
	}
	got := 0
	for len(missing) > 0 {
		chunk := map[string]int64{}
		for oid, size := range missing {
			chunk[oid] = size
			delete(missing, oid)
			if len(chunk) == 100 {
				break
			}
		}
		objs, err := s.batch(ctx, repoURL, chunk)
		if err != nil {
			return got, err
		}
		var errs []error
		for _, o := range objs {
			size, asked := chunk[o.OID]
			if !asked {
				continue
			}
			if o.Error != nil || o.Actions.Download == nil {
				msg := "no download link"
				if o.Error != nil {
					msg = o.Error.Message
				}
				errs = append(errs, fmt.Errorf("LFS object %s: %s", o.OID, msg))
				continue
			}
			if err := s.download(ctx, o.OID, size, o.Actions.Download.Href, o.Actions.Download.Header); err != nil {
				errs = append(errs, err)
				continue
			}
			if err := s.cfg.Store.AddLFSObject(ctx, projectID, o.OID, size); err != nil {
				return got, err
			}
			got++
		}
		if len(errs) > 0 {
			return got, errors.Join(errs...)
		}
	}
	return got, nil
}

// download streams one object into blob storage; a body of the wrong size
// or hash fails the Put, which then stores nothing.
func (s *Service) download(ctx context.Context, oid string, size int64, href string, header map[string]string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, href, nil)
	if err != nil {
		return fmt.Errorf("LFS object %s: %w", oid, err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := s.cfg.Transfer.Do(req)
	if err != nil {
		return fmt.Errorf("LFS object %s: %w", oid, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("LFS object %s: origin answered %s", oid, resp.Status)
	}
	v := &verified{r: resp.Body, h: sha256.New(), want: oid}
	if err := s.cfg.Blobs.Put(ctx, lfs.BlobKey(oid), v, size); err != nil {
		return fmt.Errorf("LFS object %s: %w", oid, err)
	}
	return nil
}

// verified reads r and fails at its end unless its SHA-256 is want.
type verified struct {
	r    io.Reader
	h    hash.Hash
	want string
}

func (v *verified) Read(p []byte) (int, error) {
	n, err := v.r.Read(p)
	v.h.Write(p[:n])
	if err == io.EOF {
		if got := hex.EncodeToString(v.h.Sum(nil)); got != v.want {
			return n, fmt.Errorf("content's SHA-256 is %s, not the object id", got)
		}
	}
	return n, err
}
