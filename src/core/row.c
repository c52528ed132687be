/*
 * The import's columns and row checks: the header row, each data row's
 * fields, the photo's path and file, and the model version templates are
 * stored under.
 *
 * A row passes when every check passes; otherwise it is refused with one
 * reason code and a message that names the column and the rule, and never
 * quotes a value (GOV-18: not even a name or a date, so the rejects file
 * cannot carry a sensitive value that landed in the wrong column of a broken
 * row).  The checks are those the store applies (docs/store.md), made here
 * first so that a row that passes cannot fail halfway through its
 * transaction for a reason of its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/importInt.h"
#include "util/util.h"

#define MOD "import"
#define PHOTO_PATH_MAX 1024 /* bytes of a photo column value */

static const char *const col_names[CUSTOS__COL_COUNT] = {
    "license_no",
    "first_name",
    "middle_name",
    "last_name",
    "dob",
    "photo",
#define CUSTOS__SENS_NAME_(id, name) name,
    CUSTOS__SENSITIVE_FIELDS(CUSTOS__SENS_NAME_)
#undef CUSTOS__SENS_NAME_
};

const char *custos__import_col_name(custos__import_col c) {
  if ((int)c < 0 || c >= CUSTOS__COL_COUNT) return "?";
  return col_names[c];
}

void custos__import_reject_set(custos__import_reject *rej, custos_import_reason reason,
                               const char *column, const char *fmt, ...) {
  va_list ap;
  rej->reason = reason;
  snprintf(rej->column, sizeof rej->column, "%s", column ? column : "");
  va_start(ap, fmt);
  vsnprintf(rej->message, sizeof rej->message, fmt, ap);
  va_end(ap);
}

/* ---- the header -------------------------------------------------------------------- */

/* Compares a header cell with a column name: ASCII case ignored, spaces and
 * tabs around the cell ignored. */
static bool names_column(const char *cell, size_t len, const char *name) {
  while (len > 0 && (*cell == ' ' || *cell == '\t')) {
    cell++;
    len--;
  }
  while (len > 0 && (cell[len - 1] == ' ' || cell[len - 1] == '\t')) len--;
  return len == strlen(name) && strncasecmp(cell, name, len) == 0;
}

int custos__import_header_parse(const custos__csv_record *rec, const custos_policy *policy,
                                custos__import_header *h, custos_err *err) {
  memset(h, 0, sizeof *h);
  for (int c = 0; c < CUSTOS__COL_COUNT; c++) h->pos[c] = -1;
  if (rec->problem != CUSTOS__CSV_OK) {
    return custos__err(err, CUSTOS_EINVAL, MOD, "the header row is malformed: %s",
                       custos__csv_problem_text(rec->problem));
  }
  for (size_t i = 0; i < rec->n; i++) {
    int found = -1;
    for (int c = 0; c < CUSTOS__COL_COUNT && found < 0; c++) {
      if (names_column(rec->field[i], rec->len[i], col_names[c])) found = c;
    }
    /* The cell is never quoted: a file whose header row is missing has a
     * person's data in it. */
    if (found < 0) {
      return custos__err(err, CUSTOS_EINVAL, MOD,
                         "the header's column %zu is not a column an import knows (the "
                         "columns: license_no, first_name, middle_name, last_name, dob, photo, "
                         "and optionally ssn, mothers_maiden_name, birthplace, twin_indicator, "
                         "voter_indicator, testing_info, identity_documents, previous_license, "
                         "parental_id_document); nothing was imported",
                         i + 1);
    }
    if (h->pos[found] >= 0) {
      return custos__err(err, CUSTOS_EINVAL, MOD,
                         "the header names the column %s twice (columns %d and %zu); nothing "
                         "was imported",
                         col_names[found], h->pos[found] + 1, i + 1);
    }
    h->pos[found] = (int)i;
  }
  for (int c = 0; c < CUSTOS__COL_REQUIRED; c++) {
    if (h->pos[c] < 0) {
      return custos__err(err, CUSTOS_EINVAL, MOD,
                         "the header has no %s column (required: license_no, first_name, "
                         "middle_name, last_name, dob, photo); nothing was imported",
                         col_names[c]);
    }
  }
  for (int c = CUSTOS__COL_SENSITIVE; c < CUSTOS__COL_COUNT; c++) {
    /* GOV-19: a column the policy marks not collected is read and dropped. */
    h->dropped[c] = h->pos[c] >= 0 && custos_policy_not_collected(policy, col_names[c]);
  }
  h->n = rec->n;
  return CUSTOS_OK;
}

/* ---- a row -------------------------------------------------------------------------- */

static bool license_ok(const char *s, size_t len) {
  for (size_t i = 0; i < len; i++) {
    if (s[i] <= 0x20 || s[i] >= 0x7f) return false;
  }
  return true;
}

