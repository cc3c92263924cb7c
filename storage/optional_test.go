package storage

import (
	"bytes"
	"context"
	"errors"
	"io"
	"testing"
)

// plainBlobs hides a store's optional abilities (GetRange, Check).
type plainBlobs struct{ Blobs }

func TestGetRangeAndCheckWithoutTheirInterfaces(t *testing.T) {
	ctx := context.Background()
	fs, err := NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("0123456789")
	if err := fs.Put(ctx, "k/blob", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	for _, b := range []Blobs{fs, plainBlobs{fs}} {
		for _, c := range []struct {
			offset, length int64
			want           string
		}{
			{0, -1, "0123456789"},
			{3, 4, "3456"},
			{7, -1, "789"},
			{8, 10, "89"},
			{12, 3, ""},
		} {
			rc, err := GetRange(ctx, b, "k/blob", c.offset, c.length)
			if err != nil {
				t.Fatalf("%T GetRange(%d, %d): %v", b, c.offset, c.length, err)
			}
			got, err := io.ReadAll(rc)
			rc.Close()
			if err != nil || string(got) != c.want {
				t.Errorf("%T GetRange(%d, %d) = %q, %v; want %q", b, c.offset, c.length, got, err, c.want)
			}
		}
		if _, err := GetRange(ctx, b, "k/missing", 0, 1); !errors.Is(err, ErrNotExist) {
			t.Errorf("%T GetRange of a missing key: %v", b, err)
		}
		if err := Check(ctx, b); err != nil {
			t.Errorf("%T Check: %v", b, err)
		}
	}
}
