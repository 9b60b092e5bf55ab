package oci

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/berthproject/berth/internal/errdefs"
	"github.com/berthproject/berth/internal/pathsafe"
	"golang.org/x/sys/unix"
)

type passwdEntry struct {
	name     string
	uid, gid uint32
	home     string
}

type groupEntry struct {
	name    string
	gid     uint32
	members []string
}

// ResolveUser turns Docker's --user ("", "name", "uid", "name:group", "uid:gid") into ids, reading
// the image's /etc/passwd and /etc/group inside rootfs (never through a symlink out of it), and
// adds the supplementary groups the user is a member of (after the primary group, as Docker
// lists them) and the home directory.
func ResolveUser(rootfs, spec string) (User, error) {
	root, err := pathsafe.OpenRoot(rootfs)
	if err != nil {
		return User{}, err
	}
	defer root.Close()
	users := readPasswd(root)
	groups := readGroup(root)
	userPart, groupPart, hasGroup := strings.Cut(spec, ":")
	if userPart == "" {
		userPart = "0"
	}
	var u User
	name := ""
	if n, err := strconv.ParseUint(userPart, 10, 32); err == nil {
		u.UID = uint32(n)
		for _, p := range users {
			if p.uid == u.UID {
				u.GID, name, u.Home = p.gid, p.name, p.home
				break
			}
		}
	} else {
		found := false
		for _, p := range users {
			if p.name == userPart {
				u.UID, u.GID, name, u.Home, found = p.uid, p.gid, p.name, p.home, true
				break
			}
		}
		if !found {
			return User{}, errdefs.InvalidArgument(fmt.Errorf("unable to find user %s: no matching entries in passwd file", userPart))
		}
	}
	if hasGroup {
		if n, err := strconv.ParseUint(groupPart, 10, 32); err == nil {
			u.GID = uint32(n)
		} else {
			found := false
			for _, g := range groups {
				if g.name == groupPart {
					u.GID, found = g.gid, true
					break
				}
			}
			if !found {
				return User{}, errdefs.InvalidArgument(fmt.Errorf("unable to find group %s: no matching entries in group file", groupPart))
			}
		}
	}
	if u.Home == "" {
		u.Home = "/" // as runc: a user without a passwd entry lives at the root
	}
	// As Docker: the supplementary groups start with the primary one.
	u.AdditionalGids = []uint32{u.GID}
	if name != "" {
		for _, g := range groups {
			for _, m := range g.members {
				if m == name && g.gid != u.GID {
					u.AdditionalGids = append(u.AdditionalGids, g.gid)
				}
			}
		}
	}
	return u, nil
}

// readInRoot returns the content of a small file inside root ("" if it is missing).
func readInRoot(root *os.File, path string) string {
	h, err := pathsafe.Open(root, path)
	if err != nil {
		return ""
	}
	defer h.Close()
	f, err := pathsafe.Reopen(h, unix.O_RDONLY)
	if err != nil {
		return ""
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 4<<20))
	if err != nil && !errors.Is(err, io.EOF) {
		return ""
	}
	return string(b)
}

func readPasswd(root *os.File) []passwdEntry {
	var out []passwdEntry
	sc := bufio.NewScanner(strings.NewReader(readInRoot(root, "/etc/passwd")))
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		if len(f) < 4 || strings.HasPrefix(f[0], "#") {
			continue
		}
		uid, err1 := strconv.ParseUint(f[2], 10, 32)
		gid, err2 := strconv.ParseUint(f[3], 10, 32)
		if err1 == nil && err2 == nil {
			e := passwdEntry{name: f[0], uid: uint32(uid), gid: uint32(gid)}
			if len(f) > 5 {
				e.home = f[5]
			}
			out = append(out, e)
		}
	}
	return out
}

func readGroup(root *os.File) []groupEntry {
	var out []groupEntry
	sc := bufio.NewScanner(strings.NewReader(readInRoot(root, "/etc/group")))
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		if len(f) < 3 || strings.HasPrefix(f[0], "#") {
			continue
		}
		gid, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil {
			continue
		}
		g := groupEntry{name: f[0], gid: uint32(gid)}
		if len(f) > 3 && f[3] != "" {
			g.members = strings.Split(f[3], ",")
		}
		out = append(out, g)
	}
	return out
}