/* A text field: may_be_empty, at most max bytes, printable UTF-8. */
static bool text_ok(const char *col, const char *s, size_t len, size_t max, bool may_be_empty,
                    custos__import_reject *rej) {
  if (len == 0) {
    if (may_be_empty) return true;
    custos__import_reject_set(rej, CUSTOS_IMPORT_INVALID_FIELD, col, "%s: missing", col);
    return false;
  }
  if (len > max) {
    custos__import_reject_set(rej, CUSTOS_IMPORT_INVALID_FIELD, col, "%s: longer than %zu bytes",
                              col, max);
    return false;
  }
  if (!custos__utf8_printable(s, len)) {
    custos__import_reject_set(rej, CUSTOS_IMPORT_INVALID_FIELD, col,
                              "%s: not valid UTF-8 text, or holds control characters", col);
    return false;
  }
  return true;
}

/* The date of birth: a real date, not after today, a plausible age. */
static bool dob_ok(const char *dob, const char *today, custos__import_reject *rej) {
  if (custos__date_check(dob, "dob", NULL) != CUSTOS_OK) {
    custos__import_reject_set(rej, CUSTOS_IMPORT_BAD_DATE, "dob",
                              "dob: not a real calendar date of the form YYYY-MM-DD");
    return false;
  }
  if (strcmp(dob, today) > 0) {
    custos__import_reject_set(rej, CUSTOS_IMPORT_BAD_DATE, "dob", "dob: after today");
    return false;
  }
  /* The same day CUSTOS__IMPORT_MAX_AGE_YEARS years ago; comparing the
   * strings works even where that day does not exist (29 February). */
  char oldest[CUSTOS_DATE_LEN + 1];
  int year =
      (today[0] - '0') * 1000 + (today[1] - '0') * 100 + (today[2] - '0') * 10 + (today[3] - '0');
  snprintf(oldest, sizeof oldest, "%04d%s", year - CUSTOS__IMPORT_MAX_AGE_YEARS, today + 4);
  if (strcmp(dob, oldest) < 0) {
    custos__import_reject_set(rej, CUSTOS_IMPORT_BAD_DATE, "dob",
                              "dob: gives an age of more than %d years",
                              CUSTOS__IMPORT_MAX_AGE_YEARS);
    return false;
  }
  return true;
}

/* The photo column's form: relative, no empty, "." or ".." component. */
static bool photo_path_ok(const char *p, size_t len, custos__import_reject *rej) {
  if (len == 0) {
    custos__import_reject_set(rej, CUSTOS_IMPORT_INVALID_FIELD, "photo", "photo: missing");
    return false;
  }
  if (len > PHOTO_PATH_MAX || !custos__utf8_printable(p, len)) {
    custos__import_reject_set(rej, CUSTOS_IMPORT_PHOTO_PATH, "photo",
                              "photo: longer than %d bytes, not valid UTF-8 or holds control "
                              "characters",
                              PHOTO_PATH_MAX);
    return false;
  }
  if (p[0] == '/') {
    custos__import_reject_set(rej, CUSTOS_IMPORT_PHOTO_PATH, "photo",
                              "photo: an absolute path (it must be relative to --photos)");
    return false;
  }
  const char *s = p;
  for (;;) {
    const char *e = strchr(s, '/');
    size_t n = e ? (size_t)(e - s) : strlen(s);
    if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.')) {
      custos__import_reject_set(rej, CUSTOS_IMPORT_PHOTO_PATH, "photo",
                                "photo: an empty, '.' or '..' path component (the path must "
                                "stay inside --photos)");
      return false;
    }
    if (e == NULL) break;
    s = e + 1;
  }
  return true;
}

