package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// S3Options tunes NewS3. The zero value uses the standard AWS configuration
// chain (AWS_ENDPOINT_URL_S3, AWS_REGION, AWS_ACCESS_KEY_ID,
// AWS_SECRET_ACCESS_KEY, ~/.aws/config and credentials) and the defaults
// below.
type S3Options struct {
	// Endpoint replaces the configured S3 endpoint, e.g.
	// "http://127.0.0.1:7070".
	Endpoint string
	// Region replaces the configured region; with neither, "us-east-1".
	Region string
	// AccessKey and SecretKey, when both set, replace the configured
	// credentials.
	AccessKey, SecretKey string
	// PublicEndpoint is the base URL presigned URLs point at, for when
	// clients reach the S3 server at another address than Blueprints does.
	PublicEndpoint string
	// VirtualHosted addresses buckets as BUCKET.HOST even with a custom
	// endpoint. By default a custom endpoint gets path-style addressing
	// (HOST/BUCKET/KEY), which every S3-compatible server understands,
	// and AWS itself gets virtual-hosted addressing.
	VirtualHosted bool
	// PartSize is the multipart upload part size (default 5 MiB, at least
	// 5 MiB). An upload holds at most Concurrency+2 parts in memory.
	PartSize int64
	// Concurrency is the number of parts uploaded at once (default 2; more
	// does not help on a small machine, where hashing and copying dominate).
	Concurrency int
	// MaxAttempts bounds the tries of each request (default 3).
	MaxAttempts int
	// ConnectTimeout bounds connecting to the server (default 5 s).
	ConnectTimeout time.Duration
	// ResponseTimeout bounds the wait for a response's headers once a
	// request has been sent (default 30 s).
	ResponseTimeout time.Duration
}

const (
	defaultPartSize    = 5 << 20
	defaultConcurrency = 2
)

// S3 keeps blobs in a bucket of an S3-compatible server (AWS, MinIO, Ceph
// RGW, versitygw), under an optional key prefix. Large and unknown-size
// blobs are sent as multipart uploads, a few parts at a time, so memory
// stays bounded whatever the blob's size.
type S3 struct {
	client   *s3.Client
	presign  *s3.PresignClient
	uploader *manager.Uploader
	bucket   string
	prefix   string // "" or ends in "/"
	partSize int64
}

var (
	_ Blobs       = (*S3)(nil)
	_ RangeGetter = (*S3)(nil)
	_ Presigner   = (*S3)(nil)
	_ Checker     = (*S3)(nil)
)

// NewS3 returns a store for bucket, keeping blobs under prefix (may be
// empty). It reads the AWS configuration but does not contact the server;
// call Check to find out whether it answers.
func NewS3(ctx context.Context, bucket, prefix string, opts S3Options) (*S3, error) {
	if bucket == "" {
		return nil, errors.New("open s3 storage: empty bucket name")
	}
	prefix = strings.Trim(prefix, "/")
	if prefix != "" {
		if err := CheckKey(prefix); err != nil {
			return nil, fmt.Errorf("open s3 storage: prefix: %w", err)
		}
		prefix += "/"
	}
	if opts.PartSize == 0 {
		opts.PartSize = defaultPartSize
	}
	if opts.PartSize < manager.MinUploadPartSize {
		return nil, fmt.Errorf("open s3 storage: part size %d is below the S3 minimum of %d", opts.PartSize, manager.MinUploadPartSize)
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = defaultConcurrency
	}
	if opts.MaxAttempts <= 0 {
		opts.MaxAttempts = 3
	}
	if opts.ConnectTimeout <= 0 {
		opts.ConnectTimeout = 5 * time.Second
	}
	if opts.ResponseTimeout <= 0 {
		opts.ResponseTimeout = 30 * time.Second
	}

	httpClient := awshttp.NewBuildableClient().
		WithDialerOptions(func(d *net.Dialer) { d.Timeout = opts.ConnectTimeout }).
		WithTransportOptions(func(t *http.Transport) {
			t.ResponseHeaderTimeout = opts.ResponseTimeout
			t.MaxIdleConnsPerHost = 2 * opts.Concurrency
		})
	load := []func(*config.LoadOptions) error{
		config.WithHTTPClient(httpClient),
		// Since 2025 the SDK adds CRC checksums to every upload and checks
		// them on downloads by default, which third-party servers reject
		// or do not send; only do it where the API demands it.
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = opts.MaxAttempts
				o.MaxBackoff = time.Second
				// No client-side retry quota: after an outage the store
				// must work again as soon as the server does.
				o.RateLimiter = ratelimit.None
			})
		}),
	}
	if opts.Region != "" {
		load = append(load, config.WithRegion(opts.Region))
	}
	if opts.AccessKey != "" && opts.SecretKey != "" {
		creds := aws.Credentials{AccessKeyID: opts.AccessKey, SecretAccessKey: opts.SecretKey, Source: "S3Options"}
		load = append(load, config.WithCredentialsProvider(aws.CredentialsProviderFunc(
			func(context.Context) (aws.Credentials, error) { return creds, nil })))
	}
	cfg, err := config.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return nil, fmt.Errorf("open s3 storage: load AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}

	client := s3.NewFromConfig(cfg, func(o *s3.Options) {
		if opts.Endpoint != "" {
			o.BaseEndpoint = aws.String(opts.Endpoint)
		}
		o.UsePathStyle = o.BaseEndpoint != nil && !opts.VirtualHosted
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
		o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	})
	presign := s3.NewPresignClient(client, func(po *s3.PresignOptions) {
		if opts.PublicEndpoint != "" {
			po.ClientOptions = append(po.ClientOptions, func(o *s3.Options) {
				o.BaseEndpoint = aws.String(opts.PublicEndpoint)
			})
		}
	})
	uploader := manager.NewUploader(client, func(u *manager.Uploader) {
		u.PartSize = opts.PartSize
		u.Concurrency = opts.Concurrency
		u.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
	})
	return &S3{
		client:   client,
		presign:  presign,
		uploader: uploader,
		bucket:   bucket,
		prefix:   prefix,
		partSize: opts.PartSize,
	}, nil
}

