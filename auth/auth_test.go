package auth

import (
	"strings"
	"testing"
)

// TestSafeNext checks that ?next= only ever leads to a path here.
func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"/alice/rover?x=1":              "/alice/rover?x=1",
		"/settings/tokens":              "/settings/tokens",
		"":                              "/",
		"https://evil.example/":         "/",
		"//evil.example/x":              "/",
		"/\\evil.example":               "/",
		"\\\\evil.example":              "/",
		"javascript:alert(1)":           "/",
		"http:/evil":                    "/",
		"/ok\r\nSet-Cookie: x=1":        "/",
		"relative/path":                 "/",
		"/" + strings.Repeat("a", 3000): "/",
	} {
		if got := SafeNext(in); got != want {
			t.Errorf("SafeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestPasswords checks the rules and that hashes verify only their
// password, with parameters and salt in the stored string.
func TestPasswords(t *testing.T) {
	for _, c := range []struct{ pw, user, msg string }{
		{"short", "ada", "at least"},
		{"qwertyuiop", "ada", "common"},
		{"PassWord123", "ada", "common"},
		{"ada-lovelace-1815", "ada-lovelace", "user name"},
		{strings.Repeat("x", MaxPasswordLen+1), "ada", "at most"},
	} {
		if err := CheckPassword(c.pw, c.user); err == nil || !strings.Contains(err.Error(), c.msg) {
			t.Errorf("CheckPassword(%q): %v, want an error saying %q", c.pw, err, c.msg)
		}
	}
	if err := CheckPassword("correct horse battery", "ada"); err != nil {
		t.Errorf("a good password refused: %v", err)
	}
	h, err := HashPassword("correct horse battery")
	if err != nil || !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("hash %q, %v", h, err)
	}
	h2, _ := HashPassword("correct horse battery")
	if h == h2 {
		t.Error("two hashes of one password are equal: no salt")
	}
	if !VerifyPassword(h, "correct horse battery") || VerifyPassword(h, "correct horse batterz") {
		t.Error("verify does not tell the password from another")
	}
	for _, bad := range []string{"", "$argon2id$v=19$m=1,t=1,p=1$x$y", "plain", "$argon2id$v=19$m=19456,t=2,p=1$!!$!!"} {
		if VerifyPassword(bad, "correct horse battery") {
			t.Errorf("malformed hash %q verified", bad)
		}
	}
}
