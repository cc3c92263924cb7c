package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/internal/testenv"
	"github.com/blueprints-hq/blueprints/internal/testenv/oidctest"
)

// The leak matrix: every route the router has × every kind of viewer of a
// private project. A route missing from routeCases fails the test, so a
// new route cannot skip the access policy. To add one, add a line:
//
//	"METHOD /route/:template": {path: "/concrete/path", need: needRead},
//
// with need the least a viewer must be allowed to do to the private
// project for the route to serve them (needRead, needWrite, needManage),
// or needNothing for routes outside any project (then nobody without
// access may find the project's secrets in the answer). {p} in path is
// the private project ("acme/secret-rover").
type need int

const (
	needNothing need = iota // not about one project: checked for secrets only
	needRead
	needWrite
	needManage
	needSignedIn // account pages: checked for secrets only
)

type routeCase struct {
	path string
	need need
	body string // form or JSON body for POST and PUT
	// ok are the statuses an allowed viewer may get; default: anything
	// but 401, 403 and 404 (the policy let them through).
	ok []int
	// private: an allowed viewer's answer says Cache-Control: private,
	// so no shared cache keeps the private project's file.
	private bool
}

const privateProject = "acme/secret-rover"

// secrets are what a viewer without access must never find in an answer:
// the project's name, a part's name and path, a commit message, README
// text and the part's preview (its content hash).
var secrets = []string{"secret-rover", "hidden_gearbox", "hidden gearbox", "Rover of secrets", "Add the hidden"}

