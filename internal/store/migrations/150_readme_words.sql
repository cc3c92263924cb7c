-- The words of a project's README, for the search index (issue 15): the
-- catalogue records them with the project's metadata, and every node's
-- index follower reads them to build the project's document. Up to 32 KiB
-- of text, without link addresses, HTML or front matter.
ALTER TABLE project_meta ADD COLUMN readme_words TEXT NOT NULL DEFAULT '';
