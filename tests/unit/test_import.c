/*
 * Unit tests of the import (src/core/csv.c, row.c, dedup.c, import.c,
 * purge.c) and of the store operations it added (migration 4):
 *
 *   - the RFC 4180 reader: quoting, doubled quotes, line breaks inside
 *     quotes, CRLF, a byte order mark, empty lines, and every malformed form,
 *     each costing its own record only;
 *   - the header (any order, unknown, repeated and missing columns, never
 *     quoting a cell) and every row check, with marker values that must not
 *     appear in any message (GOV-18);
 *   - the photo path: missing, a folder, a FIFO, a symbolic link leaving the
 *     folder, one staying inside, a file over the size limit;
 *   - dedup_cases, the purge and the compaction of the store;
 *   - de-duplication over the gallery index against a plain scan of the
 *     store's templates (the reference), the holder's own photos skipped,
 *     photos of one import compared with each other, and a gallery changed
 *     by another connection reloaded;
 *   - custos_import end to end on faces cut from a demo photo (when the
 *     models are there): accepted rows, reasons, the rejects file, GOV-19,
 *     a possible-duplicate case, idempotency, progress, permissions;
 *   - custos_purge_field with its audit entry.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <png.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/coreInt.h"
#include "core/importInt.h"
#include "custos/core.h"
#include "custos/custos.h"
#include "store/store.h"
#include "util/util.h"
#include "fixture.h"

#define ADMIN_PW "correct horse battery staple"
#define MARK "Zq7MARKER"

static int setup(void **state) {
  return fixture_init(state, "import", ADMIN_PW);
}

static int teardown(void **state) {
  return fixture_teardown(state);
}

static void write_text(const char *path, const char *text) {
  FILE *fp = fopen(path, "wb");
  assert_non_null(fp);
  assert_int_equal(fwrite(text, 1, strlen(text), fp), strlen(text));
  fclose(fp);
}

/* Whether the file at path holds the bytes of s. */
static bool file_has(const char *path, const char *s) {
  unsigned char *data = NULL;
  size_t len = 0;
  if (custos__read_file(path, (size_t)1 << 30, &data, &len, NULL) != CUSTOS_OK) return false;
  bool found = memmem(data, len, s, strlen(s)) != NULL;
  custos__free(data);
  return found;
}

/* ---- the CSV reader ----------------------------------------------------------------------- */

/* A reader over text in memory; *fp must be closed by the caller. */
static custos__csv *reader(const char *text, size_t len, FILE **fp) {
  *fp = fmemopen((void *)text, len, "rb");
  assert_non_null(*fp);
  custos__csv *r = NULL;
  assert_int_equal(custos__csv_new(*fp, &r, NULL), CUSTOS_OK);
  return r;
}

static void test_csv_rfc4180(void **state) {
  (void)state;
  static const char text[] =
      "\xef\xbb\xbf"
      "a,b,c\r\n"
      "1,\"x, y\",\"say \"\"hi\"\"\"\r\n"
      "\r\n"
      "2,\"two\r\nlines\",\"\"\n"
      "3,,\"q\nr\"\r"
      "4,\"\",last";
  FILE *fp;
  custos__csv *r = reader(text, sizeof text - 1, &fp);
  custos__csv_record rec;
  assert_int_equal(custos__csv_next(r, &rec, NULL), CUSTOS_OK);
  assert_int_equal(rec.n, 3);
  assert_string_equal(rec.field[0], "a"); /* the byte order mark is not part of it */
  assert_int_equal(rec.number, 1);
  assert_int_equal(rec.line, 1);
  assert_int_equal(custos__csv_next(r, &rec, NULL), CUSTOS_OK);
  assert_int_equal(rec.problem, CUSTOS__CSV_OK);
  assert_string_equal(rec.field[1], "x, y");
  assert_string_equal(rec.field[2], "say \"hi\"");
  assert_int_equal(rec.len[2], 8);
  assert_int_equal(rec.line, 2);
  /* The empty line is no record; CRLF inside quotes stays in the value. */
  assert_int_equal(custos__csv_next(r, &rec, NULL), CUSTOS_OK);
  assert_int_equal(rec.number, 3);
  assert_int_equal(rec.line, 4);
  assert_string_equal(rec.field[1], "two\r\nlines");
  assert_string_equal(rec.field[2], "");
  assert_int_equal(custos__csv_next(r, &rec, NULL), CUSTOS_OK);
  assert_int_equal(rec.line, 6);
  assert_string_equal(rec.field[1], "");
  assert_string_equal(rec.field[2], "q\nr");
  /* A lone CR ends a record too; the last one needs no line break. */
  assert_int_equal(custos__csv_next(r, &rec, NULL), CUSTOS_OK);
  assert_int_equal(rec.line, 8);
  assert_int_equal(rec.n, 3);
  assert_string_equal(rec.field[2], "last");
  assert_int_equal(custos__csv_next(r, &rec, NULL), CUSTOS_ENOENT);
  custos__csv_free(r);
  fclose(fp);
}

static void test_csv_malformed(void **state) {
  (void)state;
  static const char text[] =
      "a,b\"c,d\n" /* stray quote */
      "ok,1\n"
      "\"a\"b,c\n" /* a character after the closing quote */
      "ok,2\n"
      "x,y\0z\n" /* NUL */
      "ok,3\n"
      ",,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,\n" /* 70 fields */
      "ok,4\n"
      "\"open,never\nclosed\n";
  FILE *fp;
  custos__csv *r = reader(text, sizeof text - 1, &fp);
  custos__csv_record rec;
  static const custos__csv_problem want[] = {
      CUSTOS__CSV_STRAY_QUOTE, CUSTOS__CSV_OK, CUSTOS__CSV_AFTER_QUOTE,     CUSTOS__CSV_OK,
      CUSTOS__CSV_NUL,         CUSTOS__CSV_OK, CUSTOS__CSV_TOO_MANY_FIELDS, CUSTOS__CSV_OK,
      CUSTOS__CSV_UNTERMINATED};
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(want); i++) {
    assert_int_equal(custos__csv_next(r, &rec, NULL), CUSTOS_OK);
    assert_int_equal(rec.problem, want[i]);
    assert_int_equal(rec.number, (int64_t)i + 1);
    assert_int_equal(rec.line, (int64_t)i + 1);
    if (want[i] == CUSTOS__CSV_OK) {
      /* Each malformed record cost only itself. */
      assert_int_equal(rec.n, 2);
      assert_string_equal(rec.field[0], "ok");
    }
    assert_true(strlen(custos__csv_problem_text(rec.problem)) > 0);
  }
  assert_int_equal(rec.n, 1);
  assert_int_equal(custos__csv_next(r, &rec, NULL), CUSTOS_ENOENT);
  custos__csv_free(r);
  fclose(fp);

  /* A record longer than the limit, then a good one. */
  size_t big = CUSTOS__CSV_RECORD_MAX + 100;
  char *long_text = malloc(big + 16);
  assert_non_null(long_text);
  memset(long_text, 'a', big);
  memcpy(long_text + big, "\nok,5\n", 7);
  r = reader(long_text, big + 6, &fp);
  assert_int_equal(custos__csv_next(r, &rec, NULL), CUSTOS_OK);
  assert_int_equal(rec.problem, CUSTOS__CSV_TOO_LONG);
  assert_int_equal(custos__csv_next(r, &rec, NULL), CUSTOS_OK);
  assert_int_equal(rec.problem, CUSTOS__CSV_OK);
  assert_string_equal(rec.field[1], "5");
  custos__csv_free(r);
  fclose(fp);
  free(long_text);
}

