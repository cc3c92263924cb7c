-- Print planning (package print): what a part's geometry says about how it
-- lies on a bed (its poses), and what the slicer estimated for it, both
-- kept by the SHA-256 of the file's bytes, so an unchanged part is never
-- analysed or sliced twice, whichever project or commit holds it.

CREATE TABLE print_shapes (
	sha256 TEXT PRIMARY KEY,
	version INTEGER NOT NULL,      -- print.ShapeVersion that computed it
	shape TEXT NOT NULL,           -- print.Shape as JSON
	created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE print_estimates (
	sha256 TEXT NOT NULL,
	profile TEXT NOT NULL,          -- the slicer profile's name and hash
	estimate TEXT NOT NULL,         -- print.Estimate as JSON (with the error when slicing failed)
	created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
	PRIMARY KEY (sha256, profile)
);
