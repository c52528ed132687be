/*
 * The SQLite backend of the store: one database file, one connection per
 * custos_store.
 *
 * The connection runs in WAL mode (readers do not block the writer), with
 * foreign keys on, a busy timeout (a second process waits for the write lock
 * instead of failing), synchronous=FULL (a committed change, and later its
 * audit entry, survives a power cut), secure_delete (erased values are
 * overwritten in the file, for GOV-19's purge) and SQLite's defensive mode.
 * Every statement is a constant string prepared once and cached; every value
 * is a bound parameter.
 *
 * Migrations are frozen SQL: step N is never edited once released, a change
 * is a new step.  A template is stored as a 512-byte BLOB of 128 little-endian
 * IEEE 754 binary32 values, so the file reads the same on any machine.
 */
#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store_backend.h"
#include "util/util.h"

#define MOD "store"
#define BUSY_TIMEOUT_MS 10000
#define VECTOR_BYTES (CUSTOS_TEMPLATE_DIM * 4)

/* ---- migrations --------------------------------------------------------------
 *
 * | step | adds                                                          |
 * |------|---------------------------------------------------------------|
 * | 1    | meta (key/value settings), users                              |
 * | 2    | holders, holder_sensitive, photos, templates, template generation |
 * | 3    | audit_entry, audit_node, audit_head, audit_checkpoint (the audit log) |
 * | 4    | dedup_cases (possible duplicates found at enrolment; docs/import.md) |
 * | 5    | cases (request cases with their probe and order; docs/cases.md) |
 */
typedef struct migration {
  int version;      /* the schema version this step produces */
  const char *what; /* one line */
  const char *sql;  /* statements, no values */
} migration;

static const migration migrations[] = {
    {1, "meta and users",
     "CREATE TABLE meta (\n"
     "  key TEXT PRIMARY KEY NOT NULL,\n"
     "  value TEXT NOT NULL\n"
     ");\n"
     "CREATE TABLE users (\n"
     "  id INTEGER PRIMARY KEY,\n"
     "  name TEXT NOT NULL UNIQUE,\n"
     "  role TEXT NOT NULL CHECK (role IN ('admin', 'intake', 'manager', 'governor',\n"
     "                                      'legal', 'examiner', 'auditor')),\n"
     "  pwhash TEXT NOT NULL,\n"
     "  trained_until TEXT,\n"
     "  failed_logins INTEGER NOT NULL DEFAULT 0 CHECK (failed_logins >= 0),\n"
     "  locked INTEGER NOT NULL DEFAULT 0 CHECK (locked IN (0, 1)),\n"
     "  created TEXT NOT NULL\n"
     ");\n"},
    {2, "holders, sensitive fields, photos, templates",
     "CREATE TABLE holders (\n"
     "  id INTEGER PRIMARY KEY,\n"
     "  license_no TEXT NOT NULL UNIQUE,\n"
     "  first_name TEXT NOT NULL,\n"
     "  middle_name TEXT NOT NULL DEFAULT '',\n"
     "  last_name TEXT NOT NULL,\n"
     "  dob TEXT NOT NULL\n"
     ");\n"
     "CREATE TABLE holder_sensitive (\n"
     "  holder_id INTEGER NOT NULL REFERENCES holders(id) ON DELETE CASCADE,\n"
     "  field TEXT NOT NULL CHECK (field IN ('ssn', 'mothers_maiden_name', 'birthplace',\n"
     "    'twin_indicator', 'voter_indicator', 'testing_info', 'identity_documents',\n"
     "    'previous_license', 'parental_id_document')),\n"
     "  value TEXT NOT NULL,\n"
     "  PRIMARY KEY (holder_id, field)\n"
     ");\n"
     "CREATE INDEX holder_sensitive_field ON holder_sensitive(field);\n"
     "CREATE TABLE photos (\n"
     "  id INTEGER PRIMARY KEY,\n"
     "  holder_id INTEGER NOT NULL REFERENCES holders(id) ON DELETE CASCADE,\n"
     "  sha256 BLOB NOT NULL CHECK (length(sha256) = 32),\n"
     "  captured TEXT,\n"
     "  source TEXT NOT NULL DEFAULT '',\n"
     "  UNIQUE (holder_id, sha256)\n"
     ");\n"
     "CREATE INDEX photos_sha256 ON photos(sha256);\n"
     "CREATE TABLE templates (\n"
     "  id INTEGER PRIMARY KEY,\n"
     "  photo_id INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,\n"
     "  model TEXT NOT NULL,\n"
     "  vector BLOB NOT NULL CHECK (length(vector) = 512),\n"
     "  UNIQUE (photo_id, model)\n"
     ");\n"
     "INSERT INTO meta(key, value) VALUES ('templates_generation', '0');\n"},
    {3, "the audit log",
     "CREATE TABLE audit_entry (\n"
     "  idx INTEGER PRIMARY KEY CHECK (idx >= 0),\n"
     "  entry BLOB NOT NULL CHECK (length(entry) BETWEEN 1 AND 8192),\n"
     "  leaf_hash BLOB NOT NULL CHECK (length(leaf_hash) = 32)\n"
     ");\n"
     "CREATE TABLE audit_node (\n"
     "  level INTEGER NOT NULL CHECK (level BETWEEN 1 AND 63),\n"
     "  idx INTEGER NOT NULL CHECK (idx >= 0),\n"
     "  hash BLOB NOT NULL CHECK (length(hash) = 32),\n"
     "  PRIMARY KEY (level, idx)\n"
     ") WITHOUT ROWID;\n"
     "CREATE TABLE audit_head (\n"
     "  one INTEGER PRIMARY KEY CHECK (one = 1),\n"
     "  head BLOB NOT NULL CHECK (length(head) BETWEEN 8 AND 2056)\n"
     ");\n"
     "CREATE TABLE audit_checkpoint (\n"
     "  seq INTEGER PRIMARY KEY CHECK (seq >= 0),\n"
     "  tree_size INTEGER NOT NULL CHECK (tree_size >= 0),\n"
     "  note TEXT NOT NULL\n"
     ");\n"},
    {4, "possible duplicates found at enrolment",
     "CREATE TABLE dedup_cases (\n"
     "  id INTEGER PRIMARY KEY,\n"
     "  holder_a INTEGER NOT NULL REFERENCES holders(id) ON DELETE CASCADE,\n"
     "  holder_b INTEGER NOT NULL REFERENCES holders(id) ON DELETE CASCADE,\n"
     "  photo_a INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,\n"
     "  photo_b INTEGER NOT NULL REFERENCES photos(id) ON DELETE CASCADE,\n"
     "  distance REAL NOT NULL CHECK (distance >= 0),\n"
     "  state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'closed')),\n"
     "  created TEXT NOT NULL,\n"
     "  CHECK (holder_a <> holder_b),\n"
     "  UNIQUE (photo_a, photo_b)\n"
     ");\n"
     "CREATE INDEX dedup_cases_holders ON dedup_cases(holder_a, holder_b);\n"},
    {5, "request cases",
     "CREATE TABLE cases (\n"
     "  id INTEGER PRIMARY KEY,\n"
     "  state TEXT NOT NULL,\n"
     "  received TEXT NOT NULL,\n"
     "  created TEXT NOT NULL,\n"
     "  closed TEXT,\n"
     "  history INTEGER NOT NULL DEFAULT 0 CHECK (history IN (0, 1)),\n"
     "  record TEXT NOT NULL,\n"
     "  probe BLOB,\n"
     "  document BLOB\n"
     ");\n"
     "CREATE INDEX cases_state ON cases(state);\n"},
};

/* ---- statements --------------------------------------------------------------- */

#define HOLDER_COLS "id, license_no, first_name, middle_name, last_name, dob"
#define PHOTO_COLS "id, holder_id, sha256, captured, source"
#define USER_COLS "id, name, role, pwhash, trained_until, failed_logins, locked, created"
#define TEMPLATE_ROWS                                                \
  "SELECT t.id, p.holder_id, t.photo_id, t.vector FROM templates t " \
  "JOIN photos p ON p.id = t.photo_id"