/* ---- the header and the row checks -------------------------------------------------------- */

/* Parses one line of CSV text into *rec (the reader stays open in *r). */
static void one_record(const char *text, custos__csv **r, FILE **fp, custos__csv_record *rec) {
  *r = reader(text, strlen(text), fp);
  assert_int_equal(custos__csv_next(*r, rec, NULL), CUSTOS_OK);
}

static void test_header(void **state) {
  (void)state;
  custos_policy *p = NULL;
  assert_int_equal(custos_policy_load(NULL, &p, NULL), CUSTOS_OK);
  custos__csv *r;
  FILE *fp;
  custos__csv_record rec;
  custos__import_header h;
  custos_err err;

  one_record("photo, DOB ,license_no,last_name,first_name,middle_name,birthplace,ssn\n", &r, &fp,
             &rec);
  assert_int_equal(custos__import_header_parse(&rec, p, &h, &err), CUSTOS_OK);
  assert_int_equal(h.n, 8);
  assert_int_equal(h.pos[CUSTOS__COL_PHOTO], 0);
  assert_int_equal(h.pos[CUSTOS__COL_DOB], 1);
  assert_int_equal(h.pos[CUSTOS__COL_SENSITIVE + CUSTOS__SENS_SSN], 7);
  assert_int_equal(h.pos[CUSTOS__COL_SENSITIVE + CUSTOS__SENS_TESTING_INFO], -1);
  /* GOV-19: birthplace is read and dropped, ssn is kept. */
  assert_true(h.dropped[CUSTOS__COL_SENSITIVE + CUSTOS__SENS_BIRTHPLACE]);
  assert_false(h.dropped[CUSTOS__COL_SENSITIVE + CUSTOS__SENS_SSN]);
  custos__csv_free(r);
  fclose(fp);

  /* An unknown column: named by position, the cell never quoted. */
  one_record("license_no,first_name,middle_name,last_name,dob,photo,123-45-" MARK "\n", &r, &fp,
             &rec);
  assert_int_equal(custos__import_header_parse(&rec, p, &h, &err), CUSTOS_EINVAL);
  assert_non_null(strstr(err.message, "column 7"));
  assert_null(strstr(err.message, MARK));
  custos__csv_free(r);
  fclose(fp);

  one_record("license_no,first_name,middle_name,last_name,dob,photo,ssn,SSN\n", &r, &fp, &rec);
  assert_int_equal(custos__import_header_parse(&rec, p, &h, &err), CUSTOS_EINVAL);
  assert_non_null(strstr(err.message, "ssn twice"));
  custos__csv_free(r);
  fclose(fp);

  one_record("license_no,first_name,middle_name,last_name,photo\n", &r, &fp, &rec);
  assert_int_equal(custos__import_header_parse(&rec, p, &h, &err), CUSTOS_EINVAL);
  assert_non_null(strstr(err.message, "no dob column"));
  custos__csv_free(r);
  fclose(fp);

  one_record("license_no,\"first\"x\n", &r, &fp, &rec);
  assert_int_equal(custos__import_header_parse(&rec, p, &h, &err), CUSTOS_EINVAL);
  assert_non_null(strstr(err.message, "malformed"));
  custos__csv_free(r);
  fclose(fp);
  custos_policy_free(p);
}

/* Checks one data row under the full header; returns the reason (or -1 for
 * a row that passes) and checks that the message holds no marker. */
static int check_row(const char *line, custos__import_row *row, custos__import_reject *rej) {
  static const char head[] =
      "license_no,first_name,middle_name,last_name,dob,photo,ssn,mothers_maiden_name,"
      "birthplace,twin_indicator,voter_indicator,testing_info,identity_documents,"
      "previous_license,parental_id_document\n";
  char text[4096];
  snprintf(text, sizeof text, "%s%s\n", head, line);
  custos_policy *p = NULL;
  assert_int_equal(custos_policy_load(NULL, &p, NULL), CUSTOS_OK);
  FILE *fp;
  custos__csv *r = reader(text, strlen(text), &fp);
  custos__csv_record hrec, rec;
  custos__import_header h;
  assert_int_equal(custos__csv_next(r, &hrec, NULL), CUSTOS_OK);
  assert_int_equal(custos__import_header_parse(&hrec, p, &h, NULL), CUSTOS_OK);
  assert_int_equal(custos__csv_next(r, &rec, NULL), CUSTOS_OK);
  memset(rej, 0, sizeof *rej);
  bool ok = custos__import_row_check(&h, &rec, "2020-06-15", row, rej);
  /* GOV-18: no message quotes a value. */
  assert_null(strstr(rej->message, MARK));
  assert_null(strstr(rej->column, MARK));
  /* The row points into the reader's buffer: keep the ssn the caller looks
   * at, then forget the pointers. */
  static char ssn[64];
  const char *v = row->sensitive[CUSTOS__SENS_SSN];
  snprintf(ssn, sizeof ssn, "%s", v ? v : "");
  custos__csv_free(r);
  fclose(fp);
  custos_policy_free(p);
  row->photo = NULL;
  memset(row->sensitive, 0, sizeof row->sensitive);
  row->sensitive[CUSTOS__SENS_SSN] = v ? ssn : NULL;
  return ok ? -1 : (int)rej->reason;
}

