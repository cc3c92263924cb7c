package lfs

import (
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/blueprints-hq/blueprints/storage"
)

// batchRequest is the body of POST .../objects/batch.
type batchRequest struct {
	Operation string        `json:"operation"`
	Transfers []string      `json:"transfers"`
	Ref       *refSpec      `json:"ref"`
	Objects   []batchObject `json:"objects"`
	HashAlgo  string        `json:"hash_algo"`
}

type refSpec struct {
	Name string `json:"name"`
}

type batchObject struct {
	OID  string `json:"oid"`
	Size int64  `json:"size"`
}

type batchResponse struct {
	Transfer string         `json:"transfer"`
	Objects  []objectResult `json:"objects"`
	HashAlgo string         `json:"hash_algo"`
}

type objectResult struct {
	OID           string             `json:"oid"`
	Size          int64              `json:"size"`
	Authenticated bool               `json:"authenticated,omitempty"`
	Actions       map[string]*action `json:"actions,omitempty"`
	Error         *objectError       `json:"error,omitempty"`
}

type action struct {
	Href      string            `json:"href"`
	Header    map[string]string `json:"header,omitempty"`
	ExpiresIn int64             `json:"expires_in,omitempty"`
}

type objectError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// batch answers the Batch API: for each object, where to upload or
// download it, or why not.
func (s *Server) batch(c echo.Context) error {
	var req batchRequest
	if err := decodeJSON(c, &req); err != nil {
		return s.writeError(c, err)
	}
	switch {
	case req.Operation != "upload" && req.Operation != "download":
		return s.writeError(c, fail(http.StatusUnprocessableEntity, `operation must be "upload" or "download", not %q`, req.Operation))
	case req.HashAlgo != "" && req.HashAlgo != "sha256":
		return s.writeError(c, fail(http.StatusConflict, "hash algorithm %q is not supported; this server uses sha256", req.HashAlgo))
	case len(req.Objects) > maxBatchObjects:
		return s.writeError(c, fail(http.StatusUnprocessableEntity, "too many objects in one batch (%d); send at most %d", len(req.Objects), maxBatchObjects))
	}
	if req.Transfers != nil && !contains(req.Transfers, "basic") {
		return s.writeError(c, fail(http.StatusUnprocessableEntity, "no supported transfer adapter; this server offers only \"basic\""))
	}
	upload := req.Operation == "upload"
	t, err := s.resolve(c, upload, upload)
	if err != nil {
		return s.writeError(c, err)
	}
	ctx := c.Request().Context()
	if !t.pending {
		if _, err := s.store.AdoptPendingLFSObjects(ctx, t.project); err != nil {
			return s.writeError(c, err)
		}
	}

	var oids []string
	for _, o := range req.Objects {
		if ValidOID(o.OID) {
			oids = append(oids, o.OID)
		}
	}
	owned, err := s.owns(ctx, t, oids)
	if err != nil {
		return s.writeError(c, err)
	}

	origin, err := s.baseURL(c)
	if err != nil {
		return s.writeError(c, fail(http.StatusBadRequest, "the Host header does not name this server; send a plain host[:port], or ask the admin to set --public-url"))
	}
	base := origin + t.prefix()
	var header map[string]string
	if auth := c.Request().Header.Get(echo.HeaderAuthorization); auth != "" {
		header = map[string]string{echo.HeaderAuthorization: auth}
	}
	resp := batchResponse{Transfer: "basic", HashAlgo: "sha256", Objects: make([]objectResult, 0, len(req.Objects))}
	for _, o := range req.Objects {
		r := objectResult{OID: o.OID, Size: o.Size, Authenticated: header != nil}
		switch {
		case !ValidOID(o.OID):
			r.Error = &objectError{Code: http.StatusUnprocessableEntity, Message: "invalid object id: want a SHA-256 in 64 lower-case hex digits"}
		case o.Size < 0:
			r.Error = &objectError{Code: http.StatusUnprocessableEntity, Message: "invalid size: must not be negative"}
		case upload:
			size, ok := owned[o.OID]
			if ok && size == o.Size {
				// Already here: no actions, unless storage lost it.
				_, err := s.blobs.Stat(ctx, BlobKey(o.OID))
				if err == nil {
					break
				}
				if !errors.Is(err, storage.ErrNotExist) {
					return s.writeError(c, s.storageError("look up object", err))
				}
			}
			href := base + "/objects/" + o.OID
			r.Actions = map[string]*action{
				"upload": {Href: href, Header: header},
				"verify": {Href: base + "/verify", Header: header},
			}
		default:
			size, ok := owned[o.OID]
			if !ok {
				r.Error = &objectError{Code: http.StatusNotFound, Message: "object does not exist in this project"}
				break
			}
			r.Size = size
			a, err := s.downloadAction(c, base, o.OID, header)
			if err != nil {
				return s.writeError(c, err)
			}
			r.Actions = map[string]*action{"download": a}
		}
		resp.Objects = append(resp.Objects, r)
	}
	return writeJSON(c, http.StatusOK, resp)
}

// downloadAction points at the object: a presigned storage URL when that
// is enabled, otherwise this server.
func (s *Server) downloadAction(c echo.Context, base, oid string, header map[string]string) (*action, error) {
	if s.presign != nil {
		u, err := s.presign.PresignGet(c.Request().Context(), BlobKey(oid), s.presignTTL)
		if err != nil {
			return nil, s.storageError("presign download", err)
		}
		// No Authorization header: S3 refuses a request that is both
		// presigned and carries one.
		return &action{Href: u, ExpiresIn: int64(s.presignTTL.Seconds())}, nil
	}
	return &action{Href: base + "/objects/" + oid, Header: header}, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