var routeCases = map[string]routeCase{
	"GET /healthz":  {path: "/healthz"},
	"HEAD /healthz": {path: "/healthz"},
	"GET /metrics":  {path: "/metrics"},
	// Pages outside projects.
	"GET /":                                         {path: "/"},
	"HEAD /":                                        {path: "/"},
	"GET /search":                                   {path: "/search?q=hidden+gearbox"},
	"HEAD /search":                                  {path: "/search?q=hidden+gearbox"},
	"GET /static/*":                                 {path: "/static/style.css"},
	"HEAD /static/*":                                {path: "/static/style.css"},
	"GET /previews/:sha/:file":                      {path: "/previews/{preview}/512.png", need: needRead, ok: []int{200}},
	"HEAD /previews/:sha/:file":                     {path: "/previews/{preview}/512.png", need: needRead, ok: []int{200}},
	"GET /:owner":                                   {path: "/acme"},
	"HEAD /:owner":                                  {path: "/acme"},
	"GET /login":                                    {path: "/login"},
	"HEAD /login":                                   {path: "/login"},
	"POST /login":                                   {path: "/login", body: "username=olivia&password=wrong+password+here"},
	"POST /logout":                                  {path: "/logout"},
	"GET /login/oidc":                               {path: "/login/oidc?next=/acme/secret-rover"},
	"GET /login/oidc/callback":                      {path: "/login/oidc/callback?state=x&code=y"},
	"GET /signup":                                   {path: "/signup"},
	"HEAD /signup":                                  {path: "/signup"},
	"POST /signup":                                  {path: "/signup", body: "username=x"},
	"GET /settings":                                 {path: "/settings", need: needSignedIn},
	"HEAD /settings":                                {path: "/settings", need: needSignedIn},
	"POST /settings":                                {path: "/settings", need: needSignedIn, body: "display_name=x"},
	"GET /settings/password":                        {path: "/settings/password", need: needSignedIn},
	"HEAD /settings/password":                       {path: "/settings/password", need: needSignedIn},
	"POST /settings/password":                       {path: "/settings/password", need: needSignedIn, body: "current=x&new=y&confirm=z"},
	"GET /settings/tokens":                          {path: "/settings/tokens", need: needSignedIn},
	"HEAD /settings/tokens":                         {path: "/settings/tokens", need: needSignedIn},
	"POST /settings/tokens":                         {path: "/settings/tokens", need: needSignedIn, body: "name=&scope=admin"},
	"POST /settings/tokens/:id/revoke":              {path: "/settings/tokens/999999/revoke", need: needSignedIn},
	"GET /settings/sessions":                        {path: "/settings/sessions", need: needSignedIn},
	"HEAD /settings/sessions":                       {path: "/settings/sessions", need: needSignedIn},
	"POST /settings/sessions/:id/revoke":            {path: "/settings/sessions/999999/revoke", need: needSignedIn},
	"GET /settings/sign-ins":                        {path: "/settings/sign-ins", need: needSignedIn},
	"HEAD /settings/sign-ins":                       {path: "/settings/sign-ins", need: needSignedIn},
	"POST /settings/sign-ins/:id/unlink":            {path: "/settings/sign-ins/999999/unlink", need: needSignedIn},
	"GET /settings/sign-ins/link":                   {path: "/settings/sign-ins/link", need: needSignedIn},
	"GET /settings/organisations":                   {path: "/settings/organisations", need: needSignedIn},
	"HEAD /settings/organisations":                  {path: "/settings/organisations", need: needSignedIn},
	"GET /settings/invites":                         {path: "/settings/invites", need: needSignedIn},
	"HEAD /settings/invites":                        {path: "/settings/invites", need: needSignedIn},
	"POST /settings/invites":                        {path: "/settings/invites", need: needSignedIn},
	"POST /organisations":                           {path: "/organisations", need: needSignedIn, body: "name=settings"},
	"POST /organisations/:org/members":              {path: "/organisations/acme/members", need: needSignedIn, body: "user=nobody-here&role=member"},
	"POST /organisations/:org/members/:user/remove": {path: "/organisations/acme/members/nobody-here/remove", need: needSignedIn},
	"GET /organisations/:org/webhooks":              {path: "/organisations/acme/webhooks", need: needSignedIn},
	"HEAD /organisations/:org/webhooks":             {path: "/organisations/acme/webhooks", need: needSignedIn},
	"POST /organisations/:org/webhooks":             {path: "/organisations/acme/webhooks", need: needSignedIn, body: "url=ftp%3A%2F%2Fexample.org&events=push"},
	"POST /organisations/:org/webhooks/:id/remove":  {path: "/organisations/acme/webhooks/999999/remove", need: needSignedIn},
	// What crawlers, feed readers and link previews read (issue 18).
	"GET /robots.txt":                    {path: "/robots.txt"},
	"HEAD /robots.txt":                   {path: "/robots.txt"},
	"GET /sitemap.xml":                   {path: "/sitemap.xml"},
	"HEAD /sitemap.xml":                  {path: "/sitemap.xml"},
	"GET /sitemap-:n":                    {path: "/sitemap-1.xml"},
	"HEAD /sitemap-:n":                   {path: "/sitemap-1.xml"},
	"GET /projects.atom":                 {path: "/projects.atom"},
	"HEAD /projects.atom":                {path: "/projects.atom"},
	"GET /-/feeds/:owner":                {path: "/acme.atom"},
	"HEAD /-/feeds/:owner":               {path: "/acme.atom"},
	"GET /oembed":                        {path: "/oembed?url=/{p}/blob/main/parts/hidden_gearbox_mount.stl", need: needRead},
	"HEAD /oembed":                       {path: "/oembed?url=/{p}/blob/main/parts/hidden_gearbox_mount.stl", need: needRead},
	"GET /:owner/:project/commits.atom":  {path: "/{p}/commits.atom", need: needRead},
	"HEAD /:owner/:project/commits.atom": {path: "/{p}/commits.atom", need: needRead},
	"GET /api/v1/openapi.json":           {path: "/api/v1/openapi.json"},
	"GET /api":                           {path: "/api"},
	"HEAD /api":                          {path: "/api"},
	"GET /api/*":                         {path: "/api/v1/projects/{p}/parts"},
	"HEAD /api/*":                        {path: "/api/v1/projects/{p}/parts"},
	// The JSON API.
	"GET /api/v1/search":                         {path: "/api/v1/search?q=hidden+gearbox"},
	"GET /api/v1/projects":                       {path: "/api/v1/projects"},
	"GET /api/v1/projects/:owner/:project":       {path: "/api/v1/projects/{p}", need: needRead},
	"GET /api/v1/projects/:owner/:project/print": {path: "/api/v1/projects/{p}/print?printer=mk4", need: needRead},
	// Project pages.
	"GET /:owner/:project":                   {path: "/{p}", need: needRead},
	"HEAD /:owner/:project":                  {path: "/{p}", need: needRead},
	"GET /:owner/:project/":                  {path: "/{p}/", need: needRead},
	"HEAD /:owner/:project/":                 {path: "/{p}/", need: needRead},
	"GET /:owner/:project/tree/*":            {path: "/{p}/tree/main/parts", need: needRead},
	"HEAD /:owner/:project/tree/*":           {path: "/{p}/tree/main/parts", need: needRead},
	"GET /:owner/:project/blob/*":            {path: "/{p}/blob/main/parts/hidden_gearbox_mount.stl", need: needRead},
	"HEAD /:owner/:project/blob/*":           {path: "/{p}/blob/main/parts/hidden_gearbox_mount.stl", need: needRead},
	"GET /:owner/:project/commits/*":         {path: "/{p}/commits/main", need: needRead},
	"HEAD /:owner/:project/commits/*":        {path: "/{p}/commits/main", need: needRead},
	"GET /:owner/:project/commit/*":          {path: "/{p}/commit/{commit}", need: needRead},
	"HEAD /:owner/:project/commit/*":         {path: "/{p}/commit/{commit}", need: needRead},
	"GET /:owner/:project/image/*":           {path: "/{p}/image/main/docs/hidden_gearbox.svg", need: needRead},
	"HEAD /:owner/:project/image/*":          {path: "/{p}/image/main/docs/hidden_gearbox.svg", need: needRead},
	"GET /:owner/:project/raw/*":             {path: "/{p}/raw/main/parts/hidden_gearbox_mount.stl", need: needRead},
	"HEAD /:owner/:project/raw/*":            {path: "/{p}/raw/main/parts/hidden_gearbox_mount.stl", need: needRead},
	"GET /:owner/:project/preview/*":         {path: "/{p}/preview/main/parts/hidden_gearbox_mount.stl.png", need: needRead},
	"HEAD /:owner/:project/preview/*":        {path: "/{p}/preview/main/parts/hidden_gearbox_mount.stl.png", need: needRead},
	"GET /:owner/:project/mesh/*":            {path: "/{p}/mesh/main/parts/hidden_gearbox_mount.stl", need: needRead, ok: []int{200, 301, 302, 307, 308, 400}},
	"HEAD /:owner/:project/mesh/*":           {path: "/{p}/mesh/main/parts/hidden_gearbox_mount.stl", need: needRead, ok: []int{200, 301, 302, 307, 308, 400}},
	"GET /:owner/:project/archive/*":         {path: "/{p}/archive/main.zip", need: needRead},
	"GET /:owner/:project/print":             {path: "/{p}/print?printer=mk4", need: needRead},
	"HEAD /:owner/:project/print":            {path: "/{p}/print?printer=mk4", need: needRead},
	"GET /:owner/:project/print/:printer/*":  {path: "/{p}/print/mk4/plate-1.3mf", need: needRead, private: true},
	"HEAD /:owner/:project/print/:printer/*": {path: "/{p}/print/mk4/plate-1.png", need: needRead, private: true},
	// Git.
	"GET /:owner/:project/info/refs":         {path: "/{p}.git/info/refs?service=git-upload-pack", need: needRead},
	"POST /:owner/:project/git-upload-pack":  {path: "/{p}.git/git-upload-pack", need: needRead, body: "0000"},
	"POST /:owner/:project/git-receive-pack": {path: "/{p}.git/git-receive-pack", need: needWrite, body: "0000"},
	// Git LFS.
	"POST /:owner/:project/info/lfs/objects/batch":    {path: "/{p}.git/info/lfs/objects/batch", need: needRead, body: `{"operation":"download","objects":[{"oid":"{oid}","size":{size}}]}`},
	"PUT /:owner/:project/info/lfs/objects/:oid":      {path: "/{p}.git/info/lfs/objects/{oid}", need: needWrite, body: "{lfs}"},
	"GET /:owner/:project/info/lfs/objects/:oid":      {path: "/{p}.git/info/lfs/objects/{oid}", need: needRead},
	"HEAD /:owner/:project/info/lfs/objects/:oid":     {path: "/{p}.git/info/lfs/objects/{oid}", need: needRead},
	"POST /:owner/:project/info/lfs/verify":           {path: "/{p}.git/info/lfs/verify", need: needWrite, body: `{"oid":"{oid}","size":{size}}`},
	"POST /:owner/:project/info/lfs/locks":            {path: "/{p}.git/info/lfs/locks", need: needWrite, body: `{"path":"parts/x.stl"}`, ok: []int{201, 409}},
	"GET /:owner/:project/info/lfs/locks":             {path: "/{p}.git/info/lfs/locks", need: needRead},
	"POST /:owner/:project/info/lfs/locks/verify":     {path: "/{p}.git/info/lfs/locks/verify", need: needWrite, body: `{}`},
	"POST /:owner/:project/info/lfs/locks/:id/unlock": {path: "/{p}.git/info/lfs/locks/{lock}/unlock", need: needWrite, body: `{}`, ok: []int{403, 200}}, // the lock is the administrator's, the last to try
	// Project settings: harmless forms (each is refused as bad input once
	// the policy lets the viewer through).
	"GET /:owner/:project/settings":                             {path: "/{p}/settings", need: needManage},
	"HEAD /:owner/:project/settings":                            {path: "/{p}/settings", need: needManage},
	"POST /:owner/:project/settings":                            {path: "/{p}/settings", need: needManage, body: "description=" + strings.Repeat("x", 600), ok: []int{400}},
	"POST /:owner/:project/settings/visibility":                 {path: "/{p}/settings/visibility", need: needManage, body: "visibility=hidden", ok: []int{400}},
	"POST /:owner/:project/settings/collaborators":              {path: "/{p}/settings/collaborators", need: needManage, body: "user=nobody-here&permission=read", ok: []int{400}},
	"POST /:owner/:project/settings/collaborators/:user/remove": {path: "/{p}/settings/collaborators/nobody-here/remove", need: needManage, ok: []int{400}},
	"POST /:owner/:project/settings/move":                       {path: "/{p}/settings/move", need: needManage, body: "name=..bad", ok: []int{400}},
	"POST /:owner/:project/settings/delete":                     {path: "/{p}/settings/delete", need: needManage, body: "confirm=wrong", ok: []int{400}},
	"POST /:owner/:project/settings/webhooks":                   {path: "/{p}/settings/webhooks", need: needManage, body: "url=ftp%3A%2F%2Fexample.org&events=push", ok: []int{400}},
	"POST /:owner/:project/settings/webhooks/:id/remove":        {path: "/{p}/settings/webhooks/999999/remove", need: needManage, ok: []int{400}},
	// The network of servers. ActivityPub documents and inboxes are
	// anonymous and only about public actors: a private project is no
	// actor for anyone (checked for secrets). Inboxes take signed
	// requests from servers, never cookies.
	"GET /.well-known/webfinger":                        {path: "/.well-known/webfinger?resource=http://127.0.0.1:0/{p}"},
	"GET /.well-known/nodeinfo":                         {path: "/.well-known/nodeinfo"},
	"GET /ap/nodeinfo/2.1":                              {path: "/ap/nodeinfo/2.1"},
	"POST /ap/inbox":                                    {path: "/ap/inbox", body: "{}"},
	"GET /ap/actor":                                     {path: "/ap/actor"},
	"GET /ap/actor/:collection":                         {path: "/ap/actor/outbox"},
	"GET /ap/users/:name":                               {path: "/ap/users/acme"},
	"GET /ap/users/:name/:collection":                   {path: "/ap/users/acme/outbox"},
	"POST /ap/users/:name/inbox":                        {path: "/ap/users/acme/inbox", body: "{}"},
	"GET /ap/projects/:owner/:project":                  {path: "/ap/projects/{p}"},
	"GET /ap/projects/:owner/:project/:collection":      {path: "/ap/projects/{p}/outbox"},
	"GET /ap/projects/:owner/:project/versions/:commit": {path: "/ap/projects/{p}/versions/{commit}"},
	"POST /ap/projects/:owner/:project/inbox":           {path: "/ap/projects/{p}/inbox", body: "{}"},
	"GET /settings/following":                           {path: "/settings/following", need: needSignedIn},
	"POST /settings/following":                          {path: "/settings/following", need: needSignedIn, body: "address="},
	"POST /settings/following/:id/unfollow":             {path: "/settings/following/999999/unfollow", need: needSignedIn},
	"GET /new/mirror":                                   {path: "/new/mirror", need: needSignedIn},
	"POST /new/mirror":                                  {path: "/new/mirror", need: needSignedIn, body: "url=ftp://x&owner=acme&name=x"},
	"POST /:owner/:project/mirror/refresh":              {path: "/{p}/mirror/refresh", need: needWrite, ok: []int{404}}, // not a mirror, once the policy lets them through
	"GET /admin/network":                                {path: "/admin/network", need: needSignedIn},
	"POST /admin/network/blocks":                        {path: "/admin/network/blocks", need: needSignedIn, body: "target="},
	"POST /admin/network/peers":                         {path: "/admin/network/peers", need: needSignedIn, body: "add=ftp://x"},
}

