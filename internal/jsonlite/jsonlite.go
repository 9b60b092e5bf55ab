// Package jsonlite reads and writes the few flat JSON documents of berth-shim (its control
// requests and replies, exit records, json-file log lines) without encoding/json. encoding/json
// links reflect and its type tables into the binary, and every byte of a binary's loaded
// segments ends up resident in each of the shims (one per running container): this package
// keeps the shim small. The output is what encoding/json produces for the same values.
package jsonlite

import (
	"bufio"
	"errors"
	"io"
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// ErrSyntax is returned for malformed JSON.
var ErrSyntax = errors.New("jsonlite: malformed JSON")

const hex = "0123456789abcdef"

// AppendString appends s as a JSON string, escaped as encoding/json does (HTML-safe, invalid
// UTF-8 replaced by U+FFFD, U+2028 and U+2029 escaped).
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[b>>4], hex[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// AppendTime appends t as encoding/json does (RFC 3339 with nanoseconds, quoted).
func AppendTime(dst []byte, t time.Time) []byte {
	dst = append(dst, '"')
	dst = t.AppendFormat(dst, time.RFC3339Nano)
	return append(dst, '"')
}

// Object builds a JSON object member by member.
type Object struct{ b []byte }

// NewObject starts an object in buf (reused).
func NewObject(buf []byte) *Object { return &Object{b: append(buf[:0], '{')} }

func (o *Object) key(k string) {
	if len(o.b) > 1 {
		o.b = append(o.b, ',')
	}
	o.b = AppendString(o.b, k)
	o.b = append(o.b, ':')
}

// String adds a string member.
func (o *Object) String(k, v string) *Object {
	o.key(k)
	o.b = AppendString(o.b, v)
	return o
}

// Int adds a number member.
func (o *Object) Int(k string, v int) *Object {
	o.key(k)
	o.b = strconv.AppendInt(o.b, int64(v), 10)
	return o
}

// Bool adds a boolean member.
func (o *Object) Bool(k string, v bool) *Object {
	o.key(k)
	o.b = strconv.AppendBool(o.b, v)
	return o
}

// Time adds a time member.
func (o *Object) Time(k string, t time.Time) *Object {
	o.key(k)
	o.b = AppendTime(o.b, t)
	return o
}

// Raw adds a member whose value is already JSON.
func (o *Object) Raw(k string, v []byte) *Object {
	o.key(k)
	o.b = append(o.b, v...)
	return o
}

// Bytes ends the object and returns it.
func (o *Object) Bytes() []byte { return append(o.b, '}') }

// ReadValue reads exactly one JSON value from r (after any white space) and returns its bytes;
// what follows it stays in r.
func ReadValue(r *bufio.Reader) ([]byte, error) {
	var out []byte
	depth, inString, escaped := 0, false, false
	for {
		c, err := r.ReadByte()
		if err != nil {
			if len(out) > 0 && depth == 0 && !inString && err == io.EOF {
				return out, nil // a bare literal or number ended by EOF
			}
			return nil, err
		}
		if len(out) > 1<<20 {
			return nil, ErrSyntax
		}
		switch {
		case inString:
			out = append(out, c)
			if escaped {
				escaped = false
			} else if c == '\\' {
				escaped = true
			} else if c == '"' {
				inString = false
				if depth == 0 {
					return out, nil
				}
			}
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			if len(out) > 0 && depth == 0 {
				return out, nil // the end of a bare literal or number
			}
		case c == '"':
			out = append(out, c)
			inString = true
		case c == '{' || c == '[':
			out = append(out, c)
			depth++
		case c == '}' || c == ']':
			out = append(out, c)
			if depth--; depth < 0 {
				return nil, ErrSyntax
			}
			if depth == 0 {
				return out, nil
			}
		default:
			out = append(out, c)
		}
	}
}

// skipSpace returns the index of the first non-space byte of data at or after i.
func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// valueEnd returns the end of the JSON value starting at data[i].
func valueEnd(data []byte, i int) (int, error) {
	if i >= len(data) {
		return 0, ErrSyntax
	}
	switch data[i] {
	case '"':
		for j := i + 1; j < len(data); j++ {
			switch data[j] {
			case '\\':
				j++
			case '"':
				return j + 1, nil
			}
		}
		return 0, ErrSyntax
	case '{', '[':
		depth := 0
		for j := i; j < len(data); j++ {
			switch data[j] {
			case '"':
				end, err := valueEnd(data, j)
				if err != nil {
					return 0, err
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, ErrSyntax
	}
	j := i
	for j < len(data) && data[j] != ',' && data[j] != '}' && data[j] != ']' && data[j] != ' ' && data[j] != '\t' && data[j] != '\n' && data[j] != '\r' {
		j++
	}
	if j == i {
		return 0, ErrSyntax
	}
	return j, nil
}

// Members calls fn with each member of the JSON object data: its key and its value's bytes.
func Members(data []byte, fn func(key string, value []byte) error) error {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return ErrSyntax
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return nil
	}
	for {
		end, err := valueEnd(data, i)
		if err != nil || data[i] != '"' {
			return ErrSyntax
		}
		key, err := String(data[i:end])
		if err != nil {
			return err
		}
		i = skipSpace(data, end)
		if i >= len(data) || data[i] != ':' {
			return ErrSyntax
		}
		i = skipSpace(data, i+1)
		if end, err = valueEnd(data, i); err != nil {
			return err
		}
		if err := fn(key, data[i:end]); err != nil {
			return err
		}
		i = skipSpace(data, end)
		if i >= len(data) {
			return ErrSyntax
		}
		if data[i] == '}' {
			return nil
		}
		if data[i] != ',' {
			return ErrSyntax
		}
		i = skipSpace(data, i+1)
	}
}

// String decodes a JSON string value (null is "").
func String(v []byte) (string, error) {
	if string(v) == "null" {
		return "", nil
	}
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", ErrSyntax
	}
	v = v[1 : len(v)-1]
	plain := true
	for _, c := range v {
		if c == '\\' {
			plain = false
			break
		}
	}
	if plain {
		return string(v), nil
	}
	out := make([]byte, 0, len(v))
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c != '\\' {
			out = append(out, c)
			continue
		}
		if i++; i >= len(v) {
			return "", ErrSyntax
		}
		switch v[i] {
		case '"', '\\', '/':
			out = append(out, v[i])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4(v[i+1:])
			if !ok {
				return "", ErrSyntax
			}
			i += 4
			if utf16.IsSurrogate(r) {
				r = surrogatePair(r, v[i+1:])
				if r != utf8.RuneError {
					i += 6
				}
			}
			out = utf8.AppendRune(out, r)
		default:
			return "", ErrSyntax
		}
	}
	return string(out), nil
}

// surrogatePair joins the first half of a UTF-16 pair with the escape that follows it (rest),
// or is U+FFFD when rest does not complete it, as encoding/json reads them.
func surrogatePair(r1 rune, rest []byte) rune {
	if len(rest) < 6 || rest[0] != '\\' || rest[1] != 'u' {
		return utf8.RuneError
	}
	r2, ok := hex4(rest[2:])
	if !ok {
		return utf8.RuneError
	}
	return utf16.DecodeRune(r1, r2)
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	n, err := strconv.ParseUint(string(b[:4]), 16, 32)
	return rune(n), err == nil
}

// Int decodes a JSON number that is an integer (null is 0).
func Int(v []byte) (int, error) {
	if string(v) == "null" {
		return 0, nil
	}
	n, err := strconv.Atoi(string(v))
	if err != nil {
		return 0, ErrSyntax
	}
	return n, nil
}

// Bool decodes a JSON boolean (null is false).
func Bool(v []byte) (bool, error) {
	switch string(v) {
	case "true":
		return true, nil
	case "false", "null":
		return false, nil
	}
	return false, ErrSyntax
}