#define STMTS(X)                                                                                  \
  X(BEGIN_READ, "BEGIN DEFERRED")                                                                 \
  X(BEGIN_WRITE, "BEGIN IMMEDIATE")                                                               \
  X(COMMIT, "COMMIT")                                                                             \
  X(ROLLBACK, "ROLLBACK")                                                                         \
  X(HAS_META, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'")        \
  X(ANY_TABLE, "SELECT count(*) FROM sqlite_master WHERE type = 'table'")                         \
  X(META_GET, "SELECT value FROM meta WHERE key = ?1")                                            \
  X(META_SET,                                                                                     \
    "INSERT INTO meta(key, value) VALUES (?1, ?2) "                                               \
    "ON CONFLICT(key) DO UPDATE SET value = excluded.value")                                      \
  X(GEN_BUMP,                                                                                     \
    "UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) "                           \
    "WHERE key = 'templates_generation'")                                                         \
  X(HOLDER_ADD,                                                                                   \
    "INSERT INTO holders(license_no, first_name, middle_name, last_name, dob) "                   \
    "VALUES (?1, ?2, ?3, ?4, ?5)")                                                                \
  X(HOLDER_BY_ID, "SELECT " HOLDER_COLS " FROM holders WHERE id = ?1")                            \
  X(HOLDER_BY_LICENSE, "SELECT " HOLDER_COLS " FROM holders WHERE license_no = ?1")               \
  X(HOLDER_UPDATE,                                                                                \
    "UPDATE holders SET license_no = ?2, first_name = ?3, middle_name = ?4, "                     \
    "last_name = ?5, dob = ?6 WHERE id = ?1")                                                     \
  X(HOLDER_TEMPLATES,                                                                             \
    "SELECT count(*) FROM templates t JOIN photos p ON p.id = t.photo_id "                        \
    "WHERE p.holder_id = ?1")                                                                     \
  X(HOLDER_DELETE, "DELETE FROM holders WHERE id = ?1")                                           \
  X(SENS_PUT,                                                                                     \
    "INSERT INTO holder_sensitive(holder_id, field, value) VALUES (?1, ?2, ?3) "                  \
    "ON CONFLICT(holder_id, field) DO UPDATE SET value = excluded.value")                         \
  X(SENS_MATCH, "SELECT value = ?3 FROM holder_sensitive WHERE holder_id = ?1 AND field = ?2")    \
  X(SENS_COUNT, "SELECT count(*) FROM holder_sensitive WHERE field = ?1")                         \
  X(PHOTO_ADD, "INSERT INTO photos(holder_id, sha256, captured, source) VALUES (?1, ?2, ?3, ?4)") \
  X(PHOTO_BY_ID, "SELECT " PHOTO_COLS " FROM photos WHERE id = ?1")                               \
  X(PHOTO_BY_SHA, "SELECT " PHOTO_COLS " FROM photos WHERE holder_id = ?1 AND sha256 = ?2")       \
  X(TEMPLATE_PUT, "INSERT INTO templates(photo_id, model, vector) VALUES (?1, ?2, ?3)")           \
  X(TEMPLATE_GET, "SELECT vector FROM templates WHERE photo_id = ?1 AND model = ?2")              \
  X(TEMPLATE_ALL, TEMPLATE_ROWS " ORDER BY t.id")                                                 \
  X(TEMPLATE_OF_MODEL, TEMPLATE_ROWS " WHERE t.model = ?1 ORDER BY t.id")                         \
  X(TEMPLATE_COUNT_MODEL, "SELECT count(*) FROM templates WHERE model = ?1")                      \
  X(USER_ADD,                                                                                     \
    "INSERT INTO users(name, role, pwhash, trained_until, created) "                              \
    "VALUES (?1, ?2, ?3, ?4, ?5)")                                                                \
  X(USER_GET, "SELECT " USER_COLS " FROM users WHERE name = ?1")                                  \
  X(USER_ALL, "SELECT " USER_COLS " FROM users ORDER BY name")                                    \
  X(USER_FAILED,                                                                                  \
    "UPDATE users SET failed_logins = failed_logins + 1, "                                        \
    "locked = CASE WHEN failed_logins + 1 >= ?2 THEN 1 ELSE locked END "                          \
    "WHERE id = ?1 RETURNING locked")                                                             \
  X(USER_OK, "UPDATE users SET failed_logins = 0, pwhash = coalesce(?2, pwhash) WHERE id = ?1")   \
  X(USER_UNLOCK, "UPDATE users SET failed_logins = 0, locked = 0 WHERE id = ?1")                  \
  X(USER_TRAINING, "UPDATE users SET trained_until = ?2 WHERE id = ?1")                           \
  X(COUNT_HOLDERS, "SELECT count(*) FROM holders")                                                \
  X(COUNT_PHOTOS, "SELECT count(*) FROM photos")                                                  \
  X(COUNT_TEMPLATES, "SELECT count(*) FROM templates")                                            \
  X(COUNT_USERS, "SELECT count(*) FROM users")                                                    \
  X(COUNT_CASES, "SELECT count(*) FROM cases")                                                    \
  X(AUDIT_HEAD_GET, "SELECT head FROM audit_head WHERE one = 1")                                  \
  X(AUDIT_HEAD_PUT,                                                                               \
    "INSERT INTO audit_head(one, head) VALUES (1, ?1) "                                           \
    "ON CONFLICT(one) DO UPDATE SET head = excluded.head")                                        \
  X(AUDIT_ENTRY_ADD, "INSERT INTO audit_entry(idx, entry, leaf_hash) VALUES (?1, ?2, ?3)")        \
  X(AUDIT_ENTRY_GET, "SELECT entry FROM audit_entry WHERE idx = ?1")                              \
  X(AUDIT_ENTRY_SCAN, "SELECT idx, entry FROM audit_entry WHERE idx >= ?1 ORDER BY idx")          \
  X(AUDIT_ENTRY_COUNT, "SELECT count(*) FROM audit_entry")                                        \
  X(AUDIT_LEAF_GET, "SELECT leaf_hash FROM audit_entry WHERE idx = ?1")                           \
  X(AUDIT_NODE_PUT, "INSERT INTO audit_node(level, idx, hash) VALUES (?1, ?2, ?3)")               \
  X(AUDIT_NODE_GET, "SELECT hash FROM audit_node WHERE level = ?1 AND idx = ?2")                  \
  X(AUDIT_CP_ADD,                                                                                 \
    "INSERT INTO audit_checkpoint(seq, tree_size, note) "                                         \
    "SELECT coalesce(max(seq) + 1, 0), ?1, ?2 FROM audit_checkpoint")                             \
  X(AUDIT_CP_COUNT, "SELECT coalesce(max(seq) + 1, 0) FROM audit_checkpoint")                     \
  X(AUDIT_CP_GET, "SELECT note FROM audit_checkpoint WHERE seq = ?1")                             \
  X(SENS_PURGE, "DELETE FROM holder_sensitive WHERE field = ?1")                                  \
  X(DEDUP_ADD,                                                                                    \
    "INSERT INTO dedup_cases(holder_a, holder_b, photo_a, photo_b, distance, created) "           \
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)")                                                            \
  X(DEDUP_OPEN_EXISTS,                                                                            \
    "SELECT count(*) FROM dedup_cases WHERE state = 'open' AND "                                  \
    "((holder_a = ?1 AND holder_b = ?2) OR (holder_a = ?2 AND holder_b = ?1))")                   \
  X(DEDUP_COUNT, "SELECT count(*) FROM dedup_cases")                                              \
  X(DEDUP_COUNT_OPEN, "SELECT count(*) FROM dedup_cases WHERE state = 'open'")                    \
  X(DEDUP_ALL,                                                                                    \
    "SELECT id, holder_a, holder_b, photo_a, photo_b, distance, state, created "                  \
    "FROM dedup_cases ORDER BY id")                                                               \
  X(CASE_ADD,                                                                                     \
    "INSERT INTO cases(state, received, created, closed, history, record, probe, document) "     \
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")                                                    \
  X(CASE_GET,                                                                                     \
    "SELECT id, state, received, created, closed, history, probe IS NOT NULL, record "           \
    "FROM cases WHERE id = ?1")                                                                   \
  X(CASE_ALL,                                                                                     \
    "SELECT id, state, received, created, closed, history, probe IS NOT NULL, record "           \
    "FROM cases ORDER BY id")                                                                     \
  X(CASE_UPDATE, "UPDATE cases SET state = ?2, closed = ?3, record = ?4 WHERE id = ?1")           \
  X(CASE_PROBE, "SELECT probe FROM cases WHERE id = ?1 AND probe IS NOT NULL")                    \
  X(CASE_DOCUMENT, "SELECT document FROM cases WHERE id = ?1 AND document IS NOT NULL")           \
  X(CASE_PURGE_PROBE, "UPDATE cases SET probe = NULL WHERE id = ?1")

enum {
#define STMT_ENUM_(name, sql) S_##name,
  STMTS(STMT_ENUM_)
#undef STMT_ENUM_
      S_COUNT
};

static const char *const stmt_sql[S_COUNT] = {
#define STMT_SQL_(name, sql) sql,
    STMTS(STMT_SQL_)
#undef STMT_SQL_
};

typedef struct sqlite_store {
  custos_store base;           /* first: a custos_store * points here */
  custos_txn txn;              /* the one transaction a connection has */
  sqlite3 *db;                 /* the connection */
  char *path;                  /* the file */
  bool created;                /* this store created the file (CREATE mode) */
  sqlite3_stmt *stmt[S_COUNT]; /* prepared on first use, NULL before */
} sqlite_store;

static sqlite_store *store_of(custos_store *s) {
  return (sqlite_store *)s;
}
static sqlite_store *txn_store(custos_txn *t) {
  return (sqlite_store *)t->store;
}

/* ---- errors -------------------------------------------------------------------- */

/* Maps a SQLite result to a custos code and message.  SQLite's messages name
 * tables, columns and constraints but never a bound value. */
static int db_fail(sqlite_store *s, int src, const char *what, custos_err *err) {
  int code = CUSTOS_EDB;
  switch (src & 0xff) {
    case SQLITE_CONSTRAINT:
      if (src == SQLITE_CONSTRAINT_UNIQUE || src == SQLITE_CONSTRAINT_PRIMARYKEY) {
        code = CUSTOS_ECONFLICT;
      } else if (src == SQLITE_CONSTRAINT_FOREIGNKEY) {
        code = CUSTOS_ENOENT;
      } else {
        code = CUSTOS_EINVAL;
      }
      break;
    case SQLITE_NOMEM:
      code = CUSTOS_ENOMEM;
      break;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      code = CUSTOS_ECORRUPT;
      break;
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
      code = CUSTOS_EIO;
      break;
    default:
      break;
  }
  const char *detail = s != NULL && s->db != NULL ? sqlite3_errmsg(s->db) : sqlite3_errstr(src);
  if ((src & 0xff) == SQLITE_BUSY || (src & 0xff) == SQLITE_LOCKED) {
    detail = "the database is busy (another custos holds the write lock)";
  }
  return custos__err(err, code, MOD, "%s: %s", what, detail);
}

/* ---- statement helpers ------------------------------------------------------------------ */

/* Returns statement id ready to bind: prepared once, reset and unbound after. */
static int prep(sqlite_store *s, int id, sqlite3_stmt **out, custos_err *err) {
  *out = NULL;
  /* SQLite rolls a transaction back by itself after some errors (disk full,
   * I/O, out of memory); later statements would then run outside any
   * transaction and commit one by one.  Refuse them. */
  if (s->base.open_txn != NULL && sqlite3_get_autocommit(s->db)) {
    return custos__err(err, CUSTOS_EDB, MOD,
                       "the transaction was rolled back by the database after an error");
  }
  if (s->stmt[id] == NULL) {
    int r =
        sqlite3_prepare_v3(s->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &s->stmt[id], NULL);
    if (r != SQLITE_OK) return db_fail(s, r, "prepare", err);
  }
  *out = s->stmt[id];
  return CUSTOS_OK;
}

/* Releases a statement after use (keeps it prepared). */
static void done(sqlite3_stmt *st) {
  if (st == NULL) return;
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
}

/* Binds text; NULL or "" when empty_is_null binds SQL NULL. */
static int bind_text(sqlite_store *s, sqlite3_stmt *st, int i, const char *v, bool empty_is_null,
                     custos_err *err) {
  int r;
  if (v == NULL || (empty_is_null && v[0] == '\0')) {
    r = sqlite3_bind_null(st, i);
  } else {
    r = sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
  }
  return r == SQLITE_OK ? CUSTOS_OK : db_fail(s, r, "bind", err);
}

static int bind_int(sqlite_store *s, sqlite3_stmt *st, int i, int64_t v, custos_err *err) {
  int r = sqlite3_bind_int64(st, i, v);
  return r == SQLITE_OK ? CUSTOS_OK : db_fail(s, r, "bind", err);
}

static int bind_blob(sqlite_store *s, sqlite3_stmt *st, int i, const void *p, int n,
                     custos_err *err) {
  int r = sqlite3_bind_blob(st, i, p, n, SQLITE_STATIC);
  return r == SQLITE_OK ? CUSTOS_OK : db_fail(s, r, "bind", err);
}

/* Copies text column i into out[cap]; NULL gives "". */
static int col_text(sqlite3_stmt *st, int i, char *out, size_t cap, const char *what,
                    custos_err *err) {
  const unsigned char *p = sqlite3_column_text(st, i);
  if (p == NULL) {
    out[0] = '\0';
    if (sqlite3_column_type(st, i) == SQLITE_NULL) return CUSTOS_OK;
    return custos__err(err, CUSTOS_ENOMEM, MOD, "%s: out of memory", what);
  }
  size_t n = (size_t)sqlite3_column_bytes(st, i);
  if (n >= cap) {
    return custos__err(err, CUSTOS_ECORRUPT, MOD, "%s: stored value longer than %zu bytes", what,
                       cap - 1);
  }
  memcpy(out, p, n);
  out[n] = '\0';
  return CUSTOS_OK;
}

/* Runs a statement that returns no rows (or whose rows are ignored). */
static int step_done(sqlite_store *s, sqlite3_stmt *st, const char *what, custos_err *err) {
  int r;
  while ((r = sqlite3_step(st)) == SQLITE_ROW) {
  }
  return r == SQLITE_DONE ? CUSTOS_OK : db_fail(s, r, what, err);
}

/* Runs a "SELECT count(*) ..." statement already bound. */
static int step_count(sqlite_store *s, sqlite3_stmt *st, int64_t *n, const char *what,
                      custos_err *err) {
  int r = sqlite3_step(st);
  if (r != SQLITE_ROW) return db_fail(s, r, what, err);
  *n = sqlite3_column_int64(st, 0);
  return CUSTOS_OK;
}

/* Runs count statement id, binding text param to ?1 when it is not NULL. */
static int count_of(sqlite_store *s, int id, const char *param, int64_t *n, const char *what,
                    custos_err *err) {
  sqlite3_stmt *st;
  int rc = prep(s, id, &st, err);
  if (rc == CUSTOS_OK && param != NULL) rc = bind_text(s, st, 1, param, false, err);
  if (rc == CUSTOS_OK) rc = step_count(s, st, n, what, err);
  done(st);
  return rc;
}

/* Copies the 32-byte blob column i into out. */
static int col_hash(sqlite3_stmt *st, int i, uint8_t out[32], const char *what, custos_err *err) {
  const void *h = sqlite3_column_blob(st, i);
  if (h == NULL || sqlite3_column_bytes(st, i) != 32) {
    return custos__err(err, CUSTOS_ECORRUPT, MOD, "%s: not 32 bytes", what);
  }
  memcpy(out, h, 32);
  return CUSTOS_OK;
}

/* Appends the blob (or text) column i to out. */
static int col_to_buf(sqlite3_stmt *st, int i, custos_buf *out, const char *what, custos_err *err) {
  const void *p = sqlite3_column_blob(st, i);
  size_t n = (size_t)sqlite3_column_bytes(st, i);
  if (p == NULL && n > 0) return custos__err(err, CUSTOS_ENOMEM, MOD, "%s: out of memory", what);
  int rc = custos__buf_append(out, p, n);
  if (rc != CUSTOS_OK) return custos__err(err, rc, MOD, "%s: %s", what, custos_strerror(rc));
  return CUSTOS_OK;
}

/* Runs a constant statement with no parameters. */
static int exec_id(sqlite_store *s, int id, const char *what, custos_err *err) {
  sqlite3_stmt *st;
  int rc = prep(s, id, &st, err);
  if (rc == CUSTOS_OK) rc = step_done(s, st, what, err);
  done(st);
  return rc;
}

static void encode_vector(const float *v, unsigned char out[VECTOR_BYTES]) {
  for (int i = 0; i < CUSTOS_TEMPLATE_DIM; i++) {
    uint32_t u;
    memcpy(&u, &v[i], 4);
    out[4 * i] = (unsigned char)u;
    out[4 * i + 1] = (unsigned char)(u >> 8);
    out[4 * i + 2] = (unsigned char)(u >> 16);
    out[4 * i + 3] = (unsigned char)(u >> 24);
  }
}

static int decode_vector(sqlite3_stmt *st, int i, float *v, custos_err *err) {
  const unsigned char *p = sqlite3_column_blob(st, i);
  if (p == NULL || sqlite3_column_bytes(st, i) != VECTOR_BYTES) {
    return custos__err(err, CUSTOS_ECORRUPT, MOD, "templates.vector: not %d bytes", VECTOR_BYTES);
  }
  for (int k = 0; k < CUSTOS_TEMPLATE_DIM; k++) {
    uint32_t u = (uint32_t)p[4 * k] | (uint32_t)p[4 * k + 1] << 8 | (uint32_t)p[4 * k + 2] << 16 |
                 (uint32_t)p[4 * k + 3] << 24;
    memcpy(&v[k], &u, 4);
  }
  return CUSTOS_OK;
}

/* ---- opening and closing ------------------------------------------------------------------ */

static void remove_files(const char *path) {
  static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(suffixes); i++) {
    char name[4096];
    int n = snprintf(name, sizeof name, "%s%s", path, suffixes[i]);
    if (n > 0 && (size_t)n < sizeof name) unlink(name);
  }
}