// role is one kind of viewer of the private project.
type role struct {
	name    string
	can     need // the most it may do to the project (needNothing: not even see it)
	user    string
	token   string
	session string
	csrf    string
}

// TestLeakMatrix drives every route of the real server, wired as serve
// wires it, as each kind of viewer of a private project owned by an
// organisation, and checks each answer: viewers who may not see the
// project get exactly what a project that does not exist gets, and no
// answer to them holds the project's name, a file or part name, a commit
// message or a preview; viewers who may see it but not do the route's
// action get 403; the others get through.
func TestLeakMatrix(t *testing.T) {
	testenv.RequireTool(t, "git")
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, filepath.Join(dir, "blueprints.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// Sign-in with an OpenID Connect provider is on, so its routes are
	// in the router too.
	idp := oidctest.Start(t)
	w, err := wire(ctx, st, serveConfig{Data: dir, Repos: filepath.Join(dir, "repos"), Storage: "fs", Addr: "127.0.0.1:0", ShutdownTimeout: 10 * time.Second,
		Node: "leaktest", Lease: time.Minute, Registration: "open", Executable: testenv.Binary(t), Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		OIDC:    oidcConfig{Issuer: idp.URL, ClientID: idp.ClientID, ClientSecret: idp.ClientSecret},
		Network: &networkConfig{SearchDeadline: 800 * time.Millisecond, MirrorInterval: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := w.srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer w.srv.Shutdown(context.Background())
	base := "http://" + w.srv.Addr().String()
	w.cat.Catalog.SetBaseURL(base)

	roles := []*role{
		{name: "anonymous"},
		{name: "stranger", user: "sam"},
		{name: "read collaborator", user: "rita", can: needRead},
		{name: "write collaborator", user: "walt", can: needWrite},
		{name: "organisation owner", user: "olivia", can: needManage},
		{name: "organisation member", user: "mia", can: needWrite},
		{name: "administrator", user: "ada", can: needManage},
	}
	ids := map[string]int64{}
	for _, r := range roles {
		if r.user == "" {
			continue
		}
		u, err := st.CreateAccount(ctx, store.NewAccount{Name: r.user, Admin: r.user == "ada"})
		if err != nil {
			t.Fatal(err)
		}
		ids[r.user] = u.ID
		if _, r.token, err = st.CreateToken(ctx, r.user); err != nil {
			t.Fatal(err)
		}
		if _, r.session, err = st.CreateSession(ctx, store.NewSession{UserID: u.ID, Method: "password", TTL: time.Hour}); err != nil {
			t.Fatal(err)
		}
	}
	org, err := st.CreateOrg(ctx, "acme", ids["olivia"])
	if err != nil {
		t.Fatal(err)
	}
	st.SetOrgMember(ctx, org.ID, ids["mia"], store.RoleMember)

	// The private project: a part, a README and a commit message, pushed
	// by the organisation's owner.
	work := t.TempDir()
	testenv.Git(t, work, "init", "-q", "-b", "main")
	os.MkdirAll(filepath.Join(work, "parts"), 0o755)
	stl, err := os.ReadFile(filepath.Join(testenv.ModuleRoot(t), "testdata/corpus/prusa3d__Original-Prusa-i3/Printed-Parts/STL/plug-aligner.stl"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(work, "parts", "hidden_gearbox_mount.stl"), stl, 0o644)
	os.WriteFile(filepath.Join(work, "README.md"), []byte("# Rover of secrets\n\nNothing to see.\n\n![gearbox](docs/hidden_gearbox.svg)\n"), 0o644)
	os.MkdirAll(filepath.Join(work, "docs"), 0o755)
	os.WriteFile(filepath.Join(work, "docs", "hidden_gearbox.svg"), []byte(`<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><title>hidden gearbox</title><rect width="10" height="10"/></svg>`), 0o644)
	testenv.Git(t, work, "add", "-A")
	testenv.Git(t, work, "commit", "-q", "-m", "Add the hidden gearbox")
	olivia := roles[4]
	remote := (&url.URL{Scheme: "http", Host: w.srv.Addr().String(), Path: "/" + privateProject + ".git", User: url.UserPassword("olivia", olivia.token)}).String()
	testenv.Git(t, work, "push", "-q", "-o", "visibility=private", remote, "main")
	commit := strings.TrimSpace(testenv.Git(t, work, "rev-parse", "HEAD"))
	p, err := st.ProjectByName(ctx, "acme", "secret-rover")
	if err != nil || !p.Private() {
		t.Fatalf("private project: %+v %v", p, err)
	}
	st.SetCollaborator(ctx, p.ID, ids["rita"], store.PermRead)
	st.SetCollaborator(ctx, p.ID, ids["walt"], store.PermWrite)
	var preview string
	deadline := time.Now().Add(2 * time.Minute)
	for preview == "" {
		parts, _ := st.ProjectParts(ctx, privateProject)
		if len(parts) == 1 && parts[0].Preview != "" {
			preview = strings.Split(parts[0].Preview, "/")[1]
		}
		if time.Now().After(deadline) {
			t.Fatal("the private project was not catalogued")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if ps, err := st.PreviewProjects(ctx, "previews/"+preview+"/512.png", 10); err != nil || len(ps) != 1 {
		parts, _ := st.ProjectParts(ctx, privateProject)
		t.Fatalf("projects of the preview: %v %v (parts %+v)", ps, err, parts)
	}
	// The preview is stored once it is drawn.
	for {
		req, _ := http.NewRequest("HEAD", base+"/previews/"+preview+"/512.png", nil)
		req.AddCookie(&http.Cookie{Name: "bp_session", Value: roles[6].session})
		res, err := http.DefaultClient.Do(req)
		if err == nil && res.StatusCode == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the preview of the private part is not served to an administrator: %v %v", err, res)
		}
		time.Sleep(100 * time.Millisecond)
	}
	secretsNow := append(append([]string{}, secrets...), preview)

	// An LFS object and a lock in the project.
	lfsData := []byte("solid secret\nendsolid secret\n")
	sum := sha256.Sum256(lfsData)
	oid := hex.EncodeToString(sum[:])
	req, _ := http.NewRequest("PUT", base+"/"+privateProject+".git/info/lfs/objects/"+oid, bytes.NewReader(lfsData))
	req.SetBasicAuth("olivia", olivia.token)
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != 200 {
		t.Fatalf("LFS upload: %v %v", err, res)
	}
	lock, err := st.CreateLFSLock(ctx, p.ID, "parts/locked.stl", ids["ada"])
	if err != nil {
		t.Fatal(err)
	}

	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	csrfOf := regexp.MustCompile(`name="_csrf" value="([^"]+)"`)
	for _, r := range roles {
		if r.session == "" {
			continue
		}
		req, _ := http.NewRequest("GET", base+"/settings", nil)
		req.AddCookie(&http.Cookie{Name: "bp_session", Value: r.session})
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		m := csrfOf.FindSubmatch(body)
		if m == nil {
			t.Fatalf("%s: no CSRF token on /settings (%d)", r.name, res.StatusCode)
		}
		r.csrf = string(m[1])
	}

	fill := func(s, project string) string {
		return strings.NewReplacer("{p}", project, "{preview}", preview, "{commit}", commit, "{oid}", oid,
			"{size}", itoa(len(lfsData)), "{lock}", itoa(int(lock.ID)), "{lfs}", string(lfsData)).Replace(s)
	}
	var lastHeader http.Header // of the latest answer send got
	send := func(r *role, method, path, body string, csrf bool) (int, string) {
		var rd io.Reader
		if body != "" {
			rd = strings.NewReader(body)
		}
		req, _ := http.NewRequest(method, base+path, rd)
		switch {
		case strings.Contains(path, ".git/"):
			if r.token != "" {
				req.SetBasicAuth(r.user, r.token)
			}
			if strings.Contains(path, "/info/lfs/") {
				req.Header.Set("Accept", "application/vnd.git-lfs+json")
				req.Header.Set("Content-Type", "application/vnd.git-lfs+json")
			}
		case strings.HasPrefix(path, "/api/"):
			if r.token != "" {
				req.Header.Set("Authorization", "Bearer "+r.token)
			}
		default:
			if r.session != "" {
				req.AddCookie(&http.Cookie{Name: "bp_session", Value: r.session})
			}
			if method == "POST" {
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				if csrf && r.csrf != "" {
					req.Header.Set("X-CSRF-Token", r.csrf)
				}
			}
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer res.Body.Close()
		data, _ := io.ReadAll(res.Body)
		lastHeader = res.Header
		return res.StatusCode, string(data)
	}

	routes := w.srv.Echo.Routes()
	// Signing out ends the roles' sessions: last.
	last := func(i int) bool { return routes[i].Path == "/logout" }
	sort.Slice(routes, func(i, j int) bool {
		if last(i) != last(j) {
			return last(j)
		}
		return routes[i].Path+routes[i].Method < routes[j].Path+routes[j].Method
	})
	seen := map[string]bool{}
	for _, rt := range routes {
		key := rt.Method + " " + rt.Path
		if seen[key] {
			continue
		}
		seen[key] = true
		rc, ok := routeCases[key]
		if !ok {
			t.Errorf("route %s is not in the leak matrix: add it to routeCases in cmd/blueprints/leak_test.go", key)
			continue
		}
		path, missingPath := fill(rc.path, privateProject), fill(rc.path, "acme/nothing-here")
		body := fill(rc.body, privateProject)
		for _, r := range roles {
			code, got := send(r, rt.Method, path, body, true)
			mayRead := r.can >= needRead
			if !mayRead {
				// What the request itself names (the project, a path) may
				// be echoed, as for a missing project (checked below); the
				// rest must never appear.
				for _, s := range secretsNow {
					if strings.Contains(got, s) && !strings.Contains(path+body, s) && !strings.Contains(path, strings.ReplaceAll(s, " ", "+")) {
						t.Errorf("%s %s as %s: the answer holds %q", rt.Method, path, r.name, s)
					}
				}
			}
			switch {
			case rc.need == needNothing || rc.need == needSignedIn:
				// Checked for secrets above.
			case !mayRead && rc.path == "/previews/{preview}/512.png":
				if code != 404 {
					t.Errorf("%s %s as %s: %d, want 404", rt.Method, path, r.name, code)
				}
			case !mayRead:
				// Exactly what a project that does not exist gets.
				mcode, mbody := send(r, rt.Method, missingPath, fill(rc.body, "acme/nothing-here"), true)
				if code != mcode || strings.ReplaceAll(mbody, "nothing-here", "secret-rover") != got {
					t.Errorf("%s %s as %s: %d, but a missing project gets %d:\n%.300s\n---\n%.300s", rt.Method, path, r.name, code, mcode, got, mbody)
				}
			case r.can < rc.need:
				if code != 403 {
					t.Errorf("%s %s as %s: %d, want 403 (may see, may not %v)", rt.Method, path, r.name, code, rc.need)
				}
			default:
				if rc.ok != nil && !containsInt(rc.ok, code) || rc.ok == nil && (code == 401 || code == 403 || code == 404) {
					t.Errorf("%s %s as %s: %d, want the policy to let them through (%v)\n%s", rt.Method, path, r.name, code, rc.ok, between(got, "<main", "</main>"))
				}
				// Every answer about the private project (files, pages,
				// previews, redirects, API) is kept by no shared cache.
				// LFS requests carry Authorization, whose answers shared
				// caches keep only when told public, must-revalidate or
				// s-maxage (RFC 9111 3.5); LFS says none of these.
				if cc := lastHeader.Get("Cache-Control"); code < 400 && !strings.Contains(path, "/info/lfs/") && !strings.Contains(cc, "private") && !strings.Contains(cc, "no-store") {
					t.Errorf("%s %s as %s: Cache-Control %q, want private", rt.Method, path, r.name, cc)
				}
			}
		}
		// Forms of the pages need a CSRF token.
		if rt.Method == "POST" && !strings.Contains(path, ".git/") && !strings.HasPrefix(path, "/api/") && !strings.HasPrefix(path, "/ap/") {
			for _, r := range roles {
				if code, _ := send(r, "POST", path, body, false); code != 403 {
					t.Errorf("POST %s as %s without a CSRF token: %d, want 403", path, r.name, code)
				}
			}
		}
	}
	// Search finds the part only for those who may read the project, and
	// counts it nowhere else: totals and facets.
	for _, r := range roles {
		for _, q := range []string{"hidden+gearbox", "gearbox", "mount", ""} {
			code, got := send(r, "GET", "/api/v1/search?q="+q, "", false)
			if code != 200 {
				t.Fatalf("search %s as %s: %d", q, r.name, code)
			}
			found := strings.Contains(got, "hidden_gearbox_mount")
			if found != (r.can >= needRead) && q != "" {
				t.Errorf("search %q as %s: found = %v", q, r.name, found)
			}
		}
	}
	for k := range routeCases {
		if !seen[k] {
			t.Errorf("routeCases names %s, which the router does not have", k)
		}
	}
}

func containsInt(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func itoa(n int) string { return strings.TrimSpace(strings.Repeat(" ", 0) + fmtInt(n)) }

func fmtInt(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for n > 0 {
		b = append([]byte{byte('0' + n%10)}, b...)
		n /= 10
	}
	return string(b)
}

// between is the part of s from start to end (all of s when absent), to
// show what a page said.
func between(s, start, end string) string {
	i := strings.Index(s, start)
	j := strings.Index(s, end)
	if i < 0 || j < i {
		if len(s) > 400 {
			return s[:400]
		}
		return s
	}
	return s[i:j]
}