// Bucket is the bucket's name.
func (s *S3) Bucket() string { return s.bucket }

// Prefix is the key prefix inside the bucket ("" or ending in "/").
func (s *S3) Prefix() string { return s.prefix }

// Put uploads r: in one request when it fits in one part, otherwise as a
// multipart upload that becomes visible only when completed and is aborted
// on any failure.
func (s *S3) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	if err := CheckKey(key); err != nil {
		return fmt.Errorf("put blob: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put blob %s: %w", key, err)
	}
	in := &s3.PutObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.prefix + key),
		// Hiding r behind sizedReader also keeps the uploader from
		// seeking it: parts are read in order, once.
		Body: &sizedReader{ctx: ctx, r: r, want: size},
	}
	var perCall []func(*manager.Uploader)
	if size > s.partSize*int64(manager.MaxUploadParts-1) {
		perCall = append(perCall, func(u *manager.Uploader) {
			u.PartSize = size/int64(manager.MaxUploadParts-1) + 1
		})
	}
	_, err := s.uploader.Upload(ctx, in, perCall...)
	if err != nil {
		var failed manager.MultiUploadFailure
		if errors.As(err, &failed) {
			s.abort(ctx, key, failed.UploadID())
		}
		return s.mapErr(ctx, "put blob", key, err)
	}
	return nil
}

// abort drops the parts of a failed multipart upload. The uploader tries
// too, but with the request's context, which is useless once cancelled.
func (s *S3) abort(ctx context.Context, key, uploadID string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket:   aws.String(s.bucket),
		Key:      aws.String(s.prefix + key),
		UploadId: aws.String(uploadID),
	})
}

// AbortStaleUploads aborts the multipart uploads under the store's prefix
// begun more than olderThan ago: those whose Put failed while the server
// was unreachable, so that the abort could not be sent. It returns how many
// it aborted. Uploads still in progress are younger than any sensible
// olderThan (an hour, say).
func (s *S3) AbortStaleUploads(ctx context.Context, olderThan time.Duration) (int, error) {
	cutoff := time.Now().Add(-olderThan)
	in := &s3.ListMultipartUploadsInput{Bucket: aws.String(s.bucket), Prefix: aws.String(s.prefix)}
	aborted := 0
	for {
		out, err := s.client.ListMultipartUploads(ctx, in)
		if err != nil {
			return aborted, s.mapErr(ctx, "list multipart uploads", s.prefix, err)
		}
		for _, u := range out.Uploads {
			if aws.ToTime(u.Initiated).After(cutoff) {
				continue
			}
			_, err := s.client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
				Bucket: aws.String(s.bucket), Key: u.Key, UploadId: u.UploadId,
			})
			if err != nil {
				var apiErr smithy.APIError
				if errors.As(err, &apiErr) && apiErr.ErrorCode() == "NoSuchUpload" {
					continue // finished or aborted meanwhile
				}
				return aborted, s.mapErr(ctx, "abort multipart upload", aws.ToString(u.Key), err)
			}
			aborted++
		}
		if !aws.ToBool(out.IsTruncated) {
			return aborted, nil
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}

