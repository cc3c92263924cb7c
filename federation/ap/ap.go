// Package ap holds the documents Blueprints speaks with other servers of
// the fediverse: ActivityPub actors, Notes and activities (ActivityStreams
// 2.0), WebFinger answers (RFC 7033) and NodeInfo 2.1. It builds them for
// this server's users, organisations and projects from plain values
// (Site + UserInfo/ProjectInfo/Version), and reads what other servers send
// (ParseActivity, ParseActor, ParseJRD) with size limits and validation,
// so that what leaves it is either a checked value or an error naming the
// document and the problem.
//
// Names: a user or organisation "alice" is acct:alice@HOST; a project
// "alice/tractor" is acct:alice..tractor@HOST. Mastodon keeps remote actors
// as username@domain with usernames of [A-Za-z0-9_.-] only, and confirms
// every actor by a WebFinger query for preferredUsername@domain, so the
// project's name must be written without a slash; ".." cannot occur in a
// Blueprints name, so the pair is always read back unambiguously, and it
// never collides with a user name. WebFinger also answers
// acct:alice/tractor@HOST (what people type) with the canonical subject.
package ap

import (
	"net/url"
	"strings"
)

// JSON-LD contexts and media types.
const (
	ContextActivityStreams = "https://www.w3.org/ns/activitystreams"
	ContextSecurity        = "https://w3id.org/security/v1"
	// ContentType is what this server sends ActivityPub documents as.
	ContentType = "application/activity+json"
	// LDContentType is the other media type ActivityPub §3.2 names.
	LDContentType = `application/ld+json; profile="https://www.w3.org/ns/activitystreams"`
	// Public is the special collection of everyone (ActivityPub §5.6).
	Public = "https://www.w3.org/ns/activitystreams#Public"
)

// Actor types this server publishes (ActivityStreams Vocabulary §3.2).
const (
	TypePerson       = "Person"       // a user
	TypeOrganization = "Organization" // an organisation
	TypeService      = "Service"      // a project: it publishes versions
	TypeApplication  = "Application"  // the server itself (its instance actor)
)

// ActorTypes are the actor types accepted from other servers: the five
// of ActivityStreams Vocabulary §3.2, which are also the ones Mastodon
// accepts.
var ActorTypes = []string{"Application", "Group", "Organization", "Person", "Service"}

// IsActorType reports whether t is one of ActorTypes.
func IsActorType(t string) bool {
	for _, a := range ActorTypes {
		if a == t {
			return true
		}
	}
	return false
}

// Site names this server's ActivityPub URLs under its public origin
// ("https://blueprints.example.org", no trailing slash).
type Site struct {
	Origin string
}

// Host is the origin's host (with its port, if any): the domain of every
// acct: name.
func (s Site) Host() string {
	u, err := url.Parse(s.Origin)
	if err != nil {
		return ""
	}
	return u.Host
}

func seg(s string) string { return url.PathEscape(s) }

// UserActor is the actor id of user or organisation name.
func (s Site) UserActor(name string) string { return s.Origin + "/ap/users/" + seg(name) }

// ProjectActor is the actor id of project owner/name.
func (s Site) ProjectActor(owner, name string) string {
	return s.Origin + "/ap/projects/" + seg(owner) + "/" + seg(name)
}

// InstanceActor is the id of the server's own actor, whose key signs the
// documents this server fetches from others (as Mastodon's instance actor
// does), so servers that answer only signed fetches answer it.
func (s Site) InstanceActor() string { return s.Origin + "/ap/actor" }

// InstanceUsername is the instance actor's preferredUsername: "ap" is a
// reserved owner name, so no user or organisation can take it.
const InstanceUsername = "ap"

// KeyID is the id of an actor's key.
func KeyID(actor string) string { return actor + "#main-key" }

// SharedInbox is the server's inbox for every local actor.
func (s Site) SharedInbox() string { return s.Origin + "/ap/inbox" }

// VersionNote is the id of the Note about a project's commit.
func (s Site) VersionNote(owner, name, commit string) string {
	return s.ProjectActor(owner, name) + "/versions/" + seg(commit)
}

// ProjectPage and UserPage are the people's pages.
func (s Site) ProjectPage(owner, name string) string {
	return s.Origin + "/" + seg(owner) + "/" + seg(name)
}

// UserPage is the page of a user or organisation.
func (s Site) UserPage(name string) string { return s.Origin + "/" + seg(name) }

// CloneURL is the git URL of a project.
func (s Site) CloneURL(owner, name string) string { return s.ProjectPage(owner, name) + ".git" }

// Local is what an actor id of this server names: a user or organisation
// (Project empty) or a project. ok is false for any other URL.
func (s Site) Local(id string) (owner, project string, ok bool) {
	rest, found := strings.CutPrefix(id, s.Origin+"/ap/")
	if !found {
		return "", "", false
	}
	parts := strings.Split(rest, "/")
	un := func(p string) (string, bool) {
		v, err := url.PathUnescape(p)
		return v, err == nil && v != "" && !strings.ContainsAny(v, "/")
	}
	switch {
	case len(parts) == 2 && parts[0] == "users":
		o, ok := un(parts[1])
		return o, "", ok
	case len(parts) == 3 && parts[0] == "projects":
		o, ok1 := un(parts[1])
		p, ok2 := un(parts[2])
		return o, p, ok1 && ok2
	}
	return "", "", false
}

// Username is the preferredUsername (and the acct: user part) of a user
// or organisation (project "") or of a project.
func Username(owner, project string) string {
	if project == "" {
		return owner
	}
	return owner + ".." + project
}

// SplitUsername reads a Username back: "alice" → ("alice", ""),
// "alice..tractor" → ("alice", "tractor"). An owner ending in a dot gives
// three dots ("a...b" is "a."/"b"); names never start with a dot nor hold
// "..", so that is the only reading. It also takes "alice/tractor" and its
// escaped form "alice%2Ftractor".
func SplitUsername(u string) (owner, project string, ok bool) {
	if un, err := url.PathUnescape(u); err == nil {
		u = un
	}
	if o, p, found := strings.Cut(u, "/"); found {
		return o, p, o != "" && p != "" && !strings.Contains(p, "/")
	}
	i := strings.Index(u, "..")
	if i < 0 {
		return u, "", u != ""
	}
	run := 2
	for i+run < len(u) && u[i+run] == '.' {
		run++
	}
	switch run {
	case 2:
		owner, project = u[:i], u[i+2:]
	case 3:
		owner, project = u[:i+1], u[i+3:]
	default:
		return "", "", false
	}
	if owner == "" || project == "" || strings.Contains(project, "..") {
		return "", "", false
	}
	return owner, project, true
}

// Acct is the acct: URI of a local user, organisation or project.
func (s Site) Acct(owner, project string) string {
	return "acct:" + Username(owner, project) + "@" + s.Host()
}

// ParseAcct splits "acct:user@host" (the scheme optional, a leading "@"
// allowed, as people write "@alice@host") into user and host.
func ParseAcct(s string) (user, host string, ok bool) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "acct:")
	s = strings.TrimPrefix(s, "@")
	i := strings.LastIndexByte(s, '@')
	if i <= 0 || i == len(s)-1 {
		return "", "", false
	}
	return s[:i], s[i+1:], true
}
