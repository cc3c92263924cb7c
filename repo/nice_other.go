//go:build !linux

package repo

// setNice does nothing where process priorities are not set this way.
func setNice(pid, nice int) error { return nil }
