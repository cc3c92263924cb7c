package storage

import (
	"context"
	"io/fs"
	"strings"
	"time"
)

// Sweeper is implemented by stores whose failed writes can leave
// leftovers that readers never see but that take space: the temporary
// files of an fs Put cut off by a crash, the multipart uploads of an s3 Put
// whose abort could not reach the server. Sweep removes those last touched
// more than olderThan ago (writes in progress are younger than any sensible
// olderThan, such as an hour) and returns how many it removed.
type Sweeper interface {
	Sweep(ctx context.Context, olderThan time.Duration) (int, error)
}

var (
	_ Sweeper = (*FS)(nil)
	_ Sweeper = (*S3)(nil)
)

// Sweep removes temporary files of unfinished Puts last written more than
// olderThan ago.
func (f *FS) Sweep(ctx context.Context, olderThan time.Duration) (int, error) {
	cutoff := time.Now().Add(-olderThan)
	removed := 0
	err := fs.WalkDir(f.root.FS(), ".", func(p string, d fs.DirEntry, err error) error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil || d.IsDir() || !strings.HasPrefix(d.Name(), tmpPrefix) {
			return nil // an unreadable folder is skipped, not fatal
		}
		info, err := d.Info()
		if err != nil || info.ModTime().After(cutoff) {
			return nil
		}
		if f.root.Remove(p) == nil {
			removed++
		}
		return nil
	})
	return removed, err
}

// Sweep aborts multipart uploads begun more than olderThan ago
// (AbortStaleUploads).
func (s *S3) Sweep(ctx context.Context, olderThan time.Duration) (int, error) {
	return s.AbortStaleUploads(ctx, olderThan)
}