static void test_row_checks(void **state) {
  (void)state;
  custos__import_row row;
  custos__import_reject rej;
#define SENS \
  ",S" MARK ",M" MARK ",B" MARK ",T" MARK ",V" MARK ",I" MARK ",D" MARK ",P" MARK ",Q" MARK
  assert_int_equal(check_row("WA1,Ann,,Lee,1980-02-29,a/b.png" SENS, &row, &rej), -1);
  assert_string_equal(row.holder.license_no, "WA1");
  assert_string_equal(row.holder.dob, "1980-02-29");
  assert_string_equal(row.sensitive[CUSTOS__SENS_SSN], "S" MARK);
  assert_int_equal(row.dropped, 1); /* GOV-19: birthplace */
  /* Empty sensitive values are absent; nothing dropped when birthplace is empty. */
  assert_int_equal(check_row("WA1,Ann,,Lee,1980-01-01,a.png,,,,,,,,,", &row, &rej), -1);
  assert_null(row.sensitive[CUSTOS__SENS_SSN]);
  assert_int_equal(row.dropped, 0);

  static const struct {
    const char *line;
    custos_import_reason reason;
    const char *column;
  } bad[] = {
      {"WA1,Ann" MARK ",,Lee,1980-01-01,a.png", CUSTOS_IMPORT_MALFORMED_ROW, ""},
      {"WA1,\"Ann\"" MARK ",,Lee,1980-01-01,a.png" SENS, CUSTOS_IMPORT_MALFORMED_ROW, ""},
      {",Ann,,Lee,1980-01-01,a.png" SENS, CUSTOS_IMPORT_INVALID_FIELD, "license_no"},
      {"W A1" MARK ",Ann,,Lee,1980-01-01,a.png" SENS, CUSTOS_IMPORT_INVALID_FIELD, "license_no"},
      {"WA1234567890123456789012345678901234" MARK ",Ann,,Lee,1980-01-01,a.png" SENS,
       CUSTOS_IMPORT_INVALID_FIELD, "license_no"},
      {"WA1,,,Lee,1980-01-01,a.png" SENS, CUSTOS_IMPORT_INVALID_FIELD, "first_name"},
      {"WA1,Ann,\"Mid\tdle" MARK "\",Lee,1980-01-01,a.png" SENS, CUSTOS_IMPORT_INVALID_FIELD,
       "middle_name"},
      {"WA1,Ann,,\xff" MARK ",1980-01-01,a.png" SENS, CUSTOS_IMPORT_INVALID_FIELD, "last_name"},
      {"WA1,Ann,,Lee,1981-02-29,a.png" SENS, CUSTOS_IMPORT_BAD_DATE, "dob"},
      {"WA1,Ann,,Lee,1980-13-01,a.png" SENS, CUSTOS_IMPORT_BAD_DATE, "dob"},
      {"WA1,Ann,,Lee,80-01-01,a.png" SENS, CUSTOS_IMPORT_BAD_DATE, "dob"},
      {"WA1,Ann,,Lee,2020-06-16,a.png" SENS, CUSTOS_IMPORT_BAD_DATE, "dob"}, /* tomorrow */
      {"WA1,Ann,,Lee,1895-06-14,a.png" SENS, CUSTOS_IMPORT_BAD_DATE, "dob"}, /* 125 and a day */
      {"WA1,Ann,,Lee,1980-01-01," SENS, CUSTOS_IMPORT_INVALID_FIELD, "photo"},
      {"WA1,Ann,,Lee,1980-01-01,/etc/" MARK ".png" SENS, CUSTOS_IMPORT_PHOTO_PATH, "photo"},
      {"WA1,Ann,,Lee,1980-01-01,../" MARK ".png" SENS, CUSTOS_IMPORT_PHOTO_PATH, "photo"},
      {"WA1,Ann,,Lee,1980-01-01,a/../../" MARK ".png" SENS, CUSTOS_IMPORT_PHOTO_PATH, "photo"},
      {"WA1,Ann,,Lee,1980-01-01,./a.png" SENS, CUSTOS_IMPORT_PHOTO_PATH, "photo"},
      {"WA1,Ann,,Lee,1980-01-01,a//b.png" SENS, CUSTOS_IMPORT_PHOTO_PATH, "photo"},
      {"WA1,Ann,,Lee,1980-01-01,a.png,\"S\x01" MARK "\",,,,,,,,", CUSTOS_IMPORT_INVALID_FIELD,
       "ssn"},
  };
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(bad); i++) {
    int got = check_row(bad[i].line, &row, &rej);
    if (got != (int)bad[i].reason)
      fail_msg("row %zu: reason %d, expected %d", i, got, bad[i].reason);
    assert_string_equal(rej.column, bad[i].column);
    assert_true(strlen(rej.message) > 0);
  }
  /* 125 years exactly is still plausible. */
  assert_int_equal(check_row("WA1,Ann,,Lee,1895-06-15,a.png" SENS, &row, &rej), -1);
  /* A sensitive value over 1000 bytes. */
  char line[2048];
  int n = snprintf(line, sizeof line, "WA1,Ann,,Lee,1980-01-01,a.png,");
  memset(line + n, 'x', 1001);
  snprintf(line + n + 1001, sizeof line - (size_t)n - 1001, ",,,,,,,,");
  assert_int_equal(check_row(line, &row, &rej), CUSTOS_IMPORT_INVALID_FIELD);
  assert_string_equal(rej.column, "ssn");
#undef SENS
}

static void test_photo_read(void **state) {
  fixture *f = *state;
  char root[256], path[300], real[PATH_MAX];
  snprintf(root, sizeof root, "%s/photos", f->dir);
  assert_int_equal(mkdir(root, 0700), 0);
  assert_non_null(realpath(root, real));
  snprintf(path, sizeof path, "%s/in.png", root);
  write_text(path, "bytes");
  snprintf(path, sizeof path, "%s/sub", root);
  assert_int_equal(mkdir(path, 0700), 0);
  snprintf(path, sizeof path, "%s/fifo", root);
  assert_int_equal(mkfifo(path, 0600), 0);
  snprintf(path, sizeof path, "%s/inside.png", root);
  assert_int_equal(symlink("in.png", path), 0);
  snprintf(path, sizeof path, "%s/outside.png", root);
  assert_int_equal(symlink(f->db, path), 0);
  snprintf(path, sizeof path, "%s/big.png", root);
  FILE *fp = fopen(path, "wb");
  assert_non_null(fp);
  assert_int_equal(ftruncate(fileno(fp), (off_t)CUSTOS__IMPORT_PHOTO_MAX + 1), 0);
  fclose(fp);

  unsigned char *data = NULL;
  size_t len = 0;
  custos__import_reject rej;
  assert_int_equal(custos__import_photo_read(real, "in.png", &data, &len, &rej), CUSTOS_OK);
  assert_int_equal(len, 5);
  assert_memory_equal(data, "bytes", 5);
  custos__free(data);
  assert_int_equal(custos__import_photo_read(real, "inside.png", &data, &len, &rej), CUSTOS_OK);
  custos__free(data);
  static const struct {
    const char *rel;
    custos_import_reason reason;
  } bad[] = {
      {"none.png", CUSTOS_IMPORT_PHOTO_MISSING},   {"nodir/none.png", CUSTOS_IMPORT_PHOTO_MISSING},
      {"sub", CUSTOS_IMPORT_PHOTO_UNREADABLE},     {"fifo", CUSTOS_IMPORT_PHOTO_UNREADABLE},
      {"big.png", CUSTOS_IMPORT_PHOTO_UNREADABLE}, {"outside.png", CUSTOS_IMPORT_PHOTO_PATH},
  };
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(bad); i++) {
    data = NULL;
    assert_int_equal(custos__import_photo_read(real, bad[i].rel, &data, &len, &rej), CUSTOS_EINVAL);
    assert_null(data);
    if (rej.reason != bad[i].reason) fail_msg("%s: reason %d", bad[i].rel, rej.reason);
    assert_string_equal(rej.column, "photo");
  }
}

