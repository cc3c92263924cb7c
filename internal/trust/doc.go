// Package trust holds Blueprints' end-to-end trust tests, which drive the
// real blueprints binary, git, git-lfs and versitygw together and hurt them
// on purpose: the crash test (crash_test.go) kills the server with SIGKILL
// at random moments during pushes, LFS uploads and catalog jobs and checks
// that nothing a client saw accepted is lost and that the catalog converges
// to what reindex builds; the storage-fault test (storagefault_test.go)
// stops the S3 server in the middle of LFS uploads and downloads and checks
// that clients get clear errors, nothing half-written becomes visible and
// service resumes. The package has no code of its own besides this comment.
package trust