static void sqlite_rollback(custos_txn *t);

static void sqlite_close(custos_store *base, bool remove) {
  sqlite_store *s = store_of(base);
  if (s->base.open_txn != NULL) sqlite_rollback(s->base.open_txn);
  for (int i = 0; i < S_COUNT; i++) sqlite3_finalize(s->stmt[i]);
  sqlite3_close(s->db);
  if (remove && s->created) remove_files(s->path);
  custos__free(s->path);
  custos__free(s);
}

/* Runs a PRAGMA (a constant) and, when want is not NULL, checks the value it
 * returns. */
static int pragma(sqlite_store *s, const char *sql, const char *want, custos_err *err) {
  sqlite3_stmt *st = NULL;
  int rc = CUSTOS_OK;
  int r = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
  if (r != SQLITE_OK) {
    rc = db_fail(s, r, s->path, err);
    goto out;
  }
  r = sqlite3_step(st);
  if (r != SQLITE_ROW && r != SQLITE_DONE) {
    rc = db_fail(s, r, s->path, err);
    goto out;
  }
  if (want != NULL) {
    const unsigned char *v = r == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
    if (v == NULL || strcmp((const char *)v, want) != 0) {
      rc = custos__err(err, CUSTOS_EDB, MOD, "%s: '%s' did not take effect", s->path, sql);
      goto out;
    }
  }
out:
  sqlite3_finalize(st);
  return rc;
}

static const custos__store_ops sqlite_ops;

int custos__sqlite_open(const char *path, custos__store_open_mode mode, custos_store **out,
                        custos_err *err) {
  int rc = CUSTOS_OK;
  sqlite_store *s = NULL;
  bool created = false;
  *out = NULL;

  if (strlen(path) > 4000) return custos__err(err, CUSTOS_EINVAL, MOD, "database path too long");
  if (mode == CUSTOS__STORE_CREATE) {
    /* Claim the name atomically: a database that exists is never overwritten,
     * and neither is one whose write-ahead log is still lying about. */
    char wal[4096];
    snprintf(wal, sizeof wal, "%s-wal", path);
    if (access(wal, F_OK) == 0) {
      return custos__err(err, CUSTOS_ECONFLICT, MOD,
                         "%s: a database log (%s) exists; refusing to create a database here", path,
                         wal);
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
      int e = errno;
      if (e == EEXIST) {
        return custos__err(err, CUSTOS_ECONFLICT, MOD,
                           "%s: a database already exists; it is left as it is", path);
      }
      return custos__err(err, e == ENOENT ? CUSTOS_ENOENT : CUSTOS_EIO, MOD, "%s: %s", path,
                         strerror(e));
    }
    close(fd);
    created = true;
  } else {
    struct stat st;
    if (stat(path, &st) != 0) {
      int e = errno;
      if (e == ENOENT) {
        return custos__err(err, CUSTOS_ENOENT, MOD,
                           "%s: no database here (create one with 'custos init')", path);
      }
      return custos__err(err, CUSTOS_EIO, MOD, "%s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
      return custos__err(err, CUSTOS_EINVAL, MOD, "%s: not a regular file", path);
    }
  }

  s = custos__calloc(1, sizeof *s);
  if (s == NULL || (s->path = custos__strdup(path)) == NULL) {
    rc = custos__err(err, CUSTOS_ENOMEM, MOD, "out of memory");
    goto out;
  }
  s->base.ops = &sqlite_ops;
  s->txn.store = &s->base;
  s->created = created;
  /* No SQLITE_OPEN_URI: a path is only ever a path, never options. */
  int r = sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
  if (r != SQLITE_OK) {
    rc = db_fail(s, r, path, err);
    goto out;
  }
  sqlite3_extended_result_codes(s->db, 1);
  sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS);
  sqlite3_db_config(s->db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
  sqlite3_db_config(s->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, (int *)NULL);
  sqlite3_db_config(s->db, SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION, 0, (int *)NULL);
  /* The first statement that reads the file tells a database from other files. */
  if ((rc = pragma(s, "PRAGMA journal_mode = WAL", "wal", err)) != CUSTOS_OK) {
    if (rc == CUSTOS_ECORRUPT) {
      rc = custos__err(err, CUSTOS_ECORRUPT, MOD, "%s: not a custos database (not SQLite)", path);
    }
    goto out;
  }
  if ((rc = pragma(s, "PRAGMA foreign_keys = ON", NULL, err)) ||
      (rc = pragma(s, "PRAGMA foreign_keys", "1", err)) ||
      (rc = pragma(s, "PRAGMA synchronous = FULL", NULL, err)) ||
      (rc = pragma(s, "PRAGMA secure_delete = ON", NULL, err)))
    goto out;
  *out = &s->base;
  s = NULL;
out:
  if (s != NULL) {
    sqlite3_close(s->db);
    custos__free(s->path);
    custos__free(s);
  }
  if (rc != CUSTOS_OK && created) remove_files(path);
  return rc;
}

/* ---- schema ---------------------------------------------------------------------------------- */

static int sqlite_schema_version(custos_store *base, int *version, custos_err *err) {
  sqlite_store *s = store_of(base);
  sqlite3_stmt *st = NULL;
  int64_t n = 0;
  char buf[16];
  *version = 0;
  int rc = prep(s, S_HAS_META, &st, err);
  if (rc == CUSTOS_OK) rc = step_count(s, st, &n, "schema", err);
  done(st);
  if (rc != CUSTOS_OK) return rc;
  if (n == 0) {
    rc = prep(s, S_ANY_TABLE, &st, err);
    if (rc == CUSTOS_OK) rc = step_count(s, st, &n, "schema", err);
    done(st);
    if (rc != CUSTOS_OK) return rc;
    if (n != 0) {
      return custos__err(err, CUSTOS_ECORRUPT, MOD,
                         "%s: not a custos database (it holds other tables)", s->path);
    }
    return CUSTOS_OK; /* empty */
  }
  rc = prep(s, S_META_GET, &st, err);
  if (rc == CUSTOS_OK) rc = bind_text(s, st, 1, "schema_version", false, err);
  if (rc == CUSTOS_OK) {
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
      rc = col_text(st, 0, buf, sizeof buf, "meta schema_version", err);
    } else if (r == SQLITE_DONE) {
      rc = custos__err(err, CUSTOS_ECORRUPT, MOD, "%s: no schema version in meta", s->path);
    } else {
      rc = db_fail(s, r, "schema", err);
    }
  }
  done(st);
  if (rc != CUSTOS_OK) return rc;
  char *end = NULL;
  long v = strtol(buf, &end, 10);
  if (end == buf || *end != '\0' || v < 1 || v > 1000000) {
    return custos__err(err, CUSTOS_ECORRUPT, MOD, "%s: meta schema_version is not a version",
                       s->path);
  }
  *version = (int)v;
  return CUSTOS_OK;
}

