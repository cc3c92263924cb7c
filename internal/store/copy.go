package store

// Moving an instance's metadata from SQLite to PostgreSQL (blueprints
// migrate-db). Every table the SQLite database holds is copied, parents
// before the tables whose foreign keys point at them, into an empty
// PostgreSQL database migrated to the same schema, in one transaction.
// Before that transaction commits, every table is read back from
// PostgreSQL and compared with the source: row counts, and a checksum of
// every value of every row normalised the same way on both sides (so a
// timestamp, a boolean or a case-insensitive name that came through
// changed would show). Any difference rolls the whole copy back.

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// TableCopy is what was copied of one table.
type TableCopy struct {
	Table    string
	Rows     int64
	Checksum string // hex; the same for source and target
}

// CopyProgress hears about the copy: a table started (rows 0) and rows
// copied so far.
type CopyProgress func(table string, rows, total int64)

// ErrNotEmpty is returned by CopyTo when the target already holds data.
var ErrNotEmpty = errors.New("target database is not empty")

// CopyTo copies everything src (SQLite) holds into dst (PostgreSQL),
// which must be empty, verifies it, and commits. Stop every server using
// src first; CopyTo reads src in one transaction.
func CopyTo(ctx context.Context, src, dst *Store, progress CopyProgress) ([]TableCopy, error) {
	if src.Dialect() != SQLite || dst.Dialect() != Postgres {
		return nil, fmt.Errorf("copy metadata: from SQLite to PostgreSQL only (have %s to %s)", src.Dialect(), dst.Dialect())
	}
	if progress == nil {
		progress = func(string, int64, int64) {}
	}
	stx, err := src.DB.BeginTx(ctx, nil) // BEGIN IMMEDIATE: nothing writes meanwhile
	if err != nil {
		return nil, fmt.Errorf("copy metadata: read the SQLite database: %w", err)
	}
	defer stx.Rollback()
	tables, err := sqliteTables(ctx, stx)
	if err != nil {
		return nil, err
	}
	if err := sameMigrations(ctx, stx, dst); err != nil {
		return nil, err
	}
	dtx, err := dst.DB.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("copy metadata: %w", err)
	}
	defer dtx.Rollback()
	var out []TableCopy
	for _, t := range tables {
		cols, err := pgColumns(ctx, dtx, t.name)
		if err != nil {
			return nil, err
		}
		if t.name == "counters" {
			// The target drew its own log id when it was made: the
			// source's replaces it, so indexes built on the old
			// instance stay valid.
			if _, err := dtx.ExecContext(ctx, `DELETE FROM counters`); err != nil {
				return nil, fmt.Errorf("copy metadata: %w", err)
			}
		} else {
			var n int64
			if err := dtx.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+quoteIdent(t.name)).Scan(&n); err != nil {
				return nil, fmt.Errorf("copy metadata: count rows of %s in the target: %w", t.name, err)
			}
			if n > 0 {
				return nil, fmt.Errorf("copy metadata: table %s of the target holds %d rows: %w (migrate into a new, empty database)", t.name, n, ErrNotEmpty)
			}
		}
		tc, err := copyTable(ctx, stx, dtx, t, cols, progress)
		if err != nil {
			return nil, err
		}
		out = append(out, tc)
	}
	// Identity columns count on from the largest id copied.
	for _, t := range tables {
		cols, _ := pgColumns(ctx, dtx, t.name)
		for _, c := range t.columns {
			if cols[c].identity {
				q := fmt.Sprintf(`SELECT setval(pg_get_serial_sequence('%s', '%s'), COALESCE(MAX(%s), 1), MAX(%s) IS NOT NULL) FROM %s`, t.name, c, quoteIdent(c), quoteIdent(c), quoteIdent(t.name))
				if _, err := dtx.ExecContext(ctx, q); err != nil {
					return nil, fmt.Errorf("copy metadata: continue the ids of %s.%s: %w", t.name, c, err)
				}
			}
		}
	}
	// Verify before committing: read every table back.
	for i, t := range tables {
		cols, _ := pgColumns(ctx, dtx, t.name)
		n, sum, err := checksum(ctx, dtx, t, cols)
		if err != nil {
			return nil, fmt.Errorf("copy metadata: verify %s: %w", t.name, err)
		}
		if n != out[i].Rows || sum != out[i].Checksum {
			return nil, fmt.Errorf("copy metadata: verify %s: the target holds %d rows (checksum %s), the source %d (checksum %s); nothing was committed", t.name, n, sum[:12], out[i].Rows, out[i].Checksum[:12])
		}
	}
	if err := dtx.Commit(); err != nil {
		return nil, fmt.Errorf("copy metadata: commit: %w", err)
	}
	return out, nil
}

