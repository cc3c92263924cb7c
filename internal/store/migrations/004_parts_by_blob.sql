-- "Same file used in": the part page looks up every project holding the
-- same blob, which without this index scans the whole parts table (about
-- 3 ms at 10k parts, 30 ms at 100k, on every uncached part page).
CREATE INDEX parts_blob ON parts (blob);