static int sqlite_meta_set(custos_txn *t, const char *key, const char *value, custos_err *err);

static int sqlite_migrate_step(custos_txn *t, int version, custos_err *err) {
  sqlite_store *s = txn_store(t);
  const migration *m = NULL;
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(migrations); i++) {
    if (migrations[i].version == version) m = &migrations[i];
  }
  if (m == NULL) {
    return custos__err(err, CUSTOS_EVERSION, MOD, "no migration to schema version %d", version);
  }
  const char *sql = m->sql;
  while (sql != NULL && *sql != '\0') {
    sqlite3_stmt *st = NULL;
    const char *tail = NULL;
    int r = sqlite3_prepare_v2(s->db, sql, -1, &st, &tail);
    if (r != SQLITE_OK) return db_fail(s, r, "migration", err);
    if (st == NULL) break; /* only whitespace left */
    r = sqlite3_step(st);
    sqlite3_finalize(st);
    if (r != SQLITE_DONE && r != SQLITE_ROW) return db_fail(s, r, "migration", err);
    sql = tail;
  }
  char v[16];
  snprintf(v, sizeof v, "%d", version);
  return sqlite_meta_set(t, "schema_version", v, err);
}

/* ---- transactions
 * --------------------------------------------------------------------------------- */

static int sqlite_begin(custos_store *base, bool write, custos_txn **out, custos_err *err) {
  sqlite_store *s = store_of(base);
  int rc = exec_id(s, write ? S_BEGIN_WRITE : S_BEGIN_READ, "begin", err);
  if (rc != CUSTOS_OK) return rc;
  s->txn.write = write;
  s->base.open_txn = &s->txn;
  *out = &s->txn;
  return CUSTOS_OK;
}

static void sqlite_rollback(custos_txn *t) {
  sqlite_store *s = txn_store(t);
  s->base.open_txn = NULL;
  if (!sqlite3_get_autocommit(s->db)) {
    /* Reset every statement first: a pending read would keep its lock. */
    for (int i = 0; i < S_COUNT; i++) {
      if (s->stmt[i]) sqlite3_reset(s->stmt[i]);
    }
    custos_err ignored;
    if (exec_id(s, S_ROLLBACK, "rollback", &ignored) != CUSTOS_OK) {
      sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    }
  }
}

static int sqlite_commit(custos_txn *t, custos_err *err) {
  sqlite_store *s = txn_store(t);
  int rc = exec_id(s, S_COMMIT, "commit", err);
  if (rc != CUSTOS_OK) {
    sqlite_rollback(t);
    return rc;
  }
  s->base.open_txn = NULL;
  return CUSTOS_OK;
}

/* ---- meta
 * ------------------------------------------------------------------------------------------ */

static int sqlite_meta_get(custos_txn *t, const char *key, char *out, size_t cap, custos_err *err) {
  sqlite_store *s = txn_store(t);
  sqlite3_stmt *st;
  int rc = prep(s, S_META_GET, &st, err);
  if (rc == CUSTOS_OK) rc = bind_text(s, st, 1, key, false, err);
  if (rc == CUSTOS_OK) {
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
      const unsigned char *p = sqlite3_column_text(st, 0);
      size_t n = (size_t)sqlite3_column_bytes(st, 0);
      if (p == NULL) {
        out[0] = '\0';
      } else if (n >= cap) {
        rc = custos__err(err, CUSTOS_ETOOBIG, MOD, "meta %s: value longer than %zu bytes", key,
                         cap - 1);
      } else {
        memcpy(out, p, n);
        out[n] = '\0';
      }
    } else if (r == SQLITE_DONE) {
      rc = custos__err(err, CUSTOS_ENOENT, MOD, "meta %s: not set", key);
    } else {
      rc = db_fail(s, r, "meta", err);
    }
  }
  done(st);
  return rc;
}

static int sqlite_meta_set(custos_txn *t, const char *key, const char *value, custos_err *err) {
  sqlite_store *s = txn_store(t);
  sqlite3_stmt *st;
  int rc = prep(s, S_META_SET, &st, err);
  if (rc == CUSTOS_OK) rc = bind_text(s, st, 1, key, false, err);
  if (rc == CUSTOS_OK) rc = bind_text(s, st, 2, value, false, err);
  if (rc == CUSTOS_OK) rc = step_done(s, st, "meta", err);
  done(st);
  return rc;
}

static int bump_generation(sqlite_store *s, custos_err *err) {
  sqlite3_stmt *st;
  int rc = prep(s, S_GEN_BUMP, &st, err);
  if (rc == CUSTOS_OK) rc = step_done(s, st, "templates generation", err);
  if (rc == CUSTOS_OK && sqlite3_changes(s->db) != 1) {
    rc = custos__err(err, CUSTOS_ECORRUPT, MOD, "meta templates_generation is missing");
  }
  done(st);
  return rc;
}

/* ---- holders
 * ------------------------------------------------------------------------------------------- */

static int bind_holder(sqlite_store *s, sqlite3_stmt *st, int first, const custos__holder *h,
                       custos_err *err) {
  int rc;
  if ((rc = bind_text(s, st, first, h->license_no, false, err)) ||
      (rc = bind_text(s, st, first + 1, h->first_name, false, err)) ||
      (rc = bind_text(s, st, first + 2, h->middle_name, false, err)) ||
      (rc = bind_text(s, st, first + 3, h->last_name, false, err)) ||
      (rc = bind_text(s, st, first + 4, h->dob, false, err)))
    return rc;
  return CUSTOS_OK;
}

static int holder_conflict(int rc, custos_err *err) {
  if (rc == CUSTOS_ECONFLICT) {
    /* The licence number is the holder's: do not echo it. */
    return custos__err(err, CUSTOS_ECONFLICT, MOD, "license_no: already present");
  }
  return rc;
}

static int sqlite_holder_add(custos_txn *t, const custos__holder *h, int64_t *id, custos_err *err) {
  sqlite_store *s = txn_store(t);
  sqlite3_stmt *st;
  int rc = prep(s, S_HOLDER_ADD, &st, err);
  if (rc == CUSTOS_OK) rc = bind_holder(s, st, 1, h, err);
  if (rc == CUSTOS_OK) rc = holder_conflict(step_done(s, st, "holders", err), err);
  if (rc == CUSTOS_OK) *id = sqlite3_last_insert_rowid(s->db);
  done(st);
  return rc;
}

static int sqlite_holder_get(custos_txn *t, int64_t id, const char *by_license, custos__holder *out,
                             custos_err *err) {
  sqlite_store *s = txn_store(t);
  sqlite3_stmt *st;
  int rc = prep(s, by_license ? S_HOLDER_BY_LICENSE : S_HOLDER_BY_ID, &st, err);
  if (rc == CUSTOS_OK) {
    rc = by_license ? bind_text(s, st, 1, by_license, false, err) : bind_int(s, st, 1, id, err);
  }
  if (rc == CUSTOS_OK) {
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
      out->id = sqlite3_column_int64(st, 0);
      if ((rc = col_text(st, 1, out->license_no, sizeof out->license_no, "holders.license_no",
                         err)) ||
          (rc = col_text(st, 2, out->first_name, sizeof out->first_name, "holders.first_name",
                         err)) ||
          (rc = col_text(st, 3, out->middle_name, sizeof out->middle_name, "holders.middle_name",
                         err)) ||
          (rc = col_text(st, 4, out->last_name, sizeof out->last_name, "holders.last_name", err)) ||
          (rc = col_text(st, 5, out->dob, sizeof out->dob, "holders.dob", err))) {
      }
    } else if (r == SQLITE_DONE) {
      rc = by_license
               ? custos__err(err, CUSTOS_ENOENT, MOD, "no holder with that licence number")
               : custos__err(err, CUSTOS_ENOENT, MOD, "holder %lld not found", (long long)id);
    } else {
      rc = db_fail(s, r, "holders", err);
    }
  }
  done(st);
  return rc;
}

