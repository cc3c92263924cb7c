package lfs

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/internal/testenv"
	"github.com/blueprints-hq/blueprints/repo"
	"github.com/blueprints-hq/blueprints/storage"
)

// apiEnv is an LFS server in this process, on a loopback port, with real
// store, repo server and blob storage.
type apiEnv struct {
	t      *testing.T
	url    string
	store  *store.Store
	blobs  storage.Blobs
	tokens map[string]string
}

func newAPIEnv(t *testing.T, blobs storage.Blobs, presign bool) *apiEnv {
	t.Helper()
	testenv.RequireTool(t, "git")
	ctx := context.Background()
	data := t.TempDir()
	st, err := store.Open(ctx, filepath.Join(data, "blueprints.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	repos, err := repo.New(repo.Config{Data: data, Store: st, Executable: "/bin/false"})
	if err != nil {
		t.Fatal(err)
	}
	if blobs == nil {
		fsb, err := storage.NewFS(filepath.Join(data, "blobs"))
		if err != nil {
			t.Fatal(err)
		}
		blobs = fsb
	}
	srv, err := New(Config{Store: st, Blobs: blobs, Repos: repos, Presign: presign})
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	srv.Register(e)
	hs := httptest.NewServer(e)
	t.Cleanup(hs.Close)
	env := &apiEnv{t: t, url: hs.URL, store: st, blobs: blobs, tokens: map[string]string{}}
	for _, u := range []string{"alice", "bob"} {
		if _, err := st.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		_, secret, err := st.CreateToken(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		env.tokens[u] = secret
	}
	for _, p := range []string{"alice/cart", "bob/plough"} {
		owner, name, _ := strings.Cut(p, "/")
		if _, err := st.CreateProject(ctx, owner, name); err != nil {
			t.Fatal(err)
		}
	}
	return env
}

type reply struct {
	code   int
	header http.Header
	body   []byte
}

func (r reply) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// do sends a request as user ("" for anonymous).
func (e *apiEnv) do(method, path, user string, body io.Reader, header ...string) reply {
	e.t.Helper()
	u := path
	if !strings.HasPrefix(path, "http") {
		u = e.url + path
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Accept", MediaType)
	if user != "" {
		req.SetBasicAuth(user, e.tokens[user])
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return reply{res.StatusCode, res.Header, b}
}

func (e *apiEnv) batch(project, user, op string, objs ...batchObject) (reply, batchResponse) {
	e.t.Helper()
	b, _ := json.Marshal(batchRequest{Operation: op, Transfers: []string{"basic"}, Objects: objs})
	r := e.do("POST", "/"+project+".git/info/lfs/objects/batch", user, bytes.NewReader(b), "Content-Type", MediaType)
	var resp batchResponse
	if r.code == 200 {
		r.json(e.t, &resp)
		if ct := r.header.Get("Content-Type"); ct != MediaType {
			e.t.Fatalf("batch content type %q", ct)
		}
	}
	return r, resp
}

// transfer follows an action: PUT or GET its href with its headers.
func (e *apiEnv) transfer(method string, a *action, body []byte) reply {
	e.t.Helper()
	var h []string
	for k, v := range a.Header {
		h = append(h, k, v)
	}
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	return e.do(method, a.Href, "", r, h...)
}

func object(data []byte) batchObject {
	sum := sha256.Sum256(data)
	return batchObject{OID: hex.EncodeToString(sum[:]), Size: int64(len(data))}
}

// stored reports whether the blob store holds oid, failing on other errors.
func (e *apiEnv) stored(oid string) bool {
	e.t.Helper()
	_, err := e.blobs.Stat(context.Background(), BlobKey(oid))
	if errors.Is(err, storage.ErrNotExist) {
		return false
	}
	if err != nil {
		e.t.Fatalf("stat %s: %v", oid, err)
	}
	return true
}

func (e *apiEnv) projectID(full string) int64 {
	owner, name, _ := strings.Cut(full, "/")
	p, err := e.store.ProjectByName(context.Background(), owner, name)
	if err != nil {
		e.t.Fatal(err)
	}
	return p.ID
}

// upload runs the batch + PUT + verify cycle for data and fails on error.
func (e *apiEnv) upload(project, user string, data []byte) batchObject {
	e.t.Helper()
	o := object(data)
	r, resp := e.batch(project, user, "upload", o)
	if r.code != 200 || len(resp.Objects) != 1 {
		e.t.Fatalf("upload batch: %d %s", r.code, r.body)
	}
	a := resp.Objects[0].Actions
	if a == nil {
		return o // already there
	}
	if r := e.transfer("PUT", a["upload"], data); r.code != 200 {
		e.t.Fatalf("PUT: %d %s", r.code, r.body)
	}
	vb, _ := json.Marshal(o)
	if r := e.transfer("POST", a["verify"], vb); r.code != 200 {
		e.t.Fatalf("verify: %d %s", r.code, r.body)
	}
	return o
}

func TestBatchUploadDownload(t *testing.T) {
	e := newAPIEnv(t, nil, false)
	data := bytes.Repeat([]byte("solid axle\n"), 1000)
	o := e.upload("alice/cart", "alice", data)
	if !e.stored(o.OID) {
		t.Fatal("object not in blob storage after upload")
	}
	// Uploading again: no actions, the server has it.
	_, resp := e.batch("alice/cart", "alice", "upload", o)
	if resp.Objects[0].Actions != nil || resp.Objects[0].Error != nil {
		t.Fatalf("second upload batch: %+v", resp.Objects[0])
	}
	// Anonymous download of a public project, by the href the batch gave,
	// which must be on the address the client used.
	r, resp := e.batch("alice/cart", "", "download", o)
	if r.code != 200 {
		t.Fatalf("download batch: %d %s", r.code, r.body)
	}
	dl := resp.Objects[0].Actions["download"]
	if dl == nil || !strings.HasPrefix(dl.Href, e.url+"/alice/cart.git/info/lfs/objects/") {
		t.Fatalf("download action %+v", resp.Objects[0])
	}
	got := e.transfer("GET", dl, nil)
	if got.code != 200 || !bytes.Equal(got.body, data) || got.header.Get("Content-Length") != fmt.Sprint(len(data)) {
		t.Fatalf("GET: %d, %d bytes, Content-Length %q", got.code, len(got.body), got.header.Get("Content-Length"))
	}
	if got.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatal("download without X-Content-Type-Options: nosniff")
	}
	// Ranges, as git-lfs uses to resume.
	part := e.do("GET", dl.Href, "", nil, "Range", "bytes=100-")
	if part.code != 206 || !bytes.Equal(part.body, data[100:]) || part.header.Get("Content-Range") != fmt.Sprintf("bytes 100-%d/%d", len(data)-1, len(data)) {
		t.Fatalf("range: %d %q, %d bytes", part.code, part.header.Get("Content-Range"), len(part.body))
	}
	part = e.do("GET", dl.Href, "", nil, "Range", "bytes=-5")
	if part.code != 206 || !bytes.Equal(part.body, data[len(data)-5:]) {
		t.Fatalf("suffix range: %d %q", part.code, part.body)
	}
	if r := e.do("GET", dl.Href, "", nil, "Range", fmt.Sprintf("bytes=%d-", len(data))); r.code != 416 {
		t.Fatalf("range past the end: %d", r.code)
	}
	// Without the .git suffix too.
	if r, _ := e.batch("alice/cart.git"[:len("alice/cart")], "", "download", o); r.code != 200 {
		t.Fatalf("batch without .git: %d", r.code)
	}
	r = e.do("POST", "/alice/cart/info/lfs/objects/batch", "", strings.NewReader(`{"operation":"download","objects":[]}`))
	if r.code != 200 {
		t.Fatalf("batch at /alice/cart: %d %s", r.code, r.body)
	}
}

func TestBatchNeverRevealsOtherProjectsObjects(t *testing.T) {
	e := newAPIEnv(t, nil, false)
	secret := []byte("alice's secret bracket design\n")
	o := e.upload("alice/cart", "alice", secret)

	// Bob's project does not have it: a 404 for that object.
	_, resp := e.batch("bob/plough", "bob", "download", o)
	if resp.Objects[0].Error == nil || resp.Objects[0].Error.Code != 404 || resp.Objects[0].Actions != nil {
		t.Fatalf("bob's download batch: %+v", resp.Objects[0])
	}
	if r := e.do("GET", "/bob/plough.git/info/lfs/objects/"+o.OID, "bob", nil); r.code != 404 || bytes.Contains(r.body, secret) {
		t.Fatalf("bob's GET: %d %s", r.code, r.body)
	}
	// An upload batch asks bob for the bytes although they are stored.
	_, resp = e.batch("bob/plough", "bob", "upload", o)
	up := resp.Objects[0].Actions["upload"]
	if up == nil {
		t.Fatalf("bob's upload batch offers no upload: %+v", resp.Objects[0])
	}
	// Wrong bytes under alice's OID: refused, and alice's copy stays.
	forged := bytes.Repeat([]byte("x"), len(secret))
	if r := e.transfer("PUT", up, forged); r.code != 422 {
		t.Fatalf("forged PUT: %d %s", r.code, r.body)
	}
	if _, err := e.store.LFSObject(context.Background(), e.projectID("bob/plough"), o.OID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("forged upload granted ownership: %v", err)
	}
	rc, _, err := e.blobs.Get(context.Background(), BlobKey(o.OID))
	if err != nil {
		t.Fatal(err)
	}
	kept, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(kept, secret) {
		t.Fatal("a forged upload overwrote the stored object")
	}
	// The real bytes: bob proves he has them and now owns the object.
	if r := e.transfer("PUT", up, secret); r.code != 200 {
		t.Fatalf("real PUT: %d %s", r.code, r.body)
	}
	_, resp = e.batch("bob/plough", "bob", "download", o)
	if resp.Objects[0].Actions["download"] == nil {
		t.Fatalf("bob's download after his upload: %+v", resp.Objects[0])
	}
}

func TestBadInput(t *testing.T) {
	e := newAPIEnv(t, nil, false)
	post := func(user, body string) reply {
		return e.do("POST", "/alice/cart.git/info/lfs/objects/batch", user, strings.NewReader(body), "Content-Type", MediaType)
	}
	var msg apiError
	for name, body := range map[string]string{
		"malformed JSON": `{"operation": "upload", "objects": [`,
		"not an object":  `[1, 2, 3]`,
		"wrong types":    `{"operation": "upload", "objects": [{"oid": 5, "size": "x"}]}`,
		"empty":          ``,
	} {
		r := post("alice", body)
		if r.code != 400 || r.header.Get("Content-Type") != MediaType {
			t.Errorf("%s: %d %q %s", name, r.code, r.header.Get("Content-Type"), r.body)
			continue
		}
		r.json(t, &msg)
		if msg.Message == "" {
			t.Errorf("%s: no message", name)
		}
	}
	if r := post("alice", `{"operation": "delete", "objects": []}`); r.code != 422 {
		t.Errorf("unknown operation: %d %s", r.code, r.body)
	}
	if r := post("alice", `{"operation": "upload", "transfers": ["tus"], "objects": []}`); r.code != 422 {
		t.Errorf("no basic transfer: %d %s", r.code, r.body)
	}
	if r := post("alice", `{"operation": "upload", "hash_algo": "sha512", "objects": []}`); r.code != 409 {
		t.Errorf("sha512: %d %s", r.code, r.body)
	}
	good := object([]byte("part"))
	_, resp := e.batch("alice/cart", "alice", "upload",
		batchObject{OID: "../../../../etc/passwd", Size: 4},
		batchObject{OID: strings.ToUpper(good.OID), Size: 4},
		batchObject{OID: good.OID[:63], Size: 4},
		batchObject{OID: good.OID, Size: -1},
		good)
	for i, o := range resp.Objects[:4] {
		if o.Error == nil || o.Error.Code != 422 || o.Actions != nil {
			t.Errorf("bad object %d: %+v", i, o)
		}
	}
	if resp.Objects[4].Error != nil || resp.Objects[4].Actions["upload"] == nil {
		t.Errorf("good object beside bad ones: %+v", resp.Objects[4])
	}
	for _, path := range []string{"/alice/cart.git/info/lfs/objects/xyz", "/alice/cart.git/info/lfs/objects/" + strings.ToUpper(good.OID)} {
		if r := e.do("PUT", path, "alice", strings.NewReader("part")); r.code != 422 {
			t.Errorf("PUT %s: %d", path, r.code)
		}
		if r := e.do("GET", path, "alice", nil); r.code != 422 {
			t.Errorf("GET %s: %d", path, r.code)
		}
	}
	if r := e.do("POST", "/alice/cart.git/info/lfs/verify", "alice", strings.NewReader(`{"oid":"abc","size":1}`)); r.code != 422 {
		t.Errorf("verify bad oid: %d", r.code)
	}
	// Missing projects and names that are not names. An anonymous
	// client is challenged, as for a private project (git-lfs sends
	// credentials only after a challenge), so neither says which it is.
	if r, _ := e.batch("alice/nothing", "", "download", good); r.code != 401 {
		t.Errorf("missing project, anonymous: %d, want 401", r.code)
	}
	if r, _ := e.batch("alice/nothing", "alice", "download", good); r.code != 404 {
		t.Errorf("missing project, signed in: %d, want 404", r.code)
	}
	if r := e.do("POST", "/..%2f..%2fetc/cart.git/info/lfs/objects/batch", "", strings.NewReader(`{"operation":"download","objects":[]}`)); r.code != 404 {
		t.Errorf("bad owner: %d", r.code)
	}
}

func TestAuthorization(t *testing.T) {
	e := newAPIEnv(t, nil, false)
	o := object([]byte("wheel"))
	r, _ := e.batch("alice/cart", "", "upload", o)
	if r.code != 401 || !strings.HasPrefix(r.header.Get("LFS-Authenticate"), "Basic") {
		t.Fatalf("anonymous upload: %d, LFS-Authenticate %q", r.code, r.header.Get("LFS-Authenticate"))
	}
	if r, _ := e.batch("alice/cart", "bob", "upload", o); r.code != 403 {
		t.Fatalf("bob uploads to alice: %d", r.code)
	}
	e.tokens["mallory"] = "bp_nottoken"
	if r, _ := e.batch("alice/cart", "mallory", "download", o); r.code != 401 {
		t.Fatalf("bad token: %d", r.code)
	}
	if r := e.do("PUT", "/alice/cart.git/info/lfs/objects/"+o.OID, "", strings.NewReader("wheel")); r.code != 401 {
		t.Fatalf("anonymous PUT: %d", r.code)
	}
	if r := e.do("PUT", "/alice/cart.git/info/lfs/objects/"+o.OID, "bob", strings.NewReader("wheel")); r.code != 403 {
		t.Fatalf("bob's PUT into alice's project: %d", r.code)
	}
	if e.stored(o.OID) {
		t.Fatal("a refused PUT stored the object")
	}
	// Bob may not create a project in alice's name by uploading.
	if r, _ := e.batch("alice/newthing", "bob", "upload", o); r.code != 404 && r.code != 403 {
		t.Fatalf("bob uploads to alice/newthing: %d", r.code)
	}
}

func TestUploadBeforeProjectExists(t *testing.T) {
	e := newAPIEnv(t, nil, false)
	data := []byte("solid hitch\nendsolid hitch\n")
	o := e.upload("alice/wagon", "alice", data)
	if !e.stored(o.OID) {
		t.Fatal("pending upload not stored")
	}
	if r, _ := e.batch("alice/wagon", "", "download", o); r.code != 401 {
		t.Fatalf("anonymous download from a project that does not exist: %d, want 401", r.code)
	}
	if r, _ := e.batch("alice/wagon", "bob", "download", o); r.code != 404 {
		t.Fatalf("download from a project that does not exist: %d, want 404", r.code)
	}
	// The git push creates the project; the next batch adopts the object.
	p, err := e.store.CreateProject(context.Background(), "alice", "wagon")
	if err != nil {
		t.Fatal(err)
	}
	_, resp := e.batch("alice/wagon", "", "download", o)
	if resp.Objects[0].Actions["download"] == nil {
		t.Fatalf("download after creation: %+v", resp.Objects[0])
	}
	if _, err := e.store.LFSObject(context.Background(), p.ID, o.OID); err != nil {
		t.Fatal(err)
	}
}

func TestUploadMismatch(t *testing.T) {
	e := newAPIEnv(t, nil, false)
	testUploadMismatch(t, e)
}

// testUploadMismatch sends uploads that do not match their OID and checks
// that nothing is stored or owned.
func testUploadMismatch(t *testing.T, e *apiEnv) {
	data := bytes.Repeat([]byte("0123456789"), 300_000) // 3 MB
	o := object(data)
	_, resp := e.batch("alice/cart", "alice", "upload", o)
	up := resp.Objects[0].Actions["upload"]
	if up == nil {
		t.Fatalf("no upload action: %+v", resp)
	}
	bad := bytes.Clone(data)
	bad[len(bad)-1] ^= 1
	if r := e.transfer("PUT", up, bad); r.code != 422 {
		t.Fatalf("wrong bytes: %d %s", r.code, r.body)
	}
	if r := e.transfer("PUT", up, data[:len(data)-1]); r.code != 422 {
		t.Fatalf("short body: %d %s", r.code, r.body)
	}
	if r := e.transfer("PUT", up, append(bytes.Clone(data), '!')); r.code != 422 {
		t.Fatalf("long body: %d %s", r.code, r.body)
	}
	// Chunked, so the server does not know the size in advance.
	req, _ := http.NewRequest("PUT", up.Href, io.MultiReader(bytes.NewReader(bad)))
	req.ContentLength = -1
	for k, v := range up.Header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 422 {
		t.Fatalf("chunked wrong bytes: %d", res.StatusCode)
	}
	// Truncated: Content-Length promises more than arrives.
	truncatedPut(t, up, data, len(data)/2)

	if e.stored(o.OID) {
		t.Fatal("a bad upload left the object in storage")
	}
	if _, err := e.store.LFSObject(context.Background(), e.projectID("alice/cart"), o.OID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a bad upload granted ownership: %v", err)
	}
	vb, _ := json.Marshal(o)
	if r := e.transfer("POST", resp.Objects[0].Actions["verify"], vb); r.code != 404 {
		t.Fatalf("verify after bad uploads: %d", r.code)
	}
	// And the real thing still works.
	if r := e.transfer("PUT", up, data); r.code != 200 {
		t.Fatalf("good PUT: %d %s", r.code, r.body)
	}
	if !e.stored(o.OID) {
		t.Fatal("good upload not stored")
	}
}

// truncatedPut sends a PUT whose Content-Length is the full size but stops
// after n bytes and closes its side.
func truncatedPut(t *testing.T, a *action, data []byte, n int) {
	t.Helper()
	u, err := url.Parse(a.Href)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "PUT %s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n", u.RequestURI(), u.Host, len(data))
	for k, v := range a.Header {
		fmt.Fprintf(conn, "%s: %s\r\n", k, v)
	}
	fmt.Fprintf(conn, "\r\n")
	conn.Write(data[:n])
	conn.(*net.TCPConn).CloseWrite()
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	// Whatever the server answers (if anything), it must finish.
	line, _ := bufio.NewReader(conn).ReadString('\n')
	if strings.Contains(line, " 200 ") {
		t.Fatalf("truncated upload answered %q", line)
	}
}

func TestLocks(t *testing.T) {
	e := newAPIEnv(t, nil, false)
	ctx := context.Background()
	locks := "/alice/cart.git/info/lfs/locks"
	create := func(user, path string) reply {
		return e.do("POST", locks, user, strings.NewReader(`{"path":"`+path+`","ref":{"name":"refs/heads/main"}}`), "Content-Type", MediaType)
	}
	r := create("alice", "parts/axle.stl")
	var lr lockResponse
	r.json(t, &lr)
	if r.code != 201 || lr.Lock == nil || lr.Lock.Owner.Name != "alice" || lr.Lock.Path != "parts/axle.stl" {
		t.Fatalf("create: %d %s", r.code, r.body)
	}
	if _, err := time.Parse(time.RFC3339, lr.Lock.LockedAt); err != nil {
		t.Fatalf("locked_at %q: %v", lr.Lock.LockedAt, err)
	}
	id := lr.Lock.ID
	if r := create("alice", "parts/axle.stl"); r.code != 409 || !bytes.Contains(r.body, []byte(`"id":"`+id+`"`)) {
		t.Fatalf("second lock: %d %s", r.code, r.body)
	}
	if r := create("bob", "parts/wheel.stl"); r.code != 403 {
		t.Fatalf("bob locks in alice's project: %d", r.code)
	}
	if r := create("", "parts/wheel.stl"); r.code != 401 {
		t.Fatalf("anonymous lock: %d", r.code)
	}
	if r := create("alice", ""); r.code != 422 {
		t.Fatalf("empty path: %d", r.code)
	}
	// A lock held by someone else (a collaborator, were there any).
	bob, _ := e.store.UserByName(ctx, "bob")
	other, err := e.store.CreateLFSLock(ctx, e.projectID("alice/cart"), "parts/wheel.stl", bob.ID)
	if err != nil {
		t.Fatal(err)
	}
	otherID := fmt.Sprint(other.ID)

	var list listLocksResponse
	r = e.do("GET", locks, "", nil)
	r.json(t, &list)
	if r.code != 200 || len(list.Locks) != 2 {
		t.Fatalf("list: %d %s", r.code, r.body)
	}
	r = e.do("GET", locks+"?path=parts/wheel.stl", "bob", nil)
	list = listLocksResponse{}
	r.json(t, &list)
	if len(list.Locks) != 1 || list.Locks[0].ID != otherID {
		t.Fatalf("list by path: %s", r.body)
	}
	r = e.do("GET", locks+"?limit=1", "", nil)
	list = listLocksResponse{}
	r.json(t, &list)
	if len(list.Locks) != 1 || list.NextCursor == "" {
		t.Fatalf("page 1: %s", r.body)
	}
	r = e.do("GET", locks+"?limit=1&cursor="+list.NextCursor, "", nil)
	list = listLocksResponse{}
	r.json(t, &list)
	if len(list.Locks) != 1 || list.Locks[0].ID != otherID || list.NextCursor != "" {
		t.Fatalf("page 2: %s", r.body)
	}

	var v verifyLocksResponse
	r = e.do("POST", locks+"/verify", "alice", strings.NewReader(`{"ref":{"name":"refs/heads/main"}}`))
	r.json(t, &v)
	if r.code != 200 || len(v.Ours) != 1 || v.Ours[0].ID != id || len(v.Theirs) != 1 || v.Theirs[0].ID != otherID {
		t.Fatalf("verify: %d %s", r.code, r.body)
	}
	if r := e.do("POST", locks+"/verify", "bob", strings.NewReader(`{}`)); r.code != 403 {
		t.Fatalf("bob verifies in alice's project: %d", r.code)
	}
	if r := e.do("POST", "/alice/newproj.git/info/lfs/locks/verify", "alice", strings.NewReader(`{}`)); r.code != 200 {
		t.Fatalf("verify before push-to-create: %d %s", r.code, r.body)
	}

	// Bob cannot unlock anything in alice's project, force or not.
	if r := e.do("POST", locks+"/"+id+"/unlock", "bob", strings.NewReader(`{"force":true}`)); r.code != 403 {
		t.Fatalf("bob force-unlocks: %d", r.code)
	}
	// Alice cannot unlock bob's lock without force.
	if r := e.do("POST", locks+"/"+otherID+"/unlock", "alice", strings.NewReader(`{}`)); r.code != 403 || !bytes.Contains(r.body, []byte("bob")) {
		t.Fatalf("unlock someone else's lock: %d %s", r.code, r.body)
	}
	if r := e.do("POST", locks+"/"+otherID+"/unlock", "alice", strings.NewReader(`{"force":true}`)); r.code != 200 {
		t.Fatalf("force unlock: %d %s", r.code, r.body)
	}
	if r := e.do("POST", locks+"/"+id+"/unlock", "alice", strings.NewReader(`{"force":false}`)); r.code != 200 {
		t.Fatalf("unlock own: %d %s", r.code, r.body)
	}
	if r := e.do("POST", locks+"/"+id+"/unlock", "alice", strings.NewReader(`{}`)); r.code != 404 {
		t.Fatalf("unlock twice: %d", r.code)
	}
	if r := e.do("POST", "/bob/plough.git/info/lfs/locks/"+id+"/unlock", "bob", nil); r.code != 404 {
		t.Fatalf("unlock through another project: %d", r.code)
	}
	r = e.do("GET", locks, "", nil)
	list = listLocksResponse{}
	r.json(t, &list)
	if len(list.Locks) != 0 || !bytes.Contains(r.body, []byte(`"locks":[]`)) {
		t.Fatalf("locks left: %s", r.body)
	}
}

func TestOpenObject(t *testing.T) {
	e := newAPIEnv(t, nil, false)
	ctx := context.Background()
	data := []byte("solid bracket\nendsolid bracket\n")
	o := e.upload("alice/cart", "alice", data)
	p := Pointer{OID: o.OID, Size: o.Size}
	rc, info, err := OpenObject(ctx, e.store, e.blobs, e.projectID("alice/cart"), p)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, data) || info.Size != o.Size {
		t.Fatalf("OpenObject read %q", got)
	}
	if _, _, err := OpenObject(ctx, e.store, e.blobs, e.projectID("bob/plough"), p); !errors.Is(err, ErrNotOwned) || !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("other project: %v", err)
	}
	if _, _, err := OpenObject(ctx, e.store, e.blobs, e.projectID("alice/cart"), Pointer{OID: o.OID, Size: 1}); !errors.Is(err, ErrNotOwned) {
		t.Fatalf("wrong size: %v", err)
	}
}

// s3Blobs starts versitygw and opens an S3 store on it.
func s3Blobs(t *testing.T) (*testenv.S3, *storage.S3) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs versitygw; not in -short mode")
	}
	s3 := testenv.StartS3(t)
	b, err := storage.NewS3(context.Background(), s3.Bucket, "", storage.S3Options{
		Endpoint: s3.Endpoint, Region: s3.Region, AccessKey: s3.AccessKey, SecretKey: s3.SecretKey,
		MaxAttempts: 1, ConnectTimeout: time.Second, ResponseTimeout: 5 * time.Second,
		PartSize: 5 << 20,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s3, b
}

func TestS3UploadMismatch(t *testing.T) {
	s3, b := s3Blobs(t)
	e := newAPIEnv(t, b, false)
	testUploadMismatch(t, e)
	// A wrong multipart upload (bigger than one part) is aborted too.
	big := bytes.Repeat([]byte("abcdefgh"), 2<<20) // 16 MiB, 4 parts
	o := object(big)
	_, resp := e.batch("alice/cart", "alice", "upload", o)
	bad := bytes.Clone(big)
	bad[0] ^= 1
	if r := e.transfer("PUT", resp.Objects[0].Actions["upload"], bad); r.code != 422 {
		t.Fatalf("wrong multipart upload: %d %s", r.code, r.body)
	}
	if e.stored(o.OID) {
		t.Fatal("wrong multipart upload stored")
	}
	if ups := s3.Uploads(t, s3.Bucket); len(ups) != 0 {
		t.Fatalf("multipart uploads left behind: %v", ups)
	}
	for _, k := range s3.Keys(t, s3.Bucket) {
		if !strings.HasPrefix(k, "lfs/") {
			t.Fatalf("unexpected key %q", k)
		}
	}
	if r := e.transfer("PUT", resp.Objects[0].Actions["upload"], big); r.code != 200 {
		t.Fatalf("good multipart upload: %d %s", r.code, r.body)
	}
	if !e.stored(o.OID) {
		t.Fatal("good multipart upload not stored")
	}
}

func TestS3Down(t *testing.T) {
	s3, b := s3Blobs(t)
	e := newAPIEnv(t, b, false)
	kept := e.upload("alice/cart", "alice", []byte("stored before the outage"))
	data := bytes.Repeat([]byte("outage"), 1<<20)
	o := object(data)
	_, resp := e.batch("alice/cart", "alice", "upload", o)
	up := resp.Objects[0].Actions["upload"]

	s3.Stop(t)
	r := e.transfer("PUT", up, data)
	var msg apiError
	r.json(t, &msg)
	if r.code != 503 || !strings.Contains(msg.Message, "storage") {
		t.Fatalf("PUT with S3 down: %d %s", r.code, r.body)
	}
	r, _ = e.batch("alice/cart", "alice", "upload", kept)
	if r.code != 503 {
		t.Fatalf("upload batch with S3 down: %d %s", r.code, r.body)
	}
	_, resp = e.batch("alice/cart", "", "download", kept)
	if r := e.transfer("GET", resp.Objects[0].Actions["download"], nil); r.code != 503 {
		t.Fatalf("GET with S3 down: %d %s", r.code, r.body)
	}
	if _, err := e.store.LFSObject(context.Background(), e.projectID("alice/cart"), o.OID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("failed upload granted ownership: %v", err)
	}

	s3.Start(t)
	if e.stored(o.OID) {
		t.Fatal("upload during the outage left an object")
	}
	if ups := s3.Uploads(t, s3.Bucket); len(ups) != 0 {
		t.Fatalf("multipart uploads left behind: %v", ups)
	}
	if r := e.transfer("PUT", up, data); r.code != 200 {
		t.Fatalf("PUT after recovery: %d %s", r.code, r.body)
	}
	_, resp = e.batch("alice/cart", "", "download", o)
	if r := e.transfer("GET", resp.Objects[0].Actions["download"], nil); r.code != 200 || !bytes.Equal(r.body, data) {
		t.Fatalf("GET after recovery: %d", r.code)
	}
}

func TestS3Presign(t *testing.T) {
	_, b := s3Blobs(t)
	e := newAPIEnv(t, b, true)
	data := []byte("presigned part\n")
	o := e.upload("alice/cart", "alice", data)
	_, resp := e.batch("alice/cart", "alice", "download", o)
	dl := resp.Objects[0].Actions["download"]
	if dl == nil || strings.HasPrefix(dl.Href, e.url) || dl.Header != nil || dl.ExpiresIn <= 0 {
		t.Fatalf("presigned action: %+v", dl)
	}
	r := e.transfer("GET", dl, nil)
	if r.code != 200 || !bytes.Equal(r.body, data) {
		t.Fatalf("presigned GET: %d %s", r.code, r.body)
	}
	// Another project still gets nothing.
	_, resp = e.batch("bob/plough", "bob", "download", o)
	if resp.Objects[0].Actions != nil {
		t.Fatalf("bob got a presigned URL for alice's object: %+v", resp.Objects[0])
	}
}

func TestFSUploadLeavesNoTempFiles(t *testing.T) {
	e := newAPIEnv(t, nil, false)
	testUploadMismatch(t, e)
	dir := e.blobs.(*storage.FS).Dir()
	var files []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if len(files) != 1 || filepath.Base(files[0]) != object(bytes.Repeat([]byte("0123456789"), 300_000)).OID {
		t.Fatalf("files in the blob folder: %v", files)
	}
}
