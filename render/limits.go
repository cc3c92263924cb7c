package render

// Limits bound what ReadMesh accepts, so one hostile or absurd file cannot
// exhaust the server. A zero field means its default.
type Limits struct {
	MaxBytes     int64 // largest file read, in bytes
	MaxTriangles int64 // most facets accepted
	// OneShot says the caller reads one part and exits, with the garbage
	// collector off (blueprints inspect and render). Then a big mesh hands
	// its welding tables back to the system before topology allocates, so
	// peak memory is the larger of the two phases, not their sum. A server
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
)

// DefaultLimits returns the limits used when a field of Limits is zero.
func DefaultLimits() Limits {
	return Limits{MaxBytes: DefaultMaxBytes, MaxTriangles: DefaultMaxTriangles}
}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxTriangles <= 0 {
		l.MaxTriangles = DefaultMaxTriangles
	}
	// Vertex and edge ids are 32-bit: 3 per facet must stay below 2^31.
	l.MaxTriangles = min(l.MaxTriangles, hardMaxTriangles)
	return l
}
