/*
 * Unit tests of src/store on the SQLite backend: opening, creating and
 * migrating databases (and refusing newer or foreign ones), transactions,
 * holders with their unique licence number, the write-only sensitive fields
 * (GOV-18), photos, templates with their iterator and generation counter,
 * users, the disclosure builder (invariant 2), SQL injection attempts stored
 * as plain data, the text and date checks, the per-step migration hook, and
 * the audit log's rows (byte-exact, write-once, numbered checkpoints).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "custos/custos.h"
#include "custos/core.h"
#include "store/store.h"
#include "util/util.h"

/* ---- fixtures ---------------------------------------------------------------- */

typedef struct fixture {
  char dir[64];    /* a fresh temporary folder */
  char db[128];    /* dir/custos.db */
  custos_store *s; /* an initialised store at db, or NULL */
} fixture;

static int setup_dir(void **state) {
  fixture *f = calloc(1, sizeof *f);
  if (f == NULL) return -1;
  snprintf(f->dir, sizeof f->dir, "/tmp/custos-store-test.XXXXXX");
  if (mkdtemp(f->dir) == NULL) return -1;
  snprintf(f->db, sizeof f->db, "%s/custos.db", f->dir);
  *state = f;
  return 0;
}

/* A database at the latest schema, open in f->s. */
static int setup_db(void **state) {
  if (setup_dir(state) != 0) return -1;
  fixture *f = *state;
  custos_err err;
  if (custos__store_open(f->db, CUSTOS__STORE_CREATE, &f->s, &err) != CUSTOS_OK) return -1;
  if (custos__store_migrate(f->s, CUSTOS_SCHEMA_VERSION, NULL, NULL, &err) != CUSTOS_OK) return -1;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  custos__store_close(f->s);
  char cmd[160];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
  if (system(cmd) != 0) return -1;
  free(f);
  return 0;
}

static custos_txn *begin(custos_store *s, bool write) {
  custos_txn *t = NULL;
  custos_err err;
  assert_int_equal(custos__store_begin(s, write, &t, &err), CUSTOS_OK);
  assert_non_null(t);
  return t;
}

static void commit(custos_txn *t) {
  custos_err err;
  assert_int_equal(custos__store_commit(t, &err), CUSTOS_OK);
}

static custos__holder holder(const char *lic, const char *first, const char *middle,
                             const char *last, const char *dob) {
  custos__holder h;
  memset(&h, 0, sizeof h);
  snprintf(h.license_no, sizeof h.license_no, "%s", lic);
  snprintf(h.first_name, sizeof h.first_name, "%s", first);
  snprintf(h.middle_name, sizeof h.middle_name, "%s", middle);
  snprintf(h.last_name, sizeof h.last_name, "%s", last);
  snprintf(h.dob, sizeof h.dob, "%s", dob);
  return h;
}

static int64_t add_holder(custos_store *s, const char *lic) {
  custos_err err;
  int64_t id = 0;
  custos__holder h = holder(lic, "Ann", "B", "Cole", "1980-05-17");
  custos_txn *t = begin(s, true);
  assert_int_equal(custos__store_holder_add(t, &h, &id, &err), CUSTOS_OK);
  commit(t);
  return id;
}

static int64_t count_of(custos_store *s, custos__store_table table) {
  custos_err err;
  int64_t n = -1;
  custos_txn *t = begin(s, false);
  assert_int_equal(custos__store_count(t, table, &n, &err), CUSTOS_OK);
  custos__store_rollback(t);
  return n;
}

static void write_file(const char *path, const void *data, size_t len) {
  FILE *fp = fopen(path, "wb");
  assert_non_null(fp);
  assert_int_equal(fwrite(data, 1, len, fp), len);
  fclose(fp);
}

/* ---- opening, creating, migrating -------------------------------------------- */

static void test_open_missing(void **state) {
  fixture *f = *state;
  custos_store *s = NULL;
  custos_err err;
  assert_int_equal(custos__store_open(f->db, CUSTOS__STORE_EXISTING, &s, &err), CUSTOS_ENOENT);
  assert_null(s);
  assert_non_null(strstr(err.message, "custos init"));
  assert_int_equal(access(f->db, F_OK), -1); /* nothing created */
  assert_int_equal(custos__store_open("", CUSTOS__STORE_EXISTING, &s, &err), CUSTOS_EINVAL);
  assert_int_equal(
      custos__store_open("postgresql://u:secret@host/db", CUSTOS__STORE_EXISTING, &s, &err),
      CUSTOS_EUNSUPPORTED);
  assert_null(strstr(err.message, "secret")); /* a connection string is never echoed */
}

static void test_create_and_reopen(void **state) {
  fixture *f = *state;
  custos_store *s = NULL;
  custos_err err;
  int v = -1;
  assert_int_equal(custos__store_open(f->db, CUSTOS__STORE_CREATE, &s, &err), CUSTOS_OK);
  assert_string_equal(custos__store_backend(s), "sqlite");
  assert_int_equal(custos__store_schema_version(s, &v, &err), CUSTOS_OK);
  assert_int_equal(v, 0);
  assert_int_equal(custos__store_check_schema(s, true, NULL, NULL, &err),
                   CUSTOS_ENOENT); /* empty */
  assert_int_equal(custos__store_migrate(s, CUSTOS_SCHEMA_VERSION, NULL, NULL, &err), CUSTOS_OK);
  assert_int_equal(custos__store_schema_version(s, &v, &err), CUSTOS_OK);
  assert_int_equal(v, CUSTOS_SCHEMA_VERSION);
  /* Migrating again does nothing. */
  assert_int_equal(custos__store_migrate(s, CUSTOS_SCHEMA_VERSION, NULL, NULL, &err), CUSTOS_OK);
  custos__store_close(s);

  struct stat st;
  assert_int_equal(stat(f->db, &st), 0);
  assert_int_equal(st.st_mode & 077, 0); /* personal data: owner only */

  /* CREATE refuses an existing database and leaves it as it was. */
  assert_int_equal(custos__store_open(f->db, CUSTOS__STORE_CREATE, &s, &err), CUSTOS_ECONFLICT);
  assert_null(s);
  assert_int_equal(custos__store_open(f->db, CUSTOS__STORE_EXISTING, &s, &err), CUSTOS_OK);
  assert_int_equal(custos__store_check_schema(s, false, NULL, NULL, &err), CUSTOS_OK);
  custos__store_close(s);

  /* A failed init removes only what it created. */
  assert_int_equal(custos__store_open(f->db, CUSTOS__STORE_CREATE, &s, &err), CUSTOS_ECONFLICT);
  custos__store_close_and_remove(NULL);
  assert_int_equal(access(f->db, F_OK), 0);
  char other[160];
  snprintf(other, sizeof other, "%s/other.db", f->dir);
  assert_int_equal(custos__store_open(other, CUSTOS__STORE_CREATE, &s, &err), CUSTOS_OK);
  custos__store_close_and_remove(s);
  assert_int_equal(access(other, F_OK), -1);
}

static void test_create_schema(void **state) {
  fixture *f = *state;
  custos_store *s = NULL;
  custos_err err;
  int v = -1;
  assert_int_equal(custos__store_open(f->db, CUSTOS__STORE_CREATE, &s, &err), CUSTOS_OK);
  /* All steps in the caller's transaction: rolled back, nothing is left. */
  custos_txn *t = begin(s, true);
  assert_int_equal(custos__store_create_schema(t, &err), CUSTOS_OK);
  custos__store_rollback(t);
  assert_int_equal(custos__store_schema_version(s, &v, &err), CUSTOS_OK);
  assert_int_equal(v, 0);
  t = begin(s, false);
  assert_int_equal(custos__store_create_schema(t, &err), CUSTOS_EINTERNAL); /* read-only */
  custos__store_rollback(t);
  t = begin(s, true);
  assert_int_equal(custos__store_create_schema(t, &err), CUSTOS_OK);
  commit(t);
  assert_int_equal(custos__store_schema_version(s, &v, &err), CUSTOS_OK);
  assert_int_equal(v, CUSTOS_SCHEMA_VERSION);
  t = begin(s, true);
  assert_int_equal(custos__store_create_schema(t, &err), CUSTOS_ECONFLICT);
  custos__store_rollback(t);
  custos__store_close(s);
}

