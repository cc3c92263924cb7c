package testenv

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
	"time"
)

// WebClient is one person's HTTP client for a server's pages: it keeps
// cookies (a session once signed in) and does not follow redirects, so a
// test sees each answer as a browser would get it.
type WebClient struct {
	t    T
	Base string // the server's URL
	c    *http.Client
}

// NewWebClient returns a web client for the server at base.
func NewWebClient(t T, base string) *WebClient {
	jar, _ := cookiejar.New(nil)
	return &WebClient{t: t, Base: base, c: &http.Client{Jar: jar, Timeout: 60 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// Do sends method path (a site path) with the headers given and, when
// form is not nil, the form as the body; it returns the status, the body
// and the headers.
func (b *WebClient) Do(method, path string, header map[string]string, form url.Values) (int, string, http.Header) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.Base+path, body)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(data), res.Header
}

// HTTP is the client's own http.Client (its cookies; redirects not
// followed), for requests Do does not make: to another host, such as an
// OpenID Connect provider the browser is sent to.
func (b *WebClient) HTTP() *http.Client { return b.c }

// Cookies are the cookies the client keeps for u.
func (b *WebClient) Cookies(u *url.URL) []*http.Cookie { return b.c.Jar.Cookies(u) }

// CSRFField finds the CSRF token of a page's forms.
var CSRFField = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// CSRF loads path and returns the CSRF token of its first form.
func (b *WebClient) CSRF(path string) string {
	b.t.Helper()
	code, body, _ := b.Do("GET", path, nil, nil)
	m := CSRFField.FindStringSubmatch(body)
	if code != http.StatusOK || m == nil {
		b.t.Fatalf("GET %s: %d, no CSRF token", path, code)
	}
	return m[1]
}

// SignIn signs in with a password on /login.
func (b *WebClient) SignIn(name, password string) {
	b.t.Helper()
	code, body, _ := b.Do("POST", "/login", nil, url.Values{"_csrf": {b.CSRF("/login")}, "username": {name}, "password": {password}, "next": {"/"}})
	if code != http.StatusSeeOther {
		b.t.Fatalf("sign in as %s: %d\n%s", name, code, body)
	}
}

// Post sends a form from the page at from (with that page's CSRF token)
// to path.
func (b *WebClient) Post(from, path string, form url.Values) (int, string, http.Header) {
	b.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	form.Set("_csrf", b.CSRF(from))
	return b.Do("POST", path, nil, form)
}

// SetPassword gives an account of the server a web sign-in password
// ("blueprints user password NAME").
func (s *Server) SetPassword(t T, name, password string) {
	t.Helper()
	cmd := exec.Command(s.bin, "user", "password", name, "--data", s.Data)
	cmd.Env = append(cmd.Environ(), s.opt.Env...)
	cmd.Stdin = strings.NewReader(password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("blueprints user password %s: %v\n%s", name, err, out)
	}
}
