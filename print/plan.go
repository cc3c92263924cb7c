package print

import (
	"fmt"
	"math"
	"path"
	"sort"
	"strings"

	"github.com/blueprints-hq/blueprints/print/pack"
)

// DefaultSpacing is the gap left between parts on a plate, mm.
const DefaultSpacing = 3.0

// Input is a catalogued part as a plan starts from it.
type Input struct {
	Path   string
	Blob   string // the catalogue's key: git blob id or LFS object id
	SHA256 string // of the file's bytes: shapes and estimates are kept by it
	Volume float64
	Size   [3]float64 // as modelled
	Min    [3]float64 // as modelled
	Shape  Shape      // its poses; none when the mesh could not be read
}

// Filament is an amount of one filament.
type Filament struct {
	Grams  float64 `json:"grams"`
	Metres float64 `json:"metres"`
}

// Materials are the filaments an estimate is given for.
type Materials struct {
	PLA  Filament `json:"pla"`
	PETG Filament `json:"petg"`
}

// Densities (g/cm³) and the filament's diameter (mm) behind the estimates
// from volume.
const (
	DensityPLA       = 1.24
	DensityPETG      = 1.27
	FilamentDiameter = 1.75
)

// FromVolume is the filament a solid volume (mm³) takes: an upper bound,
// since slicers print infill sparse.
func FromVolume(mm3 float64) Materials {
	length := mm3 / (math.Pi * FilamentDiameter * FilamentDiameter / 4) / 1000
	return Materials{
		PLA:  Filament{Grams: mm3 / 1000 * DensityPLA, Metres: length},
		PETG: Filament{Grams: mm3 / 1000 * DensityPETG, Metres: length},
	}
}

func (m Materials) times(n float64) Materials {
	return Materials{
		PLA:  Filament{m.PLA.Grams * n, m.PLA.Metres * n},
		PETG: Filament{m.PETG.Grams * n, m.PETG.Metres * n},
	}
}

func (m Materials) plus(o Materials) Materials {
	return Materials{
		PLA:  Filament{m.PLA.Grams + o.PLA.Grams, m.PLA.Metres + o.PLA.Metres},
		PETG: Filament{m.PETG.Grams + o.PETG.Grams, m.PETG.Metres + o.PETG.Metres},
	}
}

// Estimate is what a slicer found for one piece of a part.
type Estimate struct {
	Seconds float64 `json:"seconds"`
	Grams   float64 `json:"grams"`
	Metres  float64 `json:"metres"`
	Profile string  `json:"profile"`
	Error   string  `json:"error,omitempty"`
	Pending bool    `json:"pending,omitempty"`
}

// Part is a part in a plan.
type Part struct {
	Path   string `json:"path"`
	Name   string `json:"name"`
	Blob   string `json:"blob"`
	SHA256 string `json:"sha256"`
	Count
	// Pose is how the part lies on this printer; PreferredPose how it
	// lies where it fits as it likes (they differ when turned to fit).
	Pose          Pose `json:"pose"`
	PreferredPose Pose `json:"-"`
	// Fits says whether the part fits the plan's printer in some pose.
	Fits bool `json:"fit"`
	// Filament for one piece and for all of them, from the solid volume.
	Each  Materials `json:"filament_each"`
	Total Materials `json:"filament_total"`
	// Estimate is the slicer's, for one piece, when there is one.
	Estimate *Estimate `json:"estimate,omitempty"`
}

// Placement is one piece of a part on a plate.
type Placement struct {
	Part int `json:"part"` // index into Plan.Parts
	// X, Y is the piece's footprint's lower left corner on the bed, W, H
	// its extent (mm).
	X float64 `json:"x"`
	Y float64 `json:"y"`
	W float64 `json:"w"`
	H float64 `json:"h"`
	// Transform moves the file's coordinates onto the bed: the rotation,
	// row by row, then the translation.
	Transform [12]float64 `json:"transform"`
}