static int sqlite_holder_update(custos_txn *t, const custos__holder *h, custos_err *err) {
  sqlite_store *s = txn_store(t);
  sqlite3_stmt *st;
  int rc = prep(s, S_HOLDER_UPDATE, &st, err);
  if (rc == CUSTOS_OK) rc = bind_int(s, st, 1, h->id, err);
  if (rc == CUSTOS_OK) rc = bind_holder(s, st, 2, h, err);
  if (rc == CUSTOS_OK) rc = holder_conflict(step_done(s, st, "holders", err), err);
  if (rc == CUSTOS_OK && sqlite3_changes(s->db) == 0) {
    rc = custos__err(err, CUSTOS_ENOENT, MOD, "holder %lld not found", (long long)h->id);
  }
  done(st);
  return rc;
}

static int sqlite_holder_delete(custos_txn *t, int64_t id, custos_err *err) {
  sqlite_store *s = txn_store(t);
  sqlite3_stmt *st;
  int64_t ntemplates = 0;
  int rc = prep(s, S_HOLDER_TEMPLATES, &st, err);
  if (rc == CUSTOS_OK) rc = bind_int(s, st, 1, id, err);
  if (rc == CUSTOS_OK) rc = step_count(s, st, &ntemplates, "templates", err);
  done(st);
  if (rc != CUSTOS_OK) return rc;
  rc = prep(s, S_HOLDER_DELETE, &st, err);
  if (rc == CUSTOS_OK) rc = bind_int(s, st, 1, id, err);
  if (rc == CUSTOS_OK) rc = step_done(s, st, "holders", err);
  if (rc == CUSTOS_OK && sqlite3_changes(s->db) == 0) {
    rc = custos__err(err, CUSTOS_ENOENT, MOD, "holder %lld not found", (long long)id);
  }
  done(st);
  if (rc == CUSTOS_OK && ntemplates > 0) rc = bump_generation(s, err);
  return rc;
}

/* ---- sensitive fields
 * ------------------------------------------------------------------------------ */

static int sqlite_sensitive_put(custos_txn *t, int64_t holder_id, custos__sensitive_field f,
                                const char *value, custos_err *err) {
  sqlite_store *s = txn_store(t);
  sqlite3_stmt *st;
  const char *name = custos__sensitive_field_name(f);
  int rc = prep(s, S_SENS_PUT, &st, err);
  if (rc == CUSTOS_OK) rc = bind_int(s, st, 1, holder_id, err);
  if (rc == CUSTOS_OK) rc = bind_text(s, st, 2, name, false, err);
  if (rc == CUSTOS_OK) rc = bind_text(s, st, 3, value, false, err);
  if (rc == CUSTOS_OK) {
    rc = step_done(s, st, "holder_sensitive", err);
    if (rc == CUSTOS_ENOENT) {
      rc = custos__err(err, CUSTOS_ENOENT, MOD, "%s: holder %lld not found", name,
                       (long long)holder_id);
    }
  }
  done(st);
  return rc;
}

static int sqlite_sensitive_matches(custos_txn *t, int64_t holder_id, custos__sensitive_field f,
                                    const char *value, bool *match, custos_err *err) {
  sqlite_store *s = txn_store(t);
  sqlite3_stmt *st;
  int rc = prep(s, S_SENS_MATCH, &st, err);
  if (rc == CUSTOS_OK) rc = bind_int(s, st, 1, holder_id, err);
  if (rc == CUSTOS_OK) rc = bind_text(s, st, 2, custos__sensitive_field_name(f), false, err);
  if (rc == CUSTOS_OK) rc = bind_text(s, st, 3, value, false, err);
  if (rc == CUSTOS_OK) {
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
      *match = value != NULL && sqlite3_column_int(st, 0) == 1;
    } else if (r == SQLITE_DONE) {
      *match = value == NULL;
    } else {
      rc = db_fail(s, r, "holder_sensitive", err);
    }
  }
  done(st);
  return rc;
}

static int sqlite_sensitive_count(custos_txn *t, custos__sensitive_field f, int64_t *n,
                                  custos_err *err) {
  return count_of(txn_store(t), S_SENS_COUNT, custos__sensitive_field_name(f), n,
                  "holder_sensitive", err);
}

/* ---- photos
 * ----------------------------------------------------------------------------------------- */

static int sqlite_photo_add(custos_txn *t, const custos__photo *p, int64_t *id, custos_err *err) {
  sqlite_store *s = txn_store(t);
  sqlite3_stmt *st;
  int rc = prep(s, S_PHOTO_ADD, &st, err);
  if (rc == CUSTOS_OK) rc = bind_int(s, st, 1, p->holder_id, err);
  if (rc == CUSTOS_OK) rc = bind_blob(s, st, 2, p->sha256, 32, err);
  if (rc == CUSTOS_OK) rc = bind_text(s, st, 3, p->captured, true, err);
  if (rc == CUSTOS_OK) rc = bind_text(s, st, 4, p->source, false, err);
  if (rc == CUSTOS_OK) {
    rc = step_done(s, st, "photos", err);
    if (rc == CUSTOS_ENOENT) {
      rc = custos__err(err, CUSTOS_ENOENT, MOD, "holder %lld not found", (long long)p->holder_id);
    } else if (rc == CUSTOS_ECONFLICT) {
      rc =
          custos__err(err, CUSTOS_ECONFLICT, MOD,
                      "holder %lld already has a photo with this SHA-256", (long long)p->holder_id);
    }
  }
  if (rc == CUSTOS_OK) *id = sqlite3_last_insert_rowid(s->db);
  done(st);
  return rc;
}

static int sqlite_photo_get(custos_txn *t, int64_t id, int64_t holder_id, const uint8_t *sha256,
                            custos__photo *out, custos_err *err) {
  sqlite_store *s = txn_store(t);
  sqlite3_stmt *st;
  int rc = prep(s, sha256 ? S_PHOTO_BY_SHA : S_PHOTO_BY_ID, &st, err);
  if (rc == CUSTOS_OK) rc = bind_int(s, st, 1, sha256 ? holder_id : id, err);
  if (rc == CUSTOS_OK && sha256) rc = bind_blob(s, st, 2, sha256, 32, err);
  if (rc == CUSTOS_OK) {
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
      out->id = sqlite3_column_int64(st, 0);
      out->holder_id = sqlite3_column_int64(st, 1);
      rc = col_hash(st, 2, out->sha256, "photos.sha256", err);
      if (rc == CUSTOS_OK) {
        rc = col_text(st, 3, out->captured, sizeof out->captured, "photos.captured", err);
      }
      if (rc == CUSTOS_OK) {
        rc = col_text(st, 4, out->source, sizeof out->source, "photos.source", err);
      }
    } else if (r == SQLITE_DONE) {
      rc = sha256 ? custos__err(err, CUSTOS_ENOENT, MOD,
                                "holder %lld has no photo with this SHA-256", (long long)holder_id)
                  : custos__err(err, CUSTOS_ENOENT, MOD, "photo %lld not found", (long long)id);
    } else {
      rc = db_fail(s, r, "photos", err);
    }
  }
  done(st);
  return rc;
}

/* ---- templates
 * ---------------------------------------------------------------------------------------- */

static int sqlite_template_put(custos_txn *t, int64_t photo_id, const char *model,
                               const float v[CUSTOS_TEMPLATE_DIM], custos_err *err) {
  sqlite_store *s = txn_store(t);
  sqlite3_stmt *st;
  unsigned char blob[VECTOR_BYTES];
  encode_vector(v, blob);
  int rc = prep(s, S_TEMPLATE_PUT, &st, err);
  if (rc == CUSTOS_OK) rc = bind_int(s, st, 1, photo_id, err);
  if (rc == CUSTOS_OK) rc = bind_text(s, st, 2, model, false, err);
  if (rc == CUSTOS_OK) rc = bind_blob(s, st, 3, blob, VECTOR_BYTES, err);
  if (rc == CUSTOS_OK) {
    rc = step_done(s, st, "templates", err);
    if (rc == CUSTOS_ENOENT) {
      rc = custos__err(err, CUSTOS_ENOENT, MOD, "photo %lld not found", (long long)photo_id);
    } else if (rc == CUSTOS_ECONFLICT) {
      rc = custos__err(err, CUSTOS_ECONFLICT, MOD, "photo %lld already has a template of %s",
                       (long long)photo_id, model);
    }
  }
  done(st);
  if (rc == CUSTOS_OK) rc = bump_generation(s, err);
  return rc;
}

static int sqlite_template_get(custos_txn *t, int64_t photo_id, const char *model,
                               float v[CUSTOS_TEMPLATE_DIM], custos_err *err) {
  sqlite_store *s = txn_store(t);
  sqlite3_stmt *st;
  int rc = prep(s, S_TEMPLATE_GET, &st, err);
  if (rc == CUSTOS_OK) rc = bind_int(s, st, 1, photo_id, err);
  if (rc == CUSTOS_OK) rc = bind_text(s, st, 2, model, false, err);
  if (rc == CUSTOS_OK) {
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
      rc = decode_vector(st, 0, v, err);
    } else if (r == SQLITE_DONE) {
      rc = custos__err(err, CUSTOS_ENOENT, MOD, "photo %lld has no template of %s",
                       (long long)photo_id, model);
    } else {
      rc = db_fail(s, r, "templates", err);
    }
  }
  done(st);
  return rc;
}

static int sqlite_template_foreach(custos_txn *t, const char *model, custos__template_cb cb,
                                   void *ctx, custos_err *err) {
  sqlite_store *s = txn_store(t);
  sqlite3_stmt *st;
  float v[CUSTOS_TEMPLATE_DIM];
  int rc = prep(s, model ? S_TEMPLATE_OF_MODEL : S_TEMPLATE_ALL, &st, err);
  if (rc == CUSTOS_OK && model) rc = bind_text(s, st, 1, model, false, err);
  while (rc == CUSTOS_OK) {
    int r = sqlite3_step(st);
    if (r == SQLITE_DONE) break;
    if (r != SQLITE_ROW) {
      rc = db_fail(s, r, "templates", err);
      break;
    }
    custos__template_rec rec = {.id = sqlite3_column_int64(st, 0),
                                .holder_id = sqlite3_column_int64(st, 1),
                                .photo_id = sqlite3_column_int64(st, 2),
                                .v = v};
    rc = decode_vector(st, 3, v, err);
    if (rc == CUSTOS_OK) rc = cb(&rec, ctx);
  }
  done(st);
  return rc;
}