bool custos__import_row_check(const custos__import_header *h, const custos__csv_record *rec,
                              const char *today, custos__import_row *row,
                              custos__import_reject *rej) {
  memset(row, 0, sizeof *row);
  if (rec->problem != CUSTOS__CSV_OK) {
    custos__import_reject_set(rej, CUSTOS_IMPORT_MALFORMED_ROW, NULL, "malformed CSV: %s",
                              custos__csv_problem_text(rec->problem));
    return false;
  }
  if (rec->n != h->n) {
    custos__import_reject_set(rej, CUSTOS_IMPORT_MALFORMED_ROW, NULL,
                              "malformed CSV: the row has %zu fields, the header %zu", rec->n,
                              h->n);
    return false;
  }
#define FIELD(c) (rec->field[h->pos[c]])
#define LEN(c) (rec->len[h->pos[c]])
  const char *lic = FIELD(CUSTOS__COL_LICENSE_NO);
  size_t lic_len = LEN(CUSTOS__COL_LICENSE_NO);
  if (lic_len == 0) {
    custos__import_reject_set(rej, CUSTOS_IMPORT_INVALID_FIELD, "license_no",
                              "license_no: missing");
    return false;
  }
  if (lic_len > CUSTOS_LICENSE_MAX || !license_ok(lic, lic_len)) {
    custos__import_reject_set(rej, CUSTOS_IMPORT_INVALID_FIELD, "license_no",
                              "license_no: not 1..%d printable ASCII characters without spaces",
                              CUSTOS_LICENSE_MAX);
    return false;
  }
  static const custos__import_col names[3] = {CUSTOS__COL_FIRST_NAME, CUSTOS__COL_MIDDLE_NAME,
                                              CUSTOS__COL_LAST_NAME};
  for (int i = 0; i < 3; i++) {
    custos__import_col c = names[i];
    if (!text_ok(col_names[c], FIELD(c), LEN(c), CUSTOS_HOLDER_NAME_MAX,
                 c == CUSTOS__COL_MIDDLE_NAME, rej))
      return false;
  }
  if (!dob_ok(FIELD(CUSTOS__COL_DOB), today, rej)) return false;
  if (!photo_path_ok(FIELD(CUSTOS__COL_PHOTO), LEN(CUSTOS__COL_PHOTO), rej)) return false;
  for (int f = 0; f < CUSTOS__SENS_COUNT; f++) {
    int c = CUSTOS__COL_SENSITIVE + f;
    if (h->pos[c] < 0) continue;
    if (h->dropped[c]) {
      /* GOV-19: not collected; the value is neither checked nor kept. */
      if (LEN(c) > 0) row->dropped++;
      continue;
    }
    if (!text_ok(col_names[c], FIELD(c), LEN(c), CUSTOS_SENSITIVE_MAX, true, rej)) return false;
    row->compare[f] = true;
    row->sensitive[f] = LEN(c) > 0 ? FIELD(c) : NULL;
  }
  /* Lengths were checked above, so the copies fit. */
  memcpy(row->holder.license_no, lic, lic_len + 1);
  memcpy(row->holder.first_name, FIELD(CUSTOS__COL_FIRST_NAME), LEN(CUSTOS__COL_FIRST_NAME) + 1);
  memcpy(row->holder.middle_name, FIELD(CUSTOS__COL_MIDDLE_NAME), LEN(CUSTOS__COL_MIDDLE_NAME) + 1);
  memcpy(row->holder.last_name, FIELD(CUSTOS__COL_LAST_NAME), LEN(CUSTOS__COL_LAST_NAME) + 1);
  memcpy(row->holder.dob, FIELD(CUSTOS__COL_DOB), CUSTOS_DATE_LEN + 1);
  row->photo = FIELD(CUSTOS__COL_PHOTO);
#undef FIELD
#undef LEN
  return true;
}

/* ---- the photo file ----------------------------------------------------------------- */