/* ---- the store: cases, purge, compaction --------------------------------------------------- */

/* Adds a holder with one photo and template v inside t; returns the ids. */
static void add_holder(custos_txn *t, const char *lic, const float *v, int64_t *hid, int64_t *pid) {
  custos__holder h = {0};
  snprintf(h.license_no, sizeof h.license_no, "%s", lic);
  snprintf(h.first_name, sizeof h.first_name, "F");
  snprintf(h.last_name, sizeof h.last_name, "L");
  snprintf(h.dob, sizeof h.dob, "1970-01-01");
  assert_int_equal(custos__store_holder_add(t, &h, hid, NULL), CUSTOS_OK);
  custos__photo p = {.holder_id = *hid};
  crypto_hash_sha256(p.sha256, (const unsigned char *)lic, strlen(lic));
  assert_int_equal(custos__store_photo_add(t, &p, pid, NULL), CUSTOS_OK);
  assert_int_equal(custos__store_template_put(t, *pid, "m1", v, NULL), CUSTOS_OK);
}

static int count_case(const custos__dedup_case *c, void *ctx) {
  int *n = ctx;
  assert_true(c->open);
  assert_true(c->distance >= 0);
  assert_int_equal(strlen(c->created), CUSTOS_TIMESTAMP_LEN);
  (*n)++;
  return 0;
}

static void test_store_cases(void **state) {
  fixture *f = *state;
  custos_store *s = f->c->store;
  custos_txn *t = NULL;
  float v[CUSTOS_TEMPLATE_DIM] = {0};
  int64_t h1, p1, h2, p2;
  int version = 0;
  assert_int_equal(custos__store_schema_version(s, &version, NULL), CUSTOS_OK);
  assert_int_equal(version, CUSTOS_SCHEMA_VERSION);
  assert_true(CUSTOS_SCHEMA_VERSION >= 4);
  assert_int_equal(custos__store_begin(s, true, &t, NULL), CUSTOS_OK);
  add_holder(t, "C1", v, &h1, &p1);
  add_holder(t, "C2", v, &h2, &p2);
  custos__dedup_case c = {
      .holder_a = h1, .holder_b = h2, .photo_a = p1, .photo_b = p2, .distance = 0.25};
  custos__timestamp_now(c.created);
  int64_t id = 0;
  assert_int_equal(custos__store_dedup_case_add(t, &c, &id, NULL), CUSTOS_OK);
  assert_true(id > 0);
  bool exists = false;
  assert_int_equal(custos__store_dedup_case_open_exists(t, h2, h1, &exists, NULL), CUSTOS_OK);
  assert_true(exists);
  assert_int_equal(custos__store_dedup_case_open_exists(t, h1, h1 + 100, &exists, NULL), CUSTOS_OK);
  assert_false(exists);
  assert_int_equal(custos__store_dedup_case_add(t, &c, &id, NULL), CUSTOS_ECONFLICT);
  custos__dedup_case bad = c;
  bad.holder_b = h1;
  assert_int_equal(custos__store_dedup_case_add(t, &bad, &id, NULL), CUSTOS_EINVAL);
  bad = c;
  bad.distance = NAN;
  assert_int_equal(custos__store_dedup_case_add(t, &bad, &id, NULL), CUSTOS_EINVAL);
  bad = c;
  bad.photo_b = p2 + 1000;
  assert_int_equal(custos__store_dedup_case_add(t, &bad, &id, NULL), CUSTOS_ENOENT);
  int64_t n = 0;
  assert_int_equal(custos__store_dedup_case_count(t, true, &n, NULL), CUSTOS_OK);
  assert_int_equal(n, 1);
  int seen = 0;
  assert_int_equal(custos__store_dedup_case_foreach(t, count_case, &seen, NULL), CUSTOS_OK);
  assert_int_equal(seen, 1);
  /* A holder's deletion takes its cases with it. */
  assert_int_equal(custos__store_holder_delete(t, h2, NULL), CUSTOS_OK);
  assert_int_equal(custos__store_dedup_case_count(t, false, &n, NULL), CUSTOS_OK);
  assert_int_equal(n, 0);
  /* Compaction is refused inside a transaction. */
  assert_int_equal(custos__store_compact(s, NULL), CUSTOS_EINTERNAL);
  custos__store_rollback(t);
}

static void test_store_purge_compact(void **state) {
  fixture *f = *state;
  custos_store *s = f->c->store;
  custos_txn *t = NULL;
  float v[CUSTOS_TEMPLATE_DIM] = {0};
  char wal[160], shm[160];
  snprintf(wal, sizeof wal, "%s-wal", f->db);
  snprintf(shm, sizeof shm, "%s-shm", f->db);
  assert_int_equal(custos__store_begin(s, true, &t, NULL), CUSTOS_OK);
  for (int i = 0; i < 3; i++) {
    char lic[8], val[32];
    int64_t h, p;
    snprintf(lic, sizeof lic, "P%d", i);
    add_holder(t, lic, v, &h, &p);
    snprintf(val, sizeof val, "PURGE%s%d", MARK, i);
    custos__sensitive_in in = {0};
    in.value[CUSTOS__SENS_TESTING_INFO] = val;
    in.value[CUSTOS__SENS_SSN] = "keep-" MARK;
    assert_int_equal(custos__store_sensitive_put(t, h, &in, NULL), CUSTOS_OK);
  }
  assert_int_equal(custos__store_commit(t, NULL), CUSTOS_OK);
  assert_true(file_has(f->db, "PURGE" MARK) || file_has(wal, "PURGE" MARK));

  int64_t n = 0;
  assert_int_equal(custos__store_begin(s, true, &t, NULL), CUSTOS_OK);
  assert_int_equal(custos__store_sensitive_purge(t, CUSTOS__SENS_TESTING_INFO, &n, NULL),
                   CUSTOS_OK);
  assert_int_equal(n, 3);
  assert_int_equal(custos__store_commit(t, NULL), CUSTOS_OK);
  assert_int_equal(custos__store_compact(s, NULL), CUSTOS_OK);
  assert_false(file_has(f->db, "PURGE" MARK));
  assert_false(file_has(wal, "PURGE" MARK));
  assert_false(file_has(shm, "PURGE" MARK));
  /* The other field is untouched. */
  assert_int_equal(custos__store_begin(s, false, &t, NULL), CUSTOS_OK);
  assert_int_equal(custos__store_sensitive_count(t, CUSTOS__SENS_SSN, &n, NULL), CUSTOS_OK);
  assert_int_equal(n, 3);
  assert_int_equal(custos__store_sensitive_count(t, CUSTOS__SENS_TESTING_INFO, &n, NULL),
                   CUSTOS_OK);
  assert_int_equal(n, 0);
  custos__store_rollback(t);

  /* Another connection holding a read snapshot keeps the log from emptying. */
  custos_store *other = NULL;
  custos_txn *ot = NULL;
  assert_int_equal(custos__store_open(f->db, CUSTOS__STORE_EXISTING, &other, NULL), CUSTOS_OK);
  assert_int_equal(custos__store_begin(other, false, &ot, NULL), CUSTOS_OK);
  assert_int_equal(custos__store_count(ot, CUSTOS__T_HOLDERS, &n, NULL), CUSTOS_OK);
  assert_int_equal(custos__store_begin(s, true, &t, NULL), CUSTOS_OK);
  assert_int_equal(custos__store_sensitive_purge(t, CUSTOS__SENS_SSN, &n, NULL), CUSTOS_OK);
  assert_int_equal(custos__store_commit(t, NULL), CUSTOS_OK);
  custos_err err;
  assert_int_equal(custos__store_compact(s, &err), CUSTOS_EDB);
  assert_non_null(strstr(err.message, "another connection"));
  custos__store_rollback(ot);
  custos__store_close(other);
  assert_int_equal(custos__store_compact(s, NULL), CUSTOS_OK);
  assert_false(file_has(f->db, "keep-" MARK));
}