// sizedReader fails the upload when the body is longer or shorter than the
// announced size, or when ctx ends, before the last part is sent.
type sizedReader struct {
	ctx  context.Context
	r    io.Reader
	want int64 // -1: unknown
	n    int64
}

func (r *sizedReader) Read(p []byte) (int, error) {
	if err := r.ctx.Err(); err != nil {
		return 0, err
	}
	if r.want >= 0 && int64(len(p)) > r.want-r.n+1 {
		p = p[:r.want-r.n+1]
	}
	n, err := r.r.Read(p)
	r.n += int64(n)
	if r.want >= 0 && r.n > r.want {
		return n, fmt.Errorf("body longer than %d bytes", r.want)
	}
	if err == io.EOF && r.want >= 0 && r.n < r.want {
		return n, fmt.Errorf("got %d bytes, want %d: %w", r.n, r.want, io.ErrUnexpectedEOF)
	}
	return n, err
}

// Get streams the object.
func (s *S3) Get(ctx context.Context, key string) (io.ReadCloser, Info, error) {
	if err := CheckKey(key); err != nil {
		return nil, Info{}, fmt.Errorf("get blob: %w", err)
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.prefix + key),
	})
	if err != nil {
		return nil, Info{}, s.mapErr(ctx, "get blob", key, err)
	}
	info := Info{Key: key, Size: aws.ToInt64(out.ContentLength), ModTime: aws.ToTime(out.LastModified)}
	return &bodyReader{ctx: ctx, s: s, key: key, body: out.Body}, info, nil
}

// bodyReader marks a download cut short by the server as ErrUnavailable.
type bodyReader struct {
	ctx  context.Context
	s    *S3
	key  string
	body io.ReadCloser
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.body.Read(p)
	switch {
	case err == nil || err == io.EOF:
	case errors.Is(err, io.ErrUnexpectedEOF): // the connection broke mid-body
		err = fmt.Errorf("read blob %s: %w: %w", b.key, ErrUnavailable, err)
	default:
		err = b.s.mapErr(b.ctx, "read blob", b.key, err)
	}
	return n, err
}

func (b *bodyReader) Close() error { return b.body.Close() }

// GetRange streams part of the object with an HTTP Range request.
func (s *S3) GetRange(ctx context.Context, key string, offset, length int64) (io.ReadCloser, error) {
	if err := CheckKey(key); err != nil {
		return nil, fmt.Errorf("get blob range: %w", err)
	}
	if offset < 0 {
		return nil, fmt.Errorf("get blob range %s: negative offset %d", key, offset)
	}
	if length == 0 {
		if _, err := s.Stat(ctx, key); err != nil {
			return nil, fmt.Errorf("get blob range: %w", err)
		}
		return io.NopCloser(strings.NewReader("")), nil
	}
	rng := fmt.Sprintf("bytes=%d-", offset)
	if length > 0 {
		rng += fmt.Sprint(offset + length - 1)
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.prefix + key),
		Range:  aws.String(rng),
	})
	if err != nil {
		var apiErr smithy.APIError
		if errors.As(err, &apiErr) && apiErr.ErrorCode() == "InvalidRange" {
			return io.NopCloser(strings.NewReader("")), nil // starts at or past the end
		}
		return nil, s.mapErr(ctx, "get blob range", key, err)
	}
	return &bodyReader{ctx: ctx, s: s, key: key, body: out.Body}, nil
}

// Stat asks for the object's headers.
func (s *S3) Stat(ctx context.Context, key string) (Info, error) {
	if err := CheckKey(key); err != nil {
		return Info{}, fmt.Errorf("stat blob: %w", err)
	}
	out, err := s.client.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.prefix + key),
	})
	if err != nil {
		return Info{}, s.mapErr(ctx, "stat blob", key, err)
	}
	return Info{Key: key, Size: aws.ToInt64(out.ContentLength), ModTime: aws.ToTime(out.LastModified)}, nil
}

