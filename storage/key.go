package storage

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxKeyLen is the longest key accepted, in bytes (the S3 limit).
const MaxKeyLen = 1024

// CheckKey reports whether key is a valid blob key: non-empty, at most
// MaxKeyLen bytes of UTF-8, slash-separated segments that are neither
// empty, "." nor "..", and no backslashes, NUL or other control bytes.
// The error wraps ErrInvalidKey.
func CheckKey(key string) error {
	if key == "" {
		return fmt.Errorf("check key: empty: %w", ErrInvalidKey)
	}
	if err := checkPath(key); err != nil {
		return fmt.Errorf("check key %q: %w", key, err)
	}
	return nil
}

// checkPrefix validates a List prefix: empty, or a key that may end in "/"
// or in part of a segment.
func checkPrefix(prefix string) error {
	if prefix == "" {
		return nil
	}
	if err := checkPath(strings.TrimSuffix(prefix, "/")); err != nil {
		return fmt.Errorf("check prefix %q: %w", prefix, err)
	}
	return nil
}

func checkPath(key string) error {
	if len(key) > MaxKeyLen {
		return fmt.Errorf("longer than %d bytes: %w", MaxKeyLen, ErrInvalidKey)
	}
	if !utf8.ValidString(key) {
		return fmt.Errorf("not UTF-8: %w", ErrInvalidKey)
	}
	for _, c := range key {
		if c < 0x20 || c == 0x7f {
			return fmt.Errorf("control character: %w", ErrInvalidKey)
		}
		if c == '\\' {
			return fmt.Errorf("backslash: %w", ErrInvalidKey)
		}
	}
	for seg := range strings.SplitSeq(key, "/") {
		switch seg {
		case "":
			return fmt.Errorf("empty segment (absolute, trailing or doubled slash): %w", ErrInvalidKey)
		case ".", "..":
			return fmt.Errorf("%q segment: %w", seg, ErrInvalidKey)
		}
	}
	return nil
}
