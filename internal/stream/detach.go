package stream

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrDetached is the user typing the detach keys: the stream ends, the container runs on.
var ErrDetached = errors.New("read escape sequence")

// ParseDetachKeys reads Docker's detach key syntax: "ctrl-<c>" and single characters, comma
// separated; the default is ctrl-p,ctrl-q.
func ParseDetachKeys(s string) ([]byte, error) {
	if s == "" {
		s = "ctrl-p,ctrl-q"
	}
	var out []byte
	for _, k := range strings.Split(s, ",") {
		switch {
		case len(k) == 1:
			out = append(out, k[0])
		case len(k) == 6 && strings.HasPrefix(k, "ctrl-"):
			c := k[5]
			switch {
			case c >= 'a' && c <= 'z':
				out = append(out, c-'a'+1)
			case c == '@':
				out = append(out, 0)
			case c >= '[' && c <= '_':
				out = append(out, c-'['+27)
			default:
				return nil, fmt.Errorf("Invalid escape keys (%s) provided", s)
			}
		default:
			return nil, fmt.Errorf("Invalid escape keys (%s) provided", s)
		}
	}
	return out, nil
}

// CopyUntilKeys copies r to w, holding back what may be the start of the detach keys; the whole
// sequence ends the copy with ErrDetached (and is not sent). The end of r returns nil.
func CopyUntilKeys(w io.Writer, r io.Reader, keys []byte) error {
	buf := make([]byte, 32*1024)
	var held []byte
	for {
		n, err := r.Read(buf)
		var out []byte
		for _, b := range buf[:n] {
			if len(keys) > 0 && b == keys[len(held)] {
				if held = append(held, b); len(held) == len(keys) {
					w.Write(out)
					return ErrDetached
				}
				continue
			}
			out = append(out, held...)
			held = held[:0]
			if len(keys) > 0 && b == keys[0] {
				held = append(held, b)
			} else {
				out = append(out, b)
			}
		}
		if len(out) > 0 {
			if _, werr := w.Write(out); werr != nil {
				return werr
			}
		}
		if err != nil {
			if len(held) > 0 {
				w.Write(held)
			}
			if err == io.EOF {
				return nil
			}
			return err
		}
	}
}