static void test_migrate_older(void **state) {
  fixture *f = *state;
  custos_store *s = NULL;
  custos_err err;
  custos__user u;
  int64_t id;
  int v;
  /* A database at schema 1 (users only), with a user in it. */
  assert_int_equal(custos__store_open(f->db, CUSTOS__STORE_CREATE, &s, &err), CUSTOS_OK);
  assert_int_equal(custos__store_migrate(s, 1, NULL, NULL, &err), CUSTOS_OK);
  memset(&u, 0, sizeof u);
  snprintf(u.name, sizeof u.name, "alice");
  snprintf(u.role, sizeof u.role, "admin");
  snprintf(u.pwhash, sizeof u.pwhash, "$argon2id$v=19$m=8,t=1,p=1$x$y");
  snprintf(u.created, sizeof u.created, "2024-01-01T00:00:00Z");
  custos_txn *t = begin(s, true);
  assert_int_equal(custos__store_user_add(t, &u, &id, &err), CUSTOS_OK);
  commit(t);
  custos__store_close(s);

  /* Refused without migration, migrated with it; the data survives. */
  assert_int_equal(custos__store_open(f->db, CUSTOS__STORE_EXISTING, &s, &err), CUSTOS_OK);
  assert_int_equal(custos__store_check_schema(s, false, NULL, NULL, &err), CUSTOS_EVERSION);
  assert_non_null(strstr(err.message, "older"));
  assert_int_equal(custos__store_check_schema(s, true, NULL, NULL, &err), CUSTOS_OK);
  assert_int_equal(custos__store_schema_version(s, &v, &err), CUSTOS_OK);
  assert_int_equal(v, CUSTOS_SCHEMA_VERSION);
  t = begin(s, false);
  assert_int_equal(custos__store_user_get(t, "alice", &u, &err), CUSTOS_OK);
  int64_t gen = -1;
  assert_int_equal(custos__store_template_generation(t, &gen, &err), CUSTOS_OK);
  assert_int_equal(gen, 0);
  custos__store_rollback(t);
  custos__store_close(s);
  /* Asking for an unknown step or going backwards is refused. */
  assert_int_equal(custos__store_open(f->db, CUSTOS__STORE_EXISTING, &s, &err), CUSTOS_OK);
  assert_int_equal(custos__store_migrate(s, CUSTOS_SCHEMA_VERSION + 1, NULL, NULL, &err),
                   CUSTOS_EINVAL);
  assert_int_equal(custos__store_migrate(s, 1, NULL, NULL, &err), CUSTOS_EVERSION);
  custos__store_close(s);
}

static void test_newer_refused(void **state) {
  fixture *f = *state;
  custos_err err;
  char v[16];
  snprintf(v, sizeof v, "%d", CUSTOS_SCHEMA_VERSION + 1);
  custos_txn *t = begin(f->s, true);
  assert_int_equal(custos__store_meta_set(t, "schema_version", v, &err), CUSTOS_OK);
  commit(t);
  custos__store_close(f->s);
  f->s = NULL;
  assert_int_equal(custos__store_open(f->db, CUSTOS__STORE_EXISTING, &f->s, &err), CUSTOS_OK);
  assert_int_equal(custos__store_check_schema(f->s, true, NULL, NULL, &err), CUSTOS_EVERSION);
  assert_non_null(strstr(err.message, "newer than this custos"));
  assert_int_equal(custos__store_migrate(f->s, CUSTOS_SCHEMA_VERSION, NULL, NULL, &err),
                   CUSTOS_EVERSION);
  /* Nothing was changed by the refusal. */
  int have = 0;
  assert_int_equal(custos__store_schema_version(f->s, &have, &err), CUSTOS_OK);
  assert_int_equal(have, CUSTOS_SCHEMA_VERSION + 1);
}

static void test_foreign_files(void **state) {
  fixture *f = *state;
  custos_store *s = NULL;
  custos_err err;
  char path[160];
  /* Random bytes are not a database. */
  snprintf(path, sizeof path, "%s/random.db", f->dir);
  unsigned char junk[4096];
  for (size_t i = 0; i < sizeof junk; i++) junk[i] = (unsigned char)(i * 131 + 7);
  write_file(path, junk, sizeof junk);
  assert_int_equal(custos__store_open(path, CUSTOS__STORE_EXISTING, &s, &err), CUSTOS_ECORRUPT);
  assert_null(s);
  assert_non_null(strstr(err.message, "not a custos database"));
  /* Another program's SQLite database is not custos's. */
  snprintf(path, sizeof path, "%s/other.db", f->dir);
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, "CREATE TABLE t(x)", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
  assert_int_equal(custos__store_open(path, CUSTOS__STORE_EXISTING, &s, &err), CUSTOS_OK);
  assert_int_equal(custos__store_check_schema(s, true, NULL, NULL, &err), CUSTOS_ECORRUPT);
  custos__store_close(s);
  /* A folder is not a database either. */
  assert_int_equal(custos__store_open(f->dir, CUSTOS__STORE_EXISTING, &s, &err), CUSTOS_EINVAL);
  /* CREATE in a folder that does not exist. */
  snprintf(path, sizeof path, "%s/no/such/dir/x.db", f->dir);
  assert_int_equal(custos__store_open(path, CUSTOS__STORE_CREATE, &s, &err), CUSTOS_ENOENT);
}

/* ---- transactions ------------------------------------------------------------------ */

static void test_transactions(void **state) {
  fixture *f = *state;
  custos_err err;
  custos__holder h = holder("T1", "Ann", "", "Cole", "1980-01-01"), got;
  int64_t id;
  custos_txn *t = begin(f->s, true), *t2 = NULL;
  /* One transaction at a time. */
  assert_int_equal(custos__store_begin(f->s, false, &t2, &err), CUSTOS_EINTERNAL);
  assert_int_equal(custos__store_holder_add(t, &h, &id, &err), CUSTOS_OK);
  custos__store_rollback(t);
  assert_int_equal(count_of(f->s, CUSTOS__T_HOLDERS), 0); /* rolled back */
  /* A finished transaction cannot be used. */
  assert_int_equal(custos__store_holder_get(t, id, &got, &err), CUSTOS_EINTERNAL);
  assert_int_equal(custos__store_commit(t, &err), CUSTOS_EINTERNAL);
  custos__store_rollback(NULL);
  /* No writes in a read transaction. */
  t = begin(f->s, false);
  assert_int_equal(custos__store_holder_add(t, &h, &id, &err), CUSTOS_EINTERNAL);
  custos__store_rollback(t);
  /* A second connection sees only committed data. */
  custos_store *other = NULL;
  assert_int_equal(custos__store_open(f->db, CUSTOS__STORE_EXISTING, &other, &err), CUSTOS_OK);
  t = begin(f->s, true);
  assert_int_equal(custos__store_holder_add(t, &h, &id, &err), CUSTOS_OK);
  assert_int_equal(count_of(other, CUSTOS__T_HOLDERS), 0);
  commit(t);
  assert_int_equal(count_of(other, CUSTOS__T_HOLDERS), 1);
  custos__store_close(other);
  /* Closing with a transaction open rolls it back. */
  t = begin(f->s, true);
  custos__holder h2 = holder("T2", "Bo", "", "Dee", "1990-02-03");
  assert_int_equal(custos__store_holder_add(t, &h2, &id, &err), CUSTOS_OK);
  custos__store_close(f->s);
  assert_int_equal(custos__store_open(f->db, CUSTOS__STORE_EXISTING, &f->s, &err), CUSTOS_OK);
  assert_int_equal(count_of(f->s, CUSTOS__T_HOLDERS), 1);
}

static void test_meta(void **state) {
  fixture *f = *state;
  custos_err err;
  char buf[8];
  custos_txn *t = begin(f->s, true);
  assert_int_equal(custos__store_meta_get(t, "nope", buf, sizeof buf, &err), CUSTOS_ENOENT);
  assert_int_equal(custos__store_meta_set(t, "k", "value", &err), CUSTOS_OK);
  assert_int_equal(custos__store_meta_set(t, "k", "v2", &err), CUSTOS_OK);
  assert_int_equal(custos__store_meta_get(t, "k", buf, sizeof buf, &err), CUSTOS_OK);
  assert_string_equal(buf, "v2");
  assert_int_equal(custos__store_meta_set(t, "k", "a longer value", &err), CUSTOS_OK);
  assert_int_equal(custos__store_meta_get(t, "k", buf, sizeof buf, &err), CUSTOS_ETOOBIG);
  assert_int_equal(custos__store_meta_set(t, "", "x", &err), CUSTOS_EINVAL);
  assert_int_equal(custos__store_meta_set(t, "k", "line\nbreak", &err), CUSTOS_EINVAL);
  commit(t);
}

/* ---- holders ---------------------------------------------------------------------------- */

