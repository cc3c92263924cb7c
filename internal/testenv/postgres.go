package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresBin is where Debian's postgresql-15 package puts initdb and
// postgres (`make deps` installs it).
const PostgresBin = "/usr/lib/postgresql/15/bin"

// Postgres is a PostgreSQL server of the tests' own: initdb into a
// temporary folder, then the server on a free loopback port, run as an
// unprivileged user (PostgreSQL refuses to run as root, and tests run as
// root). Durability is traded for speed (fsync off): the server lives only
// as long as the test process.
//
// Applications connect as Role, which is not a superuser: it owns the
// databases CreateDatabase makes, as an operator would set it up.
type Postgres struct {
	Host string // "127.0.0.1"
	Port int
	Role string // the role databases belong to (not a superuser)
	Dir  string // data folder (and socket folder)

	super string // the superuser initdb made
	cred  *syscall.Credential
	log   string
	mu    sync.Mutex
	cmd   *exec.Cmd
	done  chan struct{}
	seq   int
}

var (
	sharedPG     *Postgres
	sharedPGErr  error
	sharedPGOnce sync.Once
)

// SharedPostgres returns the test process's one PostgreSQL server,
// starting it at the first call; subtests take a database each
// (CreateDatabase). Call StopSharedPostgres from TestMain after m.Run.
// Without the PostgreSQL binaries the test fails under CI=true and is
// skipped otherwise.
func SharedPostgres(t T) *Postgres {
	t.Helper()
	RequirePostgres(t)
	sharedPGOnce.Do(func() { sharedPG, sharedPGErr = startPostgres() })
	if sharedPGErr != nil {
		t.Fatalf("start PostgreSQL: %v", sharedPGErr)
	}
	return sharedPG
}

// StopSharedPostgres stops the server SharedPostgres started, if any, and
// removes its folder.
func StopSharedPostgres() {
	if sharedPG != nil {
		sharedPG.stop()
	}
}

// StartPostgres starts a PostgreSQL server of the test's own, stopped at
// t's cleanup.
func StartPostgres(t T) *Postgres {
	t.Helper()
	RequirePostgres(t)
	pg, err := startPostgres()
	if err != nil {
		t.Fatalf("start PostgreSQL: %v", err)
	}
	t.Cleanup(pg.stop)
	return pg
}

// RequirePostgres makes sure initdb and postgres are installed (failing
// under CI=true, skipping otherwise).
func RequirePostgres(t T) {
	t.Helper()
	for _, name := range []string{"initdb", "postgres"} {
		if _, err := os.Stat(filepath.Join(PostgresBin, name)); err != nil {
			RequireTool(t, filepath.Join(PostgresBin, name))
		}
	}
}

// pgUser picks the account the server runs as: the current one when it is
// not root, else "postgres" (made by Debian's package) or "nobody".
func pgUser() (*syscall.Credential, string, error) {
	if os.Geteuid() != 0 {
		return nil, "", nil
	}
	for _, name := range []string{"postgres", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, name, nil
	}
	return nil, "", errors.New("running as root and there is neither a postgres nor a nobody account to run PostgreSQL as")
}

