package repo

import "syscall"

// setNice sets the niceness of process pid.
func setNice(pid, nice int) error {
	return syscall.Setpriority(syscall.PRIO_PROCESS, pid, nice)
}

// gitProcAttr makes a git the server starts receive SIGTERM when the
// server dies (kill -9, a crash of the node): git then removes its lock
// files and quarantine and exits, instead of living on as an orphan that
// may still hold a ref's lock when another node takes the project's push
// lock.
func gitProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