static void test_holders(void **state) {
  fixture *f = *state;
  custos_err err;
  custos__holder h = holder("WDL123456789", "Zoë", "", "Ñúñez", "2000-02-29"), got;
  int64_t id = 0, id2 = 0;
  custos_txn *t = begin(f->s, true);
  assert_int_equal(custos__store_holder_add(t, &h, &id, &err), CUSTOS_OK);
  assert_true(id > 0);
  assert_int_equal(custos__store_holder_get(t, id, &got, &err), CUSTOS_OK);
  assert_int_equal(got.id, id);
  assert_string_equal(got.license_no, "WDL123456789");
  assert_string_equal(got.first_name, "Zoë");
  assert_string_equal(got.middle_name, "");
  assert_string_equal(got.last_name, "Ñúñez");
  assert_string_equal(got.dob, "2000-02-29");
  assert_int_equal(custos__store_holder_find(t, "WDL123456789", &got, &err), CUSTOS_OK);
  assert_int_equal(got.id, id);
  assert_int_equal(custos__store_holder_find(t, "WDL000000000", &got, &err), CUSTOS_ENOENT);
  assert_int_equal(custos__store_holder_get(t, id + 100, &got, &err), CUSTOS_ENOENT);
  assert_int_equal(custos__store_holder_get(t, 0, &got, &err), CUSTOS_ENOENT);

  /* The licence number is unique, and the conflict message does not echo it. */
  custos__holder dup = holder("WDL123456789", "Other", "", "Person", "1970-01-01");
  assert_int_equal(custos__store_holder_add(t, &dup, &id2, &err), CUSTOS_ECONFLICT);
  assert_null(strstr(err.message, "WDL123456789"));
  assert_non_null(strstr(err.message, "license_no"));

  /* Update: a renewal under a new name; moving onto a taken licence fails. */
  custos__holder other = holder("WDL2", "Max", "Q", "Muster", "1955-12-31");
  assert_int_equal(custos__store_holder_add(t, &other, &id2, &err), CUSTOS_OK);
  h.id = id;
  snprintf(h.last_name, sizeof h.last_name, "Smith");
  assert_int_equal(custos__store_holder_update(t, &h, &err), CUSTOS_OK);
  assert_int_equal(custos__store_holder_get(t, id, &got, &err), CUSTOS_OK);
  assert_string_equal(got.last_name, "Smith");
  snprintf(h.license_no, sizeof h.license_no, "WDL2");
  assert_int_equal(custos__store_holder_update(t, &h, &err), CUSTOS_ECONFLICT);
  h.id = id + 100;
  snprintf(h.license_no, sizeof h.license_no, "WDL9");
  assert_int_equal(custos__store_holder_update(t, &h, &err), CUSTOS_ENOENT);

  /* Delete. */
  assert_int_equal(custos__store_holder_delete(t, id2, &err), CUSTOS_OK);
  assert_int_equal(custos__store_holder_get(t, id2, &got, &err), CUSTOS_ENOENT);
  assert_int_equal(custos__store_holder_delete(t, id2, &err), CUSTOS_ENOENT);
  commit(t);
  assert_int_equal(count_of(f->s, CUSTOS__T_HOLDERS), 1);
}

static void test_holder_validation(void **state) {
  fixture *f = *state;
  custos_err err;
  int64_t id;
  static const struct {
    const char *lic, *first, *middle, *last, *dob, *field;
  } bad[] = {
      {"", "A", "", "B", "1980-01-01", "license_no"},
      {"WDL 1", "A", "", "B", "1980-01-01", "license_no"},
      {"WDL\x01", "A", "", "B", "1980-01-01", "license_no"},
      {"L1", "", "", "B", "1980-01-01", "first_name"},
      {"L1", "A\nB", "", "B", "1980-01-01", "first_name"},
      {"L1", "A\xff", "", "B", "1980-01-01", "first_name"},
      {"L1", "A\xc3", "", "B", "1980-01-01", "first_name"},         /* truncated UTF-8 */
      {"L1", "A\xc0\xaf", "", "B", "1980-01-01", "first_name"},     /* overlong */
      {"L1", "A\xed\xa0\x80", "", "B", "1980-01-01", "first_name"}, /* surrogate */
      {"L1", "A", "\t", "B", "1980-01-01", "middle_name"},
      {"L1", "A", "", "", "1980-01-01", "last_name"},
      {"L1", "A", "", "B", "1981-02-29", "dob"},
      {"L1", "A", "", "B", "1980-13-01", "dob"},
      {"L1", "A", "", "B", "1980-04-31", "dob"},
      {"L1", "A", "", "B", "80-01-01", "dob"},
      {"L1", "A", "", "B", "1980/01/01", "dob"},
      {"L1", "A", "", "B", "1700-01-01", "dob"},
      {"L1", "A", "", "B", "", "dob"},
  };
  custos_txn *t = begin(f->s, true);
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(bad); i++) {
    custos__holder h = holder(bad[i].lic, bad[i].first, bad[i].middle, bad[i].last, bad[i].dob);
    int rc = custos__store_holder_add(t, &h, &id, &err);
    if (rc != CUSTOS_EINVAL) fail_msg("case %zu: rc %d", i, rc);
    if (strstr(err.message, bad[i].field) == NULL) {
      fail_msg("case %zu: '%s' does not name %s", i, err.message, bad[i].field);
    }
  }
  /* A field that fills its array without a terminating NUL is refused. */
  custos__holder h = holder("L1", "A", "", "B", "1980-01-01");
  memset(h.license_no, 'A', sizeof h.license_no);
  assert_int_equal(custos__store_holder_add(t, &h, &id, &err), CUSTOS_EINVAL);
  h = holder("L1", "A", "", "B", "1980-01-01");
  memset(h.last_name, 'x', sizeof h.last_name);
  assert_int_equal(custos__store_holder_add(t, &h, &id, &err), CUSTOS_EINVAL);
  /* A name of exactly the maximum length passes. */
  h = holder("L1", "A", "", "B", "1980-01-01");
  memset(h.first_name, 'x', CUSTOS_HOLDER_NAME_MAX);
  h.first_name[CUSTOS_HOLDER_NAME_MAX] = '\0';
  assert_int_equal(custos__store_holder_add(t, &h, &id, &err), CUSTOS_OK);
  commit(t);
  assert_int_equal(count_of(f->s, CUSTOS__T_HOLDERS), 1);
}

/* ---- sensitive fields: GOV-18 ------------------------------------------------------------- */

#define MARK "MARKER-7f3a9c"

static bool bytes_contain(const void *p, size_t n, const char *needle) {
  return memmem(p, n, needle, strlen(needle)) != NULL;
}