/* ---- de-duplication against a plain scan ------------------------------------------------------
 */

#define MAX_HOLDER 4096

typedef struct scan_ctx {
  const float *q;          /* query */
  double best[MAX_HOLDER]; /* per holder id: nearest distance, INFINITY none */
} scan_ctx;

static double distance(const float *a, const float *b) {
  double d = 0;
  for (int i = 0; i < CUSTOS_TEMPLATE_DIM; i++) {
    double x = (double)a[i] - (double)b[i];
    d += x * x;
  }
  return sqrt(d);
}

static int scan_one(const custos__template_rec *rec, void *ctx) {
  scan_ctx *s = ctx;
  double d = distance(rec->v, s->q);
  if (rec->holder_id < MAX_HOLDER && d < s->best[rec->holder_id]) s->best[rec->holder_id] = d;
  return 0;
}

static float frand(uint32_t *seed) {
  *seed = *seed * 1103515245u + 12345u;
  return (float)((*seed >> 8) & 0xffff) / 65536.0f - 0.5f;
}

/* A point near centre c: each value moved by up to +-noise/2. */
static void near(const float *c, float noise, float *v, uint32_t *seed) {
  for (int i = 0; i < CUSTOS_TEMPLATE_DIM; i++) v[i] = c[i] + noise * frand(seed);
}

/* Added templates the store does not hold: the reference scans them too. */
typedef struct added {
  int64_t holder;
  float v[CUSTOS_TEMPLATE_DIM];
} added;