// Plate is one bed's worth of pieces.
type Plate struct {
	N      int         `json:"n"` // from 1
	Role   string      `json:"role"`
	Pieces []Placement `json:"pieces"`
	Height float64     `json:"height"` // of its tallest piece
	Fill   float64     `json:"fill"`   // share of the bed the footprints cover
}

// Bed is a build volume, mm.
type Bed struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
	Z float64 `json:"z"`
}

// Plan is a project laid out for a printer.
type Plan struct {
	Printer Printer `json:"printer"`
	Spacing float64 `json:"spacing"`
	Parts   []Part  `json:"parts"`
	Plates  []Plate `json:"plates"`
	// TooBig are the parts (indexes) that fit the printer in no pose; they
	// are on no plate.
	TooBig []int `json:"too_big"`
	// Smallest is the smallest bed that prints every part as planned, and
	// the listed printers with such a bed, smallest first.
	Smallest         Bed       `json:"smallest_bed"`
	SmallestPrinters []Printer `json:"smallest_printers"`
	// Bound is the fewest plates the footprints' area allows, per role,
	// summed.
	Bound  int       `json:"area_bound"`
	Pieces int       `json:"pieces"`
	Total  Materials `json:"filament_total"`
	// Estimated sums the slicer's estimates over the pieces of the parts
	// that have one; EstimatedParts counts those parts.
	Estimated        *Estimate `json:"estimate,omitempty"`
	EstimatedParts   int       `json:"estimated_parts"`
	EstimatesPending int       `json:"estimates_pending"`
	Notes            []string  `json:"notes"`
	// Commit is the catalogued commit the plan was made from; Version
	// names everything it was made from, for caches and ETags.
	Commit  string `json:"commit"`
	Version string `json:"-"`
}

// Build lays parts out for printer pr: counts from bill, a pose that fits
// for each part, and the pieces packed onto plates, main and accent
// colours on separate plates. printers gives the list for "the smallest
// printer that prints it all".
func Build(inputs []Input, bill *Bill, pr Printer, printers *Printers, spacing float64) *Plan {
	p := &Plan{Printer: pr, Spacing: spacing, Parts: make([]Part, 0, len(inputs)), TooBig: []int{}, Notes: []string{}}
	for _, in := range inputs {
		pt := Part{Path: in.Path, Name: partName(in.Path), Blob: in.Blob, SHA256: in.SHA256, Count: bill.Count(in.Path)}
		poses := in.Shape.Poses
		if len(poses) == 0 {
			poses = []Pose{{Rotation: identity(), Min: in.Min, Size: in.Size, Kind: PoseNoFlat}}
		}
		pt.Pose, pt.PreferredPose = poses[0], poses[0]
		for i, ps := range poses {
			if pr.Fits(ps.Size[0], ps.Size[1], ps.Size[2]) {
				pt.Pose, pt.Fits = ps, true
				if i > 0 {
					pt.Pose.Kind = PoseToFit
				}
				break
			}
		}
		pt.Each = FromVolume(in.Volume)
		pt.Total = pt.Each.times(float64(pt.Quantity))
		p.Total = p.Total.plus(pt.Total)
		p.Pieces += pt.Quantity
		// The smallest bed, from each part's preferred pose.
		s := poses[0].Size
		long, short := max(s[0], s[1]), min(s[0], s[1])
		p.Smallest = Bed{max(p.Smallest.X, long), max(p.Smallest.Y, short), max(p.Smallest.Z, s[2])}
		p.Parts = append(p.Parts, pt)
	}
	for i, pt := range p.Parts {
		if !pt.Fits {
			p.TooBig = append(p.TooBig, i)
			s := pt.Pose.Size
			p.Notes = append(p.Notes, fmt.Sprintf("%s (%s × %s × %s mm) does not fit the %s's %s × %s × %s mm in any pose: it is on no plate",
				pt.Path, fixed(s[0]), fixed(s[1]), fixed(s[2]), pr.Name, num(pr.X), num(pr.Y), num(pr.Z)))
		}
	}
	// To a tenth of a millimetre, up: a bed of that size holds them all.
	up := func(v float64) float64 { return math.Ceil(v*10-1e-6) / 10 }
	p.Smallest = Bed{up(p.Smallest.X), up(p.Smallest.Y), up(p.Smallest.Z)}
	p.SmallestPrinters = []Printer{}
	if printers != nil {
		p.SmallestPrinters = printers.Smallest(p.Smallest.X, p.Smallest.Y, p.Smallest.Z)
	}
	for _, role := range []string{RoleMain, RoleAccent} {
		p.packRole(role)
	}
	return p
}

