package ap

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"unicode"
)

// MaxDocument bounds any document read from another server.
const MaxDocument = 256 << 10

// ErrInvalid is wrapped by every error about a document from elsewhere.
var ErrInvalid = errors.New("invalid ActivityPub document")

func invalid(what, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalid, what, fmt.Sprintf(format, args...))
}

// Ref is an object given either as its IRI or embedded. Embedded, only
// the fields an inbox needs are kept.
type Ref struct {
	ID     string
	Type   string // "" when given as an IRI
	Actor  string // of an embedded activity
	Object string // of an embedded activity: the IRI of its object
	// Raw is the embedded object as received (nil for an IRI).
	Raw json.RawMessage
}

// UnmarshalJSON takes a string IRI or an object.
func (r *Ref) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &r.ID)
	}
	var o struct {
		ID     string          `json:"id"`
		Type   json.RawMessage `json:"type"`
		Actor  json.RawMessage `json:"actor"`
		Object json.RawMessage `json:"object"`
	}
	if err := json.Unmarshal(b, &o); err != nil {
		return err
	}
	r.ID = o.ID
	r.Type = firstString(o.Type)
	r.Actor = idOf(o.Actor)
	r.Object = idOf(o.Object)
	r.Raw = append(json.RawMessage(nil), b...)
	return nil
}

// firstString reads a string or the first string of an array (type may
// be either).
func firstString(b json.RawMessage) string {
	var s string
	if json.Unmarshal(b, &s) == nil {
		return s
	}
	var list []string
	if json.Unmarshal(b, &list) == nil && len(list) > 0 {
		return list[0]
	}
	return ""
}

// idOf reads an IRI given as a string or as an object's id.
func idOf(b json.RawMessage) string {
	var s string
	if json.Unmarshal(b, &s) == nil {
		return s
	}
	var o struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(b, &o) == nil {
		return o.ID
	}
	return ""
}

// Incoming is an activity received in an inbox.
type Incoming struct {
	ID     string
	Type   string
	Actor  string
	Object Ref
	Raw    json.RawMessage
}

// activityTypes are the activities an inbox acts on; others are accepted
// and ignored.
var activityTypes = map[string]bool{"Follow": true, "Accept": true, "Reject": true, "Undo": true, "Create": true, "Update": true, "Delete": true}

// Handled reports whether inboxes act on activities of type t.
func Handled(t string) bool { return activityTypes[t] }