// Delete removes the object; a missing one is not an error.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := CheckKey(key); err != nil {
		return fmt.Errorf("delete blob: %w", err)
	}
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.prefix + key),
	})
	if err = s.mapErr(ctx, "delete blob", key, err); err != nil && !errors.Is(err, ErrNotExist) {
		return err
	}
	return nil
}

// List pages through ListObjectsV2, which returns keys in byte order.
func (s *S3) List(ctx context.Context, prefix string, fn func(Info) error) error {
	if err := checkPrefix(prefix); err != nil {
		return fmt.Errorf("list blobs: %w", err)
	}
	pages := s3.NewListObjectsV2Paginator(s.client, &s3.ListObjectsV2Input{
		Bucket: aws.String(s.bucket),
		Prefix: aws.String(s.prefix + prefix),
	})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return s.mapErr(ctx, "list blobs", prefix, err)
		}
		for _, obj := range page.Contents {
			key := strings.TrimPrefix(aws.ToString(obj.Key), s.prefix)
			info := Info{Key: key, Size: aws.ToInt64(obj.Size), ModTime: aws.ToTime(obj.LastModified)}
			if err := fn(info); err != nil {
				return err
			}
		}
	}
	return nil
}

// PresignGet signs a GET of the object valid for ttl, against the public
// endpoint when one is configured.
func (s *S3) PresignGet(ctx context.Context, key string, ttl time.Duration) (string, error) {
	if err := CheckKey(key); err != nil {
		return "", fmt.Errorf("presign blob: %w", err)
	}
	req, err := s.presign.PresignGetObject(ctx, &s3.GetObjectInput{
		Bucket: aws.String(s.bucket),
		Key:    aws.String(s.prefix + key),
	}, s3.WithPresignExpires(ttl))
	if err != nil {
		return "", fmt.Errorf("presign blob %s: %w", key, err)
	}
	return req.URL, nil
}

// Check asks the server whether the bucket exists and is ours.
func (s *S3) Check(ctx context.Context) error {
	_, err := s.client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(s.bucket)})
	if err != nil {
		var apiErr smithy.APIError
		if errors.As(err, &apiErr) && (apiErr.ErrorCode() == "NotFound" || apiErr.ErrorCode() == "NoSuchBucket") {
			return fmt.Errorf("check s3 storage: bucket %q does not exist; create it first", s.bucket)
		}
		return s.mapErr(ctx, "check s3 bucket", s.bucket, err)
	}
	return nil
}

// mapErr names the operation and key and maps S3 failures onto the
// package's errors: a missing object onto ErrNotExist, a server that cannot
// be reached or answers 5xx onto ErrUnavailable.
func (s *S3) mapErr(ctx context.Context, op, key string, err error) error {
	if err == nil {
		return nil
	}
	// Only the caller's context ending is a cancellation: net/http's own
	// timeouts also match context.DeadlineExceeded, yet mean "unavailable".
	if ctxErr := ctx.Err(); ctxErr != nil {
		if !errors.Is(err, ctxErr) {
			err = fmt.Errorf("%w (%w)", ctxErr, err)
		}
		return fmt.Errorf("%s %s: %w", op, key, err)
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		switch apiErr.ErrorCode() {
		case "NoSuchKey", "NotFound":
			return fmt.Errorf("%s %s: %w", op, key, ErrNotExist)
		case "NoSuchBucket":
			return fmt.Errorf("%s %s: bucket %q does not exist: %w", op, key, s.bucket, err)
		}
	}
	var sendErr *smithyhttp.RequestSendError
	var netErr net.Error
	if errors.As(err, &sendErr) || errors.As(err, &netErr) {
		return fmt.Errorf("%s %s: %w: %w", op, key, ErrUnavailable, err)
	}
	var respErr *awshttp.ResponseError
	if errors.As(err, &respErr) {
		switch status := respErr.HTTPStatusCode(); {
		case status == http.StatusNotFound:
			return fmt.Errorf("%s %s: %w", op, key, ErrNotExist)
		case status >= 500:
			return fmt.Errorf("%s %s: %w: %w", op, key, ErrUnavailable, err)
		}
		return fmt.Errorf("%s %s: %w", op, key, err)
	}
	return fmt.Errorf("%s %s: %w", op, key, err)
}