static void test_sensitive_write_only(void **state) {
  fixture *f = *state;
  custos_err err;
  int64_t id = add_holder(f->s, "S1");
  char values[CUSTOS__SENS_COUNT][64];
  custos__sensitive_in in;
  memset(&in, 0, sizeof in);
  for (int i = 0; i < CUSTOS__SENS_COUNT; i++) {
    snprintf(values[i], sizeof values[i], MARK "-%s", custos__sensitive_field_name(i));
    in.value[i] = values[i];
  }
  custos_txn *t = begin(f->s, true);
  assert_int_equal(custos__store_sensitive_put(t, id, &in, &err), CUSTOS_OK);
  commit(t);

  t = begin(f->s, false);
  for (int i = 0; i < CUSTOS__SENS_COUNT; i++) {
    bool m = false;
    assert_int_equal(custos__store_sensitive_matches(t, id, i, values[i], &m, &err), CUSTOS_OK);
    assert_true(m);
    assert_int_equal(custos__store_sensitive_matches(t, id, i, "other", &m, &err), CUSTOS_OK);
    assert_false(m);
    assert_int_equal(custos__store_sensitive_matches(t, id, i, NULL, &m, &err), CUSTOS_OK);
    assert_false(m); /* present */
    int64_t n = 0;
    assert_int_equal(custos__store_sensitive_count(t, i, &n, &err), CUSTOS_OK);
    assert_int_equal(n, 1);
  }
  /* The ordinary accessors carry none of it: the holder record and the
   * disclosure (invariant 3). */
  custos__holder h;
  assert_int_equal(custos__store_holder_get(t, id, &h, &err), CUSTOS_OK);
  assert_false(bytes_contain(&h, sizeof h, MARK));
  assert_int_equal(custos__store_holder_find(t, "S1", &h, &err), CUSTOS_OK);
  assert_false(bytes_contain(&h, sizeof h, MARK));
  custos_disclosure *d = NULL;
  assert_int_equal(custos__disclosure_build(t, id, &d, &err), CUSTOS_OK);
  const char *fields[] = {custos_disclosure_first_name(d), custos_disclosure_middle_name(d),
                          custos_disclosure_last_name(d), custos_disclosure_dob(d),
                          custos_disclosure_license_no(d)};
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(fields); i++) assert_null(strstr(fields[i], MARK));
  custos_disclosure_free(d);
  custos__store_rollback(t);

  /* Replacing a value; other holders' fields are separate. */
  int64_t id2 = add_holder(f->s, "S2");
  custos__sensitive_in one;
  memset(&one, 0, sizeof one);
  one.value[CUSTOS__SENS_SSN] = "replaced";
  t = begin(f->s, true);
  assert_int_equal(custos__store_sensitive_put(t, id, &one, &err), CUSTOS_OK);
  bool m;
  assert_int_equal(custos__store_sensitive_matches(t, id, CUSTOS__SENS_SSN, "replaced", &m, &err),
                   CUSTOS_OK);
  assert_true(m);
  assert_int_equal(custos__store_sensitive_matches(t, id2, CUSTOS__SENS_SSN, NULL, &m, &err),
                   CUSTOS_OK);
  assert_true(m); /* absent */
  assert_int_equal(custos__store_sensitive_matches(t, id2, CUSTOS__SENS_SSN, "replaced", &m, &err),
                   CUSTOS_OK);
  assert_false(m);
  /* Errors name the field and never the value. */
  custos__sensitive_in bad;
  memset(&bad, 0, sizeof bad);
  bad.value[CUSTOS__SENS_BIRTHPLACE] = MARK "\nsecond line";
  bad.value[CUSTOS__SENS_SSN] = "fine";
  assert_int_equal(custos__store_sensitive_put(t, id2, &bad, &err), CUSTOS_EINVAL);
  assert_non_null(strstr(err.message, "birthplace"));
  assert_null(strstr(err.message, MARK));
  /* ... and a bad value changes nothing, not even the good ones. */
  assert_int_equal(custos__store_sensitive_matches(t, id2, CUSTOS__SENS_SSN, NULL, &m, &err),
                   CUSTOS_OK);
  assert_true(m);
  char big[CUSTOS_SENSITIVE_MAX + 2];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  bad.value[CUSTOS__SENS_BIRTHPLACE] = big;
  assert_int_equal(custos__store_sensitive_put(t, id2, &bad, &err), CUSTOS_EINVAL);
  memset(&bad, 0, sizeof bad);
  bad.value[CUSTOS__SENS_SSN] = MARK;
  assert_int_equal(custos__store_sensitive_put(t, id2 + 100, &bad, &err), CUSTOS_ENOENT);
  assert_null(strstr(err.message, MARK));
  assert_int_equal(
      custos__store_sensitive_matches(t, id, (custos__sensitive_field)99, "x", &m, &err),
      CUSTOS_EINVAL);
  commit(t);

  /* Deleting the holder takes the sensitive fields along. */
  t = begin(f->s, true);
  assert_int_equal(custos__store_holder_delete(t, id, &err), CUSTOS_OK);
  int64_t n = -1;
  assert_int_equal(custos__store_sensitive_count(t, CUSTOS__SENS_MOTHERS_MAIDEN_NAME, &n, &err),
                   CUSTOS_OK);
  assert_int_equal(n, 0);
  commit(t);
}

static void test_sensitive_names(void **state) {
  (void)state;
  static const char *const names[] = {"ssn",
                                      "mothers_maiden_name",
                                      "birthplace",
                                      "twin_indicator",
                                      "voter_indicator",
                                      "testing_info",
                                      "identity_documents",
                                      "previous_license",
                                      "parental_id_document"};
  custos_err err;
  assert_int_equal(CUSTOS_ARRAY_LEN(names), CUSTOS__SENS_COUNT);
  for (int i = 0; i < CUSTOS__SENS_COUNT; i++) {
    custos__sensitive_field fld;
    assert_string_equal(custos__sensitive_field_name(i), names[i]);
    assert_int_equal(custos__sensitive_field_parse(names[i], &fld, &err), CUSTOS_OK);
    assert_int_equal(fld, i);
  }
  custos__sensitive_field fld;
  assert_int_equal(custos__sensitive_field_parse("first_name", &fld, &err), CUSTOS_EINVAL);
  assert_int_equal(custos__sensitive_field_parse(NULL, &fld, &err), CUSTOS_EINVAL);
  assert_null(custos__sensitive_field_name(CUSTOS__SENS_COUNT));
}

/* ---- disclosure: invariant 2
 * ----------------------------------------------------------------------- */

static void test_disclosure(void **state) {
  fixture *f = *state;
  custos_err err;
  int64_t id = 0;
  custos__holder h = holder("WDLXY12AB", "Jane", "Q", "Public", "1975-07-04");
  custos_txn *t = begin(f->s, true);
  assert_int_equal(custos__store_holder_add(t, &h, &id, &err), CUSTOS_OK);
  commit(t);
  t = begin(f->s, false);
  custos_disclosure *d = NULL;
  assert_int_equal(custos__disclosure_build(t, id, &d, &err), CUSTOS_OK);
  assert_string_equal(custos_disclosure_first_name(d), "Jane");
  assert_string_equal(custos_disclosure_middle_name(d), "Q");
  assert_string_equal(custos_disclosure_last_name(d), "Public");
  assert_string_equal(custos_disclosure_dob(d), "1975-07-04");
  assert_string_equal(custos_disclosure_license_no(d), "WDLXY12AB");
  custos_disclosure_free(d);
  custos_disclosure_free(NULL);
  d = (custos_disclosure *)1;
  assert_int_equal(custos__disclosure_build(t, id + 1, &d, &err), CUSTOS_ENOENT);
  assert_null(d);
  custos__store_rollback(t);
}

/* ---- photos and templates
 * ---------------------------------------------------------------------------- */

static void fill_vec(float *v, float seed) {
  for (int i = 0; i < CUSTOS_TEMPLATE_DIM; i++) v[i] = seed + (float)i * -0.0078125f;
}

static void test_photos(void **state) {
  fixture *f = *state;
  custos_err err;
  int64_t hid = add_holder(f->s, "P1"), hid2 = add_holder(f->s, "P2"), pid, pid2;
  custos__photo p, got;
  memset(&p, 0, sizeof p);
  p.holder_id = hid;
  for (int i = 0; i < 32; i++) p.sha256[i] = (uint8_t)(i * 7);
  snprintf(p.captured, sizeof p.captured, "2019-03-02");
  snprintf(p.source, sizeof p.source, "renewals/2019/P1.jpg");
  custos_txn *t = begin(f->s, true);
  assert_int_equal(custos__store_photo_add(t, &p, &pid, &err), CUSTOS_OK);
  assert_int_equal(custos__store_photo_get(t, pid, &got, &err), CUSTOS_OK);
  assert_int_equal(got.id, pid);
  assert_int_equal(got.holder_id, hid);
  assert_memory_equal(got.sha256, p.sha256, 32);
  assert_string_equal(got.captured, "2019-03-02");
  assert_string_equal(got.source, "renewals/2019/P1.jpg");
  assert_int_equal(custos__store_photo_find(t, hid, p.sha256, &got, &err), CUSTOS_OK);
  assert_int_equal(got.id, pid);
  assert_int_equal(custos__store_photo_find(t, hid2, p.sha256, &got, &err), CUSTOS_ENOENT);
  /* The same file twice for one holder is a conflict; for another holder it
   * is stored (de-duplication decides what it means). */
  assert_int_equal(custos__store_photo_add(t, &p, &pid2, &err), CUSTOS_ECONFLICT);
  p.holder_id = hid2;
  p.captured[0] = '\0'; /* capture date unknown */
  assert_int_equal(custos__store_photo_add(t, &p, &pid2, &err), CUSTOS_OK);
  assert_int_equal(custos__store_photo_get(t, pid2, &got, &err), CUSTOS_OK);
  assert_string_equal(got.captured, "");
  /* A second photo of the same holder (a renewal). */
  p.sha256[0] ^= 0xff;
  assert_int_equal(custos__store_photo_add(t, &p, &pid2, &err), CUSTOS_OK);
  /* Bad input. */
  p.holder_id = hid2 + 100;
  assert_int_equal(custos__store_photo_add(t, &p, &pid2, &err), CUSTOS_ENOENT);
  p.holder_id = hid;
  snprintf(p.captured, sizeof p.captured, "2019-02-30");
  assert_int_equal(custos__store_photo_add(t, &p, &pid2, &err), CUSTOS_EINVAL);
  assert_non_null(strstr(err.message, "captured"));
  p.captured[0] = '\0';
  snprintf(p.source, sizeof p.source, "a\x1b[31mred");
  assert_int_equal(custos__store_photo_add(t, &p, &pid2, &err), CUSTOS_EINVAL);
  assert_int_equal(custos__store_photo_get(t, pid + 1000, &got, &err), CUSTOS_ENOENT);
  commit(t);
  assert_int_equal(count_of(f->s, CUSTOS__T_PHOTOS), 3);
}

