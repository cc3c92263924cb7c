package federation

import (
	"context"
	"errors"
	"fmt"

	"github.com/blueprints-hq/blueprints/federation/ap"
	"github.com/blueprints-hq/blueprints/internal/store"
)

// ErrNoMirror is returned when a mirror is asked of an actor that is not
// a project with a git repository (a Blueprints project actor).
var ErrNoMirror = errors.New("only a project on a Blueprints server can be mirrored")

// Follow makes person u follow the remote actor named by handle (an
// address like alice..tractor@a.example or an actor URL): the Follow is
// queued for the actor's inbox, signed by u's actor. With mirror set (a
// project name under u), a full mirror of the followed project is kept
// too, refreshed whenever it announces a new version.
func (s *Service) Follow(ctx context.Context, u store.User, handle, mirror string) (store.Following, store.RemoteActor, error) {
	target, err := s.Resolve(ctx, handle)
	if err != nil {
		return store.Following{}, store.RemoteActor{}, err
	}
	var mirrorID int64
	if mirror != "" {
		if target.CloneURI == "" || target.Type != ap.TypeService {
			return store.Following{}, target, fmt.Errorf("%s: %w", handle, ErrNoMirror)
		}
		if s.cfg.Mirrors == nil {
			return store.Following{}, target, errors.New("mirrors are not available on this server")
		}
		p, err := s.cfg.Mirrors.FollowMirror(ctx, u, target, mirror)
		if err != nil {
			return store.Following{}, target, err
		}
		mirrorID = p.ID
	}
	actorID := s.site.UserActor(u.Name)
	followID := actorID + "/follows/" + randomID()
	f, err := s.cfg.Store.AddFollowing(ctx, store.Following{UserID: u.ID, Target: target.URI, FollowID: followID, MirrorProjectID: mirrorID})
	if err != nil {
		return f, target, err
	}
	if err := s.enqueue(ctx, store.UserActor(u.ID), []string{target.Inbox}, ap.Follow(followID, actorID, target.URI)); err != nil {
		return f, target, err
	}
	s.log.Info("follow sent", "user", u.Name, "target", target.URI, "mirror", mirror)
	return f, target, nil
}

// Unfollow sends an Undo of follow f (of person u) and forgets it. A
// mirror kept for it stays, refreshed on the schedule.
func (s *Service) Unfollow(ctx context.Context, u store.User, f store.Following) error {
	if f.UserID != u.ID {
		return store.ErrNotFound
	}
	target, err := s.cfg.Store.RemoteActorByURI(ctx, f.Target)
	if err != nil {
		return err
	}
	actorID := s.site.UserActor(u.Name)
	follow := ap.Follow(f.FollowID, actorID, f.Target)
	if err := s.enqueue(ctx, store.UserActor(u.ID), []string{target.Inbox}, ap.Undo(f.FollowID+"/undo", actorID, follow)); err != nil {
		return err
	}
	return s.cfg.Store.DeleteFollowing(ctx, f.ID)
}