static int sqlite_template_count(custos_txn *t, const char *model, int64_t *n, custos_err *err) {
  return count_of(txn_store(t), model ? S_TEMPLATE_COUNT_MODEL : S_COUNT_TEMPLATES, model, n,
                  "templates", err);
}

/* ---- users
 * ---------------------------------------------------------------------------------------------- */

static int sqlite_user_add(custos_txn *t, const custos__user *u, int64_t *id, custos_err *err) {
  sqlite_store *s = txn_store(t);
  sqlite3_stmt *st;
  int rc = prep(s, S_USER_ADD, &st, err);
  if (rc == CUSTOS_OK) rc = bind_text(s, st, 1, u->name, false, err);
  if (rc == CUSTOS_OK) rc = bind_text(s, st, 2, u->role, false, err);
  if (rc == CUSTOS_OK) rc = bind_text(s, st, 3, u->pwhash, false, err);
  if (rc == CUSTOS_OK) rc = bind_text(s, st, 4, u->trained_until, true, err);
  if (rc == CUSTOS_OK) rc = bind_text(s, st, 5, u->created, false, err);
  if (rc == CUSTOS_OK) {
    rc = step_done(s, st, "users", err);
    if (rc == CUSTOS_ECONFLICT) {
      rc = custos__err(err, CUSTOS_ECONFLICT, MOD, "user '%s' already exists", u->name);
    } else if (rc == CUSTOS_EINVAL) {
      rc = custos__err(err, CUSTOS_EINVAL, MOD, "role: '%s' is not a role", u->role);
    }
  }
  if (rc == CUSTOS_OK) *id = sqlite3_last_insert_rowid(s->db);
  done(st);
  return rc;
}

static int read_user(sqlite3_stmt *st, custos__user *u, custos_err *err) {
  int rc;
  u->id = sqlite3_column_int64(st, 0);
  if ((rc = col_text(st, 1, u->name, sizeof u->name, "users.name", err)) ||
      (rc = col_text(st, 2, u->role, sizeof u->role, "users.role", err)) ||
      (rc = col_text(st, 3, u->pwhash, sizeof u->pwhash, "users.pwhash", err)) ||
      (rc = col_text(st, 4, u->trained_until, sizeof u->trained_until, "users.trained_until",
                     err)) ||
      (rc = col_text(st, 7, u->created, sizeof u->created, "users.created", err)))
    return rc;
  int64_t failed = sqlite3_column_int64(st, 5);
  u->failed_logins = failed > 1000000 ? 1000000 : (int)failed;
  u->locked = sqlite3_column_int(st, 6) != 0;
  return CUSTOS_OK;
}

static int sqlite_user_get(custos_txn *t, const char *name, custos__user *out, custos_err *err) {
  sqlite_store *s = txn_store(t);
  sqlite3_stmt *st;
  int rc = prep(s, S_USER_GET, &st, err);
  if (rc == CUSTOS_OK) rc = bind_text(s, st, 1, name, false, err);
  if (rc == CUSTOS_OK) {
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
      rc = read_user(st, out, err);
    } else if (r == SQLITE_DONE) {
      rc = custos__err(err, CUSTOS_ENOENT, MOD, "no such user");
    } else {
      rc = db_fail(s, r, "users", err);
    }
  }
  done(st);
  return rc;
}

static int sqlite_user_foreach(custos_txn *t, custos__user_cb cb, void *ctx, custos_err *err) {
  sqlite_store *s = txn_store(t);
  sqlite3_stmt *st;
  custos__user u;
  int rc = prep(s, S_USER_ALL, &st, err);
  while (rc == CUSTOS_OK) {
    int r = sqlite3_step(st);
    if (r == SQLITE_DONE) break;
    if (r != SQLITE_ROW) {
      rc = db_fail(s, r, "users", err);
      break;
    }
    memset(&u, 0, sizeof u);
    rc = read_user(st, &u, err);
    if (rc == CUSTOS_OK) rc = cb(&u, ctx);
  }
  done(st);
  return rc;
}

static int sqlite_user_login_failed(custos_txn *t, int64_t id, int max_failed, bool *locked,
                                    custos_err *err) {
  sqlite_store *s = txn_store(t);
  sqlite3_stmt *st;
  int rc = prep(s, S_USER_FAILED, &st, err);
  if (rc == CUSTOS_OK) rc = bind_int(s, st, 1, id, err);
  if (rc == CUSTOS_OK) rc = bind_int(s, st, 2, max_failed, err);
  if (rc == CUSTOS_OK) {
    int r = sqlite3_step(st);
    if (r == SQLITE_ROW) {
      *locked = sqlite3_column_int(st, 0) != 0;
      rc = step_done(s, st, "users", err);
    } else if (r == SQLITE_DONE) {
      rc = custos__err(err, CUSTOS_ENOENT, MOD, "user %lld not found", (long long)id);
    } else {
      rc = db_fail(s, r, "users", err);
    }
  }
  done(st);
  return rc;
}

/* Runs an UPDATE of one user; CUSTOS_ENOENT when no row changed. */
static int user_update(sqlite_store *s, int stmt, int64_t id, const char *text, bool empty_is_null,
                       custos_err *err) {
  sqlite3_stmt *st;
  int rc = prep(s, stmt, &st, err);
  if (rc == CUSTOS_OK) rc = bind_int(s, st, 1, id, err);
  if (rc == CUSTOS_OK && stmt != S_USER_UNLOCK) rc = bind_text(s, st, 2, text, empty_is_null, err);
  if (rc == CUSTOS_OK) rc = step_done(s, st, "users", err);
  if (rc == CUSTOS_OK && sqlite3_changes(s->db) == 0) {
    rc = custos__err(err, CUSTOS_ENOENT, MOD, "user %lld not found", (long long)id);
  }
  done(st);
  return rc;
}

static int sqlite_user_login_ok(custos_txn *t, int64_t id, const char *new_pwhash,
                                custos_err *err) {
  return user_update(txn_store(t), S_USER_OK, id, new_pwhash, false, err);
}

static int sqlite_user_unlock(custos_txn *t, int64_t id, custos_err *err) {
  return user_update(txn_store(t), S_USER_UNLOCK, id, NULL, false, err);
}

static int sqlite_user_set_training(custos_txn *t, int64_t id, const char *until, custos_err *err) {
  return user_update(txn_store(t), S_USER_TRAINING, id, until, true, err);
}

/* ---- counts
 * ---------------------------------------------------------------------------------------------- */

static int sqlite_count(custos_txn *t, custos__store_table table, int64_t *n, custos_err *err) {
  static const int which[CUSTOS__T_COUNT] = {
      [CUSTOS__T_HOLDERS] = S_COUNT_HOLDERS,
      [CUSTOS__T_PHOTOS] = S_COUNT_PHOTOS,
      [CUSTOS__T_TEMPLATES] = S_COUNT_TEMPLATES,
      [CUSTOS__T_USERS] = S_COUNT_USERS,
      [CUSTOS__T_CASES] = S_COUNT_CASES,
  };
  return count_of(txn_store(t), which[table], NULL, n, "count", err);
}

/* ---- the audit log
 * ------------------------------------------------------------------------------------ */

/* Steps a bound query of at most one row: CUSTOS_OK with the row current,
 * CUSTOS_ENOENT (message: what "not stored") when there is none. */
static int step_one(sqlite_store *s, sqlite3_stmt *st, const char *what, custos_err *err) {
  int r = sqlite3_step(st);
  if (r == SQLITE_ROW) return CUSTOS_OK;
  if (r == SQLITE_DONE) return custos__err(err, CUSTOS_ENOENT, MOD, "%s: not stored", what);
  return db_fail(s, r, what, err);
}

/* Runs query id with ?1 = a and appends column 0 of its row to out. */
static int audit_blob_get(sqlite_store *s, int id, int64_t a, custos_buf *out, const char *what,
                          custos_err *err) {
  sqlite3_stmt *st;
  int rc = prep(s, id, &st, err);
  if (rc == CUSTOS_OK) rc = bind_int(s, st, 1, a, err);
  if (rc == CUSTOS_OK) rc = step_one(s, st, what, err);
  if (rc == CUSTOS_OK) rc = col_to_buf(st, 0, out, what, err);
  done(st);
  return rc;
}

static int sqlite_audit_head_get(custos_txn *t, uint8_t *out, size_t cap, size_t *len,
                                 custos_err *err) {
  sqlite_store *s = txn_store(t);
  sqlite3_stmt *st;
  int rc = prep(s, S_AUDIT_HEAD_GET, &st, err);
  if (rc == CUSTOS_OK) rc = step_one(s, st, "audit_head", err);
  if (rc == CUSTOS_OK) {
    const void *p = sqlite3_column_blob(st, 0);
    size_t n = (size_t)sqlite3_column_bytes(st, 0);
    if (n > cap || (p == NULL && n > 0)) {
      rc = custos__err(err, CUSTOS_ECORRUPT, MOD, "audit_head: %zu bytes, more than %zu", n, cap);
    } else {
      if (n > 0) memcpy(out, p, n);
      *len = n;
    }
  }
  done(st);
  return rc;
}

static int sqlite_audit_head_put(custos_txn *t, const uint8_t *blob, size_t len, custos_err *err) {
  sqlite_store *s = txn_store(t);
  sqlite3_stmt *st;
  int rc = prep(s, S_AUDIT_HEAD_PUT, &st, err);
  if (rc == CUSTOS_OK) rc = bind_blob(s, st, 1, blob, (int)len, err);
  if (rc == CUSTOS_OK) rc = step_done(s, st, "audit_head", err);
  done(st);
  return rc;
}

