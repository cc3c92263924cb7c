package threemf

import (
	"encoding/xml"
	"io"
)

// readRels reads a relationships part and returns the target of its first
// 3D model relationship, or "".
func readRels(r io.Reader, entry string, p *pkg) (string, error) {
	dec := xml.NewDecoder(io.LimitReader(r, maxRelsBytes))
	dec.Strict = true
	depth := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return "", nil
		}
		if err != nil {
			return "", p.malformed(entry, dec.InputOffset(), "XML: %v", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			if depth > p.lim.MaxDepth {
				return "", p.tooLarge(entry, dec.InputOffset(), "elements nest more than %d deep", p.lim.MaxDepth)
			}
			if t.Name.Local != "Relationship" {
				continue
			}
			var typ, target string
			for _, a := range t.Attr {
				switch a.Name.Local {
				case "Type":
					typ = a.Value
				case "Target":
					target = a.Value
				}
			}
			if typ == relModel && target != "" {
				return target, nil
			}
		case xml.EndElement:
			depth--
		case xml.Directive:
			return "", p.malformed(entry, dec.InputOffset(), "document type declarations are not allowed in 3MF")
		}
	}
}
