package api

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/blueprints-hq/blueprints/print"
	"github.com/blueprints-hq/blueprints/scad"
)

// PrintPlan is the answer of /api/v1/projects/{owner}/{project}/print: the
// plan (package print) with the addresses of its page and files, absolute
// as elsewhere in the API (under --public-url), which the slicer hand-off
// links carry too.
type PrintPlan struct {
	Project string `json:"project"`
	*print.Plan
	URL       string       `json:"url"`
	PlatesURL string       `json:"plates_url"`
	Parts     []PrintPart  `json:"parts"`
	Plates    []PrintPlate `json:"plates"`
}

// PrintPart is a part of a plan with its downloads.
type PrintPart struct {
	print.Part
	DownloadURL string         `json:"download_url"` // the file as pushed
	PartURL     string         `json:"part_3mf_url"` // one piece, laid as planned
	Handoff     []print.Slicer `json:"handoff"`
}

// PrintPlate is a plate of a plan with its downloads.
type PrintPlate struct {
	print.Plate
	DownloadURL string         `json:"download_url"` // .3mf
	PictureURL  string         `json:"picture_url"`  // .png, from above
	Handoff     []print.Slicer `json:"handoff"`
}

func (a *API) printPlan(c echo.Context) error {
	ctx := c.Request().Context()
	p, ok, err := a.findProject(c)
	if !ok {
		return err
	}
	ps := a.d.Planner.Printers()
	q := c.QueryParams()
	pr := ps.Default()
	switch id := q.Get("printer"); {
	case id == "custom" || id == "" && q.Get("x")+q.Get("y")+q.Get("z") != "":
		pr, err = print.ParseCustom(q.Get("x"), q.Get("y"), q.Get("z"))
	case id != "":
		pr, err = ps.Lookup(id)
	}
	if err != nil {
		return problem(c, http.StatusBadRequest, strings.TrimPrefix(err.Error(), print.ErrPrinter.Error()+": "))
	}
	plan, err := a.d.Planner.Plan(ctx, p.FullName(), pr)
	if errors.Is(err, print.ErrNoPlan) {
		// As GitHub answers statistics still being computed.
		return problem(c, http.StatusAccepted, p.FullName()+" has not been catalogued yet; try again shortly")
	}
	if err != nil {
		return a.internal(c, err)
	}
	abs := a.abs(c)
	project := p.FullName()
	out := PrintPlan{Project: project, Plan: plan, URL: abs(print.PagePath(project, pr.ID)), Parts: []PrintPart{}, Plates: []PrintPlate{}}
	if len(plan.Plates) > 0 {
		out.PlatesURL = abs(print.PlatesPath(project, pr.ID))
	}
	for _, pt := range plan.Parts {
		_, _, download := PartURLs(project, p.DefaultBranch, pt.Path)
		if scad.IsSource(pt.Path) {
			// A slicer opens the mesh built from an OpenSCAD source.
			download = "/" + escapePath(project) + "/mesh/" + escapePath(p.DefaultBranch) + "/" + escapePath(pt.Path)
		}
		download = abs(download)
		out.Parts = append(out.Parts, PrintPart{Part: pt, DownloadURL: download, PartURL: abs(print.PartPath(project, pr.ID, pt.Path)), Handoff: print.Handoff(download)})
	}
	for _, pl := range plan.Plates {
		dl := abs(print.PlatePath(project, pr.ID, pl.N))
		out.Plates = append(out.Plates, PrintPlate{Plate: pl, DownloadURL: dl, PictureURL: abs(print.PlatePicturePath(project, pr.ID, pl.N)), Handoff: print.Handoff(dl)})
	}
	return a.send(c, out, time.Time{})
}
