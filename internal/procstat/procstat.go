// Package procstat reads what berth needs of /proc/PID/stat: a process's state and its start
// time, which with its pid names a process for good (pids are reused). It imports nothing
// heavy: the shim uses it too.
package procstat

import (
	"errors"
	"os"
	"strconv"
	"strings"
)

// Stat returns a process's start time (clock ticks since boot, field 22) and state (field 3:
// "R", "S", "Z"...).
func Stat(pid int) (startTime uint64, state string, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, "", err
	}
	// The command name, in parentheses, may hold spaces and parentheses: fields count after
	// the last ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, "", errors.New("malformed /proc/" + strconv.Itoa(pid) + "/stat")
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0, "", errors.New("malformed /proc/" + strconv.Itoa(pid) + "/stat")
	}
	startTime, err = strconv.ParseUint(f[19], 10, 64)
	return startTime, f[0], err
}
