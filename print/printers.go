package print

import (
	_ "embed"
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"

	"github.com/BurntSushi/toml"
)

//go:embed printers.toml
var printersTOML string

// Printer is a 3D printer's build volume, in mm: X and Y are the bed, Z
// the height it prints to.
type Printer struct {
	ID   string  `json:"id"`   // "mk4", or "custom-250x210x220"
	Name string  `json:"name"` // "Prusa MK4"
	X    float64 `json:"x"`
	Y    float64 `json:"y"`
	Z    float64 `json:"z"`
}

// Custom is true for a printer given by its size rather than from the list.
func (p Printer) Custom() bool { return len(p.ID) > 7 && p.ID[:7] == "custom-" }

// Limits on a custom build volume, in mm: smaller is not a printer, larger
// is a typing slip (100 m) rather than a machine.
const (
	MinBuild = 20
	MaxBuild = 2000
)

// ErrPrinter marks a printer that cannot be used: unknown id, or a size
// out of range. Its message is fit to show.
var ErrPrinter = errors.New("bad printer")

// Printers is the list of printers kept in the repository (printers.toml).
type Printers struct {
	list []Printer
	byID map[string]Printer
}

// LoadPrinters reads the printer list embedded in the binary.
func LoadPrinters() (*Printers, error) {
	var doc struct {
		Printer []Printer `toml:"printer"`
	}
	if _, err := toml.Decode(printersTOML, &doc); err != nil {
		return nil, fmt.Errorf("read printers.toml: %w", err)
	}
	ps := &Printers{byID: map[string]Printer{}}
	for i, p := range doc.Printer {
		if p.ID == "" || p.Name == "" || !validSize(p.X, p.Y, p.Z) {
			return nil, fmt.Errorf("read printers.toml: printer %d (%q) needs an id, a name and a size in range", i+1, p.ID)
		}
		if _, dup := ps.byID[p.ID]; dup {
			return nil, fmt.Errorf("read printers.toml: printer id %q is listed twice", p.ID)
		}
		ps.list = append(ps.list, p)
		ps.byID[p.ID] = p
	}
	if len(ps.list) == 0 {
		return nil, errors.New("read printers.toml: no printers")
	}
	return ps, nil
}

// All returns the printers in the file's order.
func (ps *Printers) All() []Printer { return append([]Printer(nil), ps.list...) }

// Default is the printer used when the visitor has chosen none: the first
// of the list.
func (ps *Printers) Default() Printer { return ps.list[0] }

var customID = regexp.MustCompile(`^custom-([0-9]{1,5}(?:\.[0-9]{1,2})?)x([0-9]{1,5}(?:\.[0-9]{1,2})?)x([0-9]{1,5}(?:\.[0-9]{1,2})?)$`)

// Lookup returns the printer with the given id: one from the list, or a
// custom size written as "custom-XxYxZ" (mm).
func (ps *Printers) Lookup(id string) (Printer, error) {
	if p, ok := ps.byID[id]; ok {
		return p, nil
	}
	if m := customID.FindStringSubmatch(id); m != nil {
		x, _ := strconv.ParseFloat(m[1], 64)
		y, _ := strconv.ParseFloat(m[2], 64)
		z, _ := strconv.ParseFloat(m[3], 64)
		return Custom(x, y, z)
	}
	if len(id) > 40 {
		id = id[:40] + "…"
	}
	return Printer{}, fmt.Errorf("%w: no printer %q; pick one from the list or give a size", ErrPrinter, id)
}

// Custom is a printer of the given build volume, in mm. Sizes outside
// MinBuild..MaxBuild are refused.
func Custom(x, y, z float64) (Printer, error) {
	if !validSize(x, y, z) {
		return Printer{}, fmt.Errorf("%w: a build volume of %s × %s × %s mm is out of range: each side must be from %d to %d mm",
			ErrPrinter, num(x), num(y), num(z), MinBuild, MaxBuild)
	}
	// Sizes are kept to a hundredth of a millimetre, so that the id names
	// exactly the printer.
	x, y, z = math.Round(x*100)/100, math.Round(y*100)/100, math.Round(z*100)/100
	id := fmt.Sprintf("custom-%sx%sx%s", num(x), num(y), num(z))
	return Printer{ID: id, Name: fmt.Sprintf("Custom %s × %s × %s mm", num(x), num(y), num(z)), X: x, Y: y, Z: z}, nil
}

// ParseCustom reads a custom size from text fields (a form or a query);
// empty or non-numeric fields are refused.
func ParseCustom(xs, ys, zs string) (Printer, error) {
	var v [3]float64
	for i, s := range []string{xs, ys, zs} {
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			if len(s) > 20 {
				s = s[:20] + "…"
			}
			return Printer{}, fmt.Errorf("%w: %s = %q is not a size in mm", ErrPrinter, string("xyz"[i]), s)
		}
		v[i] = f
	}
	return Custom(v[0], v[1], v[2])
}

func validSize(x, y, z float64) bool {
	for _, v := range []float64{x, y, z} {
		if !(v >= MinBuild && v <= MaxBuild) {
			return false
		}
	}
	return true
}

// num formats a size without needless decimals.
func num(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) >= 1e9 {
		return strconv.FormatFloat(v, 'g', 4, 64)
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// Fits reports whether a box of x × y (any way round on the bed) × z mm
// fits the printer.
func (p Printer) Fits(x, y, z float64) bool {
	return z <= p.Z+fitSlack && (x <= p.X+fitSlack && y <= p.Y+fitSlack || y <= p.X+fitSlack && x <= p.Y+fitSlack)
}

// fitSlack forgives rounding in sizes read from files: a part of exactly
// the bed's size fits.
const fitSlack = 1e-6

// Smallest returns the listed printers that fit a box, smallest bed first
// (then lowest).
func (ps *Printers) Smallest(x, y, z float64) []Printer {
	var out []Printer
	for _, p := range ps.list {
		if p.Fits(x, y, z) {
			out = append(out, p)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		ai, aj := out[i].X*out[i].Y, out[j].X*out[j].Y
		if ai != aj {
			return ai < aj
		}
		return out[i].Z < out[j].Z
	})
	return out
}
