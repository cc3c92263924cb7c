// Package print turns a catalogued project into a print plan: how many of
// each part to print and in which colour (quantity.go: manifests and file
// names), how each part lies on the bed (orient.go: on a flat face where it
// has one, worked out once per file content from its mesh and kept in the
// store), whether it fits a printer (printers.go, printers.toml: the
// printers offered, as data), the filament it takes, and the plates: every
// piece packed onto as few beds as possible (package print/pack), each
// plate written as a 3MF (package threemf's Writer) and drawn from above by
// the renderer.
//
// Data enters from the metadata store (the catalogue's parts and their
// measurements) and a Source (manifests and part bytes from the
// repositories and LFS storage), and leaves as Plan values (for the print
// page and the API), 3MF files and PNG pictures written to an io.Writer.
// Slicer estimates, when enabled, come from an Estimator (package
// print/slicer). Nothing here knows HTTP: links.go only names the paths
// package ui serves.
package print
