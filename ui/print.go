package ui

import (
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/print"
	"github.com/blueprints-hq/blueprints/scad"
)

// The print page (/{owner}/{project}/print) and its downloads
// (/{owner}/{project}/print/{printer}/...): a project's print plan for the
// visitor's printer, remembered in a cookie. The plan itself comes from
// package print; this file picks the printer, lays the plan out for people
// and serves its files.

// PrinterCookie remembers the visitor's printer (an id from the list, or
// "custom-XxYxZ"), for the print page and the search page.
const PrinterCookie = "bp_printer"

// printerCookieAge is how long the choice is remembered.
const printerCookieAge = 365 * 24 * time.Hour

// choosePrinter picks the printer for a request: the query's printer (an
// id, or x, y and z for a custom size), which is then remembered; else the
// cookie's; else the first of the list. A bad choice in the query gives an
// error to show, and the cookie's or the default printer meanwhile.
func (u *UI) choosePrinter(c echo.Context) (print.Printer, error) {
	ps := u.planner.Printers()
	q := c.QueryParams()
	var pr print.Printer
	var err error
	id, custom := q.Get("printer"), q.Get("x")+q.Get("y")+q.Get("z") != ""
	switch {
	case id == "custom" || id == "" && custom:
		pr, err = print.ParseCustom(q.Get("x"), q.Get("y"), q.Get("z"))
	case id != "":
		pr, err = ps.Lookup(id)
	default:
		return u.rememberedPrinter(c), nil
	}
	if err != nil {
		return u.rememberedPrinter(c), err
	}
	c.SetCookie(&http.Cookie{Name: PrinterCookie, Value: pr.ID, Path: "/", MaxAge: int(printerCookieAge / time.Second), HttpOnly: true, SameSite: http.SameSiteLaxMode})
	return pr, nil
}

// rememberedPrinter is the cookie's printer, or the default.
func (u *UI) rememberedPrinter(c echo.Context) print.Printer {
	ps := u.planner.Printers()
	if ck, err := c.Cookie(PrinterCookie); err == nil {
		if pr, err := ps.Lookup(ck.Value); err == nil {
			return pr
		}
	}
	return ps.Default()
}

// cookiePrinter is the cookie's printer, if the visitor chose one.
func (u *UI) cookiePrinter(c echo.Context) (print.Printer, bool) {
	if u.planner == nil {
		return print.Printer{}, false
	}
	ck, err := c.Cookie(PrinterCookie)
	if err != nil {
		return print.Printer{}, false
	}
	pr, err := u.planner.Printers().Lookup(ck.Value)
	return pr, err == nil
}

type printView struct {
	P        *projectRef
	Printer  print.Printer
	Printers []printerOption
	Custom   [3]string
	Error    string
	Plan     *print.Plan
	Pending  bool // not catalogued yet
	Parts    []printPart
	Plates   []plateView
	TooBig   []printPart
	Totals   printTotals
	ZipURL   string
	Smallest string
	Fitting  []print.Printer
}

type printerOption struct {
	ID, Label string
	Selected  bool
}

type printPart struct {
	print.Part
	URL, Preview   string
	Size           string
	PoseNote       string
	PLA, PETG      string
	Estimate       string
	Download       string
	Part3MF        string
	QuantityFrom   string
	RoleFrom       string
	Accent         bool
	Fits           bool
	EstimatePend   bool
	EstimateFailed string
}

type plateView struct {
	print.Plate
	Title    string
	Picture  string
	Download string
	Handoff  []handoffLink
	Contents string
	Fill     string
}

type printTotals struct {
	Parts, Pieces, Plates int
	PLA, PETG             string
	Estimate              string
	EstimatedParts        int
	Pending               int
}