typedef struct seen {
  int n;              /* templates seen */
  int64_t ids[8];     /* their ids in order */
  int64_t holders[8]; /* their holders */
  int64_t photos[8];  /* their photos */
  float first[8];     /* v[0] of each */
  int stop_after;     /* return 42 after this many; 0: never */
} seen;

static int collect(const custos__template_rec *rec, void *ctx) {
  seen *s = ctx;
  if (s->n < 8) {
    s->ids[s->n] = rec->id;
    s->holders[s->n] = rec->holder_id;
    s->photos[s->n] = rec->photo_id;
    s->first[s->n] = rec->v[0];
  }
  s->n++;
  return s->stop_after && s->n >= s->stop_after ? 42 : 0;
}

static int64_t add_photo(custos_txn *t, int64_t holder_id, uint8_t tag) {
  custos_err err;
  custos__photo p;
  int64_t id = 0;
  memset(&p, 0, sizeof p);
  p.holder_id = holder_id;
  memset(p.sha256, tag, 32);
  assert_int_equal(custos__store_photo_add(t, &p, &id, &err), CUSTOS_OK);
  return id;
}

static void test_templates(void **state) {
  fixture *f = *state;
  custos_err err;
  int64_t h1 = add_holder(f->s, "T1"), h2 = add_holder(f->s, "T2"), gen0, gen;
  float v[CUSTOS_TEMPLATE_DIM], back[CUSTOS_TEMPLATE_DIM];
  custos_txn *t = begin(f->s, true);
  int64_t p1 = add_photo(t, h1, 1), p2 = add_photo(t, h2, 2), p3 = add_photo(t, h1, 3);
  assert_int_equal(custos__store_template_generation(t, &gen0, &err), CUSTOS_OK);

  /* Exact round trip, including values that need every bit. */
  fill_vec(v, 0.1f);
  v[1] = -0.0f;
  v[2] = 1e-40f; /* subnormal */
  v[3] = 3.4028235e38f;
  v[4] = -1.17549435e-38f;
  assert_int_equal(custos__store_template_put(t, p1, "face-api-1.7.15", v, &err), CUSTOS_OK);
  assert_int_equal(custos__store_template_get(t, p1, "face-api-1.7.15", back, &err), CUSTOS_OK);
  assert_memory_equal(v, back, sizeof v);
  assert_int_equal(custos__store_template_generation(t, &gen, &err), CUSTOS_OK);
  assert_int_equal(gen, gen0 + 1);

  /* One per photo and model; another model is another template. */
  assert_int_equal(custos__store_template_put(t, p1, "face-api-1.7.15", v, &err), CUSTOS_ECONFLICT);
  fill_vec(v, 0.2f);
  assert_int_equal(custos__store_template_put(t, p2, "face-api-1.7.15", v, &err), CUSTOS_OK);
  fill_vec(v, 0.3f);
  assert_int_equal(custos__store_template_put(t, p3, "face-api-1.7.15", v, &err), CUSTOS_OK);
  fill_vec(v, 0.4f);
  assert_int_equal(custos__store_template_put(t, p1, "other-model/2", v, &err), CUSTOS_OK);
  assert_int_equal(custos__store_template_generation(t, &gen, &err), CUSTOS_OK);
  assert_int_equal(gen, gen0 + 4);

  /* Refused: no such photo, a NaN or infinity, a bad model name; the
   * generation does not move. */
  assert_int_equal(custos__store_template_put(t, p3 + 100, "face-api-1.7.15", v, &err),
                   CUSTOS_ENOENT);
  v[7] = NAN;
  assert_int_equal(custos__store_template_put(t, p2, "m2", v, &err), CUSTOS_EINVAL);
  v[7] = INFINITY;
  assert_int_equal(custos__store_template_put(t, p2, "m2", v, &err), CUSTOS_EINVAL);
  v[7] = 0;
  assert_int_equal(custos__store_template_put(t, p2, "bad model", v, &err), CUSTOS_EINVAL);
  assert_int_equal(custos__store_template_put(t, p2, "", v, &err), CUSTOS_EINVAL);
  assert_int_equal(custos__store_template_get(t, p2, "other-model/2", back, &err), CUSTOS_ENOENT);
  assert_int_equal(custos__store_template_generation(t, &gen, &err), CUSTOS_OK);
  assert_int_equal(gen, gen0 + 4);
  commit(t);

  /* The iterator: every template of a model with its holder and photo, in
   * id order. */
  t = begin(f->s, false);
  seen s = {0};
  assert_int_equal(custos__store_template_foreach(t, "face-api-1.7.15", collect, &s, &err),
                   CUSTOS_OK);
  assert_int_equal(s.n, 3);
  assert_true(s.ids[0] < s.ids[1] && s.ids[1] < s.ids[2]);
  assert_int_equal(s.holders[0], h1);
  assert_int_equal(s.photos[0], p1);
  assert_int_equal(s.holders[1], h2);
  assert_int_equal(s.photos[1], p2);
  assert_int_equal(s.holders[2], h1);
  assert_int_equal(s.photos[2], p3);
  assert_true(s.first[0] == 0.1f && s.first[1] == 0.2f && s.first[2] == 0.3f);
  memset(&s, 0, sizeof s);
  assert_int_equal(custos__store_template_foreach(t, NULL, collect, &s, &err), CUSTOS_OK);
  assert_int_equal(s.n, 4);
  memset(&s, 0, sizeof s);
  s.stop_after = 2;
  assert_int_equal(custos__store_template_foreach(t, NULL, collect, &s, &err), 42);
  assert_int_equal(s.n, 2);
  /* The store is usable after a stopped iteration. */
  int64_t n = 0;
  assert_int_equal(custos__store_template_count(t, "face-api-1.7.15", &n, &err), CUSTOS_OK);
  assert_int_equal(n, 3);
  assert_int_equal(custos__store_template_count(t, NULL, &n, &err), CUSTOS_OK);
  assert_int_equal(n, 4);
  assert_int_equal(custos__store_template_count(t, "none", &n, &err), CUSTOS_OK);
  assert_int_equal(n, 0);
  custos__store_rollback(t);

  /* A rolled-back put leaves the generation where it was. */
  t = begin(f->s, true);
  assert_int_equal(custos__store_template_put(t, p2, "m3", v, &err), CUSTOS_OK);
  custos__store_rollback(t);
  t = begin(f->s, true);
  assert_int_equal(custos__store_template_generation(t, &gen, &err), CUSTOS_OK);
  assert_int_equal(gen, gen0 + 4);
  /* Deleting a holder deletes its photos and templates and moves the
   * generation; deleting one without templates does not. */
  assert_int_equal(custos__store_holder_delete(t, h1, &err), CUSTOS_OK);
  assert_int_equal(custos__store_template_generation(t, &gen, &err), CUSTOS_OK);
  assert_int_equal(gen, gen0 + 5);
  assert_int_equal(custos__store_template_count(t, NULL, &n, &err), CUSTOS_OK);
  assert_int_equal(n, 1);
  int64_t h3 = 0;
  custos__holder h = holder("T3", "A", "", "B", "1990-01-01");
  assert_int_equal(custos__store_holder_add(t, &h, &h3, &err), CUSTOS_OK);
  assert_int_equal(custos__store_holder_delete(t, h3, &err), CUSTOS_OK);
  assert_int_equal(custos__store_template_generation(t, &gen, &err), CUSTOS_OK);
  assert_int_equal(gen, gen0 + 5);
  commit(t);
  assert_int_equal(count_of(f->s, CUSTOS__T_PHOTOS), 1);
}

/* ---- users
 * -------------------------------------------------------------------------------------------- */

static custos__user user(const char *name, const char *role) {
  custos__user u;
  memset(&u, 0, sizeof u);
  snprintf(u.name, sizeof u.name, "%s", name);
  snprintf(u.role, sizeof u.role, "%s", role);
  snprintf(u.pwhash, sizeof u.pwhash, "$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA");
  snprintf(u.created, sizeof u.created, "2024-05-01T10:00:00Z");
  return u;
}