// sqliteTable is a table of the source with its columns, in order.
type sqliteTable struct {
	name    string
	columns []string
	types   []string // declared types, upper case
	key     []string // primary key columns
	parents []string // tables its foreign keys name
}

// sqliteTables lists the source's tables, parents first; store_info (which
// binary last opened each database) belongs to each database, not copied.
func sqliteTables(ctx context.Context, tx *Tx) ([]sqliteTable, error) {
	rows, err := tx.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'schema_migrations' AND name <> 'store_info' ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("copy metadata: list tables: %w", err)
	}
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			rows.Close()
			return nil, err
		}
		names = append(names, n)
	}
	rows.Close()
	byName := map[string]*sqliteTable{}
	for _, n := range names {
		t := &sqliteTable{name: n}
		info, err := tx.QueryContext(ctx, `SELECT name, type, pk FROM pragma_table_info(?) ORDER BY cid`, n)
		if err != nil {
			return nil, fmt.Errorf("copy metadata: columns of %s: %w", n, err)
		}
		pks := map[int]string{}
		for info.Next() {
			var col, typ string
			var pk int
			if err := info.Scan(&col, &typ, &pk); err != nil {
				info.Close()
				return nil, err
			}
			t.columns = append(t.columns, col)
			t.types = append(t.types, strings.ToUpper(typ))
			if pk > 0 {
				pks[pk] = col
			}
		}
		info.Close()
		for i := 1; i <= len(pks); i++ {
			t.key = append(t.key, pks[i])
		}
		fks, err := tx.QueryContext(ctx, `SELECT DISTINCT "table" FROM pragma_foreign_key_list(?)`, n)
		if err != nil {
			return nil, fmt.Errorf("copy metadata: foreign keys of %s: %w", n, err)
		}
		for fks.Next() {
			var p string
			if err := fks.Scan(&p); err != nil {
				fks.Close()
				return nil, err
			}
			if p != n {
				t.parents = append(t.parents, p)
			}
		}
		fks.Close()
		byName[n] = t
	}
	// Parents first (a depth-first topological order, names breaking ties).
	var out []sqliteTable
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(n string) error
	visit = func(n string) error {
		switch state[n] {
		case 1:
			return fmt.Errorf("copy metadata: foreign keys form a cycle through %s", n)
		case 2:
			return nil
		}
		t, ok := byName[n]
		if !ok {
			return nil
		}
		state[n] = 1
		for _, p := range t.parents {
			if err := visit(p); err != nil {
				return err
			}
		}
		state[n] = 2
		out = append(out, *t)
		return nil
	}
	for _, n := range names {
		if err := visit(n); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// sameMigrations checks that source and target are at the same schema
// version (the target was opened, so migrated, by this binary; the source
// too).
func sameMigrations(ctx context.Context, stx *Tx, dst *Store) error {
	read := func(rows *sql.Rows, err error) ([]int, error) {
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var vs []int
		for rows.Next() {
			var v int
			if err := rows.Scan(&v); err != nil {
				return nil, err
			}
			vs = append(vs, v)
		}
		return vs, rows.Err()
	}
	a, err := read(stx.QueryContext(ctx, `SELECT version FROM schema_migrations ORDER BY version`))
	if err != nil {
		return fmt.Errorf("copy metadata: read the source's migrations: %w", err)
	}
	b, err := read(dst.DB.QueryContext(ctx, `SELECT version FROM schema_migrations ORDER BY version`))
	if err != nil {
		return fmt.Errorf("copy metadata: read the target's migrations: %w", err)
	}
	if !slices.Equal(a, b) {
		return fmt.Errorf("copy metadata: the source has migrations %v, the target %v: open both with the same blueprints version", a, b)
	}
	return nil
}

// pgColumn is a target column's type.
type pgColumn struct {
	kind     string // "int", "float", "bool", "time", "bytes", "text"
	identity bool
}

// pgColumns reads the target table's column types.
func pgColumns(ctx context.Context, tx *Tx, table string) (map[string]pgColumn, error) {
	rows, err := tx.QueryContext(ctx, `SELECT column_name, data_type, udt_name, is_identity FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ?`, table)
	if err != nil {
		return nil, fmt.Errorf("copy metadata: columns of %s in the target: %w", table, err)
	}
	defer rows.Close()
	cols := map[string]pgColumn{}
	for rows.Next() {
		var name, dataType, udt, identity string
		if err := rows.Scan(&name, &dataType, &udt, &identity); err != nil {
			return nil, err
		}
		c := pgColumn{kind: "text", identity: identity == "YES"}
		switch {
		case dataType == "bigint" || dataType == "integer" || dataType == "smallint":
			c.kind = "int"
		case dataType == "double precision" || dataType == "real" || dataType == "numeric":
			c.kind = "float"
		case dataType == "boolean":
			c.kind = "bool"
		case strings.HasPrefix(dataType, "timestamp") || dataType == "date":
			c.kind = "time"
		case dataType == "bytea":
			c.kind = "bytes"
		}
		cols[name] = c
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(cols) == 0 {
		return nil, fmt.Errorf("copy metadata: the target has no table %s (is it at the same schema version?)", table)
	}
	return cols, nil
}

// copyTable copies one table and returns its row count and checksum as
// read from the source.
func copyTable(ctx context.Context, stx, dtx *Tx, t sqliteTable, cols map[string]pgColumn, progress CopyProgress) (TableCopy, error) {
	tc := TableCopy{Table: t.name}
	kinds := make([]string, len(t.columns))
	for i, c := range t.columns {
		pc, ok := cols[c]
		if !ok {
			return tc, fmt.Errorf("copy metadata: the target's table %s has no column %s (is it at the same schema version?)", t.name, c)
		}
		kinds[i] = pc.kind
	}
	var total int64
	if err := stx.QueryRowContext(ctx, `SELECT COUNT(*) FROM `+quoteIdent(t.name)).Scan(&total); err != nil {
		return tc, fmt.Errorf("copy metadata: count %s: %w", t.name, err)
	}
	progress(t.name, 0, total)
	rows, err := stx.QueryContext(ctx, `SELECT `+joinIdents(t.columns)+` FROM `+quoteIdent(t.name))
	if err != nil {
		return tc, fmt.Errorf("copy metadata: read %s: %w", t.name, err)
	}
	defer rows.Close()
	perRow := len(t.columns)
	chunk := max(1, min(1000, 60000/perRow))
	insert := func(n int) string {
		row := "(" + strings.TrimSuffix(strings.Repeat("?, ", perRow), ", ") + ")"
		return `INSERT INTO ` + quoteIdent(t.name) + ` (` + joinIdents(t.columns) + `) VALUES ` + strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
	}
	var sum rowSum
	args := make([]any, 0, chunk*perRow)
	flush := func() error {
		if len(args) == 0 {
			return nil
		}
		if _, err := dtx.ExecContext(ctx, insert(len(args)/perRow), args...); err != nil {
			return fmt.Errorf("copy metadata: write %s: %w", t.name, err)
		}
		args = args[:0]
		progress(t.name, tc.Rows, total)
		return nil
	}
	vals := make([]any, perRow)
	ptrs := make([]any, perRow)
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return tc, fmt.Errorf("copy metadata: read %s: %w", t.name, err)
		}
		row := make([]any, perRow)
		for i, v := range vals {
			cv, err := convert(v, kinds[i])
			if err != nil {
				return tc, fmt.Errorf("copy metadata: table %s, row %s, column %s: %w", t.name, describeKey(t, vals), t.columns[i], err)
			}
			row[i] = cv
		}
		sum.add(row, kinds)
		args = append(args, row...)
		tc.Rows++
		if len(args) >= chunk*perRow {
			if err := flush(); err != nil {
				return tc, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return tc, fmt.Errorf("copy metadata: read %s: %w", t.name, err)
	}
	if err := flush(); err != nil {
		return tc, err
	}
	tc.Checksum = sum.hex()
	return tc, nil
}

// checksum reads a table back from the target.
func checksum(ctx context.Context, tx *Tx, t sqliteTable, cols map[string]pgColumn) (int64, string, error) {
	kinds := make([]string, len(t.columns))
	for i, c := range t.columns {
		kinds[i] = cols[c].kind
	}
	rows, err := tx.QueryContext(ctx, `SELECT `+joinIdents(t.columns)+` FROM `+quoteIdent(t.name))
	if err != nil {
		return 0, "", err
	}
	defer rows.Close()
	vals := make([]any, len(t.columns))
	ptrs := make([]any, len(t.columns))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	var sum rowSum
	var n int64
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return 0, "", err
		}
		row := make([]any, len(vals))
		for i, v := range vals {
			if row[i], err = convert(v, kinds[i]); err != nil {
				return 0, "", err
			}
		}
		sum.add(row, kinds)
		n++
	}
	return n, sum.hex(), rows.Err()
}

