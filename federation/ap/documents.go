package ap

import (
	"fmt"
	"html"
	"strings"
	"time"
)

// PublicKey is an actor's key as Mastodon publishes and reads it
// (Mastodon's ActivityPub spec, "Public key"; the security vocabulary).
type PublicKey struct {
	ID           string `json:"id"`
	Owner        string `json:"owner"`
	PublicKeyPem string `json:"publicKeyPem"`
}

// Endpoints holds an actor's sharedInbox (ActivityPub §4.1).
type Endpoints struct {
	SharedInbox string `json:"sharedInbox,omitempty"`
}

// Media is an Image or Document attached to an object.
type Media struct {
	Type      string `json:"type"`
	MediaType string `json:"mediaType,omitempty"`
	URL       string `json:"url"`
	Name      string `json:"name,omitempty"`
}

// PropertyValue is a name/value pair shown on a profile (schema.org,
// as Mastodon reads actor attachments).
type PropertyValue struct {
	Type  string `json:"type"`
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Actor is an actor document (ActivityPub §4.1).
type Actor struct {
	Context                   []any           `json:"@context"`
	ID                        string          `json:"id"`
	Type                      string          `json:"type"`
	PreferredUsername         string          `json:"preferredUsername"`
	Name                      string          `json:"name,omitempty"`
	Summary                   string          `json:"summary,omitempty"`
	URL                       string          `json:"url,omitempty"`
	Inbox                     string          `json:"inbox"`
	Outbox                    string          `json:"outbox"`
	Followers                 string          `json:"followers,omitempty"`
	Following                 string          `json:"following,omitempty"`
	ManuallyApprovesFollowers bool            `json:"manuallyApprovesFollowers"`
	Discoverable              bool            `json:"discoverable"`
	Published                 string          `json:"published,omitempty"`
	Endpoints                 *Endpoints      `json:"endpoints,omitempty"`
	PublicKey                 PublicKey       `json:"publicKey"`
	Icon                      *Media          `json:"icon,omitempty"`
	Attachment                []PropertyValue `json:"attachment,omitempty"`
	// Webfinger is the actor's acct: address (FEP-2c59), which spares
	// Mastodon a guess from preferredUsername and the host.
	Webfinger string `json:"webfinger,omitempty"`
	// AttributedTo names a project's owner.
	AttributedTo string `json:"attributedTo,omitempty"`
	// CloneURI is where a project's git repository is cloned from
	// (ForgeFed's cloneUri), what a mirror on another server fetches.
	CloneURI string `json:"cloneUri,omitempty"`
}

// actorContext is the @context of actors: ActivityStreams, the security
// vocabulary (publicKey) and the few extension terms used.
func actorContext() []any {
	return []any{ContextActivityStreams, ContextSecurity, map[string]any{
		"manuallyApprovesFollowers": "as:manuallyApprovesFollowers",
		"toot":                      "http://joinmastodon.org/ns#",
		"discoverable":              "toot:discoverable",
		"schema":                    "http://schema.org#",
		"PropertyValue":             "schema:PropertyValue",
		"value":                     "schema:value",
		"webfinger":                 "https://purl.archive.org/socialweb/webfinger#webfinger",
		"forge":                     "https://forgefed.org/ns#",
		"cloneUri":                  map[string]string{"@id": "forge:cloneUri", "@type": "@id"},
	}}
}

// objectContext is the @context of Notes and activities.
func objectContext() []any {
	return []any{ContextActivityStreams, map[string]any{
		"schema":  "http://schema.org#",
		"license": map[string]string{"@id": "schema:license", "@type": "@id"},
	}}
}

// UserInfo is what an actor document says about a user or organisation.
type UserInfo struct {
	Name        string // the owner name
	DisplayName string
	Bio         string // plain text
	Org         bool
	Created     time.Time
}

// ProjectInfo is what an actor document and Notes say about a project.
type ProjectInfo struct {
	Owner, Name string
	Title       string // from the README; Name when empty
	Description string // plain text
	License     string // SPDX id, or "none"
	Created     time.Time
	// Origin is the git URL a mirror copies (shown as a profile field).
	Origin string
}

func actorBase(s Site, id, owner, project, pubPEM string) Actor {
	return Actor{
		Context:           actorContext(),
		ID:                id,
		PreferredUsername: Username(owner, project),
		Inbox:             id + "/inbox",
		Outbox:            id + "/outbox",
		Followers:         id + "/followers",
		Following:         id + "/following",
		Discoverable:      true,
		Endpoints:         &Endpoints{SharedInbox: s.SharedInbox()},
		PublicKey:         PublicKey{ID: KeyID(id), Owner: id, PublicKeyPem: pubPEM},
		Webfinger:         strings.TrimPrefix(s.Acct(owner, project), "acct:"),
	}
}

// InstanceActorDoc is the server's own actor: an Application with no
// followers and no posts, there for its key.
func (s Site) InstanceActorDoc(pubPEM string) Actor {
	id := s.InstanceActor()
	return Actor{
		Context:           actorContext(),
		ID:                id,
		Type:              TypeApplication,
		PreferredUsername: InstanceUsername,
		Name:              "Blueprints at " + s.Host(),
		Inbox:             s.SharedInbox(),
		Outbox:            id + "/outbox",
		Followers:         id + "/followers",
		Following:         id + "/following",
		Endpoints:         &Endpoints{SharedInbox: s.SharedInbox()},
		PublicKey:         PublicKey{ID: KeyID(id), Owner: id, PublicKeyPem: pubPEM},
		URL:               s.Origin + "/",
		Webfinger:         InstanceUsername + "@" + s.Host(),
	}
}

// UserActor is the actor document of a user or organisation.
func (s Site) UserActorDoc(u UserInfo, pubPEM string) Actor {
	a := actorBase(s, s.UserActor(u.Name), u.Name, "", pubPEM)
	a.Type = TypePerson
	if u.Org {
		a.Type = TypeOrganization
	}
	a.Name = u.DisplayName
	if a.Name == "" {
		a.Name = u.Name
	}
	if u.Bio != "" {
		a.Summary = "<p>" + html.EscapeString(u.Bio) + "</p>"
	}
	a.URL = s.UserPage(u.Name)
	if !u.Created.IsZero() {
		a.Published = u.Created.UTC().Format(time.RFC3339)
	}
	return a
}

// ProjectActorDoc is the actor document of a project.
func (s Site) ProjectActorDoc(p ProjectInfo, pubPEM string) Actor {
	a := actorBase(s, s.ProjectActor(p.Owner, p.Name), p.Owner, p.Name, pubPEM)
	a.Type = TypeService
	a.Name = p.Title
	if a.Name == "" {
		a.Name = p.Owner + "/" + p.Name
	}
	if p.Description != "" {
		a.Summary = "<p>" + html.EscapeString(p.Description) + "</p>"
	}
	a.URL = s.ProjectPage(p.Owner, p.Name)
	a.AttributedTo = s.UserActor(p.Owner)
	a.CloneURI = s.CloneURL(p.Owner, p.Name)
	a.Icon = &Media{Type: "Image", MediaType: "image/png", URL: s.ProjectPage(p.Owner, p.Name) + "/cover.png"}
	lic := p.License
	if lic == "" {
		lic = "none"
	}
	a.Attachment = []PropertyValue{
		{Type: "PropertyValue", Name: "Licence", Value: html.EscapeString(lic)},
		{Type: "PropertyValue", Name: "Clone", Value: html.EscapeString(a.CloneURI)},
	}
	if p.Origin != "" {
		a.Attachment = append(a.Attachment, PropertyValue{Type: "PropertyValue", Name: "Mirror of", Value: html.EscapeString(p.Origin)})
	}
	if !p.Created.IsZero() {
		a.Published = p.Created.UTC().Format(time.RFC3339)
	}
	return a
}

// PartChange is one part in a version's summary.
type PartChange struct {
	Path   string
	Change string // "added", "changed", "removed", "renamed"
	// Detail is a short measured difference ("+2.0 mm in Z, volume +4 %").
	Detail string
}

// Version is a new commit on a project's default branch, as its Note
// tells it.
type Version struct {
	Commit    string
	Message   string // the commit's subject line
	Date      time.Time
	First     bool // the project's first publication: Create, not Update
	Changes   []PartChange
	Parts     int    // parts on the branch after it
	CoverURL  string // the cover preview (PNG), "" without one
	CommitURL string // the page of the commit
}

// Note is the object of Create and Update activities about a version.
type Note struct {
	Context      []any    `json:"@context,omitempty"`
	ID           string   `json:"id"`
	Type         string   `json:"type"`
	AttributedTo string   `json:"attributedTo"`
	Name         string   `json:"name,omitempty"`
	Summary      string   `json:"summary,omitempty"`
	Content      string   `json:"content"`
	MediaType    string   `json:"mediaType"`
	URL          string   `json:"url"`
	Published    string   `json:"published"`
	Updated      string   `json:"updated,omitempty"`
	To           []string `json:"to"`
	Cc           []string `json:"cc,omitempty"`
	Attachment   []Media  `json:"attachment,omitempty"`
	// License is the project's licence (schema.org license): the SPDX
	// page of its id.
	License string `json:"license,omitempty"`
}

// SPDXURL is the page of an SPDX licence id, "" for "none" or empty.
func SPDXURL(id string) string {
	if id == "" || id == "none" {
		return ""
	}
	return "https://spdx.org/licenses/" + id + ".html"
}

// maxListedChanges bounds the parts a Note lists by name.
const maxListedChanges = 12

// VersionNoteDoc is the Note about version v of project p: its title, what
// changed in its parts, the cover preview, the licence and links.
func (s Site) VersionNoteDoc(p ProjectInfo, v Version) Note {
	actor := s.ProjectActor(p.Owner, p.Name)
	title := p.Title
	if title == "" {
		title = p.Owner + "/" + p.Name
	}
	page := s.ProjectPage(p.Owner, p.Name)
	commitURL := v.CommitURL
	if commitURL == "" {
		commitURL = page + "/commit/" + v.Commit
	}
	var b strings.Builder
	verb := "New version of"
	if v.First {
		verb = "Published"
	}
	fmt.Fprintf(&b, "<p>%s <a href=\"%s\">%s</a>", verb, html.EscapeString(page), html.EscapeString(title))
	if v.Message != "" {
		fmt.Fprintf(&b, ": %s", html.EscapeString(v.Message))
	}
	b.WriteString("</p>")
	summary := changeSummary(v)
	if summary != "" {
		fmt.Fprintf(&b, "<p>%s</p>", html.EscapeString(summary))
	}
	if len(v.Changes) > 0 {
		b.WriteString("<ul>")
		for i, c := range v.Changes {
			if i == maxListedChanges {
				fmt.Fprintf(&b, "<li>and %d more</li>", len(v.Changes)-maxListedChanges)
				break
			}
			fmt.Fprintf(&b, "<li>%s %s", html.EscapeString(c.Change), html.EscapeString(c.Path))
			if c.Detail != "" {
				fmt.Fprintf(&b, " (%s)", html.EscapeString(c.Detail))
			}
			b.WriteString("</li>")
		}
		b.WriteString("</ul>")
	}
	lic := p.License
	if lic == "" {
		lic = "none"
	}
	if u := SPDXURL(lic); u != "" {
		fmt.Fprintf(&b, "<p>Licence: <a href=\"%s\">%s</a>", html.EscapeString(u), html.EscapeString(lic))
	} else {
		b.WriteString("<p>Licence: none declared")
	}
	fmt.Fprintf(&b, " · <a href=\"%s\">what changed</a> · <code>git clone %s</code></p>", html.EscapeString(commitURL), html.EscapeString(s.CloneURL(p.Owner, p.Name)))
	n := Note{
		ID:           s.VersionNote(p.Owner, p.Name, v.Commit),
		Type:         "Note",
		AttributedTo: actor,
		Name:         title,
		Content:      b.String(),
		MediaType:    "text/html",
		URL:          commitURL,
		Published:    v.Date.UTC().Format(time.RFC3339),
		To:           []string{Public},
		Cc:           []string{actor + "/followers"},
		License:      SPDXURL(lic),
	}
	if v.CoverURL != "" {
		n.Attachment = []Media{{Type: "Image", MediaType: "image/png", URL: v.CoverURL, Name: "Preview of " + title}}
	}
	return n
}

func changeSummary(v Version) string {
	count := map[string]int{}
	for _, c := range v.Changes {
		count[c.Change]++
	}
	var parts []string
	for _, k := range []string{"added", "changed", "renamed", "removed"} {
		if n := count[k]; n > 0 {
			word := "parts"
			if n == 1 {
				word = "part"
			}
			parts = append(parts, fmt.Sprintf("%d %s %s", n, word, k))
		}
	}
	if len(parts) == 0 {
		if v.Parts > 0 {
			return fmt.Sprintf("%d parts, none changed", v.Parts)
		}
		return ""
	}
	return strings.Join(parts, ", ") + fmt.Sprintf("; %d parts in all", v.Parts)
}

// Activity is an activity this server sends (ActivityStreams Vocabulary
// §3.1). Object is a Note, an embedded activity or an IRI string.
type Activity struct {
	Context   []any    `json:"@context,omitempty"`
	ID        string   `json:"id"`
	Type      string   `json:"type"`
	Actor     string   `json:"actor"`
	Object    any      `json:"object"`
	To        []string `json:"to,omitempty"`
	Cc        []string `json:"cc,omitempty"`
	Published string   `json:"published,omitempty"`
}

// Announce wraps a Note in Create (first publication) or Update.
func (s Site) Announce(p ProjectInfo, v Version) Activity {
	n := s.VersionNoteDoc(p, v)
	typ := "Update"
	if v.First {
		typ = "Create"
	}
	return Activity{
		Context:   objectContext(),
		ID:        n.ID + "/" + strings.ToLower(typ),
		Type:      typ,
		Actor:     n.AttributedTo,
		Object:    n,
		To:        n.To,
		Cc:        n.Cc,
		Published: n.Published,
	}
}

// WithContext returns n with the @context it needs to stand alone (served
// at its id).
func (n Note) WithContext() Note {
	n.Context = objectContext()
	return n
}

// Follow is actor's Follow of object, with id.
func Follow(id, actor, object string) Activity {
	return Activity{Context: []any{ContextActivityStreams}, ID: id, Type: "Follow", Actor: actor, Object: object, To: []string{object}}
}

// Accept is actor's Accept of a Follow received from follower.
func Accept(id, actor string, follow Incoming) Activity {
	return Activity{Context: []any{ContextActivityStreams}, ID: id, Type: "Accept", Actor: actor, To: []string{follow.Actor},
		Object: map[string]any{"id": follow.ID, "type": "Follow", "actor": follow.Actor, "object": follow.Object.ID}}
}

// Undo is actor's Undo of its activity (a Follow) of object.
func Undo(id, actor string, undone Activity) Activity {
	undone.Context = nil
	return Activity{Context: []any{ContextActivityStreams}, ID: id, Type: "Undo", Actor: actor, Object: undone, To: undone.To}
}

// Collection is an OrderedCollection with its total only (followers,
// following, outbox first page links), as Mastodon reads counts.
type Collection struct {
	Context      []any  `json:"@context"`
	ID           string `json:"id"`
	Type         string `json:"type"`
	TotalItems   int    `json:"totalItems"`
	OrderedItems []any  `json:"orderedItems,omitempty"`
}

// OrderedCollection is a collection with its items inline.
func OrderedCollection(id string, total int, items []any) Collection {
	return Collection{Context: []any{ContextActivityStreams}, ID: id, Type: "OrderedCollection", TotalItems: total, OrderedItems: items}
}