static int count_users(const custos__user *u, void *ctx) {
  (void)u;
  (*(int *)ctx)++;
  return 0;
}

static void test_users(void **state) {
  fixture *f = *state;
  custos_err err;
  int64_t id, id2;
  custos__user u = user("alice", "admin"), got;
  bool locked;
  custos_txn *t = begin(f->s, true);
  assert_int_equal(custos__store_user_add(t, &u, &id, &err), CUSTOS_OK);
  assert_int_equal(custos__store_user_get(t, "alice", &got, &err), CUSTOS_OK);
  assert_int_equal(got.id, id);
  assert_string_equal(got.role, "admin");
  assert_string_equal(got.pwhash, u.pwhash);
  assert_string_equal(got.trained_until, "");
  assert_string_equal(got.created, "2024-05-01T10:00:00Z");
  assert_int_equal(got.failed_logins, 0);
  assert_false(got.locked);
  assert_int_equal(custos__store_user_add(t, &u, &id2, &err), CUSTOS_ECONFLICT);
  assert_int_equal(custos__store_user_get(t, "bob", &got, &err), CUSTOS_ENOENT);
  /* Every role the schema accepts, and one it does not. */
  static const char *const roles[] = {"intake", "manager",  "governor",
                                      "legal",  "examiner", "auditor"};
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(roles); i++) {
    char name[16];
    snprintf(name, sizeof name, "u%zu", i);
    custos__user r = user(name, roles[i]);
    assert_int_equal(custos__store_user_add(t, &r, &id2, &err), CUSTOS_OK);
  }
  custos__user bad = user("mallory", "root");
  assert_int_equal(custos__store_user_add(t, &bad, &id2, &err), CUSTOS_EINVAL);
  bad = user("mallory", "examiner");
  snprintf(bad.trained_until, sizeof bad.trained_until, "2025-13-01");
  assert_int_equal(custos__store_user_add(t, &bad, &id2, &err), CUSTOS_EINVAL);
  int n = 0;
  assert_int_equal(custos__store_user_foreach(t, count_users, &n, &err), CUSTOS_OK);
  assert_int_equal(n, 7);

  /* Failure counting and the lock. */
  for (int i = 1; i <= 4; i++) {
    assert_int_equal(custos__store_user_login_failed(t, id, 5, &locked, &err), CUSTOS_OK);
    assert_false(locked);
  }
  assert_int_equal(custos__store_user_login_ok(t, id, NULL, &err), CUSTOS_OK);
  assert_int_equal(custos__store_user_get(t, "alice", &got, &err), CUSTOS_OK);
  assert_int_equal(got.failed_logins, 0);
  assert_string_equal(got.pwhash, u.pwhash);
  for (int i = 1; i <= 5; i++) {
    assert_int_equal(custos__store_user_login_failed(t, id, 5, &locked, &err), CUSTOS_OK);
    assert_int_equal(locked, i == 5);
  }
  assert_int_equal(custos__store_user_get(t, "alice", &got, &err), CUSTOS_OK);
  assert_true(got.locked);
  assert_int_equal(got.failed_logins, 5);
  /* A success does not unlock; only an unlock does. */
  assert_int_equal(custos__store_user_login_ok(t, id, "$argon2id$new", &err), CUSTOS_OK);
  assert_int_equal(custos__store_user_get(t, "alice", &got, &err), CUSTOS_OK);
  assert_true(got.locked);
  assert_string_equal(got.pwhash, "$argon2id$new");
  assert_int_equal(custos__store_user_unlock(t, id, &err), CUSTOS_OK);
  assert_int_equal(custos__store_user_get(t, "alice", &got, &err), CUSTOS_OK);
  assert_false(got.locked);
  assert_int_equal(got.failed_logins, 0);
  assert_int_equal(custos__store_user_unlock(t, id + 1000, &err), CUSTOS_ENOENT);
  assert_int_equal(custos__store_user_login_failed(t, id + 1000, 5, &locked, &err), CUSTOS_ENOENT);

  /* Training dates. */
  assert_int_equal(custos__store_user_set_training(t, id, "2030-06-30", &err), CUSTOS_OK);
  assert_int_equal(custos__store_user_get(t, "alice", &got, &err), CUSTOS_OK);
  assert_string_equal(got.trained_until, "2030-06-30");
  assert_int_equal(custos__store_user_set_training(t, id, "2030-06-31", &err), CUSTOS_EINVAL);
  assert_int_equal(custos__store_user_set_training(t, id, NULL, &err), CUSTOS_OK);
  assert_int_equal(custos__store_user_get(t, "alice", &got, &err), CUSTOS_OK);
  assert_string_equal(got.trained_until, "");
  assert_int_equal(custos__store_user_set_training(t, id + 1000, NULL, &err), CUSTOS_ENOENT);
  commit(t);
  assert_int_equal(count_of(f->s, CUSTOS__T_USERS), 7);
}

/* ---- SQL injection attempts are plain data
 * ------------------------------------------------------------ */

static void test_sql_injection(void **state) {
  fixture *f = *state;
  custos_err err;
  static const char *const attacks[] = {
      "Robert'); DROP TABLE holders; --",
      "' OR '1'='1",
      "x\" OR \"\"=\"",
      "1; DELETE FROM users",
      "%s%s%n",
  };
  custos_txn *t = begin(f->s, true);
  custos__user u = user("alice", "admin");
  int64_t uid;
  assert_int_equal(custos__store_user_add(t, &u, &uid, &err), CUSTOS_OK);
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(attacks); i++) {
    char lic[16];
    int64_t id;
    snprintf(lic, sizeof lic, "INJ%zu", i);
    custos__holder h = holder(lic, attacks[i], attacks[i], attacks[i], "1980-01-01"), got;
    assert_int_equal(custos__store_holder_add(t, &h, &id, &err), CUSTOS_OK);
    assert_int_equal(custos__store_holder_get(t, id, &got, &err), CUSTOS_OK);
    assert_string_equal(got.first_name, attacks[i]);
    assert_string_equal(got.last_name, attacks[i]);
    custos__sensitive_in in;
    memset(&in, 0, sizeof in);
    in.value[CUSTOS__SENS_SSN] = attacks[i];
    assert_int_equal(custos__store_sensitive_put(t, id, &in, &err), CUSTOS_OK);
    bool m = true;
    assert_int_equal(
        custos__store_sensitive_matches(t, id, CUSTOS__SENS_SSN, "' OR '1'='1' --", &m, &err),
        CUSTOS_OK);
    assert_false(m);
  }
  /* Look-ups with injection strings find nothing. */
  custos__holder got;
  assert_int_equal(custos__store_holder_find(t, "'OR'1'='1", &got, &err), CUSTOS_ENOENT);
  assert_int_equal(custos__store_holder_find(t, "x' OR 1=1 --", &got, &err), CUSTOS_ENOENT);
  custos__user ug;
  assert_int_equal(custos__store_user_get(t, "' OR 1=1 --", &ug, &err), CUSTOS_ENOENT);
  assert_int_equal(custos__store_meta_set(t, "k'; DROP TABLE meta; --", "v", &err), CUSTOS_OK);
  int64_t n;
  assert_int_equal(custos__store_template_count(t, "x'OR'1'='1", &n, &err), CUSTOS_EINVAL);
  commit(t);
  /* Every table is still there with every row. */
  assert_int_equal(count_of(f->s, CUSTOS__T_HOLDERS), (int64_t)CUSTOS_ARRAY_LEN(attacks));
  assert_int_equal(count_of(f->s, CUSTOS__T_USERS), 1);
  int v;
  assert_int_equal(custos__store_schema_version(f->s, &v, &err), CUSTOS_OK);
  assert_int_equal(v, CUSTOS_SCHEMA_VERSION);
}

/* ---- counts
 * ------------------------------------------------------------------------------------------------
 */

static void test_counts(void **state) {
  fixture *f = *state;
  custos_err err;
  for (int i = 0; i < CUSTOS__T_COUNT; i++) assert_int_equal(count_of(f->s, i), 0);
  add_holder(f->s, "C1");
  add_holder(f->s, "C2");
  assert_int_equal(count_of(f->s, CUSTOS__T_HOLDERS), 2);
  int64_t n;
  custos_txn *t = begin(f->s, false);
  assert_int_equal(custos__store_count(t, CUSTOS__T_COUNT, &n, &err), CUSTOS_EINVAL);
  custos__store_rollback(t);
}

/* ---- checks
 * -------------------------------------------------------------------------------------------------
 */

