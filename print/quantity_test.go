package print

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestFromFileName(t *testing.T) {
	for _, c := range []struct {
		path   string
		n      int
		accent bool
	}{
		{"STLs/Tools/MGN9_rail_guide_x2.stl", 2, false},
		{"STLs/Skirt/[a]_skirt_logo_x2.stl", 2, true},
		{"STLs/Gantry/X_Axis/XY_Joints/[a]_xy_left.stl", 0, true},
		{"[A]_cover.STL", 0, true},
		{"parts/idler x4.stl", 4, false},
		{"parts/idler-X3.stl", 3, false},
		{"2x_spacer.stl", 2, false},
		{"12x spacer.stl", 12, false},
		{"clip (6x).stl", 6, false},
		{"clip (x6).stl", 6, false},
		{"box2.stl", 0, false},            // "x2" inside a word is no count
		{"matrix2.stl", 0, false},         // nor here
		{"part_x0.stl", 0, false},         // zero is no count
		{"part_x99999.stl", 0, false},     // nor is a count past MaxQuantity
		{"part_x1001.stl", 0, false},      // just past it
		{"a_stepper_upper.stl", 0, false}, // Voron's "a" drive, not an accent
		{"[o]_panel_clip_x4.stl", 4, false},
	} {
		n, accent := FromFileName(c.path)
		if n != c.n || accent != c.accent {
			t.Errorf("FromFileName(%q) = %d, %v; want %d, %v", c.path, n, accent, c.n, c.accent)
		}
	}
}