// packRole packs the pieces of one role's parts onto new plates.
func (p *Plan) packRole(role string) {
	var rects []pack.Rect
	var owner []int
	area := 0.0
	for i, pt := range p.Parts {
		if pt.Role != role || !pt.Fits {
			continue
		}
		for range pt.Quantity {
			rects = append(rects, pack.Rect{W: pt.Pose.Size[0], H: pt.Pose.Size[1]})
			owner = append(owner, i)
			area += pt.Pose.Size[0] * pt.Pose.Size[1]
		}
	}
	if len(rects) == 0 {
		return
	}
	bed := p.Printer.X * p.Printer.Y
	p.Bound += int(math.Ceil(area/bed - 1e-9))
	// The bed grows by the slack Fits forgives, so that what fits packs.
	res := pack.Pack(rects, p.Printer.X+fitSlack, p.Printer.Y+fitSlack, p.Spacing)
	first := len(p.Plates)
	for b := range res.Bins {
		p.Plates = append(p.Plates, Plate{N: first + b + 1, Role: role})
	}
	for i, s := range res.Spots {
		if s.Bin < 0 {
			// Fits said yes; never leave a piece out without a word.
			p.Notes = append(p.Notes, fmt.Sprintf("a piece of %s could not be placed on a %s × %s mm bed", p.Parts[owner[i]].Path, num(p.Printer.X), num(p.Printer.Y)))
			continue
		}
		pt := p.Parts[owner[i]]
		pose := pt.Pose
		if s.Turned {
			pose = turnZ90(pose)
		}
		pl := &p.Plates[first+s.Bin]
		pl.Pieces = append(pl.Pieces, Placement{Part: owner[i], X: s.X, Y: s.Y, W: pose.Size[0], H: pose.Size[1], Transform: place(pose, s.X, s.Y)})
		pl.Height = max(pl.Height, pose.Size[2])
	}
	// Each plate's pieces, as a group, centred on the bed: packing fills
	// from one corner.
	for k := first; k < len(p.Plates); k++ {
		pl := &p.Plates[k]
		x0, y0, x1, y1 := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
		used := 0.0
		for _, c := range pl.Pieces {
			x0, y0, x1, y1 = min(x0, c.X), min(y0, c.Y), max(x1, c.X+c.W), max(y1, c.Y+c.H)
			used += c.W * c.H
		}
		dx := (p.Printer.X-(x1-x0))/2 - x0
		dy := (p.Printer.Y-(y1-y0))/2 - y0
		for j := range pl.Pieces {
			c := &pl.Pieces[j]
			c.X, c.Y = c.X+dx, c.Y+dy
			c.Transform[9] += dx
			c.Transform[10] += dy
		}
		pl.Fill = used / bed
		sort.SliceStable(pl.Pieces, func(a, b int) bool {
			pa, pb := pl.Pieces[a], pl.Pieces[b]
			if pa.Y != pb.Y {
				return pa.Y < pb.Y
			}
			return pa.X < pb.X
		})
	}
}

// place is the transform that puts a part in pose with its footprint's
// lower left corner at (x, y) on the bed.
func place(pose Pose, x, y float64) [12]float64 {
	var t [12]float64
	copy(t[:9], pose.Rotation[:])
	t[9], t[10], t[11] = x-pose.Min[0], y-pose.Min[1], -pose.Min[2]
	return t
}

// partName is a part's file name without its extension.
func partName(p string) string {
	b := path.Base(p)
	return strings.TrimSuffix(b, path.Ext(b))
}

// fixed prints a length with one decimal.
func fixed(v float64) string { return fmt.Sprintf("%.1f", v) }