static void test_dates(void **state) {
  (void)state;
  custos_err err;
  static const char *const good[] = {"2024-02-29", "2000-02-29", "1800-01-01",
                                     "2999-12-31", "2023-04-30", "1999-01-31"};
  static const char *const bad[] = {
      "2023-02-29",  "1900-02-29",  "2100-02-29", "2024-00-10", "2024-01-00", "2024-01-32",
      "2024-06-31",  "1799-12-31",  "3000-01-01", "2024-1-01",  "2024-01-1",  "20240101",
      "2024-01-01T", " 2024-01-01", "2024_01_01", "abcd-ef-gh", "",           "+024-01-01"};
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(good); i++) {
    if (custos__date_check(good[i], "d", &err) != CUSTOS_OK) fail_msg("%s refused", good[i]);
  }
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(bad); i++) {
    if (custos__date_check(bad[i], "d", &err) != CUSTOS_EINVAL) fail_msg("'%s' accepted", bad[i]);
    assert_true(strncmp(err.message, "d: ", 3) == 0);
  }
  assert_int_equal(custos__date_check(NULL, "d", &err), CUSTOS_EINVAL);
  char today[CUSTOS_DATE_LEN + 1];
  custos__date_today(today);
  assert_int_equal(custos__date_check(today, "today", &err), CUSTOS_OK);
  char now[CUSTOS_TIMESTAMP_LEN + 1];
  custos__timestamp_now(now);
  assert_int_equal(strlen(now), CUSTOS_TIMESTAMP_LEN);
  assert_int_equal(now[CUSTOS_TIMESTAMP_LEN - 1], 'Z');
}

static void test_utf8(void **state) {
  (void)state;
  static const char *const good[] = {"plain", "Zoë", "日本語", "😀", "a-b_c.d", ""};
  static const char *const bad[] = {"\x80",
                                    "\xc3",
                                    "\xc0\x80",
                                    "\xe0\x80\x80",
                                    "\xed\xa0\x80",
                                    "\xf4\x90\x80\x80",
                                    "\xf8\x88\x80\x80\x80",
                                    "a\x7f",
                                    "a\x1b",
                                    "\xc2\x85",
                                    "\xe2\x80\xa8"};
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(good); i++) {
    assert_true(custos__utf8_printable(good[i], strlen(good[i])));
  }
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(bad); i++) {
    if (custos__utf8_printable(bad[i], strlen(bad[i]))) fail_msg("bad[%zu] accepted", i);
  }
  /* The decoder under it: code points and lengths; the rule about control
   * characters is the caller's. */
  static const struct {
    const char *s;
    uint32_t cp;
    size_t len;
  } cps[] = {{"A", 0x41, 1},
             {"\n", 0x0a, 1},
             {"\xc3\xab", 0xeb, 2},
             {"\xc2\x85", 0x85, 2},
             {"\xe6\x97\xa5", 0x65e5, 3},
             {"\xf0\x9f\x98\x80", 0x1f600, 4}};
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(cps); i++) {
    size_t at = 0;
    uint32_t cp = 0;
    assert_true(custos__utf8_next(cps[i].s, strlen(cps[i].s), &at, &cp));
    assert_int_equal(cp, cps[i].cp);
    assert_int_equal(at, cps[i].len);
  }
  for (size_t i = 0; i < 7; i++) { /* the malformed ones of bad[] */
    size_t at = 0;
    uint32_t cp = 0;
    bool ok = true;
    while (ok && at < strlen(bad[i])) ok = custos__utf8_next(bad[i], strlen(bad[i]), &at, &cp);
    if (ok) fail_msg("bad[%zu] decoded", i);
  }
}

/* ---- migration hook -------------------------------------------------------------------- */

typedef struct hook_ctx {
  int calls[CUSTOS_SCHEMA_VERSION + 1]; /* per version */
  int fail_at;                          /* version whose hook fails; 0 none */
} hook_ctx;

static int hook(custos_txn *t, int version, void *ctx, custos_err *err) {
  hook_ctx *h = ctx;
  h->calls[version]++;
  /* It runs inside the step's transaction: what it writes commits with it. */
  char key[32], v[16];
  snprintf(key, sizeof key, "hook_%d", version);
  snprintf(v, sizeof v, "%d", version);
  int rc = custos__store_meta_set(t, key, v, err);
  if (rc == CUSTOS_OK && version == h->fail_at) {
    rc = custos__err(err, CUSTOS_EDB, "test", "hook failed at %d", version);
  }
  return rc;
}

static void test_migrate_hook(void **state) {
  fixture *f = *state;
  custos_store *s = NULL;
  custos_err err;
  hook_ctx h = {{0}, 3};
  char v[16];
  int have = 0;
  assert_int_equal(custos__store_open(f->db, CUSTOS__STORE_CREATE, &s, &err), CUSTOS_OK);
  assert_int_equal(custos__store_migrate(s, 1, NULL, NULL, &err), CUSTOS_OK);
  /* Step 2 and its hook commit; step 3's hook fails, so step 3 does not. */
  assert_int_equal(custos__store_check_schema(s, true, hook, &h, &err), CUSTOS_EDB);
  assert_string_equal(err.message, "hook failed at 3");
  assert_int_equal(h.calls[2], 1);
  assert_int_equal(h.calls[3], 1);
  assert_int_equal(custos__store_schema_version(s, &have, &err), CUSTOS_OK);
  assert_int_equal(have, 2);
  custos_txn *t = begin(s, false);
  assert_int_equal(custos__store_meta_get(t, "hook_2", v, sizeof v, &err), CUSTOS_OK);
  assert_int_equal(custos__store_meta_get(t, "hook_3", v, sizeof v, &err), CUSTOS_ENOENT);
  int64_t n = 0;
  assert_int_equal(custos__store_audit_entry_count(t, &n, &err), CUSTOS_EDB); /* no table yet */
  custos__store_rollback(t);
  h.fail_at = 0;
  assert_int_equal(custos__store_check_schema(s, true, hook, &h, &err), CUSTOS_OK);
  assert_int_equal(h.calls[2], 1);
  assert_int_equal(h.calls[3], 2);
  for (int k = 4; k <= CUSTOS_SCHEMA_VERSION; k++) assert_int_equal(h.calls[k], 1);
  assert_int_equal(custos__store_schema_version(s, &have, &err), CUSTOS_OK);
  assert_int_equal(have, CUSTOS_SCHEMA_VERSION);
  t = begin(s, false);
  assert_int_equal(custos__store_meta_get(t, "hook_3", v, sizeof v, &err), CUSTOS_OK);
  assert_int_equal(custos__store_audit_entry_count(t, &n, &err), CUSTOS_OK);
  assert_int_equal(n, 0);
  custos__store_rollback(t);
  custos__store_close(s);
}

/* ---- the audit log's rows --------------------------------------------------------------- */

typedef struct scan_rows {
  int64_t idx[8]; /* indexes seen */
  size_t n;       /* how many */
  int stop_at;    /* stop after this many; 0 never */
} scan_rows;

static int scan_row(void *ctx, int64_t idx, const void *data, size_t len) {
  scan_rows *r = ctx;
  (void)data;
  (void)len;
  if (r->n < 8) r->idx[r->n] = idx;
  r->n++;
  return r->stop_at && (int)r->n == r->stop_at ? 42 : 0;
}

