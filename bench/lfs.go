package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/blueprints-hq/blueprints/internal/benchkit"
	"github.com/blueprints-hq/blueprints/internal/testenv"
	"github.com/blueprints-hq/blueprints/lfs"
)

// lfsObjectSize is the size of the object moved, 1 GiB.
const lfsObjectSize = 1 << 30

// lfsRuns is how many times each transfer runs; the median is reported.
const lfsRuns = 3

// benchLFS moves one 1 GiB object through Blueprints' LFS API (direct HTTP:
// batch request, then the basic-transfer PUT or GET the batch answer
// names, as git-lfs does, without git-lfs's own disk copies) into and out
// of versitygw, beside a direct S3 put (the SDK's multipart uploader,
// defaults) and get of the same bytes on the same versitygw, in the same
// run, alternating which goes first. It reports the throughputs and the
// server's peak RSS (VmHWM, reset before the transfers) while it moves
// the object.
func benchLFS(b *Bench) error {
	gw := testenv.StartS3(b)
	srv := testenv.StartServer(b, testenv.Options{Storage: "s3://" + gw.Bucket, Env: gw.Env()})
	token := srv.AddUser(b, "bench")
	// The project: created by a first git push, as a maker would.
	repoDir := b.TempDir()
	testenv.Git(b, repoDir, "init", "-q")
	if err := os.WriteFile(repoDir+"/README.md", []byte("# Big\n"), 0o644); err != nil {
		return err
	}
	testenv.Git(b, repoDir, "add", ".")
	testenv.Git(b, repoDir, "commit", "-q", "-m", "start")
	testenv.Git(b, repoDir, "push", "-q", srv.Remote("bench", token, "bench", "big"), "HEAD:main")
	client := gw.Client()
	ctx := context.Background()

	const seed = 1
	b.Logf("hashing the %s object", mib(lfsObjectSize))
	h := sha256.New()
	if _, err := io.Copy(h, lfsContent(seed)); err != nil {
		return err
	}
	oid := hex.EncodeToString(h.Sum(nil))
	lfsAPI := srv.URL + "/bench/big.git/info/lfs"
	auth := http.Header{}
	req, _ := http.NewRequest("GET", "/", nil)
	req.SetBasicAuth("bench", token)
	auth.Set("Authorization", req.Header.Get("Authorization"))

	rssBefore, err := benchkit.PeakRSS(srv.PID())
	if err != nil {
		return err
	}
	resetOK := lfsResetPeak(srv.PID()) == nil
	var peak int64
	notePeak := func() {
		if p, err := benchkit.PeakRSS(srv.PID()); err == nil && p > peak {
			peak = p
		}
	}

	var ourUp, peerUp, ourDown, peerDown []time.Duration
	for i := range lfsRuns {
		ourFirst := i%2 == 0
		upOurs := func() error {
			// Content-addressed: drop the stored copy so the upload is real.
			if _, err := client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(gw.Bucket), Key: aws.String(lfs.BlobKey(oid))}); err != nil {
				return fmt.Errorf("delete previous upload: %w", err)
			}
			d, err := lfsUpload(lfsAPI, auth, oid, seed)
			ourUp = append(ourUp, d)
			notePeak()
			return err
		}
		upPeer := func() error {
			start := time.Now()
			_, err := manager.NewUploader(client).Upload(ctx, &s3.PutObjectInput{
				Bucket: aws.String(gw.Bucket), Key: aws.String("peer/big"), Body: lfsContent(seed),
			})
			peerUp = append(peerUp, time.Since(start))
			return err
		}
		downOurs := func() error {
			d, err := lfsDownload(lfsAPI, oid)
			ourDown = append(ourDown, d.took)
			notePeak()
			return err
		}
		downPeer := func() error {
			start := time.Now()
			out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(gw.Bucket), Key: aws.String("peer/big")})
			if err != nil {
				return err
			}
			n, err := io.Copy(io.Discard, out.Body)
			out.Body.Close()
			peerDown = append(peerDown, time.Since(start))
			if err == nil && n != lfsObjectSize {
				err = fmt.Errorf("direct get: %d bytes, want %d", n, lfsObjectSize)
			}
			return err
		}
		steps := []func() error{upOurs, upPeer, downOurs, downPeer}
		if !ourFirst {
			steps = []func() error{upPeer, upOurs, downPeer, downOurs}
		}
		for _, step := range steps {
			if err := step(); err != nil {
				return fmt.Errorf("run %d: %w", i+1, err)
			}
		}
		b.Logf("run %d: upload %v (S3 %v), download %v (S3 %v)", i+1, ourUp[i], peerUp[i], ourDown[i], peerDown[i])
	}

	// The same download with --lfs-presign: the batch answer is a
	// presigned URL and the client fetches from S3 itself.
	srv.Stop(b)
	presigned := testenv.StartServer(b, testenv.Options{Data: srv.Data, Storage: "s3://" + gw.Bucket, Env: gw.Env(), Args: []string{"--lfs-presign"}})
	presignAPI := presigned.URL + "/bench/big.git/info/lfs"
	var presignDown, presignPeer []time.Duration
	for i := range lfsRuns {
		d, err := lfsDownload(presignAPI, oid)
		if err != nil {
			return fmt.Errorf("presigned download: %w", err)
		}
		if strings.HasPrefix(d.href, presigned.URL) {
			return fmt.Errorf("presigned download: the batch answered %s, not a presigned URL", d.href)
		}
		presignDown = append(presignDown, d.took)
		start := time.Now()
		out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(gw.Bucket), Key: aws.String("peer/big")})
		if err != nil {
			return err
		}
		io.Copy(io.Discard, out.Body)
		out.Body.Close()
		presignPeer = append(presignPeer, time.Since(start))
		b.Logf("presigned run %d: download %v (S3 %v)", i+1, presignDown[i], presignPeer[i])
	}

	rate := func(ds []time.Duration) float64 {
		s := append([]time.Duration(nil), ds...)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		return float64(lfsObjectSize) / (1 << 20) / s[len(s)/2].Seconds()
	}
	row := func(name string, ours, peer []time.Duration) []string {
		o, p := rate(ours), rate(peer)
		return []string{name, fmt.Sprintf("%.0f MiB/s", o), fmt.Sprintf("%.0f MiB/s", p), Ratio(o, p)}
	}
	fmt.Printf("1 GiB object, median of %d runs; Blueprints over its LFS API (batch + basic transfer, direct HTTP) with --storage s3:// on versitygw, beside the AWS SDK against the same versitygw. %s.\n\n", lfsRuns, Machine())
	Table([]string{"transfer", "Blueprints", "direct S3", "ratio (target ≥ 0.80×)"}, [][]string{
		row("upload", ourUp, peerUp),
		row("download (streamed through the server, the default)", ourDown, peerDown),
		row("download with --lfs-presign (batch, then the client GETs from S3)", presignDown, presignPeer),
	})
	fmt.Println()
	what := "peak RSS while moving the object (VmHWM, reset before)"
	if !resetOK {
		what = "peak RSS since start (VmHWM; could not reset it)"
	}
	Table([]string{"server memory", "value", "target"}, [][]string{
		{what, lfsMem(peak), "< 100 MB"},
		{"peak RSS before the transfers", lfsMem(rssBefore), ""},
	})
	return nil
}