int custos__import_photo_read(const char *root, const char *rel, unsigned char **data, size_t *len,
                              custos__import_reject *rej) {
  char full[PATH_MAX], real[PATH_MAX];
  int fd = -1;
  int rc = CUSTOS_EINVAL;
  unsigned char *buf = NULL;
  *data = NULL;
  *len = 0;
  int n = snprintf(full, sizeof full, "%s/%s", root, rel);
  if (n < 0 || (size_t)n >= sizeof full) {
    custos__import_reject_set(rej, CUSTOS_IMPORT_PHOTO_PATH, "photo", "photo: path too long");
    return CUSTOS_EINVAL;
  }
  /* Symbolic links are followed, but only to somewhere inside the folder. */
  if (realpath(full, real) == NULL) {
    int e = errno;
    if (e == ENOENT || e == ENOTDIR) {
      custos__import_reject_set(rej, CUSTOS_IMPORT_PHOTO_MISSING, "photo",
                                "photo: no such file in the photos folder");
    } else if (e == ELOOP || e == ENAMETOOLONG) {
      custos__import_reject_set(rej, CUSTOS_IMPORT_PHOTO_PATH, "photo",
                                "photo: the path cannot be resolved (%s)", strerror(e));
    } else {
      custos__import_reject_set(rej, CUSTOS_IMPORT_PHOTO_UNREADABLE, "photo",
                                "photo: cannot be read (%s)", strerror(e));
    }
    return CUSTOS_EINVAL;
  }
  size_t rl = strlen(root);
  if (strncmp(real, root, rl) != 0 || (real[rl] != '/' && !(rl == 1 && root[0] == '/'))) {
    custos__import_reject_set(rej, CUSTOS_IMPORT_PHOTO_PATH, "photo",
                              "photo: leads outside the photos folder (a symbolic link)");
    return CUSTOS_EINVAL;
  }
  fd = open(real, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    custos__import_reject_set(
        rej, e == ENOENT ? CUSTOS_IMPORT_PHOTO_MISSING : CUSTOS_IMPORT_PHOTO_UNREADABLE, "photo",
        "photo: cannot be opened (%s)", strerror(e));
    return CUSTOS_EINVAL;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    custos__import_reject_set(rej, CUSTOS_IMPORT_PHOTO_UNREADABLE, "photo",
                              "photo: not a regular file");
    goto out;
  }
  if ((uint64_t)st.st_size > CUSTOS__IMPORT_PHOTO_MAX) {
    custos__import_reject_set(rej, CUSTOS_IMPORT_PHOTO_UNREADABLE, "photo",
                              "photo: larger than %zu MiB", CUSTOS__IMPORT_PHOTO_MAX >> 20);
    goto out;
  }
  size_t want = (size_t)st.st_size;
  buf = custos__malloc(want > 0 ? want : 1);
  if (buf == NULL) {
    rc = CUSTOS_ENOMEM;
    goto out;
  }
  size_t got = 0;
  while (got < want) {
    ssize_t r = read(fd, buf + got, want - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got += (size_t)r;
  }
  if (got != want) {
    custos__import_reject_set(rej, CUSTOS_IMPORT_PHOTO_UNREADABLE, "photo",
                              "photo: reading it failed or it changed while being read");
    goto out;
  }
  *data = buf;
  *len = got;
  buf = NULL;
  rc = CUSTOS_OK;
out:
  if (fd >= 0) close(fd);
  custos__free(buf);
  return rc;
}

/* ---- the template model ------------------------------------------------------------------ */

int custos__import_hash_file(const char *path, FILE **f, uint8_t sha[32], custos_err *err) {
  unsigned char chunk[65536];
  crypto_hash_sha256_state st;
  FILE *fp = fopen(path, "rb");
  if (fp == NULL) {
    int e = errno;
    return custos__err(err, e == ENOENT ? CUSTOS_ENOENT : CUSTOS_EIO, MOD, "%s: %s", path,
                       strerror(e));
  }
  crypto_hash_sha256_init(&st);
  size_t r;
  while ((r = fread(chunk, 1, sizeof chunk, fp)) > 0) crypto_hash_sha256_update(&st, chunk, r);
  sodium_memzero(chunk, sizeof chunk);
  int rc = CUSTOS_OK;
  if (ferror(fp)) {
    rc = custos__err(err, CUSTOS_EIO, MOD, "%s: read error", path);
  } else {
    crypto_hash_sha256_final(&st, sha);
  }
  if (rc == CUSTOS_OK && f != NULL) {
    *f = fp;
  } else {
    fclose(fp);
  }
  return rc;
}

static int hash_file(const char *dir, const char *name, unsigned char out[32], custos_err *err) {
  char path[PATH_MAX];
  int n = snprintf(path, sizeof path, "%s/%s", dir, name);
  if (n < 0 || (size_t)n >= sizeof path) {
    return custos__err(err, CUSTOS_EINVAL, MOD, "models folder path too long");
  }
  return custos__import_hash_file(path, NULL, out, err);
}

int custos__import_model_version(const char *models_dir, char *out, size_t cap, custos_err *err) {
  static const char *const bins[3] = {"ssd_mobilenetv1_model.bin", "face_landmark_68_model.bin",
                                      "face_recognition_model.bin"};
  char dir[PATH_MAX];
  unsigned char all[3][32], digest[32];
  char hex[65];
  struct stat st;
  const char *base = models_dir ? models_dir : custos_face_default_models_dir();
  if (sodium_init() < 0) return custos__err(err, CUSTOS_EINTERNAL, MOD, "libsodium failed");
  /* The folder itself or its "model" sub-folder, as the face engine looks. */
  int n = snprintf(dir, sizeof dir, "%s/%s", base, bins[2]);
  if (n < 0 || (size_t)n >= sizeof dir) {
    return custos__err(err, CUSTOS_EINVAL, MOD, "models folder path too long");
  }
  if (stat(dir, &st) == 0) {
    snprintf(dir, sizeof dir, "%s", base);
  } else {
    snprintf(dir, sizeof dir, "%s/model", base);
  }
  for (int i = 0; i < 3; i++) {
    int rc = hash_file(dir, bins[i], all[i], err);
    if (rc != CUSTOS_OK) return rc;
  }
  crypto_hash_sha256(digest, &all[0][0], sizeof all);
  sodium_bin2hex(hex, sizeof hex, digest, sizeof digest);
  n = snprintf(out, cap, "faceapi.%.16s.ssd.ref", hex);
  if (n < 0 || (size_t)n >= cap) return custos__err(err, CUSTOS_ETOOBIG, MOD, "model version");
  return CUSTOS_OK;
}

int custos_models_version(const char *models_dir, char *out, size_t size, custos_err *err) {
  return custos__import_model_version(models_dir, out, size, err);
}
