// Package errdefs is berth's one set of error kinds. Code anywhere wraps an error with a kind
// (errdefs.NotFound(err)); the API maps kinds to HTTP status codes in one place (HTTPStatus), and
// the CRI will map them to gRPC codes the same way.
package errdefs

import (
	"errors"
	"net/http"
)

// Kind classifies an error by what the caller can do about it.
type Kind int

const (
	KindUnknown         Kind = iota
	KindInvalidArgument      // the request is malformed: fix it
	KindNotFound             // the object does not exist
	KindConflict             // the object's state forbids the operation (name taken, container running)
	KindUnauthorized         // credentials are missing or wrong
	KindForbidden            // the operation is never allowed on this object
	KindUnavailable          // try again later
	KindNotImplemented       // this engine does not do that
	KindNotModified          // nothing to do (already started, already stopped)
)

type kindError struct {
	kind Kind
	err  error
}

func (e *kindError) Error() string { return e.err.Error() }
func (e *kindError) Unwrap() error { return e.err }

func wrap(k Kind, err error) error {
	if err == nil {
		return nil
	}
	return &kindError{kind: k, err: err}
}

// InvalidArgument marks err as the caller's mistake.
func InvalidArgument(err error) error { return wrap(KindInvalidArgument, err) }

// NotFound marks err as a missing object.
func NotFound(err error) error { return wrap(KindNotFound, err) }

// Conflict marks err as a state conflict.
func Conflict(err error) error { return wrap(KindConflict, err) }

// Unauthorized marks err as an authentication failure.
func Unauthorized(err error) error { return wrap(KindUnauthorized, err) }

// Forbidden marks err as a forbidden operation.
func Forbidden(err error) error { return wrap(KindForbidden, err) }

// Unavailable marks err as temporary.
func Unavailable(err error) error { return wrap(KindUnavailable, err) }

// NotImplemented marks err as unsupported.
func NotImplemented(err error) error { return wrap(KindNotImplemented, err) }

// NotModified marks err as "nothing to do".
func NotModified(err error) error { return wrap(KindNotModified, err) }

// KindOf returns the outermost kind in err's chain.
func KindOf(err error) Kind {
	var ke *kindError
	if errors.As(err, &ke) {
		return ke.kind
	}
	return KindUnknown
}

// Is reports whether err is of kind k.
func Is(err error, k Kind) bool { return KindOf(err) == k }

// HTTPStatus is the status code the Docker Engine API uses for err.
func HTTPStatus(err error) int {
	switch KindOf(err) {
	case KindInvalidArgument:
		return http.StatusBadRequest
	case KindNotFound:
		return http.StatusNotFound
	case KindConflict:
		return http.StatusConflict
	case KindUnauthorized:
		return http.StatusUnauthorized
	case KindForbidden:
		return http.StatusForbidden
	case KindUnavailable:
		return http.StatusServiceUnavailable
	case KindNotImplemented:
		return http.StatusNotImplemented
	case KindNotModified:
		return http.StatusNotModified
	}
	return http.StatusInternalServerError
}