// convert turns a value read from either database into the Go value of
// the target column's kind: what is written, and what is summed.
func convert(v any, kind string) (any, error) {
	if v == nil {
		return nil, nil
	}
	if b, ok := v.([]byte); ok && kind != "bytes" {
		v = string(b)
	}
	switch kind {
	case "int":
		switch x := v.(type) {
		case int64:
			return x, nil
		case float64:
			if x == math.Trunc(x) {
				return int64(x), nil
			}
		case bool:
			if x {
				return int64(1), nil
			}
			return int64(0), nil
		case string:
			if n, err := strconv.ParseInt(x, 10, 64); err == nil {
				return n, nil
			}
		}
	case "float":
		switch x := v.(type) {
		case float64:
			return x, nil
		case int64:
			return float64(x), nil
		case string:
			if f, err := strconv.ParseFloat(x, 64); err == nil {
				return f, nil
			}
		}
	case "bool":
		switch x := v.(type) {
		case bool:
			return x, nil
		case int64:
			return x != 0, nil
		case string:
			if b, err := strconv.ParseBool(x); err == nil {
				return b, nil
			}
		}
	case "time":
		switch x := v.(type) {
		case time.Time:
			// PostgreSQL keeps microseconds.
			return x.UTC().Truncate(time.Microsecond), nil
		case string:
			if t, ok := parseAnyTime(x); ok {
				return t.Truncate(time.Microsecond), nil
			}
			if x == "" {
				return nil, nil
			}
		case int64:
			return time.Unix(x, 0).UTC(), nil
		}
	case "bytes":
		switch x := v.(type) {
		case []byte:
			return x, nil
		case string:
			return []byte(x), nil
		}
	default: // text
		var s string
		switch x := v.(type) {
		case string:
			s = x
		case int64:
			s = strconv.FormatInt(x, 10)
		case float64:
			s = strconv.FormatFloat(x, 'g', -1, 64)
		case time.Time:
			s = x.UTC().Format(time.RFC3339Nano)
		case bool:
			s = strconv.FormatBool(x)
		default:
			return nil, fmt.Errorf("unexpected %T for a text column", v)
		}
		if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
			return nil, fmt.Errorf("%q is not text PostgreSQL can hold (invalid UTF-8 or a NUL byte)", clip(s))
		}
		return s, nil
	}
	return nil, fmt.Errorf("%v (%T) does not fit a %s column", v, v, kind)
}