static void test_dedup_reference(void **state) {
  fixture *f = *state;
  custos_store *s = f->c->store;
  custos_txn *t = NULL;
  uint32_t seed = 7;
  enum { CLUSTERS = 40 };
  static float centre[CLUSTERS][CUSTOS_TEMPLATE_DIM];
  float v[CUSTOS_TEMPLATE_DIM];
  /* Clusters of holders (3 each, one of 12 to pass the cap on cases), a few
   * with a renewal photo; strangers lie about 3 apart, a cluster's members
   * about 0.3. */
  int holders = 0;
  assert_int_equal(custos__store_begin(s, true, &t, NULL), CUSTOS_OK);
  for (int c = 0; c < CLUSTERS; c++) {
    for (int i = 0; i < CUSTOS_TEMPLATE_DIM; i++) centre[c][i] = frand(&seed);
    for (int m = 0; m < (c == 0 ? 12 : 3); m++) {
      char lic[16];
      int64_t h, p;
      snprintf(lic, sizeof lic, "G%02d-%02d", c, m);
      near(centre[c], 0.06f, v, &seed);
      add_holder(t, lic, v, &h, &p);
      holders++;
      if (m == 1) {
        custos__photo ph = {.holder_id = h};
        ph.sha256[0] = (uint8_t)c;
        ph.sha256[1] = 0xee;
        int64_t pid;
        assert_int_equal(custos__store_photo_add(t, &ph, &pid, NULL), CUSTOS_OK);
        near(centre[c], 0.06f, v, &seed);
        assert_int_equal(custos__store_template_put(t, pid, "m1", v, NULL), CUSTOS_OK);
        holders++; /* counts templates from here */
      }
    }
  }
  /* Another model's templates are not part of this gallery. */
  custos__photo other_photo = {.holder_id = 1};
  other_photo.sha256[2] = 0x77;
  int64_t opid;
  assert_int_equal(custos__store_photo_add(t, &other_photo, &opid, NULL), CUSTOS_OK);
  assert_int_equal(custos__store_template_put(t, opid, "m2", centre[1], NULL), CUSTOS_OK);
  assert_int_equal(custos__store_commit(t, NULL), CUSTOS_OK);

  const double thr = 0.5;
  custos__dedup *d = NULL;
  assert_int_equal(custos__store_begin(s, false, &t, NULL), CUSTOS_OK);
  assert_int_equal(custos__dedup_open(t, "m1", NULL, thr, &d, NULL), CUSTOS_OK);
  custos__store_rollback(t);
  assert_int_equal(custos__dedup_size(d), (size_t)holders);

  /* The gallery snapshot: written when the index is built from the store,
   * used while its stamp is the store's template generation, rebuilt when
   * corrupt or stale. */
  {
    char snap[] = "/tmp/custos-test-gallery-XXXXXX";
    int sfd = mkstemp(snap);
    assert_true(sfd >= 0);
    close(sfd);
    unlink(snap);
    custos_index *gi = NULL;
    int64_t g1 = 0, g2 = 0;
    assert_int_equal(custos__store_begin(s, false, &t, NULL), CUSTOS_OK);
    assert_int_equal(custos__core_gallery_load(t, "m1", snap, &gi, &g1, NULL), CUSTOS_OK);
    custos__store_rollback(t);
    assert_int_equal(custos_index_count(gi), (size_t)holders);
    custos_index_free(gi);
    custos_index_snapshot_header h;
    assert_int_equal(custos_index_snapshot_info(snap, &h, NULL), CUSTOS_OK);
    assert_int_equal(h.generation, (uint64_t)g1);
    assert_int_equal(h.count, (uint64_t)holders);
    /* Loaded from the snapshot: same content. */
    assert_int_equal(custos__store_begin(s, false, &t, NULL), CUSTOS_OK);
    assert_int_equal(custos__core_gallery_load(t, "m1", snap, &gi, &g2, NULL), CUSTOS_OK);
    custos__store_rollback(t);
    assert_int_equal(g2, g1);
    assert_int_equal(custos_index_count(gi), (size_t)holders);
    custos_index_free(gi);
    /* A corrupt snapshot is ignored, the index rebuilt and the file rewritten. */
    FILE *sf = fopen(snap, "r+b");
    assert_non_null(sf);
    assert_int_equal(fseek(sf, 100, SEEK_SET), 0);
    assert_int_equal(fputc(0x5a, sf) == EOF, 0);
    assert_int_equal(fputc(0xa5, sf) == EOF, 0);
    fclose(sf);
    custos_err e;
    assert_int_equal(custos_index_load(NULL, snap, NULL, &gi, &e), CUSTOS_ECORRUPT);
    assert_int_equal(custos__store_begin(s, false, &t, NULL), CUSTOS_OK);
    assert_int_equal(custos__core_gallery_load(t, "m1", snap, &gi, &g2, NULL), CUSTOS_OK);
    custos__store_rollback(t);
    assert_int_equal(custos_index_count(gi), (size_t)holders);
    custos_index_free(gi);
    assert_int_equal(custos_index_snapshot_info(snap, &h, NULL), CUSTOS_OK);
    /* A new template (of another model) changes the store's generation: the
     * stale snapshot is not used but rebuilt and rewritten. */
    assert_int_equal(custos__store_begin(s, true, &t, NULL), CUSTOS_OK);
    custos__photo gp = {.holder_id = 1};
    gp.sha256[3] = 0x99;
    int64_t gpid;
    assert_int_equal(custos__store_photo_add(t, &gp, &gpid, NULL), CUSTOS_OK);
    assert_int_equal(custos__store_template_put(t, gpid, "m3", centre[2], NULL), CUSTOS_OK);
    assert_int_equal(custos__store_commit(t, NULL), CUSTOS_OK);
    assert_int_equal(custos__store_begin(s, false, &t, NULL), CUSTOS_OK);
    assert_int_equal(custos__core_gallery_load(t, "m1", snap, &gi, &g2, NULL), CUSTOS_OK);
    custos__store_rollback(t);
    assert_true(g2 != g1);
    assert_int_equal(custos_index_count(gi), (size_t)holders);
    custos_index_free(gi);
    assert_int_equal(custos_index_snapshot_info(snap, &h, NULL), CUSTOS_OK);
    assert_int_equal(h.generation, (uint64_t)g2);
    unlink(snap);
  }

  added *extra = calloc(200, sizeof *extra);
  assert_non_null(extra);
  size_t nextra = 0;
  int64_t next_photo = 100000, next_holder = 2000;
  int with_hits = 0, capped = 0;
  for (int qi = 0; qi < 80; qi++) {
    float q[CUSTOS_TEMPLATE_DIM];
    near(centre[qi % CLUSTERS], 0.06f, q, &seed);
    if (qi % 5 == 4) near(centre[qi % CLUSTERS], 6.0f, q, &seed); /* a stranger */
    /* Every third query is a renewal of a holder of its cluster: that
     * holder's own photos never count. */
    int64_t holder =
        qi % 3 == 0 ? 1 + (qi % CLUSTERS == 0 ? 0 : 12 + 3 * ((qi % CLUSTERS) - 1)) : next_holder++;
    scan_ctx *sc = calloc(1, sizeof *sc);
    assert_non_null(sc);
    sc->q = q;
    for (int k = 0; k < MAX_HOLDER; k++) sc->best[k] = INFINITY;
    assert_int_equal(custos__store_begin(s, false, &t, NULL), CUSTOS_OK);
    assert_int_equal(custos__store_template_foreach(t, "m1", scan_one, sc, NULL), CUSTOS_OK);
    custos__store_rollback(t);
    for (size_t k = 0; k < nextra; k++) {
      double dd = distance(extra[k].v, q);
      if (dd < sc->best[extra[k].holder]) sc->best[extra[k].holder] = dd;
    }
    custos__dedup_hit hits[CUSTOS__DEDUP_MAX_HITS];
    size_t n = 0;
    assert_int_equal(custos__dedup_check_add(d, holder, next_photo++, q, hits, &n, NULL),
                     CUSTOS_OK);
    /* The reference: every other holder under the threshold, nearest first
     * (ties by holder id), at most the cap. */
    size_t want = 0;
    for (int k = 0; k < MAX_HOLDER; k++) {
      if (k != holder && sc->best[k] < thr) want++;
    }
    if (want > CUSTOS__DEDUP_MAX_HITS) {
      want = CUSTOS__DEDUP_MAX_HITS;
      capped++;
    }
    assert_int_equal(n, want);
    for (size_t i = 0; i < n; i++) {
      assert_true(hits[i].holder != holder);
      assert_true(hits[i].distance < thr);
      assert_true(fabs(hits[i].distance - sc->best[hits[i].holder]) < 1e-9);
      if (i > 0) assert_true(hits[i].distance >= hits[i - 1].distance);
      /* Nothing nearer was left out. */
      for (int k = 0; k < MAX_HOLDER; k++) {
        if (k != holder && sc->best[k] < hits[i].distance - 1e-12) {
          bool listed = false;
          for (size_t j = 0; j < i; j++) listed = listed || hits[j].holder == k;
          assert_true(listed);
        }
      }
    }
    if (n > 0) with_hits++;
    extra[nextra].holder = holder;
    memcpy(extra[nextra].v, q, sizeof q);
    nextra++;
    free(sc);
  }
  assert_true(with_hits > 40);
  assert_true(capped > 0);
  free(extra);

  /* Another connection changes the gallery: the next sync reloads it. */
  custos_store *other = NULL;
  float q[CUSTOS_TEMPLATE_DIM];
  custos__dedup_hit hits[CUSTOS__DEDUP_MAX_HITS];
  size_t n = 0;
  assert_int_equal(custos__store_open(f->db, CUSTOS__STORE_EXISTING, &other, NULL), CUSTOS_OK);
  assert_int_equal(custos__store_begin(other, true, &t, NULL), CUSTOS_OK);
  int64_t h, p;
  near(centre[0], 40.0f, q, &seed);
  add_holder(t, "X1", q, &h, &p);
  assert_int_equal(custos__store_commit(t, NULL), CUSTOS_OK);
  custos__store_close(other);
  assert_int_equal(custos__store_begin(s, true, &t, NULL), CUSTOS_OK);
  assert_int_equal(custos__dedup_sync(d, t, NULL), CUSTOS_OK);
  /* The store's templates, without what this test added in memory only. */
  assert_int_equal(custos__dedup_size(d), (size_t)holders + 1);
  q[7] += 0.001f;
  assert_int_equal(custos__dedup_check_add(d, h + 1, 400000, q, hits, &n, NULL), CUSTOS_OK);
  assert_int_equal(n, 1);
  assert_int_equal(hits[0].holder, h);
  /* In step: a sync with no change keeps what was added since. */
  assert_int_equal(custos__dedup_mark(d, t, NULL), CUSTOS_OK);
  assert_int_equal(custos__dedup_sync(d, t, NULL), CUSTOS_OK);
  assert_int_equal(custos__dedup_size(d), (size_t)holders + 2);
  custos__store_rollback(t);
  custos__dedup_free(d);
}