// The corpus's Voron files: "_x2" counts two, "[a]" is accent, the rest
// one in the main colour, each saying where it came from.
func TestCorpusVoronCounts(t *testing.T) {
	root := filepath.Join("..", "testdata", "corpus", "VoronDesign__Voron-Trident")
	var b Bill
	seen := 0
	err := filepath.Walk(root, func(p string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() || !strings.EqualFold(filepath.Ext(p), ".stl") {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		rel = filepath.ToSlash(rel)
		c := b.Count(rel)
		seen++
		base := filepath.Base(rel)
		wantN, wantFrom := 1, FromDefault
		if strings.HasSuffix(base, "_x2.stl") {
			wantN, wantFrom = 2, FromName
		}
		wantRole, wantRoleFrom := RoleMain, FromDefault
		if strings.HasPrefix(base, "[a]_") {
			wantRole, wantRoleFrom = RoleAccent, FromName
		}
		if c.Quantity != wantN || c.From != wantFrom || c.Role != wantRole || c.RoleFrom != wantRoleFrom {
			t.Errorf("%s: %+v; want %d from %s, %s from %s", rel, c, wantN, wantFrom, wantRole, wantRoleFrom)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen != 10 {
		t.Errorf("saw %d Voron parts, want 10", seen)
	}
}

func TestBillManifests(t *testing.T) {
	printTOML := []byte(`
[[part]]
file = "STLs/Tools/MGN9_rail_guide_x2.stl"
quantity = 6

[[part]]
file = ["feet.stl", "stl/gears.stl"]
quantity = 3
role = "accent"

[[part]]
file = "clips/*.stl"
quantity = "4"

[[part]]
file = "nothing/here.stl"
quantity = 2

[[part]]
file = "bad/negative_x2.stl"
quantity = -3

[[part]]
file = "bad/huge.stl"
quantity = 99999999999

[[part]]
file = "bad/words.stl"
quantity = "two"

[[part]]
file = "bad/fraction.stl"
quantity = 2.5

[[part]]
file = "bad/list.stl"
quantity = [1, 2]

[[part]]
file = "bad/role.stl"
role = "purple"

[[part]]
quantity = 3
`)
	okhTOML := []byte(`
name = "Thing"
[[part]]
name = "Knob"
source = "knobs/knob.stl"
quantity = 5

[[part]]
name = "Rail guide"
source = ["STLs/Tools/MGN9_rail_guide_x2.stl"]
quantity = 9

[[part]]
name = "Wheel"
source = "wheel.stl"
quantity = 0
`)
	b, notes := ParseBill(printTOML, okhTOML)
	for _, c := range []struct {
		path           string
		n              int
		from, role, rf string
	}{
		{"STLs/Tools/MGN9_rail_guide_x2.stl", 6, FromBill, RoleMain, FromDefault}, // print.toml before okh.toml and the name
		{"a/b/feet.stl", 3, FromBill, RoleAccent, FromBill},                       // no "/": any folder
		{"stl/gears.stl", 3, FromBill, RoleAccent, FromBill},
		{"builds/gears.stl", 1, FromDefault, RoleMain, FromDefault}, // a path pattern matches that path only
		{"clips/c1.stl", 4, FromBill, RoleMain, FromDefault},
		{"knobs/knob.stl", 5, FromOKH, RoleMain, FromDefault},
		{"bad/negative_x2.stl", 2, FromName, RoleMain, FromDefault}, // falls back to the name
		{"bad/huge.stl", 1, FromDefault, RoleMain, FromDefault},
		{"bad/words.stl", 1, FromDefault, RoleMain, FromDefault},
		{"bad/fraction.stl", 1, FromDefault, RoleMain, FromDefault},
		{"bad/list.stl", 1, FromDefault, RoleMain, FromDefault},
		{"bad/role.stl", 1, FromDefault, RoleMain, FromDefault},
		{"wheel.stl", 1, FromDefault, RoleMain, FromDefault},
	} {
		got := b.Count(c.path)
		if got.Quantity != c.n || got.From != c.from || got.Role != c.role || got.RoleFrom != c.rf {
			t.Errorf("%s: %+v; want %d from %s, %s from %s", c.path, got, c.n, c.from, c.role, c.rf)
		}
	}
	all := strings.Join(notes, "\n")
	for _, want := range []string{
		`print.toml: part 5 ("bad/negative_x2.stl"): quantity -3 is not a count from 1 to 1000`,
		`print.toml: part 6 ("bad/huge.stl"): quantity 99999999999 is not a count`,
		`print.toml: part 7 ("bad/words.stl"): quantity "two" is not a count`,
		`print.toml: part 8 ("bad/fraction.stl"): quantity 2.5 is not a whole count`,
		`print.toml: part 9 ("bad/list.stl"): quantity [1 2] is not a number`,
		`print.toml: part 10 ("bad/role.stl"): role "purple" is neither`,
		`print.toml: part 11 names no file`,
		`okh.toml: part 3 ("wheel.stl"): quantity 0 is not a count`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("notes lack %q:\n%s", want, all)
		}
	}
	unused := strings.Join(b.Unused(), "\n")
	if !strings.Contains(unused, `print.toml: part 4 ("nothing/here.stl") matches no part`) {
		t.Errorf("unused entries not reported: %q", unused)
	}
}

func TestBillNotTOML(t *testing.T) {
	b, notes := ParseBill([]byte("[[part]\nfile = "), nil)
	if len(notes) != 1 || !strings.Contains(notes[0], "print.toml is not valid TOML (line 2: expected end of table array") {
		t.Errorf("notes %q", notes)
	}
	if c := b.Count("x_x3.stl"); c.Quantity != 3 || c.From != FromName {
		t.Errorf("after a broken print.toml the name still counts: %+v", c)
	}
	_, notes = ParseBill([]byte(strings.Repeat("#", maxBillBytes+1)), nil)
	if len(notes) != 1 || !strings.Contains(notes[0], "more than the") {
		t.Errorf("oversized print.toml: %q", notes)
	}
	_, notes = ParseBill([]byte(`part = "x"`), nil)
	if len(notes) != 1 || !strings.Contains(notes[0], "should be a list of [[part]] tables") {
		t.Errorf("part not a table list: %q", notes)
	}
}

func FuzzParseBill(f *testing.F) {
	f.Add([]byte("[[part]]\nfile = \"a.stl\"\nquantity = 2\nrole = \"accent\"\n"), []byte("[[part]]\nsource = \"a.stl\"\nquantity = 3\n"))
	f.Add([]byte("[[part]]\nfile = [\"*.stl\"]\nquantity = -1\n"), []byte(""))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		bill, _ := ParseBill(a, b)
		c := bill.Count("dir/part_x2.stl")
		if c.Quantity < 1 || c.Quantity > MaxQuantity || (c.Role != RoleMain && c.Role != RoleAccent) {
			t.Fatalf("count %+v out of range", c)
		}
		bill.Unused()
	})
}