// ParseActivity reads an activity posted to an inbox: a JSON object with
// an absolute http(s) id and actor, a type and an object.
func ParseActivity(b []byte) (Incoming, error) {
	if len(b) > MaxDocument {
		return Incoming{}, invalid("activity", "%d bytes, over the %d accepted", len(b), MaxDocument)
	}
	var raw struct {
		Context json.RawMessage `json:"@context"`
		ID      string          `json:"id"`
		Type    json.RawMessage `json:"type"`
		Actor   json.RawMessage `json:"actor"`
		Object  json.RawMessage `json:"object"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return Incoming{}, invalid("activity", "not a JSON object: %v", err)
	}
	in := Incoming{ID: raw.ID, Type: firstString(raw.Type), Actor: idOf(raw.Actor), Raw: append(json.RawMessage(nil), b...)}
	if in.Type == "" {
		return Incoming{}, invalid("activity", "no type")
	}
	if err := CheckIRI(in.Actor); err != nil {
		return Incoming{}, invalid("activity "+in.Type, "actor: %v", err)
	}
	if in.ID != "" {
		if err := CheckIRI(in.ID); err != nil {
			return Incoming{}, invalid("activity "+in.Type, "id: %v", err)
		}
	}
	if len(raw.Object) > 0 && string(raw.Object) != "null" {
		if err := json.Unmarshal(raw.Object, &in.Object); err != nil {
			return Incoming{}, invalid("activity "+in.Type, "object: %v", err)
		}
	}
	if Handled(in.Type) && in.Object.ID == "" {
		return Incoming{}, invalid("activity "+in.Type, "no object id")
	}
	return in, nil
}

// CheckIRI checks that s is an absolute http or https URL with a host and
// no user info.
func CheckIRI(s string) error {
	if s == "" {
		return errors.New("missing")
	}
	if len(s) > 2048 {
		return errors.New("longer than 2048 characters")
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%q is not a URL", clip(s))
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return fmt.Errorf("%q is not an absolute http(s) URL", clip(s))
	}
	return nil
}

func clip(s string) string {
	if len(s) > 60 {
		return s[:60] + "…"
	}
	return s
}

// SameHost reports whether two absolute URLs have the same host (and
// port): an actor may only speak for objects of its own server.
func SameHost(a, b string) bool {
	ua, err1 := url.Parse(a)
	ub, err2 := url.Parse(b)
	return err1 == nil && err2 == nil && ua.Host != "" && strings.EqualFold(ua.Host, ub.Host)
}

// RemoteActor is what this server keeps of another server's actor.
type RemoteActor struct {
	ID, Type, PreferredUsername, Name string
	Inbox, SharedInbox, URL           string
	KeyID, PublicKeyPem               string
	CloneURI                          string
}

// plainText reports whether s holds no control or bidirectional control
// characters.
func plainText(s string) bool {
	for _, r := range s {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			return false
		}
	}
	return true
}

// ParseActor reads an actor document fetched from id: it must carry the
// ActivityStreams context, an actor type, the same id, a
// preferredUsername, an inbox and a publicKey owned by the actor, all on
// the actor's own host (what Mastodon requires of remote actors).
func ParseActor(id string, b []byte) (RemoteActor, error) {
	what := "actor " + clip(id)
	if len(b) > MaxDocument {
		return RemoteActor{}, invalid(what, "%d bytes, over the %d accepted", len(b), MaxDocument)
	}
	var raw struct {
		Context           json.RawMessage `json:"@context"`
		ID                string          `json:"id"`
		Type              json.RawMessage `json:"type"`
		PreferredUsername string          `json:"preferredUsername"`
		Name              string          `json:"name"`
		URL               json.RawMessage `json:"url"`
		Inbox             string          `json:"inbox"`
		Endpoints         struct {
			SharedInbox string `json:"sharedInbox"`
		} `json:"endpoints"`
		PublicKey json.RawMessage `json:"publicKey"`
		CloneURI  string          `json:"cloneUri"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return RemoteActor{}, invalid(what, "not a JSON object: %v", err)
	}
	if !hasContext(raw.Context, ContextActivityStreams) {
		return RemoteActor{}, invalid(what, "@context lacks %s", ContextActivityStreams)
	}
	a := RemoteActor{ID: raw.ID, Type: firstString(raw.Type), PreferredUsername: raw.PreferredUsername, Name: raw.Name,
		Inbox: raw.Inbox, SharedInbox: raw.Endpoints.SharedInbox, URL: idOf(raw.URL), CloneURI: raw.CloneURI}
	switch {
	case a.ID != id:
		return RemoteActor{}, invalid(what, "its id is %q", clip(a.ID))
	case !IsActorType(a.Type):
		return RemoteActor{}, invalid(what, "type %q is not an actor type (%s)", a.Type, strings.Join(ActorTypes, ", "))
	case a.PreferredUsername == "":
		return RemoteActor{}, invalid(what, "no preferredUsername")
	case len(a.PreferredUsername) > 200 || len(a.Name) > 1000:
		return RemoteActor{}, invalid(what, "name too long")
	case !plainText(a.PreferredUsername) || strings.ContainsAny(a.PreferredUsername, " @/"):
		return RemoteActor{}, invalid(what, "preferredUsername %q holds spaces, @, / or control characters", clip(a.PreferredUsername))
	}
	// A display name is shown on pages: control and bidirectional
	// control characters (which could make it read as another) go.
	a.Name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) {
			return -1
		}
		return r
	}, a.Name)
	for name, v := range map[string]string{"inbox": a.Inbox} {
		if err := CheckIRI(v); err != nil {
			return RemoteActor{}, invalid(what, "%s: %v", name, err)
		}
		if !SameHost(v, id) {
			return RemoteActor{}, invalid(what, "%s %q is on another host", name, clip(v))
		}
	}
	if a.SharedInbox != "" && (CheckIRI(a.SharedInbox) != nil || !SameHost(a.SharedInbox, id)) {
		a.SharedInbox = ""
	}
	// A mirror on follow clones from here: only the actor's own server.
	if a.CloneURI != "" && (CheckIRI(a.CloneURI) != nil || !SameHost(a.CloneURI, id)) {
		a.CloneURI = ""
	}
	var key PublicKey
	if err := json.Unmarshal(raw.PublicKey, &key); err != nil || key.PublicKeyPem == "" {
		return RemoteActor{}, invalid(what, "no publicKey with publicKeyPem")
	}
	if key.Owner != id {
		return RemoteActor{}, invalid(what, "publicKey owner %q is not the actor", clip(key.Owner))
	}
	if !SameHost(key.ID, id) {
		return RemoteActor{}, invalid(what, "publicKey id %q is on another host", clip(key.ID))
	}
	a.KeyID, a.PublicKeyPem = key.ID, key.PublicKeyPem
	return a, nil
}

func hasContext(b json.RawMessage, want string) bool {
	var s string
	if json.Unmarshal(b, &s) == nil {
		return s == want
	}
	var list []json.RawMessage
	if json.Unmarshal(b, &list) != nil {
		return false
	}
	for _, item := range list {
		if json.Unmarshal(item, &s) == nil && s == want {
			return true
		}
	}
	return false
}