func startPostgres() (*Postgres, error) {
	cred, _, err := pgUser()
	if err != nil {
		return nil, err
	}
	// Not t.TempDir: its parent is private to root, and the server's user
	// must reach the folder.
	dir, err := os.MkdirTemp("", "blueprints-pg-")
	if err != nil {
		return nil, err
	}
	pg := &Postgres{Host: "127.0.0.1", Role: "blueprints", Dir: filepath.Join(dir, "data"), super: "postgres", cred: cred, log: filepath.Join(dir, "postgres.log")}
	fail := func(err error) (*Postgres, error) {
		pg.stop()
		os.RemoveAll(dir)
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return fail(err)
		}
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return fail(err)
	}
	out, err := pg.command(filepath.Join(PostgresBin, "initdb"), "-D", pg.Dir, "-U", pg.super, "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync").CombinedOutput()
	if err != nil {
		return fail(fmt.Errorf("initdb: %v\n%s", err, out))
	}
	for range 5 { // a free port may be taken between choosing and binding
		pg.Port, err = freePort()
		if err != nil {
			return fail(err)
		}
		if err = pg.start(); err == nil {
			break
		}
	}
	if err != nil {
		return fail(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pg.url(pg.super, "postgres"))
	if err != nil {
		return fail(fmt.Errorf("connect as %s: %w", pg.super, err))
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE ROLE `+pg.Role+` LOGIN CREATEDB`); err != nil {
		return fail(fmt.Errorf("create role %s: %w", pg.Role, err))
	}
	return pg, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// command runs a PostgreSQL program as the server's user.
func (pg *Postgres) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: pg.cred, Setpgid: true, Pdeathsig: syscall.SIGTERM}
	cmd.Dir = filepath.Dir(pg.Dir)
	return cmd
}

// start runs the server in the foreground (as our child, so it dies with
// the test process) and waits until it accepts connections.
func (pg *Postgres) start() error {
	logf, err := os.OpenFile(pg.log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := pg.command(filepath.Join(PostgresBin, "postgres"), "-D", pg.Dir,
		"-c", "listen_addresses="+pg.Host,
		"-c", "port="+strconv.Itoa(pg.Port),
		"-c", "unix_socket_directories="+pg.Dir,
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=300",
		"-c", "shared_buffers=32MB",
		"-c", "log_min_messages=warning",
		"-c", "log_min_error_statement=panic",
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(done) }()
	pg.mu.Lock()
	pg.cmd, pg.done = cmd, done
	pg.mu.Unlock()

	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			pg.mu.Lock()
			pg.cmd = nil
			pg.mu.Unlock()
			return fmt.Errorf("postgres exited: %v\n%s", cmd.ProcessState, pg.logTail())
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, pg.url(pg.super, "postgres"))
		if err == nil {
			conn.Close(ctx)
			cancel()
			return nil
		}
		cancel()
		time.Sleep(30 * time.Millisecond)
	}
	pg.kill()
	return fmt.Errorf("postgres did not accept connections within 30s\n%s", pg.logTail())
}

// stop shuts the server down (fast mode) and removes its folder.
func (pg *Postgres) stop() {
	pg.mu.Lock()
	cmd, done := pg.cmd, pg.done
	pg.cmd = nil
	pg.mu.Unlock()
	if cmd != nil {
		cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
	if pg.Dir != "" {
		os.RemoveAll(filepath.Dir(pg.Dir))
	}
}

func (pg *Postgres) kill() {
	pg.mu.Lock()
	defer pg.mu.Unlock()
	if pg.cmd != nil {
		syscall.Kill(-pg.cmd.Process.Pid, syscall.SIGKILL)
		<-pg.done
		pg.cmd = nil
	}
}

func (pg *Postgres) logTail() string {
	b, _ := os.ReadFile(pg.log)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return "postgres log:\n" + string(b)
}

func (pg *Postgres) url(role, db string) string {
	u := url.URL{Scheme: "postgres", User: url.User(role), Host: net.JoinHostPort(pg.Host, strconv.Itoa(pg.Port)), Path: "/" + db, RawQuery: "sslmode=disable"}
	return u.String()
}

// CreateDatabase makes a new, empty database owned by Role and returns its
// URL (postgres://blueprints@127.0.0.1:PORT/NAME?sslmode=disable). Names
// are unique within the server.
func (pg *Postgres) CreateDatabase(t T) string {
	t.Helper()
	var b [4]byte
	rand.Read(b[:])
	pg.mu.Lock()
	pg.seq++
	name := fmt.Sprintf("t%d_%s", pg.seq, hex.EncodeToString(b[:]))
	pg.mu.Unlock()
	if err := pg.superExec(`CREATE DATABASE ` + name + ` OWNER ` + pg.Role); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	return pg.url(pg.Role, name)
}

// superExec runs one statement as the superuser in the postgres database.
func (pg *Postgres) superExec(sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pg.url(pg.super, "postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	_, err = conn.Exec(ctx, sql)
	return err
}

// Query runs a query as the superuser in the database of dbURL and
// returns the first column of each row as text, for tests that look at
// the server directly.
func (pg *Postgres) Query(t T, dbURL, sql string, args ...any) []string {
	t.Helper()
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatalf("query: bad database URL %q: %v", dbURL, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pg.url(pg.super, strings.TrimPrefix(u.Path, "/")))
	if err != nil {
		t.Fatalf("query: connect: %v", err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, sql, args...)
	if err != nil {
		t.Fatalf("query %q: %v", sql, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatalf("query %q: %v", sql, err)
		}
		var b bytes.Buffer
		if len(vals) > 0 {
			fmt.Fprint(&b, vals[0])
		}
		out = append(out, b.String())
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("query %q: %v", sql, err)
	}
	return out
}