/* ---- end to end on real faces ------------------------------------------------------------------
 */

static bool have_models(void) {
  char p[512];
  snprintf(p, sizeof p, "%s/model/ssd_mobilenetv1_model.bin", CUSTOS_MODELS_DIR);
  struct stat st;
  bool m = stat(p, &st) == 0;
  snprintf(p, sizeof p, "%s/demo/sample1.jpg", CUSTOS_MODELS_DIR);
  return m && stat(p, &st) == 0;
}

/* Writes the square of side `side` at (x, y) of img, every step-th pixel,
 * as a PNG; blur > 0 box-blurs it (radius blur, twice). */
static void write_crop(const custos_image *img, int x, int y, int side, int step, int blur,
                       const char *path) {
  int n = side / step;
  unsigned char *px = calloc((size_t)n * (size_t)n * 3, 1);
  assert_non_null(px);
  for (int r = 0; r < n; r++) {
    for (int c = 0; c < n; c++) {
      int sx = x + c * step, sy = y + r * step;
      if (sx < 0 || sy < 0 || sx >= img->width || sy >= img->height) continue;
      memcpy(px + ((size_t)r * (size_t)n + (size_t)c) * 3,
             img->rgb + ((size_t)sy * (size_t)img->width + (size_t)sx) * 3, 3);
    }
  }
  for (int pass = 0; blur > 0 && pass < 2; pass++) {
    unsigned char *tmp = malloc((size_t)n * (size_t)n * 3);
    assert_non_null(tmp);
    for (int r = 0; r < n; r++) {
      for (int c = 0; c < n; c++) {
        for (int k = 0; k < 3; k++) {
          int sum = 0, cnt = 0;
          for (int dr = -blur; dr <= blur; dr++) {
            for (int dc = -blur; dc <= blur; dc++) {
              int rr = r + dr, cc = c + dc;
              if (rr < 0 || cc < 0 || rr >= n || cc >= n) continue;
              sum += px[((size_t)rr * (size_t)n + (size_t)cc) * 3 + (size_t)k];
              cnt++;
            }
          }
          tmp[((size_t)r * (size_t)n + (size_t)c) * 3 + (size_t)k] = (unsigned char)(sum / cnt);
        }
      }
    }
    free(px);
    px = tmp;
  }
  png_image pi;
  memset(&pi, 0, sizeof pi);
  pi.version = PNG_IMAGE_VERSION;
  pi.width = (png_uint_32)n;
  pi.height = (png_uint_32)n;
  pi.format = PNG_FORMAT_RGB;
  assert_true(png_image_write_to_file(&pi, path, 0, px, 0, NULL) != 0);
  free(px);
}

static int progress_calls;
static int64_t progress_last;

static void on_progress(const custos_import_progress *p, void *ctx) {
  (void)ctx;
  assert_true(p->rows_done >= progress_last);
  assert_true(p->rows_done <= p->rows_total);
  progress_last = p->rows_done;
  progress_calls++;
}