// Link is one link of a JRD (RFC 7033 §4.4.4).
type Link struct {
	Rel      string `json:"rel"`
	Type     string `json:"type,omitempty"`
	Href     string `json:"href,omitempty"`
	Template string `json:"template,omitempty"`
}

// JRD is a WebFinger answer (RFC 7033 §4.4).
type JRD struct {
	Subject string   `json:"subject"`
	Aliases []string `json:"aliases,omitempty"`
	Links   []Link   `json:"links"`
}

// Self is the href of the JRD's rel="self" ActivityPub link, "" without one.
func (j JRD) Self() string {
	for _, l := range j.Links {
		if l.Rel == "self" && (l.Type == ContentType || strings.HasPrefix(l.Type, "application/ld+json")) {
			return l.Href
		}
	}
	return ""
}

// WebFingerDoc is the JRD of a local actor.
func (s Site) WebFingerDoc(owner, project string) JRD {
	var actor, page string
	if project == "" {
		actor, page = s.UserActor(owner), s.UserPage(owner)
	} else {
		actor, page = s.ProjectActor(owner, project), s.ProjectPage(owner, project)
	}
	j := JRD{
		Subject: s.Acct(owner, project),
		Aliases: []string{actor, page},
		Links: []Link{
			{Rel: "self", Type: ContentType, Href: actor},
			{Rel: "http://webfinger.net/rel/profile-page", Type: "text/html", Href: page},
		},
	}
	if project != "" {
		j.Aliases = append(j.Aliases, "acct:"+owner+"/"+project+"@"+s.Host())
	}
	return j
}

// ParseJRD reads a WebFinger answer.
func ParseJRD(b []byte) (JRD, error) {
	if len(b) > MaxDocument {
		return JRD{}, invalid("webfinger answer", "%d bytes, over the %d accepted", len(b), MaxDocument)
	}
	var j JRD
	if err := json.Unmarshal(b, &j); err != nil {
		return JRD{}, invalid("webfinger answer", "not a JSON object: %v", err)
	}
	return j, nil
}

// NodeInfo is a NodeInfo 2.1 document.
type NodeInfo struct {
	Version  string `json:"version"`
	Software struct {
		Name       string `json:"name"`
		Version    string `json:"version"`
		Repository string `json:"repository,omitempty"`
		Homepage   string `json:"homepage,omitempty"`
	} `json:"software"`
	Protocols []string `json:"protocols"`
	Services  struct {
		Inbound  []string `json:"inbound"`
		Outbound []string `json:"outbound"`
	} `json:"services"`
	OpenRegistrations bool `json:"openRegistrations"`
	Usage             struct {
		Users struct {
			Total          int `json:"total"`
			ActiveMonth    int `json:"activeMonth"`
			ActiveHalfyear int `json:"activeHalfyear"`
		} `json:"users"`
		LocalPosts int `json:"localPosts"`
	} `json:"usage"`
	Metadata map[string]any `json:"metadata"`
}

// NodeInfoRel is the link relation of NodeInfo 2.1 documents.
const NodeInfoRel = "http://nodeinfo.diaspora.software/ns/schema/2.1"

// NodeInfoLinks is the /.well-known/nodeinfo document.
func (s Site) NodeInfoLinks() map[string][]Link {
	return map[string][]Link{"links": {{Rel: NodeInfoRel, Href: s.Origin + "/ap/nodeinfo/2.1"}}}
}

// Usage is what NodeInfo counts.
type Usage struct {
	Users, ActiveMonth, ActiveHalfyear int
	Projects                           int // NodeInfo's localPosts: a project is what is published here
	OpenRegistrations                  bool
	Name                               string // the server's name, for metadata.nodeName
}

// NodeInfoDoc is this server's NodeInfo 2.1 document.
func NodeInfoDoc(version string, u Usage) NodeInfo {
	var n NodeInfo
	n.Version = "2.1"
	n.Software.Name = "blueprints"
	n.Software.Version = version
	n.Software.Repository = "https://github.com/blueprints-hq/blueprints"
	n.Protocols = []string{"activitypub"}
	n.Services.Inbound = []string{}
	n.Services.Outbound = []string{"atom1.0"}
	n.OpenRegistrations = u.OpenRegistrations
	n.Usage.Users.Total = u.Users
	n.Usage.Users.ActiveMonth = u.ActiveMonth
	n.Usage.Users.ActiveHalfyear = u.ActiveHalfyear
	n.Usage.LocalPosts = u.Projects
	n.Metadata = map[string]any{"nodeName": u.Name, "federatedSearch": true, "mirrors": true}
	return n
}