// timeFormats are the ways SQLite databases written by Blueprints hold
// times: the catalog's, the sqlite driver's, SQLite's CURRENT_TIMESTAMP.
var timeFormats = []string{timeFormat, "2006-01-02 15:04:05.999999999-07:00", time.RFC3339Nano, "2006-01-02 15:04:05.999999999", "2006-01-02 15:04:05", "2006-01-02T15:04:05Z", "2006-01-02"}

func parseAnyTime(s string) (time.Time, bool) {
	for _, f := range timeFormats {
		if t, err := time.Parse(f, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "…"
	}
	return s
}

// rowSum is an order-independent checksum of rows: the sum, limb by limb,
// of each row's SHA-256. The engines order text differently, so the rows
// are not compared in order.
type rowSum [4]uint64

func (s *rowSum) add(row []any, kinds []string) {
	h := sha256.New()
	var buf []byte
	for i, v := range row {
		buf = buf[:0]
		switch x := v.(type) {
		case nil:
			buf = append(buf, 'N')
		case int64:
			buf = strconv.AppendInt(append(buf, 'i'), x, 10)
		case float64:
			buf = strconv.AppendFloat(append(buf, 'f'), x, 'g', -1, 64)
		case bool:
			buf = strconv.AppendBool(append(buf, 'b'), x)
		case time.Time:
			buf = x.UTC().AppendFormat(append(buf, 't'), "2006-01-02T15:04:05.000000Z")
		case []byte:
			buf = append(append(buf, 'x'), x...)
		case string:
			buf = append(append(buf, 's'), x...)
		default:
			buf = fmt.Appendf(append(buf, '?'), "%s %v", kinds[i], x)
		}
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(buf)))
		h.Write(n[:])
		h.Write(buf)
	}
	d := h.Sum(nil)
	for i := range s {
		s[i] += binary.BigEndian.Uint64(d[8*i:])
	}
}

func (s rowSum) hex() string {
	var b [32]byte
	for i, v := range s {
		binary.BigEndian.PutUint64(b[8*i:], v)
	}
	return hex.EncodeToString(b[:])
}

func describeKey(t sqliteTable, vals []any) string {
	var parts []string
	for _, k := range t.key {
		i := slices.Index(t.columns, k)
		if i >= 0 {
			parts = append(parts, fmt.Sprintf("%s=%v", k, vals[i]))
		}
	}
	if len(parts) == 0 {
		return "(no primary key)"
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func joinIdents(cols []string) string {
	q := make([]string, len(cols))
	for i, c := range cols {
		q[i] = quoteIdent(c)
	}
	return strings.Join(q, ", ")
}