// printPage shows a project's print plan for the chosen printer.
func (u *UI) printPage(c echo.Context) error {
	p, err := u.openProject(c)
	if err != nil {
		return u.fail(c, err)
	}
	pr, choiceErr := u.choosePrinter(c)
	status := http.StatusOK
	v := printView{P: p, Printer: pr}
	if choiceErr != nil {
		if !errors.Is(choiceErr, print.ErrPrinter) {
			return u.fail(c, choiceErr)
		}
		status, v.Error = http.StatusBadRequest, strings.TrimPrefix(choiceErr.Error(), print.ErrPrinter.Error()+": ")
	}
	for _, o := range u.planner.Printers().All() {
		v.Printers = append(v.Printers, printerOption{ID: o.ID, Label: fmt.Sprintf("%s — %s × %s × %s mm", o.Name, mm0(o.X), mm0(o.Y), mm0(o.Z)), Selected: o.ID == pr.ID})
	}
	q := c.QueryParams()
	v.Custom = [3]string{q.Get("x"), q.Get("y"), q.Get("z")}
	if pr.Custom() && v.Error == "" {
		v.Custom = [3]string{mm0(pr.X), mm0(pr.Y), mm0(pr.Z)}
	}
	ctx := c.Request().Context()
	plan, err := u.planner.Plan(ctx, p.Full(), pr)
	if errors.Is(err, print.ErrNoPlan) {
		v.Pending = true
		return u.render(c, status, "print", "Print "+p.Full(), v)
	}
	if err != nil {
		return u.fail(c, err)
	}
	base := u.absBase(c.Request())
	key := "print:" + plan.Version + ":" + base + ":" + v.Error + ":" + strings.Join(v.Custom[:], "x")
	if status == http.StatusOK {
		if hit, err := u.sendCached(c, key); hit {
			return err
		}
	}
	u.planView(&v, plan, base)
	if status != http.StatusOK {
		return u.render(c, status, "print", "Print "+p.Full(), v)
	}
	// Estimates still coming: keep the page only briefly.
	ttl := time.Minute
	if plan.EstimatesPending > 0 {
		ttl = 5 * time.Second
	}
	return u.renderCached(c, status, "print", "Print "+p.Full(), v, key, ttl)
}

// planView lays a plan out for the page; base is the server's absolute
// address, for the slicer hand-off.
func (u *UI) planView(v *printView, plan *print.Plan, base string) {
	p := v.P
	v.Plan = plan
	branch := p.Row.DefaultBranch
	parts := make([]printPart, len(plan.Parts))
	for i, pt := range plan.Parts {
		// What a slicer opens: the file as pushed, or for an OpenSCAD
		// source the mesh built from it.
		raw := p.URL() + "/raw/" + escapePath(branch) + "/" + escapePath(pt.Path)
		if scad.IsSource(pt.Path) {
			raw = p.URL() + "/mesh/" + escapePath(branch) + "/" + escapePath(pt.Path)
		}
		s := pt.Pose.Size
		pp := printPart{
			Part: pt, Fits: pt.Fits,
			URL:          p.URL() + "/blob/" + escapePath(branch) + "/" + escapePath(pt.Path),
			Preview:      "/previews/" + pt.SHA256 + "/512.png",
			Size:         fmt.Sprintf("%s × %s × %s mm", fixed(s[0]), fixed(s[1]), fixed(s[2])),
			PoseNote:     poseNote(pt.Pose),
			PLA:          fmt.Sprintf("%s · %s", grams(pt.Total.PLA.Grams), metres(pt.Total.PLA.Metres)),
			PETG:         fmt.Sprintf("%s · %s", grams(pt.Total.PETG.Grams), metres(pt.Total.PETG.Metres)),
			Download:     raw,
			Part3MF:      print.PartPath(p.Full(), plan.Printer.ID, pt.Path),
			QuantityFrom: pt.From,
			RoleFrom:     pt.RoleFrom,
			Accent:       pt.Role == print.RoleAccent,
		}
		if e := pt.Estimate; e != nil {
			switch {
			case e.Pending:
				pp.EstimatePend = true
			case e.Error != "":
				pp.EstimateFailed = e.Error
			default:
				pp.Estimate = fmt.Sprintf("%s · %s", duration(e.Seconds), grams(e.Grams))
			}
		}
		parts[i] = pp
		if !pt.Fits {
			v.TooBig = append(v.TooBig, pp)
		}
	}
	v.Parts = parts
	for _, pl := range plan.Plates {
		counts := map[int]int{}
		var order []int
		for _, c := range pl.Pieces {
			if counts[c.Part] == 0 {
				order = append(order, c.Part)
			}
			counts[c.Part]++
		}
		var names []string
		for _, i := range order {
			n := plan.Parts[i].Name
			if counts[i] > 1 {
				n = fmt.Sprintf("%s ×%d", n, counts[i])
			}
			names = append(names, n)
		}
		dl := print.PlatePath(p.Full(), plan.Printer.ID, pl.N)
		title := fmt.Sprintf("Plate %d", pl.N)
		if pl.Role == print.RoleAccent {
			title += " · accent colour"
		}
		v.Plates = append(v.Plates, plateView{
			Plate: pl, Title: title,
			Picture:  print.PlatePicturePath(p.Full(), plan.Printer.ID, pl.N),
			Download: dl,
			Handoff:  handoff(base + dl),
			Contents: strings.Join(names, ", "),
			Fill:     fmt.Sprintf("%.0f%%", 100*pl.Fill),
		})
	}
	v.ZipURL = print.PlatesPath(p.Full(), plan.Printer.ID)
	v.Totals = printTotals{
		Parts: len(plan.Parts), Pieces: plan.Pieces, Plates: len(plan.Plates),
		PLA:            fmt.Sprintf("%s · %s", grams(plan.Total.PLA.Grams), metres(plan.Total.PLA.Metres)),
		PETG:           fmt.Sprintf("%s · %s", grams(plan.Total.PETG.Grams), metres(plan.Total.PETG.Metres)),
		EstimatedParts: plan.EstimatedParts,
		Pending:        plan.EstimatesPending,
	}
	if e := plan.Estimated; e != nil {
		v.Totals.Estimate = fmt.Sprintf("%s · %s · %s", duration(e.Seconds), grams(e.Grams), metres(e.Metres))
	}
	sb := plan.Smallest
	v.Smallest = fmt.Sprintf("%s × %s × %s mm", fixed(sb.X), fixed(sb.Y), fixed(sb.Z))
	v.Fitting = plan.SmallestPrinters
}

