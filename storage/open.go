package storage

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
)

// Open returns the store that spec names (the serve command's --storage):
// "" or "fs" is an FS under dataDir/blobs; "s3://BUCKET[/PREFIX]" is an S3
// store configured by the standard AWS variables and files.
func Open(ctx context.Context, spec, dataDir string) (Blobs, error) {
	return OpenWith(ctx, spec, dataDir, S3Options{})
}

// OpenWith is Open with settings for an S3 store (such as the public
// endpoint for presigned URLs); they are ignored for fs.
func OpenWith(ctx context.Context, spec, dataDir string, opts S3Options) (Blobs, error) {
	switch {
	case spec == "" || spec == "fs":
		f, err := NewFS(filepath.Join(dataDir, "blobs"))
		if err != nil {
			return nil, err
		}
		return f, nil
	case strings.HasPrefix(spec, "s3://"):
		bucket, prefix, _ := strings.Cut(strings.TrimPrefix(spec, "s3://"), "/")
		if bucket == "" {
			return nil, fmt.Errorf("open storage %q: no bucket name; use s3://BUCKET or s3://BUCKET/PREFIX", spec)
		}
		s, err := NewS3(ctx, bucket, prefix, opts)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	return nil, fmt.Errorf("open storage %q: unknown storage; use \"fs\" (local disk under the data folder) or \"s3://BUCKET[/PREFIX]\" (endpoint, region and keys from AWS_ENDPOINT_URL_S3, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)", spec)
}
