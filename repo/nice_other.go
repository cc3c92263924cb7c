//go:build !linux

package repo

import "syscall"

// setNice does nothing where process priorities are not set this way.
func setNice(pid, nice int) error { return nil }

// gitProcAttr sets nothing where there is no parent-death signal.
func gitProcAttr() *syscall.SysProcAttr { return nil }
