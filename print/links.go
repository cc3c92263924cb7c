package print

import (
	"net/url"
	"strconv"
	"strings"
)

// The addresses where the server offers a plan: package ui serves them,
// ui/api hands them out. Paths are relative to the server's root; the
// slicer hand-off needs them absolute (see Handoff).

// PagePath is the print page of project "owner/name" for a printer.
func PagePath(project, printerID string) string {
	return "/" + escapePath(project) + "/print?printer=" + url.QueryEscape(printerID)
}

// PlatePath is plate n's 3MF.
func PlatePath(project, printerID string, n int) string {
	return downloads(project, printerID) + "/plate-" + strconv.Itoa(n) + ".3mf"
}

// PlatePicturePath is plate n's top view, a PNG.
func PlatePicturePath(project, printerID string, n int) string {
	return downloads(project, printerID) + "/plate-" + strconv.Itoa(n) + ".png"
}

// PlatesPath is every plate's 3MF in one ZIP.
func PlatesPath(project, printerID string) string {
	return downloads(project, printerID) + "/plates.zip"
}

// PartPath is one piece of a part laid as the plan lays it, a 3MF.
func PartPath(project, printerID, partPath string) string {
	return downloads(project, printerID) + "/part/" + escapePath(partPath) + ".3mf"
}

func downloads(project, printerID string) string {
	return "/" + escapePath(project) + "/print/" + url.PathEscape(printerID)
}

func escapePath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// Slicer is a program a download can be handed to.
type Slicer struct {
	Name string `json:"name"`
	URL  string `json:"url"`
}

// Handoff returns "open in" links for an absolute download URL, in each
// slicer's own URL scheme.
func Handoff(download string) []Slicer {
	q := url.QueryEscape(download)
	return []Slicer{
		{"PrusaSlicer", "prusaslicer://open?file=" + q},
		{"OrcaSlicer", "orcaslicer://open?file=" + q},
		{"Bambu Studio", "bambustudio://open?file=" + q},
		{"Cura", "cura://open?file=" + q},
	}
}
