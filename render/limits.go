package render

import "context"

// Limits bound what ReadMesh accepts and what a preview may cost, so one
// hostile or absurd file cannot exhaust the server. A zero field means its
// default. They reach every kind's reader (decode) and the rasteriser,
// so a new reader is bounded by them without asking (see budget.go).
type Limits struct {
	MaxBytes     int64 // largest file read, in bytes
	MaxTriangles int64 // most facets accepted
	// Context, when set, bounds the time the file takes: reading,
	// measuring and drawing stop with an error wrapping its error (and
	// ErrBudget when its deadline passed) once it is done.
	Context context.Context
	// MaxOverdraw bounds a preview's work: the samples its facets'
	// extents cover, in multiples of the picture's samples, after exact
	// duplicate facets are dropped (they change no pixel). Real parts
	// cost 2 to 25; a file of overlapping facets each covering much of the
	// picture costs one per facet. Default DefaultMaxOverdraw.
	MaxOverdraw int
	// OneShot says the caller reads one part and exits, with the garbage
	// collector off (blueprints inspect and render). Then a big mesh hands
	// its welding tables back to the system before topology allocates, so
	// peak memory is the larger of the two phases, not their sum, and a
	// preview draws into memory mapped for it (see newFrame). A server
	// leaves it false: its collector runs anyway, and forcing a full
	// collection of a large heap per part costs more than it saves.
	OneShot bool
}

// Default limits: about 20 million facets fit in 1 GiB of binary STL and
// need about 400 MB of memory to measure.
const (
	DefaultMaxBytes     = 1 << 30
	DefaultMaxTriangles = 20_000_000
	hardMaxTriangles    = 1 << 29
	// DefaultMaxOverdraw is ten times what the most costly part of the
	// test corpus needs (22: the extents of the long thin facets CAD
	// programs export test many samples they do not cover); it costs a
	// few seconds of one core at most.
	DefaultMaxOverdraw = 256
)

// DefaultLimits returns the limits used when a field of Limits is zero.
func DefaultLimits() Limits {
	return Limits{MaxBytes: DefaultMaxBytes, MaxTriangles: DefaultMaxTriangles, MaxOverdraw: DefaultMaxOverdraw}
}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxTriangles <= 0 {
		l.MaxTriangles = DefaultMaxTriangles
	}
	if l.MaxOverdraw <= 0 {
		l.MaxOverdraw = DefaultMaxOverdraw
	}
	// Vertex and edge ids are 32-bit: 3 per facet must stay below 2^31.
	l.MaxTriangles = min(l.MaxTriangles, hardMaxTriangles)
	return l
}
