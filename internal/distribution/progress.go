// Package distribution speaks the registry protocol (OCI distribution, Docker Registry HTTP API
// v2) through go-containerregistry: pull into berth's image service and push from it, reporting
// progress as the JSON message stream of the Docker Engine API.
package distribution

import (
	"fmt"
	"strings"

	units "github.com/docker/go-units"
)

// Message is one line of the JSON message stream (moby's jsonmessage.JSONMessage).
type Message struct {
	Stream   string    `json:"stream,omitempty"`
	Status   string    `json:"status,omitempty"`
	Progress *Progress `json:"progressDetail,omitempty"`
	Bar      string    `json:"progress,omitempty"`
	ID       string    `json:"id,omitempty"`
	Error    *Error    `json:"errorDetail,omitempty"`
	ErrorMsg string    `json:"error,omitempty"`
	Aux      any       `json:"aux,omitempty"`
}

// Progress is a message's progressDetail.
type Progress struct {
	Current int64 `json:"current,omitempty"`
	Total   int64 `json:"total,omitempty"`
}

// Error is a message's errorDetail.
type Error struct {
	Message string `json:"message"`
}

// Output receives the messages of an operation.
type Output func(Message)

func (o Output) status(id, status string) {
	if o != nil {
		o(Message{ID: id, Status: status, Progress: &Progress{}})
	}
}

func (o Output) plain(status string) {
	if o != nil {
		o(Message{Status: status})
	}
}

func (o Output) progress(id, action string, current, total int64) {
	if o == nil {
		return
	}
	o(Message{ID: id, Status: action, Progress: &Progress{Current: current, Total: total}, Bar: bar(current, total)})
}

// bar renders docker's progress string: "[=====>      ]  1.2MB/3.4MB".
func bar(current, total int64) string {
	if total <= 0 {
		return units.HumanSize(float64(current))
	}
	const width = 50
	n := int(float64(width) * float64(current) / float64(total))
	n = min(max(n, 0), width)
	b := strings.Repeat("=", n)
	if n < width {
		b += ">" + strings.Repeat(" ", width-n-1)
	}
	return fmt.Sprintf("[%s] %8s/%s", b, units.HumanSize(float64(current)), units.HumanSize(float64(total)))
}

func shortDigest(d string) string {
	if i := strings.IndexByte(d, ':'); i >= 0 {
		d = d[i+1:]
	}
	if len(d) > 12 {
		d = d[:12]
	}
	return d
}