static int sqlite_audit_entry_add(custos_txn *t, int64_t idx, const void *data, size_t len,
                                  const uint8_t leaf[32], custos_err *err) {
  sqlite_store *s = txn_store(t);
  sqlite3_stmt *st;
  int rc = prep(s, S_AUDIT_ENTRY_ADD, &st, err);
  if (rc == CUSTOS_OK) rc = bind_int(s, st, 1, idx, err);
  if (rc == CUSTOS_OK) rc = bind_blob(s, st, 2, data, (int)len, err);
  if (rc == CUSTOS_OK) rc = bind_blob(s, st, 3, leaf, 32, err);
  if (rc == CUSTOS_OK) {
    rc = step_done(s, st, "audit_entry", err);
    if (rc == CUSTOS_ECONFLICT) {
      rc = custos__err(err, CUSTOS_ECONFLICT, MOD, "audit entry %lld exists", (long long)idx);
    }
  }
  done(st);
  return rc;
}

static int sqlite_audit_entry_get(custos_txn *t, int64_t idx, custos_buf *out, custos_err *err) {
  return audit_blob_get(txn_store(t), S_AUDIT_ENTRY_GET, idx, out, "audit entry", err);
}

static int sqlite_audit_entry_scan(custos_txn *t, int64_t first, custos__audit_entry_cb cb,
                                   void *ctx, custos_err *err) {
  sqlite_store *s = txn_store(t);
  sqlite3_stmt *st;
  int rc = prep(s, S_AUDIT_ENTRY_SCAN, &st, err);
  if (rc == CUSTOS_OK) rc = bind_int(s, st, 1, first, err);
  while (rc == CUSTOS_OK) {
    int r = sqlite3_step(st);
    if (r == SQLITE_DONE) break;
    if (r != SQLITE_ROW) {
      rc = db_fail(s, r, "audit_entry", err);
      break;
    }
    const void *p = sqlite3_column_blob(st, 1);
    size_t n = (size_t)sqlite3_column_bytes(st, 1);
    if (p == NULL && n > 0) {
      rc = custos__err(err, CUSTOS_ENOMEM, MOD, "audit_entry: out of memory");
      break;
    }
    rc = cb(ctx, sqlite3_column_int64(st, 0), p ? p : "", n);
  }
  done(st);
  return rc;
}

static int sqlite_audit_entry_count(custos_txn *t, int64_t *n, custos_err *err) {
  return count_of(txn_store(t), S_AUDIT_ENTRY_COUNT, NULL, n, "audit_entry", err);
}

static int sqlite_audit_node_put(custos_txn *t, int level, int64_t idx, const uint8_t hash[32],
                                 custos_err *err) {
  sqlite_store *s = txn_store(t);
  sqlite3_stmt *st;
  int rc = prep(s, S_AUDIT_NODE_PUT, &st, err);
  if (rc == CUSTOS_OK) rc = bind_int(s, st, 1, level, err);
  if (rc == CUSTOS_OK) rc = bind_int(s, st, 2, idx, err);
  if (rc == CUSTOS_OK) rc = bind_blob(s, st, 3, hash, 32, err);
  if (rc == CUSTOS_OK) {
    rc = step_done(s, st, "audit_node", err);
    if (rc == CUSTOS_ECONFLICT) {
      rc = custos__err(err, CUSTOS_ECONFLICT, MOD, "audit node (%d, %lld) exists", level,
                       (long long)idx);
    }
  }
  done(st);
  return rc;
}

static int sqlite_audit_node_get(custos_txn *t, int level, int64_t idx, uint8_t hash[32],
                                 custos_err *err) {
  sqlite_store *s = txn_store(t);
  sqlite3_stmt *st;
  const char *what = level == 0 ? "audit_entry.leaf_hash" : "audit_node";
  int rc = prep(s, level == 0 ? S_AUDIT_LEAF_GET : S_AUDIT_NODE_GET, &st, err);
  if (rc == CUSTOS_OK) rc = bind_int(s, st, level == 0 ? 1 : 2, idx, err);
  if (rc == CUSTOS_OK && level > 0) rc = bind_int(s, st, 1, level, err);
  if (rc == CUSTOS_OK) rc = step_one(s, st, what, err);
  if (rc == CUSTOS_OK) rc = col_hash(st, 0, hash, what, err);
  done(st);
  return rc;
}

static int sqlite_audit_checkpoint_add(custos_txn *t, int64_t size, const char *note, size_t len,
                                       custos_err *err) {
  sqlite_store *s = txn_store(t);
  sqlite3_stmt *st;
  int rc = prep(s, S_AUDIT_CP_ADD, &st, err);
  if (rc == CUSTOS_OK) rc = bind_int(s, st, 1, size, err);
  if (rc == CUSTOS_OK) {
    int r = sqlite3_bind_text(st, 2, note, (int)len, SQLITE_STATIC);
    if (r != SQLITE_OK) rc = db_fail(s, r, "bind", err);
  }
  if (rc == CUSTOS_OK) rc = step_done(s, st, "audit_checkpoint", err);
  done(st);
  return rc;
}

static int sqlite_audit_checkpoint_count(custos_txn *t, int64_t *n, custos_err *err) {
  return count_of(txn_store(t), S_AUDIT_CP_COUNT, NULL, n, "audit_checkpoint", err);
}

static int sqlite_audit_checkpoint_get(custos_txn *t, int64_t i, custos_buf *out, custos_err *err) {
  return audit_blob_get(txn_store(t), S_AUDIT_CP_GET, i, out, "audit checkpoint", err);
}

/* ---- the import: erasing a field, de-duplication cases
 * ------------------------------------------------------------------- */

static int sqlite_sensitive_purge(custos_txn *t, custos__sensitive_field f, int64_t *n,
                                  custos_err *err) {
  sqlite_store *s = txn_store(t);
  sqlite3_stmt *st;
  int rc = prep(s, S_SENS_PURGE, &st, err);
  if (rc == CUSTOS_OK) rc = bind_text(s, st, 1, custos__sensitive_field_name(f), false, err);
  if (rc == CUSTOS_OK) rc = step_done(s, st, "holder_sensitive", err);
  if (rc == CUSTOS_OK) *n = sqlite3_changes64(s->db);
  done(st);
  return rc;
}

/* Runs "PRAGMA wal_checkpoint(TRUNCATE)" and checks that it emptied the log:
 * its first column is 1 when another connection kept it from finishing. */
static int checkpoint_truncate(sqlite_store *s, custos_err *err) {
  sqlite3_stmt *st = NULL;
  int rc = CUSTOS_OK;
  int r = sqlite3_prepare_v2(s->db, "PRAGMA wal_checkpoint(TRUNCATE)", -1, &st, NULL);
  if (r == SQLITE_OK) r = sqlite3_step(st);
  if (r != SQLITE_ROW) {
    rc = db_fail(s, r, "wal checkpoint", err);
  } else if (sqlite3_column_int(st, 0) != 0) {
    rc = custos__err(err, CUSTOS_EDB, MOD,
                     "%s: another connection is using the database, so its write-ahead log "
                     "could not be emptied; run the command again when it is idle",
                     s->path);
  }
  sqlite3_finalize(st);
  return rc;
}

static int sqlite_compact(custos_store *base, custos_err *err) {
  sqlite_store *s = store_of(base);
  /* Empty the log into the file, rebuild the file without free pages (which
   * VACUUM writes through the log again), then empty the log once more: no
   * erased value is left in the file, the -wal or the -shm. */
  int rc = checkpoint_truncate(s, err);
  if (rc == CUSTOS_OK) {
    int r = sqlite3_exec(s->db, "VACUUM", NULL, NULL, NULL);
    if (r != SQLITE_OK) rc = db_fail(s, r, "vacuum", err);
  }
  if (rc == CUSTOS_OK) rc = checkpoint_truncate(s, err);
  return rc;
}

static int sqlite_dedup_case_add(custos_txn *t, const custos__dedup_case *c, int64_t *id,
                                 custos_err *err) {
  sqlite_store *s = txn_store(t);
  sqlite3_stmt *st;
  int rc = prep(s, S_DEDUP_ADD, &st, err);
  if (rc == CUSTOS_OK) rc = bind_int(s, st, 1, c->holder_a, err);
  if (rc == CUSTOS_OK) rc = bind_int(s, st, 2, c->holder_b, err);
  if (rc == CUSTOS_OK) rc = bind_int(s, st, 3, c->photo_a, err);
  if (rc == CUSTOS_OK) rc = bind_int(s, st, 4, c->photo_b, err);
  if (rc == CUSTOS_OK) {
    int r = sqlite3_bind_double(st, 5, c->distance);
    if (r != SQLITE_OK) rc = db_fail(s, r, "bind", err);
  }
  if (rc == CUSTOS_OK) rc = bind_text(s, st, 6, c->created, false, err);
  if (rc == CUSTOS_OK) {
    rc = step_done(s, st, "dedup_cases", err);
    if (rc == CUSTOS_ENOENT) {
      rc = custos__err(err, CUSTOS_ENOENT, MOD, "dedup_cases: no such holder or photo");
    } else if (rc == CUSTOS_ECONFLICT) {
      rc = custos__err(err, CUSTOS_ECONFLICT, MOD, "dedup_cases: a case for these photos exists");
    }
  }
  if (rc == CUSTOS_OK) *id = sqlite3_last_insert_rowid(s->db);
  done(st);
  return rc;
}

static int sqlite_dedup_case_open_exists(custos_txn *t, int64_t a, int64_t b, bool *exists,
                                         custos_err *err) {
  sqlite_store *s = txn_store(t);
  sqlite3_stmt *st;
  int64_t n = 0;
  int rc = prep(s, S_DEDUP_OPEN_EXISTS, &st, err);
  if (rc == CUSTOS_OK) rc = bind_int(s, st, 1, a, err);
  if (rc == CUSTOS_OK) rc = bind_int(s, st, 2, b, err);
  if (rc == CUSTOS_OK) rc = step_count(s, st, &n, "dedup_cases", err);
  done(st);
  *exists = n > 0;
  return rc;
}

static int sqlite_dedup_case_count(custos_txn *t, bool open_only, int64_t *n, custos_err *err) {
  return count_of(txn_store(t), open_only ? S_DEDUP_COUNT_OPEN : S_DEDUP_COUNT, NULL, n,
                  "dedup_cases", err);
}

