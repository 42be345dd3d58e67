package devstack

import "syscall"

// childProcAttr puts a child in its own process group, so a terminal's Ctrl-C
// reaches only us and we stop the children in order, and has the kernel send
// it SIGTERM if we die without cleaning up.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
}
