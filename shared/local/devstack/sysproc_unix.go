//go:build unix && !linux

package devstack

import "syscall"

// childProcAttr puts a child in its own process group, so a terminal's Ctrl-C
// reaches only us and we stop the children in order.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
