package repo

import "syscall"

// setNice sets the niceness of process pid.
func setNice(pid, nice int) error {
	return syscall.Setpriority(syscall.PRIO_PROCESS, pid, nice)
}
