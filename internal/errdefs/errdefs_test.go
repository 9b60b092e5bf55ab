package errdefs

import (
	"errors"
	"fmt"
	"net/http"
	"testing"
)

func TestHTTPStatus(t *testing.T) {
	base := errors.New("boom")
	cases := []struct {
		err  error
		want int
	}{
		{InvalidArgument(base), http.StatusBadRequest},
		{NotFound(base), http.StatusNotFound},
		{Conflict(base), http.StatusConflict},
		{Unauthorized(base), http.StatusUnauthorized},
		{Forbidden(base), http.StatusForbidden},
		{Unavailable(base), http.StatusServiceUnavailable},
		{NotImplemented(base), http.StatusNotImplemented},
		{NotModified(base), http.StatusNotModified},
		{base, http.StatusInternalServerError},
		{fmt.Errorf("context: %w", NotFound(base)), http.StatusNotFound},
	}
	for _, c := range cases {
		if got := HTTPStatus(c.err); got != c.want {
			t.Errorf("HTTPStatus(%v) = %d, want %d", c.err, got, c.want)
		}
	}
	if NotFound(nil) != nil {
		t.Error("wrapping nil must give nil")
	}
	if !errors.Is(Conflict(base), base) {
		t.Error("kinds must keep the wrapped error reachable")
	}
	if NotFound(base).Error() != "boom" {
		t.Error("kinds must not change the message")
	}
}
