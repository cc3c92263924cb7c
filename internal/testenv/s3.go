package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// S3 is a running versitygw (an S3-compatible server) with its posix
// backend in a temporary folder, listening on a loopback port, with one
// bucket created.
type S3 struct {
	// Endpoint is the server's base URL, e.g. "http://127.0.0.1:41234".
	Endpoint string
	// Bucket is the bucket StartS3 created.
	Bucket string
	// AccessKey and SecretKey are the root user's credentials.
	AccessKey, SecretKey string
	// Region is the region the server says it is in.
	Region string
	// Dir is the posix backend's folder: bucket B is the folder Dir/B.
	Dir string

	bin  string
	addr string
	log  string
	cmd  *exec.Cmd
	done chan struct{}
}

// The credentials of every test server: fixed, they protect nothing.
const (
	s3TestAccessKey = "blueprints-test"
	s3TestSecretKey = "blueprints-test-secret"
)

// StartS3 starts versitygw (from PATH or the Go bin folder; `make deps`
// installs it) and creates the bucket "blueprints". It is stopped when the
// test ends.
func StartS3(t T) *S3 {
	t.Helper()
	bin := versitygwPath()
	if bin == "" {
		RequireTool(t, "versitygw")
		bin = versitygwPath()
	}
	tmp := t.TempDir()
	s := &S3{
		Bucket:    "blueprints",
		AccessKey: s3TestAccessKey,
		SecretKey: s3TestSecretKey,
		Region:    "us-east-1",
		Dir:       filepath.Join(tmp, "gw"),
		bin:       bin,
		log:       filepath.Join(tmp, "versitygw.log"),
	}
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		t.Fatalf("create versitygw folder: %v", err)
	}
	t.Cleanup(func() { s.stop() })
	var err error
	for range 3 { // the free port may be taken between choosing and binding
		s.addr, err = freeLoopbackAddr()
		if err != nil {
			t.Fatalf("start versitygw: %v", err)
		}
		s.Endpoint = "http://" + s.addr
		if err = s.start(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("start versitygw: %v\n%s", err, s.logTail())
	}
	s.CreateBucket(t, s.Bucket)
	return s
}

func versitygwPath() string {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	gobin := os.Getenv("GOBIN")
	if gobin == "" {
		gopath := os.Getenv("GOPATH")
		if gopath == "" {
			home, _ := os.UserHomeDir()
			gopath = filepath.Join(home, "go")
		}
		gobin = filepath.Join(filepath.SplitList(gopath)[0], "bin")
	}
	p := filepath.Join(gobin, "versitygw")
	if st, err := os.Stat(p); err == nil && !st.IsDir() {
		return p
	}
	return ""
}

func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// start runs the server and waits until it answers HTTP.
func (s *S3) start() error {
	logf, err := os.OpenFile(s.log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(s.bin,
		"--port", s.addr,
		"--access", s.AccessKey,
		"--secret", s.SecretKey,
		"--region", s.Region,
		"--quiet",
		"posix", s.Dir)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		logf.Close()
		close(done)
	}()
	s.cmd, s.done = cmd, done

	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return fmt.Errorf("versitygw exited: %v", cmd.ProcessState)
		default:
		}
		resp, err := client.Get(s.Endpoint + "/")
		if err == nil {
			resp.Body.Close()
			if resp.Header.Get("Server") == "VERSITYGW" {
				return nil
			}
			s.stop()
			return fmt.Errorf("another server answers on %s", s.addr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.stop()
	return errors.New("versitygw did not answer within 15s")
}

func (s *S3) stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}

func (s *S3) logTail() string {
	b, _ := os.ReadFile(s.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return "versitygw log:\n" + string(b)
}

// Stop stops the server (to test what happens when S3 is down).
func (s *S3) Stop(t T) {
	t.Helper()
	s.stop()
}

// Start starts a stopped server again on the same port and folder.
func (s *S3) Start(t T) {
	t.Helper()
	if s.cmd != nil {
		return
	}
	if err := s.start(); err != nil {
		t.Fatalf("restart versitygw: %v\n%s", err, s.logTail())
	}
}

// Env is the AWS configuration for a process (or t.Setenv) to reach the
// server with the standard variables.
func (s *S3) Env() []string {
	return []string{
		"AWS_ENDPOINT_URL_S3=" + s.Endpoint,
		"AWS_REGION=" + s.Region,
		"AWS_ACCESS_KEY_ID=" + s.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + s.SecretKey,
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// Client returns an S3 client of the server, for tests that look at the
// bucket directly.
func (s *S3) Client() *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint:               aws.String(s.Endpoint),
		Region:                     s.Region,
		UsePathStyle:               true,
		Credentials:                aws.CredentialsProviderFunc(s.credentials),
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

func (s *S3) credentials(context.Context) (aws.Credentials, error) {
	return aws.Credentials{AccessKeyID: s.AccessKey, SecretAccessKey: s.SecretKey, Source: "testenv"}, nil
}

// CreateBucket creates another bucket.
func (s *S3) CreateBucket(t T, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket %s: %v\n%s", name, err, s.logTail())
	}
}

// Keys lists every key in the bucket name, for tests that check what a
// store wrote (or did not).
func (s *S3) Keys(t T, bucket string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var keys []string
	pages := s3.NewListObjectsV2Paginator(s.Client(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			t.Fatalf("list bucket %s: %v", bucket, err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys
}

// Uploads lists the keys of multipart uploads begun and neither completed
// nor aborted in bucket.
func (s *S3) Uploads(t T, bucket string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := s.Client().ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String(bucket)})
	if err != nil {
		t.Fatalf("list multipart uploads in %s: %v", bucket, err)
	}
	var keys []string
	for _, u := range out.Uploads {
		keys = append(keys, aws.ToString(u.Key))
	}
	return keys
}
