// Package version holds what berth says about itself: its release and the Docker Engine API
// versions it serves.
package version

// Version is berth's release, set at link time by the Makefile (-X ...version.Version=...).
var Version = "0.1.0-dev"

// GitCommit is the commit berth was built from, set at link time.
var GitCommit = ""

const (
	// APIVersion is the newest Docker Engine API version served: the one the official docker
	// CLI 28 negotiates.
	APIVersion = "1.50"
	// MinAPIVersion is the oldest served, as dockerd's.
	MinAPIVersion = "1.24"
)
