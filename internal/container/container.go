// Package container holds berth's container records: one JSON file per container under the
// data root, written atomically, with a name registry kept in memory and rebuilt at start.
package container

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berthproject/berth/internal/atomicfile"
	"github.com/berthproject/berth/internal/errdefs"
	"github.com/berthproject/berth/internal/filters"
	"github.com/berthproject/berth/internal/trash"
	ctypes "github.com/moby/moby/api/types/container"
)

// Status is the one state machine of a container (Docker's names).
type Status string

const (
	StatusCreated    Status = "created"
	StatusRunning    Status = "running"
	StatusPaused     Status = "paused"     // running, every process frozen
	StatusRestarting Status = "restarting" // exited, restart policy waiting out its backoff
	StatusExited     Status = "exited"
	StatusDead       Status = "dead"
)

// Container is what berth keeps of a container.
type Container struct {
	ID         string             `json:"id"`
	Name       string             `json:"name"` // without the leading "/"
	Created    time.Time          `json:"created"`
	Image      string             `json:"image"` // as the user named it
	ImageID    string             `json:"image_id"`
	Config     *ctypes.Config     `json:"config"`
	HostConfig *ctypes.HostConfig `json:"host_config"`
	Path       string             `json:"path"`
	Args       []string           `json:"args"`
	Status     Status             `json:"status"`
	Pid        int                `json:"pid,omitempty"`
	ExitCode   int                `json:"exit_code"`
	OOMKilled  bool               `json:"oom_killed,omitempty"`
	Error      string             `json:"error,omitempty"`
	StartedAt  time.Time          `json:"started_at"`
	FinishedAt time.Time          `json:"finished_at"`
	LogPath    string             `json:"log_path"`
	// RestartCount counts restarts by the restart policy since the last manual start.
	RestartCount int `json:"restart_count,omitempty"`
	// ManuallyStopped: stopped (or killed) by a user; the restart policy leaves it alone.
	ManuallyStopped bool `json:"manually_stopped,omitempty"`
	// MountPoints are the container's volumes and binds as resolved at create (mounts.go).
	MountPoints []MountPoint `json:"mount_points,omitempty"`
}

// ListOptions select and detail containers (GET /containers/json, docker ps).
type ListOptions struct {
	All     bool
	Limit   int // the newest n, all states (docker ps -n, -l)
	Size    bool
	Filters filters.Args
}

// Store holds the records under dir/<id>/container.json.
type Store struct {
	dir   string
	mu    sync.Mutex
	byID  map[string]*Container
	names map[string]string // name -> id
	trash *trash.Can
}

// Open loads every record under dir.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	can, err := trash.Open(filepath.Join(dir, trashDir))
	if err != nil {
		return nil, err
	}
	s := &Store{dir: dir, byID: map[string]*Container{}, names: map[string]string{}, trash: can}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		if e.Name() == trashDir {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "container.json"))
		if err != nil {
			continue // a create that never got its record written
		}
		var c Container
		if err := json.Unmarshal(b, &c); err != nil {
			return nil, fmt.Errorf("container %s: corrupt record: %w", e.Name(), err)
		}
		s.byID[c.ID], s.names[c.Name] = &c, c.ID
	}
	return s, nil
}

// Dir is the container's own directory (logs, hosts files).
func (s *Store) Dir(id string) string { return filepath.Join(s.dir, id) }

