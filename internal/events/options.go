package events

import (
	"fmt"
	"time"
)

// Options are GET /events' parameters.
type Options struct {
	Since, Until time.Time // zero: not given
	Filter       Filter
}

// Validate refuses a window that ends before it begins, in dockerd's words.
func (o Options) Validate() error {
	if !o.Since.IsZero() && !o.Until.IsZero() && o.Since.After(o.Until) {
		return fmt.Errorf("`since` time (%d.%09d) cannot be after `until` time (%d.%09d)",
			o.Since.Unix(), o.Since.Nanosecond(), o.Until.Unix(), o.Until.Nanosecond())
	}
	return nil
}
