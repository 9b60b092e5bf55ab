package daemon

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/docker/go-units"
	ctypes "github.com/moby/moby/api/types/container"

	"github.com/berthproject/berth/internal/daemon/logopts"
	"github.com/berthproject/berth/internal/logs/jsonfile"
)

// logDriverJSONFile is the log driver the shim writes itself; the other is logopts.DriverNone.
const logDriverJSONFile = "json-file"

// jsonFileOpts are the options Docker's json-file driver takes. berth's shim applies max-size and
// max-file; the others (which add attributes to each entry) are accepted and not applied (see
// docs/compatibility.md).
var jsonFileOpts = map[string]bool{"max-size": true, "max-file": true, "compress": true, "labels": true,
	"labels-regex": true, "env": true, "env-regex": true, "tag": true}

// validateLogConfig checks a log driver and its option names as dockerd does when a container is
// created (their values are read when it starts, see logLimits).
func validateLogConfig(driver string, opts map[string]string) error {
	if driver == logopts.DriverNone {
		return nil
	}
	switch ctypes.LogMode(opts["mode"]) {
	case ctypes.LogModeBlocking, ctypes.LogModeNonBlock, ctypes.LogModeUnset:
	default:
		return fmt.Errorf("logger: logging mode not supported: %s", opts["mode"])
	}
	if s, ok := opts["max-buffer-size"]; ok {
		if ctypes.LogMode(opts["mode"]) != ctypes.LogModeNonBlock {
			return fmt.Errorf("logger: max-buffer-size option is only supported with 'mode=%s'", ctypes.LogModeNonBlock)
		}
		if _, err := units.RAMInBytes(s); err != nil {
			return fmt.Errorf("error parsing option max-buffer-size: %w", err)
		}
	}
	if driver != logDriverJSONFile {
		// As dockerd says of a driver it has neither built in nor as a plugin.
		return fmt.Errorf("error looking up logging plugin %s: plugin %q not found", driver, driver)
	}
	for k := range opts {
		if !jsonFileOpts[k] && k != "mode" && k != "max-buffer-size" {
			return fmt.Errorf("unknown log opt '%s' for json-file log driver", k)
		}
	}
	return nil
}

// mergeLogConfig gives a container the daemon's log driver when it names none, and the daemon's
// options (those it does not set) when it uses the daemon's driver, then checks them, as dockerd.
func (d *Daemon) mergeLogConfig(lc *ctypes.LogConfig) error {
	if lc.Type == "" {
		lc.Type = d.cfg.LogDriver
	}
	if lc.Config == nil {
		lc.Config = map[string]string{}
	}
	if lc.Type == d.cfg.LogDriver {
		for k, v := range d.cfg.LogOpts {
			if _, ok := lc.Config[k]; !ok {
				lc.Config[k] = v
			}
		}
	}
	return validateLogConfig(lc.Type, lc.Config)
}

// logLimits reads a json-file log's rotation from its options: berth rotates by default (at
// jsonfile.DefaultMaxSize, keeping DefaultMaxFiles) so that logs never fill a disk. The errors
// are dockerd's, which reads them when the container starts.
func logLimits(lc ctypes.LogConfig) (maxSize int64, maxFiles int, err error) {
	maxSize, maxFiles = jsonfile.DefaultMaxSize, jsonfile.DefaultMaxFiles
	if s, ok := lc.Config["max-size"]; ok {
		if maxSize, err = units.FromHumanSize(s); err != nil {
			return 0, 0, err
		}
		if maxSize <= 0 {
			return 0, 0, errors.New("max-size must be a positive number")
		}
		maxFiles = 1 // as dockerd: a size alone keeps one file
	}
	if s, ok := lc.Config["max-file"]; ok {
		if maxFiles, err = strconv.Atoi(s); err != nil {
			return 0, 0, err
		}
		if maxFiles < 1 {
			return 0, 0, errors.New("max-file cannot be less than 1")
		}
	}
	if s, ok := lc.Config["compress"]; ok {
		compress, err := strconv.ParseBool(s)
		if err != nil {
			return 0, 0, err
		}
		if compress && (maxFiles == 1 || maxSize <= 0) {
			return 0, 0, errors.New("compress cannot be true when max-file is less than 2 or max-size is not set")
		}
	}
	return maxSize, maxFiles, nil
}