// printFile serves a plan's downloads: plate-N.3mf, plate-N.png,
// plates.zip and part/{path}.3mf.
func (u *UI) printFile(c echo.Context) error {
	p, err := u.openProject(c)
	if err != nil {
		return u.fail(c, err)
	}
	pr, err := u.planner.Printers().Lookup(c.Param("printer"))
	if err != nil {
		return u.fail(c, badRequest("%s.", strings.TrimPrefix(err.Error(), print.ErrPrinter.Error()+": ")))
	}
	file, err := refPath(c)
	if err != nil {
		return u.fail(c, err)
	}
	ctx := c.Request().Context()
	plan, err := u.planner.Plan(ctx, p.Full(), pr)
	if errors.Is(err, print.ErrNoPlan) {
		return u.fail(c, notFound("%s has not been catalogued yet.", p.Full()))
	}
	if err != nil {
		return u.fail(c, err)
	}
	etag := `"` + plan.Version + "-" + strings.ReplaceAll(file, `"`, "") + `"`
	hd := c.Response().Header()
	hd.Set("ETag", etag)
	// Revalidated each time (a plan changes with every push); a private
	// project's files are never kept by shared caches.
	if p.Row.Visibility == store.Public {
		hd.Set("Cache-Control", "no-cache")
	} else {
		hd.Set("Cache-Control", "private, no-cache")
	}
	hd.Set("X-Content-Type-Options", "nosniff")
	if inm := c.Request().Header.Get("If-None-Match"); inm == etag {
		return c.NoContent(http.StatusNotModified)
	}
	base := path.Base(p.Name) + "-" + pr.ID
	var write func() error
	switch {
	case file == "plates.zip":
		if len(plan.Plates) == 0 {
			return u.fail(c, notFound("This plan has no plates."))
		}
		hd.Set("Content-Type", "application/zip")
		hd.Set("Content-Disposition", disposition(base+"-plates.zip", "application/zip"))
		write = func() error { return u.planner.WritePlates(ctx, p.Full(), plan, c.Response()) }
	case strings.HasPrefix(file, "plate-"):
		name, ext, _ := strings.Cut(strings.TrimPrefix(file, "plate-"), ".")
		n, err := strconv.Atoi(name)
		if err != nil || n < 1 || n > len(plan.Plates) || (ext != "3mf" && ext != "png") {
			return u.fail(c, notFound("No %s: this plan has %d plates (plate-N.3mf, plate-N.png).", file, len(plan.Plates)))
		}
		if ext == "png" {
			size := 512
			if s := c.QueryParam("size"); s != "" {
				if size, err = strconv.Atoi(s); err != nil || size < 64 || size > 2048 {
					return u.fail(c, badRequest("size: want 64 to 2048 pixels."))
				}
			}
			png, err := u.planner.PlatePicture(ctx, p.Full(), plan, n, size)
			if err != nil {
				return u.fail(c, err)
			}
			return c.Blob(http.StatusOK, "image/png", png)
		}
		hd.Set("Content-Type", "model/3mf")
		hd.Set("Content-Disposition", disposition(fmt.Sprintf("%s-plate-%d.3mf", base, n), "model/3mf"))
		write = func() error { return u.planner.WritePlate(ctx, p.Full(), plan, n, c.Response()) }
	case strings.HasPrefix(file, "part/") && strings.HasSuffix(file, ".3mf"):
		partPath := strings.TrimSuffix(strings.TrimPrefix(file, "part/"), ".3mf")
		i, ok := plan.PartIndex(partPath)
		if !ok {
			return u.fail(c, notFound("No part %q in this plan.", partPath))
		}
		name := strings.TrimSuffix(path.Base(partPath), path.Ext(partPath)) + ".3mf"
		hd.Set("Content-Type", "model/3mf")
		hd.Set("Content-Disposition", disposition(name, "model/3mf"))
		write = func() error { return u.planner.WritePart(ctx, p.Full(), plan, i, c.Response()) }
	default:
		return u.fail(c, notFound("No %s here: plans offer plate-N.3mf, plate-N.png, plates.zip and part/{path}.3mf.", file))
	}
	if c.Request().Method == http.MethodHead {
		return c.NoContent(http.StatusOK)
	}
	c.Response().WriteHeader(http.StatusOK)
	if err := write(); err != nil {
		// The status is sent: cut the stream short so the client sees a
		// broken file rather than a complete-looking one.
		u.log.Error("write print file", "project", p.Full(), "file", file, "printer", pr.ID, "err", err)
		panic(http.ErrAbortHandler)
	}
	return nil
}

