package devstack

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"flashsale/shared/awsclient"
)

// StackInfoFile is the file in the state folder that describes the running
// local stack; `flashsale token`, `pay`, `bench`, `demo` and `schedule
// list` read it.
const StackInfoFile = "stack.json"

// StackInfo says where a running `flashsale dev` serves and stores;
// ControlURL is its control port (GET /schedules, GET /provisioned).
type StackInfo struct {
	GatewayURL string             `json:"gatewayUrl"`
	ControlURL string             `json:"controlUrl,omitempty"`
	Settings   awsclient.Settings `json:"settings"`
	DLQURL     string             `json:"dlqUrl"`
	PID        int                `json:"pid"`
	StartedAt  time.Time          `json:"startedAt"`
	// LeadSeconds is how long before a sale opens its warm-up and
	// reminders run on this stack.
	LeadSeconds int64 `json:"leadSeconds,omitempty"`
}

// WriteStackInfo writes info to dir/stack.json atomically.
func WriteStackInfo(dir string, info StackInfo) error {
	b, err := json.MarshalIndent(info, "", "  ")
	if err != nil {
		return fmt.Errorf("encode stack info: %w", err)
	}
	tmp := filepath.Join(dir, StackInfoFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write stack info: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, StackInfoFile)); err != nil {
		return fmt.Errorf("write stack info: %w", err)
	}
	return nil
}

// ErrNotRunning means no local stack has written its info to the state folder.
var ErrNotRunning = errors.New("no local stack is running: start one with `make dev`")

// ReadStackInfo reads dir/stack.json. It returns ErrNotRunning when the file
// is missing or the process that wrote it has gone.
func ReadStackInfo(dir string) (StackInfo, error) {
	b, err := os.ReadFile(filepath.Join(dir, StackInfoFile))
	if errors.Is(err, fs.ErrNotExist) {
		return StackInfo{}, fmt.Errorf("%w (no %s in %s)", ErrNotRunning, StackInfoFile, dir)
	}
	if err != nil {
		return StackInfo{}, fmt.Errorf("read stack info: %w", err)
	}
	var info StackInfo
	if err := json.Unmarshal(b, &info); err != nil {
		return StackInfo{}, fmt.Errorf("read %s: %w", filepath.Join(dir, StackInfoFile), err)
	}
	if info.PID > 0 {
		if err := syscall.Kill(info.PID, 0); errors.Is(err, syscall.ESRCH) {
			return StackInfo{}, fmt.Errorf("%w (process %d that wrote %s has exited)", ErrNotRunning, info.PID, StackInfoFile)
		}
	}
	return info, nil
}

// RemoveStackInfo deletes dir/stack.json when the stack stops.
func RemoveStackInfo(dir string) error {
	if err := os.Remove(filepath.Join(dir, StackInfoFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove stack info: %w", err)
	}
	return nil
}