static void test_audit_rows(void **state) {
  fixture *f = *state;
  custos_err err;
  uint8_t out[CUSTOS_STORE_AUDIT_HEAD_MAX], h1[32], h2[32], got[32];
  size_t len = 99;
  int64_t n = -1;
  custos_buf b;
  custos__buf_init(&b, CUSTOS_STORE_AUDIT_NOTE_MAX);
  memset(h1, 0x11, sizeof h1);
  memset(h2, 0x22, sizeof h2);

  custos_txn *t = begin(f->s, true);
  /* The head: none, then written and replaced, byte for byte. */
  assert_int_equal(custos__store_audit_head_get(t, out, sizeof out, &len, &err), CUSTOS_ENOENT);
  assert_int_equal(len, 0);
  uint8_t head[40] = {0, 0, 0, 0, 0, 0, 0, 1};
  memcpy(head + 8, h1, 32);
  assert_int_equal(custos__store_audit_head_put(t, head, 8, &err), CUSTOS_OK);
  assert_int_equal(custos__store_audit_head_put(t, head, sizeof head, &err), CUSTOS_OK);
  assert_int_equal(custos__store_audit_head_get(t, out, sizeof out, &len, &err), CUSTOS_OK);
  assert_int_equal(len, sizeof head);
  assert_memory_equal(out, head, sizeof head);
  assert_int_equal(custos__store_audit_head_get(t, out, 10, &len, &err), CUSTOS_ECORRUPT);
  assert_int_equal(custos__store_audit_head_put(t, head, 7, &err), CUSTOS_EINVAL);

  /* Entries: any bytes (a NUL included) come back exactly; write-once. */
  const char e0[] = "{\"a\":1}\0tail";
  assert_int_equal(custos__store_audit_entry_add(t, 0, e0, sizeof e0, h1, &err), CUSTOS_OK);
  assert_int_equal(custos__store_audit_entry_add(t, 1, "x", 1, h2, &err), CUSTOS_OK);
  assert_int_equal(custos__store_audit_entry_add(t, 2, "y", 1, h2, &err), CUSTOS_OK);
  assert_int_equal(custos__store_audit_entry_add(t, 1, "z", 1, h2, &err), CUSTOS_ECONFLICT);
  assert_non_null(strstr(err.message, "audit entry 1 exists"));
  assert_int_equal(custos__store_audit_entry_get(t, 0, &b, &err), CUSTOS_OK);
  assert_int_equal(b.len, sizeof e0);
  assert_memory_equal(b.data, e0, sizeof e0);
  assert_int_equal(custos__store_audit_entry_get(t, 3, &b, &err), CUSTOS_ENOENT);
  assert_int_equal(b.len, 0);
  assert_int_equal(custos__store_audit_entry_count(t, &n, &err), CUSTOS_OK);
  assert_int_equal(n, 3);
  char big[CUSTOS_STORE_AUDIT_ENTRY_MAX + 1];
  memset(big, 'x', sizeof big);
  assert_int_equal(custos__store_audit_entry_add(t, 3, big, sizeof big, h1, &err), CUSTOS_EINVAL);
  assert_int_equal(custos__store_audit_entry_add(t, 3, big, sizeof big - 1, h1, &err), CUSTOS_OK);
  assert_int_equal(custos__store_audit_entry_add(t, -1, "x", 1, h1, &err), CUSTOS_EINVAL);
  /* A scan from an index, in order; a non-zero callback result stops it. */
  scan_rows r = {{0}, 0, 0};
  assert_int_equal(custos__store_audit_entry_scan(t, 1, scan_row, &r, &err), CUSTOS_OK);
  assert_int_equal(r.n, 3);
  assert_int_equal(r.idx[0], 1);
  assert_int_equal(r.idx[2], 3);
  r = (scan_rows){{0}, 0, 2};
  assert_int_equal(custos__store_audit_entry_scan(t, 0, scan_row, &r, &err), 42);
  assert_int_equal(r.n, 2);

  /* Nodes: level 0 is the entry's leaf hash; others write-once. */
  assert_int_equal(custos__store_audit_node_get(t, 0, 0, got, &err), CUSTOS_OK);
  assert_memory_equal(got, h1, 32);
  assert_int_equal(custos__store_audit_node_get(t, 0, 9, got, &err), CUSTOS_ENOENT);
  assert_int_equal(custos__store_audit_node_put(t, 1, 0, h2, &err), CUSTOS_OK);
  assert_int_equal(custos__store_audit_node_put(t, 1, 0, h2, &err), CUSTOS_ECONFLICT);
  assert_int_equal(custos__store_audit_node_get(t, 1, 0, got, &err), CUSTOS_OK);
  assert_memory_equal(got, h2, 32);
  assert_int_equal(custos__store_audit_node_get(t, 2, 0, got, &err), CUSTOS_ENOENT);
  assert_int_equal(custos__store_audit_node_put(t, 0, 5, h2, &err), CUSTOS_EINVAL);
  assert_int_equal(custos__store_audit_node_put(t, 64, 0, h2, &err), CUSTOS_EINVAL);
  assert_int_equal(custos__store_audit_node_get(t, -1, 0, got, &err), CUSTOS_EINVAL);

  /* Checkpoints: numbered from 0 in order. */
  assert_int_equal(custos__store_audit_checkpoint_count(t, &n, &err), CUSTOS_OK);
  assert_int_equal(n, 0);
  assert_int_equal(custos__store_audit_checkpoint_add(t, 2, "cp-a\n", 5, &err), CUSTOS_OK);
  assert_int_equal(custos__store_audit_checkpoint_add(t, 4, "cp-b\n", 5, &err), CUSTOS_OK);
  assert_int_equal(custos__store_audit_checkpoint_add(t, 4, "", 0, &err), CUSTOS_EINVAL);
  assert_int_equal(custos__store_audit_checkpoint_count(t, &n, &err), CUSTOS_OK);
  assert_int_equal(n, 2);
  assert_int_equal(custos__store_audit_checkpoint_get(t, 1, &b, &err), CUSTOS_OK);
  assert_string_equal(b.data, "cp-b\n");
  assert_int_equal(custos__store_audit_checkpoint_get(t, 2, &b, &err), CUSTOS_ENOENT);
  commit(t);

  /* Read-only transactions cannot write any of them. */
  t = begin(f->s, false);
  assert_int_equal(custos__store_audit_entry_add(t, 4, "x", 1, h1, &err), CUSTOS_EINTERNAL);
  assert_int_equal(custos__store_audit_node_put(t, 2, 0, h1, &err), CUSTOS_EINTERNAL);
  assert_int_equal(custos__store_audit_head_put(t, head, 8, &err), CUSTOS_EINTERNAL);
  assert_int_equal(custos__store_audit_checkpoint_add(t, 5, "c\n", 2, &err), CUSTOS_EINTERNAL);
  custos__store_rollback(t);
  /* Outside a transaction nothing is read. */
  assert_int_equal(custos__store_audit_entry_get(t, 0, &b, &err), CUSTOS_EINTERNAL);

  /* A checkpoint removed from the middle stays a gap: the count is one past
   * the newest, the removed one is not found, none is renumbered. */
  sqlite3 *db = NULL;
  assert_int_equal(sqlite3_open(f->db, &db), SQLITE_OK);
  assert_int_equal(sqlite3_exec(db, "DELETE FROM audit_checkpoint WHERE seq = 0", NULL, NULL, NULL),
                   SQLITE_OK);
  sqlite3_close(db);
  t = begin(f->s, true);
  assert_int_equal(custos__store_audit_checkpoint_count(t, &n, &err), CUSTOS_OK);
  assert_int_equal(n, 2);
  assert_int_equal(custos__store_audit_checkpoint_get(t, 0, &b, &err), CUSTOS_ENOENT);
  assert_int_equal(custos__store_audit_checkpoint_add(t, 6, "cp-c\n", 5, &err), CUSTOS_OK);
  assert_int_equal(custos__store_audit_checkpoint_get(t, 2, &b, &err), CUSTOS_OK);
  assert_string_equal(b.data, "cp-c\n");
  commit(t);
  custos__buf_free(&b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_open_missing, setup_dir, teardown),
      cmocka_unit_test_setup_teardown(test_create_and_reopen, setup_dir, teardown),
      cmocka_unit_test_setup_teardown(test_create_schema, setup_dir, teardown),
      cmocka_unit_test_setup_teardown(test_migrate_older, setup_dir, teardown),
      cmocka_unit_test_setup_teardown(test_newer_refused, setup_db, teardown),
      cmocka_unit_test_setup_teardown(test_foreign_files, setup_dir, teardown),
      cmocka_unit_test_setup_teardown(test_transactions, setup_db, teardown),
      cmocka_unit_test_setup_teardown(test_meta, setup_db, teardown),
      cmocka_unit_test_setup_teardown(test_holders, setup_db, teardown),
      cmocka_unit_test_setup_teardown(test_holder_validation, setup_db, teardown),
      cmocka_unit_test_setup_teardown(test_sensitive_write_only, setup_db, teardown),
      cmocka_unit_test(test_sensitive_names),
      cmocka_unit_test_setup_teardown(test_disclosure, setup_db, teardown),
      cmocka_unit_test_setup_teardown(test_photos, setup_db, teardown),
      cmocka_unit_test_setup_teardown(test_templates, setup_db, teardown),
      cmocka_unit_test_setup_teardown(test_users, setup_db, teardown),
      cmocka_unit_test_setup_teardown(test_sql_injection, setup_db, teardown),
      cmocka_unit_test_setup_teardown(test_counts, setup_db, teardown),
      cmocka_unit_test(test_dates),
      cmocka_unit_test(test_utf8),
      cmocka_unit_test_setup_teardown(test_migrate_hook, setup_dir, teardown),
      cmocka_unit_test_setup_teardown(test_audit_rows, setup_db, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