// lfsContent is the benchmark object: lfsObjectSize pseudo-random bytes,
// the same for the same seed, generated as read (nothing on disk).
func lfsContent(seed uint64) io.Reader {
	var key [32]byte
	key[0] = byte(seed)
	return io.LimitReader(rand.NewChaCha8(key), lfsObjectSize)
}

type lfsBatchAnswer struct {
	Objects []struct {
		Actions map[string]struct {
			Href   string            `json:"href"`
			Header map[string]string `json:"header"`
		} `json:"actions"`
		Error *struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	} `json:"objects"`
}

// lfsBatch asks the batch API for the action of one object.
func lfsBatch(api string, auth http.Header, op, oid string) (href string, header map[string]string, err error) {
	body, _ := json.Marshal(map[string]any{
		"operation": op, "transfers": []string{"basic"},
		"objects": []map[string]any{{"oid": oid, "size": lfsObjectSize}},
	})
	req, err := http.NewRequest("POST", api+"/objects/batch", bytes.NewReader(body))
	if err != nil {
		return "", nil, err
	}
	req.Header.Set("Content-Type", lfs.MediaType)
	req.Header.Set("Accept", lfs.MediaType)
	for k, v := range auth {
		req.Header[k] = v
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		msg, _ := io.ReadAll(res.Body)
		return "", nil, fmt.Errorf("batch %s: %s: %s", op, res.Status, msg)
	}
	var ans lfsBatchAnswer
	if err := json.NewDecoder(res.Body).Decode(&ans); err != nil {
		return "", nil, fmt.Errorf("batch %s: %w", op, err)
	}
	if len(ans.Objects) != 1 || ans.Objects[0].Error != nil {
		return "", nil, fmt.Errorf("batch %s: unexpected answer %+v", op, ans)
	}
	a, ok := ans.Objects[0].Actions[op]
	if !ok {
		return "", nil, fmt.Errorf("batch %s: no %s action", op, op)
	}
	return a.Href, a.Header, nil
}

// lfsUpload times batch + PUT of the object.
func lfsUpload(api string, auth http.Header, oid string, seed uint64) (time.Duration, error) {
	start := time.Now()
	href, header, err := lfsBatch(api, auth, "upload", oid)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequest("PUT", href, lfsContent(seed))
	if err != nil {
		return 0, err
	}
	req.ContentLength = lfsObjectSize
	req.Header.Set("Content-Type", "application/octet-stream")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("upload: %w", err)
	}
	msg, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		return 0, fmt.Errorf("upload: %s: %s", res.Status, msg)
	}
	return time.Since(start), nil
}

// lfsDownloaded is the time a download took and where it came from.
type lfsDownloaded struct {
	took time.Duration
	href string
}

// lfsDownload times batch + GET of the object, anonymously.
func lfsDownload(api, oid string) (lfsDownloaded, error) {
	start := time.Now()
	href, header, err := lfsBatch(api, nil, "download", oid)
	if err != nil {
		return lfsDownloaded{}, err
	}
	req, err := http.NewRequest("GET", href, nil)
	if err != nil {
		return lfsDownloaded{}, err
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return lfsDownloaded{}, fmt.Errorf("download: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != 200 {
		msg, _ := io.ReadAll(res.Body)
		return lfsDownloaded{}, fmt.Errorf("download: %s: %s", res.Status, msg)
	}
	n, err := io.Copy(io.Discard, res.Body)
	if err != nil {
		return lfsDownloaded{}, fmt.Errorf("download: %w", err)
	}
	if n != lfsObjectSize {
		return lfsDownloaded{}, fmt.Errorf("download: %d bytes, want %d", n, lfsObjectSize)
	}
	return lfsDownloaded{took: time.Since(start), href: href}, nil
}

// lfsMem formats bytes in MiB and MB, since targets are given in MB.
func lfsMem(n int64) string {
	return fmt.Sprintf("%s (%.1f MB)", mib(n), float64(n)/1e6)
}

// lfsResetPeak resets a process's VmHWM to its current RSS (Linux:
// writing 5 to /proc/PID/clear_refs).
func lfsResetPeak(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}
