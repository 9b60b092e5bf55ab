package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
)

// A list sent item by item is byte for byte what writeJSON sends for the whole slice: empty,
// one item, and more than a batch.
func TestWriteJSONSeqAsWriteJSON(t *testing.T) {
	type item struct {
		Name   string
		Labels map[string]string
		HTML   string
	}
	for _, n := range []int{0, 1, 64, 65, 200} {
		items := []item{}
		for i := range n {
			items = append(items, item{Name: fmt.Sprint("c", i), Labels: map[string]string{"k": "v"}, HTML: "<a>&"})
		}
		want, got := httptest.NewRecorder(), httptest.NewRecorder()
		if err := writeJSON(want, http.StatusOK, items); err != nil {
			t.Fatal(err)
		}
		if err := writeJSONSeq(got, http.StatusOK, slices.Values(items)); err != nil {
			t.Fatal(err)
		}
		if got.Body.String() != want.Body.String() || got.Header().Get("Content-Type") != "application/json" {
			t.Errorf("%d items: got %q, want %q", n, got.Body.String(), want.Body.String())
		}
	}
}

type failingWriter struct{ *httptest.ResponseRecorder }

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("client gone") }

// A client that goes away stops the list: no more items are made.
func TestWriteJSONSeqStopsWhenTheClientIsGone(t *testing.T) {
	made := 0
	items := func(yield func(int) bool) {
		for i := range 100000 {
			made++
			if !yield(i) {
				return
			}
		}
	}
	if err := writeJSONSeq(failingWriter{httptest.NewRecorder()}, http.StatusOK, items); err == nil {
		t.Fatal("no error from a failing client")
	}
	if made >= 100000 {
		t.Errorf("all %d items were made for a client that was gone", made)
	}
}

// A panic while the items are made is the handler's, as it was when they were made in it:
// net/http recovers it instead of the daemon dying.
func TestWriteJSONSeqPanicsInTheHandler(t *testing.T) {
	items := func(yield func(int) bool) {
		for i := range 100 {
			if i == 70 {
				panic("bad record")
			}
			if !yield(i) {
				return
			}
		}
	}
	defer func() {
		if p := recover(); p != "bad record" {
			t.Errorf("recovered %v", p)
		}
	}()
	writeJSONSeq(httptest.NewRecorder(), http.StatusOK, items)
	t.Error("no panic")
}
