package daemon

import (
	"context"
	"errors"
	"maps"
	"strings"
	"time"

	"github.com/berthproject/berth/internal/container"
	"github.com/berthproject/berth/internal/errdefs"
	"github.com/berthproject/berth/internal/events"
	"github.com/distribution/reference"
	evtypes "github.com/moby/moby/api/types/events"
	imagetypes "github.com/moby/moby/api/types/image"
	"github.com/opencontainers/go-digest"
)

// event publishes a container event with Docker's attributes: the container's labels, its
// image as the user named it, its name, and extra (exitCode, signal...).
func (d *Daemon) event(c *container.Container, action string, extra map[string]string) {
	attrs := map[string]string{}
	if c.Config != nil {
		maps.Copy(attrs, c.Config.Labels)
	}
	attrs["image"], attrs["name"] = c.Image, c.Name
	maps.Copy(attrs, extra)
	d.bus.Publish(evtypes.Message{Type: evtypes.ContainerEventType, Action: evtypes.Action(action),
		Actor: evtypes.Actor{ID: c.ID, Attributes: attrs}})
}

// ExecEvent publishes exec_create, exec_start or exec_die for an exec in container ref, as
// dockerd words them: "exec_start: sh -c 'echo hi'" with the execID attribute.
func (d *Daemon) ExecEvent(ref, action, execID string, cmd []string, extra map[string]string) {
	c, err := d.containers.Get(ref)
	if err != nil {
		return
	}
	attrs := map[string]string{"execID": execID}
	maps.Copy(attrs, extra)
	if action != string(evtypes.ActionExecDie) {
		action += ": " + strings.Join(cmd, " ")
	}
	d.event(c, action, attrs)
}

// imageEvent publishes an image event: the actor is the image id, name the reference acted on.
func (d *Daemon) imageEvent(id, name, action string) {
	d.bus.Publish(evtypes.Message{Type: evtypes.ImageEventType, Action: evtypes.Action(action),
		Actor: evtypes.Actor{ID: id, Attributes: map[string]string{"name": name}}})
}

// Events sends the recorded events since o.Since, then live ones, through send until o.Until,
// ctx ends or send fails. Without Since, only events from now on are sent; with an Until in the
// past, only recorded ones.
func (d *Daemon) Events(ctx context.Context, o events.Options, send func(evtypes.Message) error) error {
	if err := o.Validate(); err != nil {
		return errdefs.InvalidArgument(err)
	}
	past, sub := d.bus.Subscribe()
	defer sub.Close()
	inRange := func(m evtypes.Message) bool {
		t := time.Unix(0, m.TimeNano)
		return (o.Since.IsZero() || !t.Before(o.Since)) && (o.Until.IsZero() || !t.After(o.Until))
	}
	if !o.Since.IsZero() {
		for _, m := range past {
			if inRange(m) && o.Filter.Match(m) {
				if err := send(m); err != nil {
					return err
				}
			}
		}
	}
	var untilC <-chan time.Time
	if !o.Until.IsZero() {
		wait := time.Until(o.Until)
		if wait <= 0 {
			return nil
		}
		t := time.NewTimer(wait)
		defer t.Stop()
		untilC = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-untilC:
			return nil
		case m, ok := <-sub.C:
			if !ok {
				return errors.New("event stream dropped: the client read too slowly")
			}
			if inRange(m) && o.Filter.Match(m) {
				if err := send(m); err != nil {
					return err
				}
			}
		}
	}
}

// importEvents: an import is an "import" event and, with a reference, a "tag".
func (d *Daemon) importEvents(id digest.Digest, ref string, err error) {
	if err != nil {
		return
	}
	d.imageEvent(id.String(), id.String(), string(evtypes.ActionImport))
	if ref != "" {
		d.imageEvent(id.String(), familiar(ref), string(evtypes.ActionTag))
	}
}

// tagEvent resolves the image before a tag and returns what publishes the event once it is done.
func (d *Daemon) tagEvent(ctx context.Context, name, ref string) func() {
	id := d.imageID(ctx, name)
	return func() {
		if id != "" && d.imageID(ctx, ref) == id {
			d.imageEvent(id, familiar(ref), string(evtypes.ActionTag))
		}
	}
}

// deleteEvents turns an image removal's report into dockerd's untag and delete events.
func (d *Daemon) deleteEvents(id string, resp []imagetypes.DeleteResponse) {
	for _, r := range resp {
		switch {
		case r.Untagged != "":
			d.imageEvent(id, id, string(evtypes.ActionUnTag))
		case r.Deleted != "":
			d.imageEvent(r.Deleted, r.Deleted, string(evtypes.ActionDelete))
		}
	}
}

func (d *Daemon) imageID(ctx context.Context, name string) string {
	img, err := d.images.Inspect(ctx, name)
	if err != nil {
		return ""
	}
	return img.ID
}

// familiar is a reference as docker shows it in events: short form, with its tag
// ("docker.io/library/busybox" -> "busybox:latest").
func familiar(ref string) string {
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return ref
	}
	return reference.FamiliarString(reference.TagNameOnly(named))
}