static int sqlite_dedup_case_foreach(custos_txn *t, custos__dedup_case_cb cb, void *ctx,
                                     custos_err *err) {
  sqlite_store *s = txn_store(t);
  sqlite3_stmt *st;
  custos__dedup_case c;
  char state[8];
  int rc = prep(s, S_DEDUP_ALL, &st, err);
  while (rc == CUSTOS_OK) {
    int r = sqlite3_step(st);
    if (r == SQLITE_DONE) break;
    if (r != SQLITE_ROW) {
      rc = db_fail(s, r, "dedup_cases", err);
      break;
    }
    memset(&c, 0, sizeof c);
    c.id = sqlite3_column_int64(st, 0);
    c.holder_a = sqlite3_column_int64(st, 1);
    c.holder_b = sqlite3_column_int64(st, 2);
    c.photo_a = sqlite3_column_int64(st, 3);
    c.photo_b = sqlite3_column_int64(st, 4);
    c.distance = sqlite3_column_double(st, 5);
    rc = col_text(st, 6, state, sizeof state, "dedup_cases.state", err);
    if (rc == CUSTOS_OK) {
      rc = col_text(st, 7, c.created, sizeof c.created, "dedup_cases.created", err);
    }
    c.open = strcmp(state, "open") == 0;
    if (rc == CUSTOS_OK) rc = cb(&c, ctx);
  }
  done(st);
  return rc;
}

/* ---- request cases ---- */

static int sqlite_case_add(custos_txn *t, const custos__case_row *c, const void *probe,
                           size_t probe_len, const void *doc, size_t doc_len, int64_t *id,
                           custos_err *err) {
  sqlite_store *s = txn_store(t);
  sqlite3_stmt *st;
  int rc = prep(s, S_CASE_ADD, &st, err);
  if (rc == CUSTOS_OK) rc = bind_text(s, st, 1, c->state, false, err);
  if (rc == CUSTOS_OK) rc = bind_text(s, st, 2, c->received, false, err);
  if (rc == CUSTOS_OK) rc = bind_text(s, st, 3, c->created, false, err);
  if (rc == CUSTOS_OK) rc = bind_text(s, st, 4, c->closed, true, err);
  if (rc == CUSTOS_OK) rc = bind_int(s, st, 5, c->history ? 1 : 0, err);
  if (rc == CUSTOS_OK) rc = bind_text(s, st, 6, c->record, false, err);
  if (rc == CUSTOS_OK) {
    int r = probe ? sqlite3_bind_blob(st, 7, probe, (int)probe_len, SQLITE_STATIC)
                  : sqlite3_bind_null(st, 7);
    if (r == SQLITE_OK) {
      r = doc ? sqlite3_bind_blob(st, 8, doc, (int)doc_len, SQLITE_STATIC)
              : sqlite3_bind_null(st, 8);
    }
    if (r != SQLITE_OK) rc = db_fail(s, r, "bind", err);
  }
  if (rc == CUSTOS_OK) rc = step_done(s, st, "cases", err);
  if (rc == CUSTOS_OK) *id = sqlite3_last_insert_rowid(s->db);
  done(st);
  return rc;
}

/* Fills *out from the current row of CASE_GET or CASE_ALL, the record into *record. */
static int case_row_read(sqlite3_stmt *st, custos__case_row *out, custos_buf *record,
                         custos_err *err) {
  memset(out, 0, sizeof *out);
  out->id = sqlite3_column_int64(st, 0);
  int rc = col_text(st, 1, out->state, sizeof out->state, "cases.state", err);
  if (rc == CUSTOS_OK) rc = col_text(st, 2, out->received, sizeof out->received, "cases.received", err);
  if (rc == CUSTOS_OK) rc = col_text(st, 3, out->created, sizeof out->created, "cases.created", err);
  if (rc == CUSTOS_OK) rc = col_text(st, 4, out->closed, sizeof out->closed, "cases.closed", err);
  out->history = sqlite3_column_int64(st, 5) != 0;
  out->has_probe = sqlite3_column_int64(st, 6) != 0;
  custos__buf_reset(record);
  if (rc == CUSTOS_OK) rc = col_to_buf(st, 7, record, "cases.record", err);
  if (rc == CUSTOS_OK) rc = custos__buf_append(record, "", 0);
  out->record = record->data ? record->data : "";
  return rc;
}

static int sqlite_case_get(custos_txn *t, int64_t id, custos__case_row *out, custos_buf *record,
                           custos_err *err) {
  sqlite_store *s = txn_store(t);
  sqlite3_stmt *st;
  int rc = prep(s, S_CASE_GET, &st, err);
  if (rc == CUSTOS_OK) rc = bind_int(s, st, 1, id, err);
  if (rc == CUSTOS_OK) rc = step_one(s, st, "case", err);
  if (rc == CUSTOS_OK) rc = case_row_read(st, out, record, err);
  done(st);
  return rc;
}

static int sqlite_case_update(custos_txn *t, const custos__case_row *c, custos_err *err) {
  sqlite_store *s = txn_store(t);
  sqlite3_stmt *st;
  int rc = prep(s, S_CASE_UPDATE, &st, err);
  if (rc == CUSTOS_OK) rc = bind_int(s, st, 1, c->id, err);
  if (rc == CUSTOS_OK) rc = bind_text(s, st, 2, c->state, false, err);
  if (rc == CUSTOS_OK) rc = bind_text(s, st, 3, c->closed, true, err);
  if (rc == CUSTOS_OK) rc = bind_text(s, st, 4, c->record, false, err);
  if (rc == CUSTOS_OK) rc = step_done(s, st, "cases", err);
  if (rc == CUSTOS_OK && sqlite3_changes(s->db) == 0) {
    rc = custos__err(err, CUSTOS_ENOENT, MOD, "case: not stored");
  }
  done(st);
  return rc;
}

static int sqlite_case_foreach(custos_txn *t, custos__case_cb cb, void *ctx, custos_err *err) {
  sqlite_store *s = txn_store(t);
  sqlite3_stmt *st;
  custos__case_row c;
  custos_buf rec;
  custos__buf_init(&rec, CUSTOS_CASE_RECORD_MAX);
  int rc = prep(s, S_CASE_ALL, &st, err);
  while (rc == CUSTOS_OK) {
    int r = sqlite3_step(st);
    if (r == SQLITE_DONE) break;
    if (r != SQLITE_ROW) {
      rc = db_fail(s, r, "cases", err);
      break;
    }
    rc = case_row_read(st, &c, &rec, err);
    if (rc == CUSTOS_OK) rc = cb(&c, ctx);
  }
  done(st);
  custos__buf_free(&rec);
  return rc;
}

static int sqlite_case_blob_get(custos_txn *t, int64_t id, bool probe, custos_buf *out,
                                custos_err *err) {
  sqlite_store *s = txn_store(t);
  sqlite3_stmt *st;
  const char *what = probe ? "case probe" : "case document";
  int rc = prep(s, probe ? S_CASE_PROBE : S_CASE_DOCUMENT, &st, err);
  if (rc == CUSTOS_OK) rc = bind_int(s, st, 1, id, err);
  if (rc == CUSTOS_OK) rc = step_one(s, st, what, err);
  if (rc == CUSTOS_OK) rc = col_to_buf(st, 0, out, what, err);
  done(st);
  return rc;
}

static int sqlite_case_purge_probe(custos_txn *t, int64_t id, custos_err *err) {
  sqlite_store *s = txn_store(t);
  sqlite3_stmt *st;
  int rc = prep(s, S_CASE_PURGE_PROBE, &st, err);
  if (rc == CUSTOS_OK) rc = bind_int(s, st, 1, id, err);
  if (rc == CUSTOS_OK) rc = step_done(s, st, "cases", err);
  if (rc == CUSTOS_OK && sqlite3_changes(s->db) == 0) {
    rc = custos__err(err, CUSTOS_ENOENT, MOD, "case: not stored");
  }
  done(st);
  return rc;
}

static const custos__store_ops sqlite_ops = {
    .name = "sqlite",
    .close = sqlite_close,
    .schema_version = sqlite_schema_version,
    .migrate_step = sqlite_migrate_step,
    .begin = sqlite_begin,
    .commit = sqlite_commit,
    .rollback = sqlite_rollback,
    .meta_get = sqlite_meta_get,
    .meta_set = sqlite_meta_set,
    .holder_add = sqlite_holder_add,
    .holder_get = sqlite_holder_get,
    .holder_update = sqlite_holder_update,
    .holder_delete = sqlite_holder_delete,
    .sensitive_put = sqlite_sensitive_put,
    .sensitive_matches = sqlite_sensitive_matches,
    .sensitive_count = sqlite_sensitive_count,
    .photo_add = sqlite_photo_add,
    .photo_get = sqlite_photo_get,
    .template_put = sqlite_template_put,
    .template_get = sqlite_template_get,
    .template_foreach = sqlite_template_foreach,
    .template_count = sqlite_template_count,
    .user_add = sqlite_user_add,
    .user_get = sqlite_user_get,
    .user_foreach = sqlite_user_foreach,
    .user_login_failed = sqlite_user_login_failed,
    .user_login_ok = sqlite_user_login_ok,
    .user_unlock = sqlite_user_unlock,
    .user_set_training = sqlite_user_set_training,
    .count = sqlite_count,
    .audit_head_get = sqlite_audit_head_get,
    .audit_head_put = sqlite_audit_head_put,
    .audit_entry_add = sqlite_audit_entry_add,
    .audit_entry_get = sqlite_audit_entry_get,
    .audit_entry_scan = sqlite_audit_entry_scan,
    .audit_entry_count = sqlite_audit_entry_count,
    .audit_node_put = sqlite_audit_node_put,
    .audit_node_get = sqlite_audit_node_get,
    .audit_checkpoint_add = sqlite_audit_checkpoint_add,
    .audit_checkpoint_count = sqlite_audit_checkpoint_count,
    .audit_checkpoint_get = sqlite_audit_checkpoint_get,
    .sensitive_purge = sqlite_sensitive_purge,
    .compact = sqlite_compact,
    .dedup_case_add = sqlite_dedup_case_add,
    .dedup_case_open_exists = sqlite_dedup_case_open_exists,
    .dedup_case_count = sqlite_dedup_case_count,
    .dedup_case_foreach = sqlite_dedup_case_foreach,
    .case_add = sqlite_case_add,
    .case_get = sqlite_case_get,
    .case_update = sqlite_case_update,
    .case_foreach = sqlite_case_foreach,
    .case_blob_get = sqlite_case_blob_get,
    .case_purge_probe = sqlite_case_purge_probe,
};