static void test_import_end_to_end(void **state) {
  fixture *f = *state;
  if (!have_models()) {
    printf("skipped: models or demo photos not found in %s (make models)\n", CUSTOS_MODELS_DIR);
    skip();
  }
  char photos[256], path[512], csv[256], rejects[256];
  snprintf(photos, sizeof photos, "%s/photos", f->dir);
  assert_int_equal(mkdir(photos, 0700), 0);
  custos_image *img = NULL;
  snprintf(path, sizeof path, "%s/demo/sample1.jpg", CUSTOS_MODELS_DIR);
  assert_int_equal(custos_image_decode_file(path, NULL, &img, NULL, NULL), CUSTOS_OK);
  /* The three faces of sample1 (boxes from tests/data/reference/demo.jsonl). */
  static const int box[3][4] = {{414, 355, 177, 240}, {838, 421, 186, 228}, {1476, 199, 203, 241}};
  for (int i = 0; i < 3; i++) {
    int side = (int)((box[i][3] > box[i][2] ? box[i][3] : box[i][2]) * 1.3);
    int cx = box[i][0] + box[i][2] / 2, cy = box[i][1] + box[i][3] / 2;
    snprintf(path, sizeof path, "%s/face%d.png", photos, i);
    write_crop(img, cx - side / 2, cy - side / 2, side, 2, 0, path);
    if (i == 0) {
      /* Another photo of the same person: wider and shifted. */
      int alt = side * 115 / 100;
      snprintf(path, sizeof path, "%s/face0-alt.png", photos);
      write_crop(img, cx - alt / 2 + side / 20, cy - alt / 2 - side / 25, alt, 2, 0, path);
      snprintf(path, sizeof path, "%s/blurred.png", photos);
      write_crop(img, cx - side / 2, cy - side / 2, side, 2, 2, path);
      snprintf(path, sizeof path, "%s/small.png", photos);
      write_crop(img, cx - side / 2, cy - side / 2, side, 8, 0, path);
    }
  }
  snprintf(path, sizeof path, "%s/crowd.png", photos);
  write_crop(img, 0, 0, 1280, 4, 0, path);
  snprintf(path, sizeof path, "%s/blank.png", photos);
  write_crop(img, -1000, -1000, 200, 1, 0, path); /* outside the image: black */
  custos_image_free(img);

  snprintf(csv, sizeof csv, "%s/holders.csv", f->dir);
  write_text(csv,
             "license_no,first_name,middle_name,last_name,dob,photo,ssn,birthplace\n"
             "A1,Ann,,One,1980-01-01,face0.png,S1-" MARK ",B1-" MARK
             "\n"
             "A2,Bo,,Two,1981-01-01,face1.png,,\n"
             "A3,Cy,,Three,1982-01-01,face2.png,S3-" MARK
             ",\n"
             "A4,Di,,Four,1983-01-01,face0-alt.png,,\n"
             "A5,Ed,,Five,1984-01-01,blank.png,S5-" MARK ",B5-" MARK
             "\n"
             "A6,Fa,,Six,1984-02-30,face1.png,S6-" MARK
             ",\n"
             "A7,Gi,,Seven,1985-01-01,crowd.png,,\n"
             "A8,Ha,,Eight,1985-01-01,small.png,,\n"
             "A9,Io,,Nine,1985-01-01,blurred.png,,\n"
             "A1,Ann,,Changed,1980-01-01,face0.png,S1-" MARK ",\n");
  snprintf(rejects, sizeof rejects, "%s/holders.rejects.csv", f->dir);

  custos_import_summary *sum = calloc(1, sizeof *sum);
  assert_non_null(sum);
  custos_err err;
  custos_import_opts o = {.holders_csv = csv,
                          .photos_dir = photos,
                          .models_dir = CUSTOS_MODELS_DIR,
                          .jobs = 2,
                          .batch_rows = 3,
                          .progress = on_progress};
  progress_calls = 0;
  progress_last = 0;
  int rc = custos_import(f->c, f->admin, &o, sum, &err);
  if (rc != CUSTOS_OK) fail_msg("import: %s", err.message);
  assert_int_equal(sum->rows, 10);
  assert_int_equal(sum->accepted, 4);
  assert_int_equal(sum->rejected, 6);
  assert_int_equal(sum->rejected_by[CUSTOS_IMPORT_NO_FACE], 1);
  assert_int_equal(sum->rejected_by[CUSTOS_IMPORT_BAD_DATE], 1);
  assert_int_equal(sum->rejected_by[CUSTOS_IMPORT_MANY_FACES], 1);
  assert_int_equal(sum->rejected_by[CUSTOS_IMPORT_FACE_TOO_SMALL], 1);
  assert_int_equal(sum->rejected_by[CUSTOS_IMPORT_FACE_BLURRED], 1);
  assert_int_equal(sum->rejected_by[CUSTOS_IMPORT_CONFLICT], 1);
  assert_int_equal(sum->not_collected, 1); /* A1's birthplace; A5's row was refused */
  assert_int_equal(sum->not_collected_by[CUSTOS__SENS_BIRTHPLACE], 1);
  assert_int_equal(sum->dedup_cases, 1); /* A4's photo is A1's face */
  assert_int_equal(sum->jobs, 2);
  assert_true(sum->stage_s[CUSTOS_IMPORT_STAGE_FACE] > 0);
  assert_true(sum->stage_s[CUSTOS_IMPORT_STAGE_DB] > 0);
  assert_string_equal(sum->rejects_path, rejects);
  assert_true(strncmp(sum->model, "faceapi.", 8) == 0);
  assert_true(progress_calls > 0);
  assert_int_equal(progress_last, 10);
  /* The rejects file: row numbers, reasons, no value. */
  assert_true(file_has(rejects, "6,6,NO_FACE,\"photo\""));
  assert_true(file_has(rejects, "7,7,BAD_DATE,\"dob\""));
  assert_true(file_has(rejects, "11,11,CONFLICT,\"license_no\""));
  assert_false(file_has(rejects, MARK));
  struct stat st;
  assert_int_equal(stat(rejects, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);

  custos_txn *t = NULL;
  int64_t n = 0;
  assert_int_equal(custos__store_begin(f->c->store, false, &t, NULL), CUSTOS_OK);
  assert_int_equal(custos__store_count(t, CUSTOS__T_HOLDERS, &n, NULL), CUSTOS_OK);
  assert_int_equal(n, 4);
  assert_int_equal(custos__store_count(t, CUSTOS__T_TEMPLATES, &n, NULL), CUSTOS_OK);
  assert_int_equal(n, 4);
  assert_int_equal(custos__store_sensitive_count(t, CUSTOS__SENS_SSN, &n, NULL), CUSTOS_OK);
  assert_int_equal(n, 2);
  assert_int_equal(custos__store_sensitive_count(t, CUSTOS__SENS_BIRTHPLACE, &n, NULL), CUSTOS_OK);
  assert_int_equal(n, 0); /* GOV-19 */
  assert_int_equal(custos__store_dedup_case_count(t, true, &n, NULL), CUSTOS_OK);
  assert_int_equal(n, 1);
  custos__store_rollback(t);
  assert_false(file_has(f->db, "B1-" MARK));

  /* Again: nothing added, present rows not described again. */
  progress_last = 0;
  rc = custos_import(f->c, f->admin, &o, sum, &err);
  assert_int_equal(rc, CUSTOS_OK);
  assert_int_equal(sum->accepted, 0);
  assert_int_equal(sum->already_present, 4);
  assert_int_equal(sum->rejected, 6);
  assert_int_equal(sum->dedup_cases, 0);
  assert_true(sum->photos_processed <= 4); /* only the refused photos again */
  custos_status stt;
  assert_int_equal(custos_get_status(f->c, &stt, NULL), CUSTOS_OK);
  assert_int_equal(stt.holders, 4);
  assert_int_equal(stt.photos, 4);

  /* Refusals of the whole import. */
  custos_import_opts bad = o;
  bad.jobs = 65;
  assert_int_equal(custos_import(f->c, f->admin, &bad, sum, &err), CUSTOS_EINVAL);
  bad = o;
  bad.photos_dir = "/nonexistent/custos";
  assert_int_equal(custos_import(f->c, f->admin, &bad, sum, &err), CUSTOS_ENOENT);
  char csv2[256];
  snprintf(csv2, sizeof csv2, "%s/unknown.csv", f->dir);
  write_text(csv2, "license_no,first_name,middle_name,last_name,dob,photo,nationality\n");
  bad = o;
  bad.holders_csv = csv2;
  assert_int_equal(custos_import(f->c, f->admin, &bad, sum, &err), CUSTOS_EINVAL);
  snprintf(path, sizeof path, "%s/unknown.rejects.csv", f->dir);
  assert_int_equal(access(path, F_OK), -1);
  /* Only an administrator imports. */
  custos_session *bob = NULL;
  assert_int_equal(custos_user_add(f->c, f->admin, "bob", CUSTOS_ROLE_EXAMINER, "2999-01-01",
                                   "examiner password 1", NULL),
                   CUSTOS_OK);
  assert_int_equal(custos_login(f->c, "bob", "examiner password 1", &bob, NULL), CUSTOS_OK);
  assert_int_equal(custos_import(f->c, bob, &o, sum, &err), CUSTOS_EPERM);
  int64_t erased = 0;
  assert_int_equal(custos_purge_field(f->c, bob, "ssn", &erased, &err), CUSTOS_EPERM);
  custos_session_free(bob);

  /* The purge, through the public API. */
  assert_int_equal(custos_purge_field(f->c, f->admin, "nationality", &erased, &err), CUSTOS_EINVAL);
  assert_int_equal(custos_purge_field(f->c, f->admin, "ssn", &erased, &err), CUSTOS_OK);
  assert_int_equal(erased, 2);
  assert_false(file_has(f->db, "S1-" MARK));
  custos_audit_verify_report rep;
  assert_int_equal(custos_audit_verify(f->c, NULL, NULL, 0, &rep, &err), CUSTOS_OK);
  free(sum);
}

int main(void) {
  setenv("CUSTOS_TEST_FAST_KDF", "1", 1);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_csv_rfc4180),
      cmocka_unit_test(test_csv_malformed),
      cmocka_unit_test(test_header),
      cmocka_unit_test(test_row_checks),
      cmocka_unit_test_setup_teardown(test_photo_read, setup, teardown),
      cmocka_unit_test_setup_teardown(test_store_cases, setup, teardown),
      cmocka_unit_test_setup_teardown(test_store_purge_compact, setup, teardown),
      cmocka_unit_test_setup_teardown(test_dedup_reference, setup, teardown),
      cmocka_unit_test_setup_teardown(test_import_end_to_end, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
