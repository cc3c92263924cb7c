// Package apitest checks answers of the JSON API against its OpenAPI 3.1
// document with kin-openapi, so that the document cannot drift from what
// the server says. Tests that call the API pass every answer through
// Check.
package apitest

import (
	"bytes"
	"context"
	"net/http"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
)

// Validator holds a loaded, valid OpenAPI document and its router.
type Validator struct {
	doc    *openapi3.T
	router routers.Router
}

// New loads doc (the bytes of /api/v1/openapi.json), checks it is a valid
// OpenAPI 3.1 document and returns its Validator.
func New(t testing.TB, doc []byte) *Validator {
	t.Helper()
	loader := openapi3.NewLoader()
	d, err := loader.LoadFromData(doc)
	if err != nil {
		t.Fatalf("load the OpenAPI document: %v", err)
	}
	if !d.IsOpenAPI31OrLater() {
		t.Fatalf("the OpenAPI document is version %s, want 3.1", d.OpenAPI)
	}
	if err := d.Validate(context.Background()); err != nil {
		t.Fatalf("the OpenAPI document is not valid: %v", err)
	}
	// Match requests whatever host the test server has.
	d.Servers = openapi3.Servers{{URL: "/"}}
	r, err := legacy.NewRouter(d)
	if err != nil {
		t.Fatalf("route the OpenAPI document: %v", err)
	}
	return &Validator{doc: d, router: r}
}

// Check fails t unless the answer (status, header, body) to req is one
// the document describes for that operation, body schema included.
func (v *Validator) Check(t testing.TB, req *http.Request, status int, header http.Header, body []byte) {
	t.Helper()
	// The document's server is "/": route on the path alone, whatever
	// host the test server listens on.
	local := req.Clone(req.Context())
	local.URL.Scheme, local.URL.Host, local.Host = "", "", ""
	route, params, err := v.router.FindRoute(local)
	if err != nil {
		t.Errorf("%s %s: not in the OpenAPI document: %v", req.Method, req.URL, err)
		return
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: local, PathParams: params, Route: route,
			Options: &openapi3filter.Options{ExcludeRequestBody: true}},
		Status:  status,
		Header:  header,
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	in.SetBodyBytes(bytes.Clone(body))
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		t.Errorf("%s %s: answer %d does not match the OpenAPI document: %v\n%.2000s", req.Method, req.URL, status, err, body)
	}
}
