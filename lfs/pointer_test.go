package lfs

import (
	"bytes"
	"strings"
	"testing"
)

const testOID = "4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393"

func TestParsePointer(t *testing.T) {
	v := "version https://git-lfs.github.com/spec/v1\n"
	o := "oid sha256:" + testOID + "\n"
	ext := "ext-0-foo sha256:" + strings.Repeat("a", 64) + "\n"
	cases := []struct {
		name string
		data string
		want Pointer
		ok   bool
	}{
		{"canonical", v + o + "size 12345\n", Pointer{testOID, 12345}, true},
		{"zero size", v + o + "size 0\n", Pointer{testOID, 0}, true},
		{"max int64", v + o + "size 9223372036854775807\n", Pointer{testOID, 9223372036854775807}, true},
		{"extension", v + ext + o + "size 7\n", Pointer{testOID, 7}, true},
		{"empty", "", Pointer{}, false},
		{"no final newline", v + o + "size 12345", Pointer{}, false},
		{"CRLF", strings.ReplaceAll(v+o+"size 12345\n", "\n", "\r\n"), Pointer{}, false},
		{"blank line", v + "\n" + o + "size 12345\n", Pointer{}, false},
		{"old version url", "version https://hawser.github.com/spec/v1\n" + o + "size 1\n", Pointer{}, false},
		{"version not first", o + v + "size 1\n", Pointer{}, false},
		{"size before oid", v + "size 1\n" + o, Pointer{}, false},
		{"missing size", v + o, Pointer{}, false},
		{"missing oid", v + "size 1\n", Pointer{}, false},
		{"duplicate size", v + o + "size 1\nsize 1\n", Pointer{}, false},
		{"upper-case oid", v + "oid sha256:" + strings.ToUpper(testOID) + "\nsize 1\n", Pointer{}, false},
		{"short oid", v + "oid sha256:" + testOID[:63] + "\nsize 1\n", Pointer{}, false},
		{"long oid", v + "oid sha256:" + testOID + "0\nsize 1\n", Pointer{}, false},
		{"other hash", v + "oid sha1:" + testOID + "\nsize 1\n", Pointer{}, false},
		{"negative size", v + o + "size -1\n", Pointer{}, false},
		{"plus size", v + o + "size +1\n", Pointer{}, false},
		{"leading zero", v + o + "size 01\n", Pointer{}, false},
		{"size overflow", v + o + "size 9223372036854775808\n", Pointer{}, false},
		{"size not number", v + o + "size 1e3\n", Pointer{}, false},
		{"unknown key", v + o + "size 1\nzzz x\n", Pointer{}, false},
		{"extension after oid", v + o + ext + "size 1\n", Pointer{}, false},
		{"bad extension value", v + "ext-0-foo bar\n" + o + "size 1\n", Pointer{}, false},
		{"double space", v + "oid  sha256:" + testOID + "\nsize 1\n", Pointer{}, false},
		{"trailing space", v + o + "size 1 \n", Pointer{}, false},
		{"too large", v + o + "size 1\n" + strings.Repeat("x", 1024), Pointer{}, false},
		{"binary", "solid cube\nfacet normal 0 0 1\n", Pointer{}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, ok := ParsePointer([]byte(c.data))
			if ok != c.ok || got != c.want {
				t.Fatalf("ParsePointer(%q) = %+v, %v; want %+v, %v", c.data, got, ok, c.want, c.ok)
			}
		})
	}
}

func TestPointerEncodeRoundTrip(t *testing.T) {
	for _, p := range []Pointer{{testOID, 0}, {testOID, 1 << 40}, {strings.Repeat("f", 64), 5}} {
		got, ok := ParsePointer(p.Encode())
		if !ok || got != p {
			t.Fatalf("round trip %+v: got %+v, %v", p, got, ok)
		}
	}
}

func TestBlobKey(t *testing.T) {
	got := BlobKey(testOID)
	want := "lfs/4d/7a/" + testOID
	if got != want {
		t.Fatalf("BlobKey = %q, want %q", got, want)
	}
}

func TestValidOID(t *testing.T) {
	for oid, want := range map[string]bool{
		testOID:                  true,
		strings.Repeat("0", 64):  true,
		strings.ToUpper(testOID): false,
		testOID[:63] + "g":       false,
		testOID[:63]:             false,
		"../../../../etc/passwd": false,
		testOID[:62] + "/.":      false,
		"":                       false,
	} {
		if ValidOID(oid) != want {
			t.Errorf("ValidOID(%q) = %v, want %v", oid, !want, want)
		}
	}
}

// FuzzParsePointer checks that ParsePointer never panics, only accepts
// input of the canonical shape, and that what it accepts re-encodes to the
// same bytes (when there are no extension lines).
func FuzzParsePointer(f *testing.F) {
	f.Add([]byte(Pointer{testOID, 12345}.Encode()))
	f.Add([]byte("version https://git-lfs.github.com/spec/v1\n"))
	f.Add([]byte("solid x\nendsolid x\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, ok := ParsePointer(data)
		if !ok {
			if p != (Pointer{}) {
				t.Fatalf("rejected input returned %+v", p)
			}
			return
		}
		if len(data) > MaxPointerSize || !ValidOID(p.OID) || p.Size < 0 {
			t.Fatalf("accepted bad pointer %q → %+v", data, p)
		}
		if !bytes.HasPrefix(data, []byte("version "+PointerVersion+"\n")) || bytes.Contains(data, []byte("\r")) {
			t.Fatalf("accepted non-canonical %q", data)
		}
		if !bytes.Contains(data, []byte("\next-")) && !bytes.Equal(p.Encode(), data) {
			t.Fatalf("accepted %q but it encodes as %q", data, p.Encode())
		}
	})
}