// absBase is the origin of absolute links in the answer to r: the
// --public-url, or the address the request reached ("" when its Host
// header is unusable: the links stay relative).
func (u *UI) absBase(r *http.Request) string {
	return u.public.URL(r, "")
}

func poseNote(p print.Pose) string {
	switch p.Kind {
	case print.PoseAsModelled:
		return "as modelled, on a flat face"
	case print.PoseFlatFace:
		return fmt.Sprintf("turned onto its largest flat face (%s cm²)", fixed(p.Contact/100))
	case print.PoseToFit:
		return "turned onto another face to fit"
	}
	return "as modelled: no flat face"
}

// mm0 prints a printer size without needless decimals.
func mm0(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

func grams(g float64) string {
	switch {
	case g >= 1000:
		return fmt.Sprintf("%.2f kg", g/1000)
	case g >= 10:
		return fmt.Sprintf("%.0f g", g)
	}
	return fmt.Sprintf("%.1f g", g)
}

func metres(m float64) string {
	if m >= 10 {
		return fmt.Sprintf("%.0f m", m)
	}
	return fmt.Sprintf("%.1f m", m)
}

// duration prints a print time as slicers do: "1 h 38 min", "52 min".
func duration(s float64) string {
	m := int(math.Round(s / 60))
	switch {
	case m >= 24*60:
		return fmt.Sprintf("%d d %d h %d min", m/(24*60), m/60%24, m%60)
	case m >= 60:
		return fmt.Sprintf("%d h %d min", m/60, m%60)
	}
	return fmt.Sprintf("%d min", max(m, 1))
}

// partPrint adds to a part page the print page's link, "open in" links
// for the file a slicer opens (the mesh, for an OpenSCAD build) and the
// slicer's estimate.
func (u *UI) partPrint(c echo.Context, v *partView) error {
	if u.planner == nil {
		return nil
	}
	v.PrintURL = v.L.P.URL() + "/print"
	file := v.L.RawURL(v.L.Path)
	if scad.IsSource(v.L.Path) && v.MeshURL != "" {
		file = v.MeshURL
	}
	v.Handoff = handoff(u.absBase(c.Request()) + file)
	if v.Part == nil {
		return nil
	}
	e, err := u.planner.Estimate(c.Request().Context(), v.Part.SHA256)
	if err != nil || e == nil {
		return err
	}
	if e.Error != "" {
		v.Estimate = "the slicer could not slice it"
	} else {
		v.Estimate = fmt.Sprintf("%s · %s · %s", duration(e.Seconds), grams(e.Grams), metres(e.Metres))
	}
	return nil
}

// estimatesVersion names the estimates landed so far, for page caches.
func (u *UI) estimatesVersion() string {
	if u.planner == nil {
		return ""
	}
	return strconv.FormatInt(u.planner.EstimatesVersion(), 10)
}

// handoffLink is an "open in" link. Its URL's scheme is a slicer's
// (prusaslicer:, orcaslicer:, ...), which html/template would refuse as
// unsafe: it is made here from a constant scheme and an escaped address,
// so it is marked safe.
type handoffLink struct {
	Name string
	URL  template.URL
}

func handoff(download string) []handoffLink {
	var out []handoffLink
	for _, s := range print.Handoff(download) {
		out = append(out, handoffLink{s.Name, template.URL(s.URL)})
	}
	return out
}