var validName = regexp.MustCompile(`^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// NewID returns a fresh 64-hex container id.
func NewID() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// IsID says whether s has the form of a container id (64 lowercase hex digits).
func IsID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, r := range s {
		if (r < '0' || r > '9') && (r < 'a' || r > 'f') {
			return false
		}
	}
	return true
}

// Reserve claims a name for id ("" picks a generated one) and returns the name.
func (s *Store) Reserve(name, id string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if name == "" {
		for attempt := 0; ; attempt++ {
			name = generateName(attempt)
			if _, taken := s.names[name]; !taken {
				break
			}
		}
	} else {
		if !validName.MatchString(name) {
			return "", errdefs.InvalidArgument(fmt.Errorf("Invalid container name (%s), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", name))
		}
		name = strings.TrimPrefix(name, "/")
		if other, taken := s.names[name]; taken {
			return "", errdefs.Conflict(fmt.Errorf("Conflict. The container name \"/%s\" is already in use by container \"%s\". You have to remove (or rename) that container to be able to reuse that name.", name, other))
		}
	}
	s.names[name] = id
	return name, nil
}

// Release frees a reserved name.
func (s *Store) Release(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.names, name)
}

// Save writes a record atomically (and registers it).
func (s *Store) Save(c *Container) error { return s.save(c, atomicfile.WriteFile) }

// SaveUnsynced is Save without forcing the record to disk: still atomic (a daemon killed at
// any point leaves the old record or the new one), for a state that a power loss may take
// back to the previous one without harm. A container started is one: its shim, not its
// record, says whether it runs, and after a power loss neither it nor its shim does.
func (s *Store) SaveUnsynced(c *Container) error { return s.save(c, atomicfile.WriteFileNoSync) }

func (s *Store) save(c *Container, write func(string, []byte, os.FileMode) error) error {
	if err := s.write(c, write); err != nil {
		return err
	}
	s.SaveInMemory(c)
	return nil
}

// Write writes a new record durably without making it known (Get, List): a create writes it
// beside its other work, then registers it with SaveInMemory, or removes it with Discard.
func (s *Store) Write(c *Container) error { return s.write(c, atomicfile.WriteFile) }

// Discard removes a record written but never registered.
func (s *Store) Discard(id string) error { return s.trash.Remove(s.Dir(id)) }

func (s *Store) write(c *Container, write func(string, []byte, os.FileMode) error) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(s.Dir(c.ID), 0o700); err != nil {
		return err
	}
	return write(filepath.Join(s.Dir(c.ID), "container.json"), b, 0o600)
}

// SaveInMemory updates a record without writing it: for a state about to be superseded (a --rm
// container's exit, just before its removal), whose loss in a crash the next start makes up for.
func (s *Store) SaveInMemory(c *Container) {
	s.mu.Lock()
	cp := *c
	s.byID[c.ID], s.names[c.Name] = &cp, c.ID
	s.mu.Unlock()
}

// Get finds a container by id, unique id prefix, or name, and returns a copy.
func (s *Store) Get(ref string) (*Container, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ref = strings.TrimPrefix(ref, "/")
	if id, ok := s.names[ref]; ok {
		if c, ok := s.byID[id]; ok {
			cp := *c
			return &cp, nil
		}
	}
	var found *Container
	for id, c := range s.byID {
		if ref != "" && strings.HasPrefix(id, ref) {
			if found != nil {
				return nil, errdefs.InvalidArgument(fmt.Errorf("multiple IDs found with provided prefix: %s", ref))
			}
			found = c
		}
	}
	if found == nil {
		return nil, errdefs.NotFound(fmt.Errorf("No such container: %s", ref))
	}
	cp := *found
	return &cp, nil
}

// List returns copies of all records, newest first.
func (s *Store) List() []*Container {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*Container, 0, len(s.byID))
	for _, c := range s.byID {
		cp := *c
		out = append(out, &cp)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out
}

// Delete removes a record and its directory.
func (s *Store) Delete(id string) error {
	s.mu.Lock()
	c, ok := s.byID[id]
	if ok {
		delete(s.byID, id)
		delete(s.names, c.Name)
	}
	s.mu.Unlock()
	if !ok {
		return errdefs.NotFound(errors.New("No such container: " + id))
	}
	// Renamed away at once (the record and its logs go together), deleted in the background.
	return s.trash.Remove(s.Dir(id))
}

// trashDir holds removed containers' directories until they are deleted; a dot so it is never
// taken for a container id.
const trashDir = ".trash"

var (
	adjectives = []string{"admiring", "agile", "amazing", "awesome", "blissful", "bold", "brave", "busy", "calm",
		"charming", "clever", "compassionate", "competent", "confident", "cool", "dazzling", "determined", "dreamy",
		"eager", "ecstatic", "elastic", "elated", "elegant", "epic", "exciting", "fervent", "festive", "focused",
		"friendly", "frosty", "funny", "gallant", "gentle", "gifted", "goofy", "gracious", "great", "happy",
		"hardcore", "heuristic", "hopeful", "hungry", "infallible", "inspiring", "intelligent", "interesting",
		"jolly", "jovial", "keen", "kind", "laughing", "loving", "lucid", "magical", "modest", "musing", "mystifying",
		"nice", "nifty", "nostalgic", "objective", "optimistic", "peaceful", "pensive", "practical", "priceless",
		"quirky", "quizzical", "recursing", "relaxed", "reverent", "romantic", "serene", "sharp", "silly", "sleepy",
		"stoic", "strange", "stupefied", "suspicious", "sweet", "tender", "thirsty", "trusting", "unruffled", "upbeat",
		"vibrant", "vigilant", "vigorous", "wizardly", "wonderful", "xenodochial", "youthful", "zealous", "zen"}
	scientists = []string{"agnesi", "archimedes", "babbage", "banach", "bardeen", "bartik", "bell", "bhabha",
		"blackwell", "bohr", "booth", "boyd", "brahmagupta", "brattain", "burnell", "cannon", "carson", "cerf",
		"chandrasekhar", "chatelet", "clarke", "cohen", "cori", "curie", "darwin", "davinci", "dijkstra", "dirac",
		"easley", "edison", "einstein", "elgamal", "elion", "engelbart", "euclid", "euler", "faraday", "fermat",
		"fermi", "feynman", "franklin", "galileo", "gauss", "germain", "goldberg", "goldwasser", "goodall", "hamilton",
		"hawking", "heisenberg", "hermann", "hodgkin", "hoover", "hopper", "hypatia", "jackson", "jemison", "johnson",
		"kalam", "kare", "keller", "kepler", "khorana", "kilby", "knuth", "kowalevski", "lalande", "lamarr",
		"lamport", "leakey", "leavitt", "lederberg", "lehmann", "lewin", "liskov", "lovelace", "lumiere", "mahavira",
		"margulis", "matsumoto", "maxwell", "mayer", "mccarthy", "mcclintock", "meitner", "mendel", "merkle",
		"mirzakhani", "montalcini", "moore", "morse", "newton", "nightingale", "nobel", "noether", "northcutt",
		"noyce", "panini", "pare", "pascal", "pasteur", "payne", "perlman", "pike", "poincare", "poitras", "ptolemy",
		"raman", "ramanujan", "ride", "ritchie", "rosalind", "sammet", "shamir", "shannon", "shaw", "shockley",
		"sinoussi", "snyder", "spence", "stonebraker", "swanson", "swartz", "tesla", "thompson", "torvalds", "turing",
		"varahamihira", "villani", "volhard", "wescoff", "wilbur", "wiles", "williams", "wilson", "wing", "wozniak",
		"wright", "wu", "yalow", "yonath", "zhukovsky"}
)

// generateName is Docker's style of name, adjective_scientist; after a collision a number is
// appended, from a range that grows with each attempt, so a free name is always found.
func generateName(attempt int) string {
	name := adjectives[randInt(len(adjectives))] + "_" + scientists[randInt(len(scientists))]
	if attempt > 0 {
		name += strconv.Itoa(randInt(10 * attempt))
	}
	return name
}

func randInt(n int) int {
	b := make([]byte, 4)
	rand.Read(b)
	return int(uint32(b[0])|uint32(b[1])<<8|uint32(b[2])<<16|uint32(b[3])<<24) % n
}
