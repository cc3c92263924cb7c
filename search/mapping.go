package search

import (
	"github.com/blevesearch/bleve/v2/mapping"

	// Bleve resolves analysis components by name through its own registry,
	// which these packages fill when linked in; the mapping below names them.
	_ "github.com/blevesearch/bleve/v2/analysis/analyzer/custom"
	_ "github.com/blevesearch/bleve/v2/analysis/analyzer/keyword"
	_ "github.com/blevesearch/bleve/v2/analysis/char/asciifolding"
	_ "github.com/blevesearch/bleve/v2/analysis/token/camelcase"
	_ "github.com/blevesearch/bleve/v2/analysis/token/lowercase"
	_ "github.com/blevesearch/bleve/v2/analysis/token/porter"
	_ "github.com/blevesearch/bleve/v2/analysis/tokenizer/regexp"
)

// Analyzer and field names in the index.
const (
	// partNameAnalyzer splits part names and paths into words: runs of
	// letters and digits (so "_", "-", "[", ".", "/" and spaces separate
	// words), then camelCase and letter/digit boundaries ("xyJoint",
	// "XYJoint", "MGN9"), folded to lower case and stemmed (Porter).
	partNameAnalyzer = "part_name"
	wordTokenizer    = "part_words"

	fieldKind     = "kind"
	fieldName     = "name"     // part: file name; project: title and repository name
	fieldPath     = "path"     // part: folder words of its path
	fieldText     = "text"     // project name, title, description, tags, category
	fieldReadme   = "readme"   // project: the README's words
	fieldNameKey  = "name_key" // lower-case name, for sorting
	fieldProject  = "project"
	fieldLicense  = "license"
	fieldCategory = "category"
	fieldVisible  = "visibility" // "public" or "private"
	fieldOwnerKey = "owner_key"  // lower-case owner name
	fieldStored   = "doc"        // the Doc as JSON, stored only
	// fieldMeasures holds, stored only, what searches count and sort on
	// besides keywords (see measures): read once per segment into its
	// columns. Numeric fields would be indexed as 16 terms a value, two
	// thirds of the cost of indexing, for range queries no search makes.
	fieldMeasures = "m"
)

// newMapping builds the index mapping: one default document mapping for
// both kinds, with explicit fields only (no dynamic fields, no _all field)
// so that indexing does no work nobody searches on.
func newMapping() (*mapping.IndexMappingImpl, error) {
	im := mapping.NewIndexMapping()
	if err := im.AddCustomTokenizer(wordTokenizer, map[string]any{
		"type":   "regexp",
		"regexp": `[\p{L}\p{N}]+`,
	}); err != nil {
		return nil, err
	}
	if err := im.AddCustomAnalyzer(partNameAnalyzer, map[string]any{
		"type":          "custom",
		"char_filters":  []any{"asciifolding"},
		"tokenizer":     wordTokenizer,
		"token_filters": []any{"camelCase", "to_lower", "stemmer_porter"},
	}); err != nil {
		return nil, err
	}

	text := func() *mapping.FieldMapping {
		f := mapping.NewTextFieldMapping()
		f.Analyzer = partNameAnalyzer
		f.Store = false
		f.IncludeTermVectors = false
		f.IncludeInAll = false
		f.DocValues = false
		return f
	}
	keyword := func() *mapping.FieldMapping {
		f := mapping.NewKeywordFieldMapping()
		f.Store = false
		f.IncludeTermVectors = false
		f.IncludeInAll = false
		f.DocValues = false   // searches read the postings (columns.go)
		f.SkipFreqNorm = true // filters and facets only: never scored
		return f
	}
	stored := func() *mapping.FieldMapping {
		f := mapping.NewTextFieldMapping()
		f.Analyzer = "keyword"
		f.Index = false
		f.Store = true
		f.IncludeTermVectors = false
		f.IncludeInAll = false
		f.DocValues = false
		return f
	}

	dm := mapping.NewDocumentStaticMapping()
	for _, name := range []string{fieldName, fieldPath, fieldText, fieldReadme} {
		dm.AddFieldMappingsAt(name, text())
	}
	for _, name := range []string{fieldKind, fieldNameKey, fieldProject, fieldLicense, fieldCategory, fieldVisible, fieldOwnerKey} {
		dm.AddFieldMappingsAt(name, keyword())
	}
	dm.AddFieldMappingsAt(fieldStored, stored())
	dm.AddFieldMappingsAt(fieldMeasures, stored())
	// No _all field: every query names its fields.
	dm.AddSubDocumentMapping("_all", mapping.NewDocumentDisabledMapping())

	im.DefaultMapping = dm
	im.DefaultAnalyzer = partNameAnalyzer
	im.StoreDynamic = false
	im.IndexDynamic = false
	im.DocValuesDynamic = false
	return im, im.Validate()
}
