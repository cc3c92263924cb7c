package auth

import (
	"bufio"
	"crypto/rand"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Password rules.
const (
	MinPasswordLen = 10  // characters
	MaxPasswordLen = 256 // bytes: argon2 reads it all, so bound the work
)

// argon2id parameters (OWASP's first recommendation: 19 MiB, 2 passes,
// one lane); they are written into each hash, so they can be raised later
// without breaking stored ones.
const (
	argonTime    = 2
	argonMemory  = 19 * 1024 // KiB
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

//go:embed common_passwords.txt
var commonPasswordList string

var commonPasswords = func() map[string]bool {
	m := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(commonPasswordList))
	for sc.Scan() {
		if w := strings.TrimSpace(sc.Text()); w != "" && !strings.HasPrefix(w, "#") {
			m[strings.ToLower(w)] = true
		}
	}
	return m
}()

// ErrWeakPassword is wrapped by CheckPassword's refusals.
var ErrWeakPassword = errors.New("password refused")

// CheckPassword refuses a password that is too short, too long, one of
// the most common ones, or the user's own name.
func CheckPassword(password, user string) error {
	switch {
	case utf8.RuneCountInString(password) < MinPasswordLen:
		return fmt.Errorf("%w: use at least %d characters", ErrWeakPassword, MinPasswordLen)
	case len(password) > MaxPasswordLen:
		return fmt.Errorf("%w: use at most %d bytes", ErrWeakPassword, MaxPasswordLen)
	case commonPasswords[strings.ToLower(password)]:
		return fmt.Errorf("%w: it is one of the most common passwords; pick another", ErrWeakPassword)
	case user != "" && strings.Contains(strings.ToLower(password), strings.ToLower(user)) && len(password) < len(user)+MinPasswordLen:
		return fmt.Errorf("%w: it is too close to your user name", ErrWeakPassword)
	}
	return nil
}

// HashPassword returns password's argon2id hash in the PHC string format
// ($argon2id$v=19$m=...,t=...,p=...$salt$hash).
func HashPassword(password string) (string, error) {
	if len(password) > MaxPasswordLen {
		return "", fmt.Errorf("%w: use at most %d bytes", ErrWeakPassword, MaxPasswordLen)
	}
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads, enc.EncodeToString(salt), enc.EncodeToString(key)), nil
}

// dummyHash is verified against when an account has no password or does
// not exist, so that such sign-ins take as long as real ones. Made on
// first use: hashing takes tens of milliseconds, which every start of the
// binary (blueprints render, git's hooks) would otherwise pay. NewWeb makes
// it at once, so a server's first failed sign-in is timed as the others.
var dummyHash = sync.OnceValue(func() string {
	h, _ := HashPassword("not a password anyone has: " + rand.Text())
	return h
})

// VerifyPassword reports whether password matches hash, in constant time.
// An empty or malformed hash never matches (but costs the same work).
func VerifyPassword(hash, password string) bool {
	if len(password) > MaxPasswordLen {
		return false
	}
	ok := true
	if hash == "" {
		hash, ok = dummyHash(), false
	}
	var version, mem, t, p int
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		parts, ok = strings.Split(dummyHash(), "$"), false
	}
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		parts, ok = strings.Split(dummyHash(), "$"), false
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &t, &p); err != nil || mem < 8 || mem > 1<<20 || t < 1 || t > 10 || p < 1 || p > 16 {
		parts, ok = strings.Split(dummyHash(), "$"), false
		fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &t, &p)
	}
	enc := base64.RawStdEncoding
	salt, err1 := enc.DecodeString(parts[4])
	want, err2 := enc.DecodeString(parts[5])
	if err1 != nil || err2 != nil || len(want) == 0 || len(want) > 64 {
		return false
	}
	got := argon2.IDKey([]byte(password), salt, uint32(t), uint32(mem), uint8(p), uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1 && ok
}
