/*
 * The store's front: picks the backend from the URL, checks every argument
 * the same way for every backend, runs the schema migrations and dispatches
 * to the backend's operations (store_backend.h).  Checks live here rather
 * than in each backend so that SQLite and PostgreSQL refuse exactly the same
 * input with exactly the same message.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/store_backend.h"
#include "util/util.h"

#define MOD "store"

/* ---- text and date checks ------------------------------------------------ */

bool custos__utf8_next(const char *s, size_t len, size_t *i, uint32_t *cp) {
  const unsigned char *p = (const unsigned char *)s;
  unsigned c = p[*i];
  if (c < 0x80) {
    *cp = c;
    (*i)++;
    return true;
  }
  size_t n;
  uint32_t v;
  if (c >= 0xc2 && c <= 0xdf) {
    n = 1;
    v = c & 0x1f;
  } else if (c >= 0xe0 && c <= 0xef) {
    n = 2;
    v = c & 0x0f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    n = 3;
    v = c & 0x07;
  } else {
    return false; /* continuation byte or overlong/out-of-range lead */
  }
  if (len - *i <= n) return false;
  for (size_t k = 1; k <= n; k++) {
    if ((p[*i + k] & 0xc0) != 0x80) return false;
    v = (v << 6) | (p[*i + k] & 0x3f);
  }
  if ((n == 2 && v < 0x800) || (n == 3 && (v < 0x10000 || v > 0x10ffff))) return false;
  if (v >= 0xd800 && v <= 0xdfff) return false; /* surrogates */
  *cp = v;
  *i += n + 1;
  return true;
}

bool custos__utf8_printable(const char *s, size_t len) {
  size_t i = 0;
  uint32_t cp;
  while (i < len) {
    if (!custos__utf8_next(s, len, &i, &cp)) return false;
    if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f)) return false; /* C0, DEL, C1 controls */
    if (cp == 0x2028 || cp == 0x2029) return false;            /* line and paragraph separators */
  }
  return true;
}

int custos__text_check(const char *s, const char *field, size_t max, bool may_be_empty,
                       custos_err *err) {
  if (s == NULL || s[0] == '\0') {
    if (may_be_empty) return CUSTOS_OK;
    return custos__err(err, CUSTOS_EINVAL, MOD, "%s: missing", field);
  }
  size_t len = strnlen(s, max + 1);
  if (len > max) {
    return custos__err(err, CUSTOS_EINVAL, MOD, "%s: longer than %zu bytes", field, max);
  }
  if (!custos__utf8_printable(s, len)) {
    return custos__err(err, CUSTOS_EINVAL, MOD,
                       "%s: not valid UTF-8 text (or holds control characters)", field);
  }
  return CUSTOS_OK;
}

static bool is_leap(int y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int custos__date_check(const char *s, const char *field, custos_err *err) {
  static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (s == NULL || s[0] == '\0') return custos__err(err, CUSTOS_EINVAL, MOD, "%s: missing", field);
  bool shape = strnlen(s, CUSTOS_DATE_LEN + 1) == CUSTOS_DATE_LEN && s[4] == '-' && s[7] == '-';
  for (int i = 0; shape && i < CUSTOS_DATE_LEN; i++) {
    if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9')) shape = false;
  }
  if (!shape) {
    return custos__err(err, CUSTOS_EINVAL, MOD, "%s: not a date of the form YYYY-MM-DD", field);
  }
  int y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
  int m = (s[5] - '0') * 10 + (s[6] - '0');
  int d = (s[8] - '0') * 10 + (s[9] - '0');
  if (y < 1800 || y > 2999) {
    return custos__err(err, CUSTOS_EINVAL, MOD, "%s: year %d outside 1800..2999", field, y);
  }
  if (m < 1 || m > 12) {
    return custos__err(err, CUSTOS_EINVAL, MOD, "%s: month %02d does not exist", field, m);
  }
  int last = mdays[m - 1] + (m == 2 && is_leap(y));
  if (d < 1 || d > last) {
    return custos__err(err, CUSTOS_EINVAL, MOD, "%s: day %02d does not exist in %04d-%02d", field,
                       d, y, m);
  }
  return CUSTOS_OK;
}

void custos__date_today(char out[CUSTOS_DATE_LEN + 1]) {
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(out, CUSTOS_DATE_LEN + 1, "%Y-%m-%d", &tm);
}

void custos__timestamp_now(char out[CUSTOS_TIMESTAMP_LEN + 1]) {
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(out, CUSTOS_TIMESTAMP_LEN + 1, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* A token field: 1..max bytes, each accepted by ok; rule says which in the
 * message (the value itself is never quoted). */
static int token_check(const char *s, const char *field, size_t max, bool (*ok)(char),
                       const char *rule, custos_err *err) {
  if (s == NULL || s[0] == '\0') return custos__err(err, CUSTOS_EINVAL, MOD, "%s: missing", field);
  size_t len = strnlen(s, max + 1);
  if (len > max) {
    return custos__err(err, CUSTOS_EINVAL, MOD, "%s: longer than %zu characters", field, max);
  }
  for (size_t i = 0; i < len; i++) {
    if (!ok(s[i])) return custos__err(err, CUSTOS_EINVAL, MOD, "%s: %s", field, rule);
  }
  return CUSTOS_OK;
}

static bool license_char(char c) {
  return c > 0x20 && c < 0x7f;
}

static bool model_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         (c != '\0' && strchr("._/@+-", c) != NULL);
}

/* A licence number: 1..CUSTOS_LICENSE_MAX printable ASCII characters, no spaces. */
static int license_check(const char *s, custos_err *err) {
  return token_check(s, "license_no", CUSTOS_LICENSE_MAX, license_char,
                     "only printable ASCII characters without spaces", err);
}

/* A model version: 1..CUSTOS_MODEL_MAX of [A-Za-z0-9._/@+-]. */
static int model_check(const char *s, custos_err *err) {
  return token_check(s, "model", CUSTOS_MODEL_MAX, model_char, "only A-Z a-z 0-9 . _ / @ + -", err);
}

static int holder_check(const custos__holder *h, custos_err *err) {
  int rc;
  if ((rc = license_check(h->license_no, err)) != CUSTOS_OK) return rc;
  if ((rc = custos__text_check(h->first_name, "first_name", CUSTOS_HOLDER_NAME_MAX, false, err)))
    return rc;
  if ((rc = custos__text_check(h->middle_name, "middle_name", CUSTOS_HOLDER_NAME_MAX, true, err)))
    return rc;
  if ((rc = custos__text_check(h->last_name, "last_name", CUSTOS_HOLDER_NAME_MAX, false, err)))
    return rc;
  return custos__date_check(h->dob, "dob", err);
}

/* ---- sensitive field names --------------------------------------------------- */

static const char *const sensitive_names[CUSTOS__SENS_COUNT] = {
#define CUSTOS__SENS_NAME_(id, name) name,
    CUSTOS__SENSITIVE_FIELDS(CUSTOS__SENS_NAME_)
#undef CUSTOS__SENS_NAME_
};

const char *custos__sensitive_field_name(custos__sensitive_field f) {
  if ((int)f < 0 || f >= CUSTOS__SENS_COUNT) return NULL;
  return sensitive_names[f];
}

int custos__sensitive_field_parse(const char *name, custos__sensitive_field *out, custos_err *err) {
  for (int i = 0; i < CUSTOS__SENS_COUNT; i++) {
    if (name != NULL && strcmp(name, sensitive_names[i]) == 0) {
      *out = (custos__sensitive_field)i;
      return CUSTOS_OK;
    }
  }
  /* The name comes from outside (a CSV header, a command line): bound it. */
  return custos__err(err, CUSTOS_EINVAL, MOD, "'%.64s' is not a sensitive field", name ? name : "");
}

/* ---- opening and schema -------------------------------------------------------- */

static bool is_postgres_url(const char *url) {
  return strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0;
}

int custos__store_open(const char *url, custos__store_open_mode mode, custos_store **out,
                       custos_err *err) {
  *out = NULL;
  if (url == NULL || url[0] == '\0') {
    return custos__err(err, CUSTOS_EINVAL, MOD, "no database given");
  }
  if (is_postgres_url(url)) {
    /* The connection string may hold a password: never echo it. */
    return custos__err(err, CUSTOS_EUNSUPPORTED, MOD,
                       "PostgreSQL databases are not supported by this build yet");
  }
  return custos__sqlite_open(url, mode, out, err);
}

void custos__store_close(custos_store *s) {
  if (s == NULL) return;
  s->ops->close(s, false);
}

void custos__store_close_and_remove(custos_store *s) {
  if (s == NULL) return;
  s->ops->close(s, true);
}

const char *custos__store_backend(const custos_store *s) {
  return s->ops->name;
}

int custos__store_schema_version(custos_store *s, int *version, custos_err *err) {
  *version = 0;
  return s->ops->schema_version(s, version, err);
}

static int newer_error(int have, int supported, custos_err *err) {
  return custos__err(err, CUSTOS_EVERSION, MOD,
                     "the database has schema version %d, newer than this custos supports (%d); "
                     "use the custos that wrote it or a newer one",
                     have, supported);
}

int custos__store_migrate(custos_store *s, int target, custos__migrate_cb after_step, void *ctx,
                          custos_err *err) {
  if (target < 1 || target > CUSTOS_SCHEMA_VERSION) {
    return custos__err(err, CUSTOS_EINVAL, MOD, "no schema version %d", target);
  }
  for (;;) {
    custos_txn *t = NULL;
    int rc = custos__store_begin(s, true, &t, err);
    if (rc != CUSTOS_OK) return rc;
    /* Read the version under the write lock: two processes migrating at once
     * take turns and the second finds nothing left to do. */
    int v = 0;
    rc = s->ops->schema_version(s, &v, err);
    if (rc == CUSTOS_OK && v > CUSTOS_SCHEMA_VERSION)
      rc = newer_error(v, CUSTOS_SCHEMA_VERSION, err);
    if (rc == CUSTOS_OK && v > target) {
      rc = custos__err(err, CUSTOS_EVERSION, MOD, "the database has schema version %d, above %d", v,
                       target);
    }
    if (rc != CUSTOS_OK || v == target) {
      custos__store_rollback(t);
      return rc;
    }
    rc = s->ops->migrate_step(t, v + 1, err);
    if (rc == CUSTOS_OK && after_step != NULL) rc = after_step(t, v + 1, ctx, err);
    if (rc != CUSTOS_OK) {
      custos__store_rollback(t);
      return rc;
    }
    rc = custos__store_commit(t, err);
    if (rc != CUSTOS_OK) return rc;
  }
}

static int txn_check(custos_txn *t, bool write, custos_err *err);

int custos__store_create_schema(custos_txn *t, custos_err *err) {
  int rc = txn_check(t, true, err);
  if (rc != CUSTOS_OK) return rc;
  int v = 0;
  if ((rc = t->store->ops->schema_version(t->store, &v, err))) return rc;
  if (v != 0) {
    return custos__err(err, CUSTOS_ECONFLICT, MOD, "the database already has a schema");
  }
  for (v = 1; v <= CUSTOS_SCHEMA_VERSION && rc == CUSTOS_OK; v++) {
    rc = t->store->ops->migrate_step(t, v, err);
  }
  return rc;
}

int custos__store_check_schema(custos_store *s, bool migrate, custos__migrate_cb after_step,
                               void *ctx, custos_err *err) {
  int v = 0;
  int rc = custos__store_schema_version(s, &v, err);
  if (rc != CUSTOS_OK) return rc;
  if (v == 0) {
    return custos__err(err, CUSTOS_ENOENT, MOD,
                       "the database is empty (an init that did not finish?); remove the file "
                       "and run 'custos init'");
  }
  if (v > CUSTOS_SCHEMA_VERSION) return newer_error(v, CUSTOS_SCHEMA_VERSION, err);
  if (v == CUSTOS_SCHEMA_VERSION) return CUSTOS_OK;
  if (!migrate) {
    return custos__err(err, CUSTOS_EVERSION, MOD,
                       "the database has schema version %d, older than this custos's %d", v,
                       CUSTOS_SCHEMA_VERSION);
  }
  return custos__store_migrate(s, CUSTOS_SCHEMA_VERSION, after_step, ctx, err);
}

/* ---- transactions ------------------------------------------------------------------ */

int custos__store_begin(custos_store *s, bool write, custos_txn **out, custos_err *err) {
  *out = NULL;
  if (s->open_txn != NULL) {
    return custos__err(err, CUSTOS_EINTERNAL, MOD, "a transaction is already open");
  }
  return s->ops->begin(s, write, out, err);
}

int custos__store_commit(custos_txn *t, custos_err *err) {
  if (t == NULL || t->store->open_txn != t) {
    return custos__err(err, CUSTOS_EINTERNAL, MOD, "commit without an open transaction");
  }
  return t->store->ops->commit(t, err);
}

void custos__store_rollback(custos_txn *t) {
  if (t == NULL || t->store->open_txn != t) return;
  t->store->ops->rollback(t);
}

/* Checks that t is its store's open transaction (and a write one when write). */
static int txn_check(custos_txn *t, bool write, custos_err *err) {
  if (t == NULL || t->store == NULL || t->store->open_txn != t) {
    return custos__err(err, CUSTOS_EINTERNAL, MOD, "no open transaction");
  }
  if (write && !t->write) {
    return custos__err(err, CUSTOS_EINTERNAL, MOD, "a write inside a read-only transaction");
  }
  return CUSTOS_OK;
}

#define OPS(t) ((t)->store->ops)

static int id_check(int64_t id, const char *what, custos_err *err) {
  if (id <= 0)
    return custos__err(err, CUSTOS_ENOENT, MOD, "%s %lld not found", what, (long long)id);
  return CUSTOS_OK;
}

/* ---- meta ---------------------------------------------------------------------------- */

static int meta_key_check(const char *key, custos_err *err) {
  return custos__text_check(key, "meta key", 64, false, err);
}

int custos__store_meta_get(custos_txn *t, const char *key, char *out, size_t cap, custos_err *err) {
  int rc;
  if ((rc = txn_check(t, false, err)) || (rc = meta_key_check(key, err))) return rc;
  if (cap == 0) return custos__err(err, CUSTOS_ETOOBIG, MOD, "meta %s: no room", key);
  out[0] = '\0';
  return OPS(t)->meta_get(t, key, out, cap, err);
}

int custos__store_meta_set(custos_txn *t, const char *key, const char *value, custos_err *err) {
  int rc;
  if ((rc = txn_check(t, true, err)) || (rc = meta_key_check(key, err))) return rc;
  if ((rc = custos__text_check(value, "meta value", CUSTOS_META_VALUE_MAX, true, err))) return rc;
  return OPS(t)->meta_set(t, key, value, err);
}

/* ---- holders ----------------------------------------------------------------------------- */

int custos__store_holder_add(custos_txn *t, const custos__holder *h, int64_t *id, custos_err *err) {
  int rc;
  *id = 0;
  if ((rc = txn_check(t, true, err)) || (rc = holder_check(h, err))) return rc;
  return OPS(t)->holder_add(t, h, id, err);
}

int custos__store_holder_get(custos_txn *t, int64_t id, custos__holder *out, custos_err *err) {
  int rc;
  memset(out, 0, sizeof *out);
  if ((rc = txn_check(t, false, err)) || (rc = id_check(id, "holder", err))) return rc;
  return OPS(t)->holder_get(t, id, NULL, out, err);
}

int custos__store_holder_find(custos_txn *t, const char *license_no, custos__holder *out,
                              custos_err *err) {
  int rc;
  memset(out, 0, sizeof *out);
  if ((rc = txn_check(t, false, err))) return rc;
  if (license_no == NULL || strnlen(license_no, CUSTOS_LICENSE_MAX + 1) > CUSTOS_LICENSE_MAX) {
    return custos__err(err, CUSTOS_ENOENT, MOD, "no holder with that licence number");
  }
  return OPS(t)->holder_get(t, 0, license_no, out, err);
}

int custos__store_holder_update(custos_txn *t, const custos__holder *h, custos_err *err) {
  int rc;
  if ((rc = txn_check(t, true, err)) || (rc = id_check(h->id, "holder", err)) ||
      (rc = holder_check(h, err)))
    return rc;
  return OPS(t)->holder_update(t, h, err);
}

int custos__store_holder_delete(custos_txn *t, int64_t id, custos_err *err) {
  int rc;
  if ((rc = txn_check(t, true, err)) || (rc = id_check(id, "holder", err))) return rc;
  return OPS(t)->holder_delete(t, id, err);
}

/* ---- sensitive fields --------------------------------------------------------------------- */

static int field_check(custos__sensitive_field f, custos_err *err) {
  if ((int)f < 0 || f >= CUSTOS__SENS_COUNT) {
    return custos__err(err, CUSTOS_EINVAL, MOD, "no sensitive field %d", (int)f);
  }
  return CUSTOS_OK;
}

int custos__store_sensitive_put(custos_txn *t, int64_t holder_id, const custos__sensitive_in *in,
                                custos_err *err) {
  int rc;
  if ((rc = txn_check(t, true, err)) || (rc = id_check(holder_id, "holder", err))) return rc;
  /* Check every value before writing any, so a bad one changes nothing.  The
   * messages name the field only (GOV-18: never a value in an error). */
  for (int f = 0; f < CUSTOS__SENS_COUNT; f++) {
    if (in->value[f] == NULL) continue;
    rc = custos__text_check(in->value[f], sensitive_names[f], CUSTOS_SENSITIVE_MAX, true, err);
    if (rc != CUSTOS_OK) return rc;
  }
  for (int f = 0; f < CUSTOS__SENS_COUNT; f++) {
    if (in->value[f] == NULL) continue;
    rc = OPS(t)->sensitive_put(t, holder_id, (custos__sensitive_field)f, in->value[f], err);
    if (rc != CUSTOS_OK) return rc;
  }
  return CUSTOS_OK;
}

int custos__store_sensitive_matches(custos_txn *t, int64_t holder_id, custos__sensitive_field f,
                                    const char *value, bool *match, custos_err *err) {
  int rc;
  *match = false;
  if ((rc = txn_check(t, false, err)) || (rc = field_check(f, err)) ||
      (rc = id_check(holder_id, "holder", err)))
    return rc;
  if (value != NULL && strnlen(value, CUSTOS_SENSITIVE_MAX + 1) > CUSTOS_SENSITIVE_MAX) {
    return CUSTOS_OK; /* longer than anything stored: no match */
  }
  return OPS(t)->sensitive_matches(t, holder_id, f, value, match, err);
}

int custos__store_sensitive_count(custos_txn *t, custos__sensitive_field f, int64_t *n,
                                  custos_err *err) {
  int rc;
  *n = 0;
  if ((rc = txn_check(t, false, err)) || (rc = field_check(f, err))) return rc;
  return OPS(t)->sensitive_count(t, f, n, err);
}

/* ---- photos ---------------------------------------------------------------------------------- */

int custos__store_photo_add(custos_txn *t, const custos__photo *p, int64_t *id, custos_err *err) {
  int rc;
  *id = 0;
  if ((rc = txn_check(t, true, err)) || (rc = id_check(p->holder_id, "holder", err))) return rc;
  if (p->captured[0] != '\0' && (rc = custos__date_check(p->captured, "captured", err))) return rc;
  if ((rc = custos__text_check(p->source, "source", CUSTOS_SOURCE_MAX, true, err))) return rc;
  return OPS(t)->photo_add(t, p, id, err);
}

int custos__store_photo_get(custos_txn *t, int64_t id, custos__photo *out, custos_err *err) {
  int rc;
  memset(out, 0, sizeof *out);
  if ((rc = txn_check(t, false, err)) || (rc = id_check(id, "photo", err))) return rc;
  return OPS(t)->photo_get(t, id, 0, NULL, out, err);
}

int custos__store_photo_find(custos_txn *t, int64_t holder_id, const uint8_t sha256[32],
                             custos__photo *out, custos_err *err) {
  int rc;
  memset(out, 0, sizeof *out);
  if ((rc = txn_check(t, false, err)) || (rc = id_check(holder_id, "holder", err))) return rc;
  return OPS(t)->photo_get(t, 0, holder_id, sha256, out, err);
}

/* ---- templates
 * ----------------------------------------------------------------------------------- */

int custos__store_template_put(custos_txn *t, int64_t photo_id, const char *model,
                               const float v[CUSTOS_TEMPLATE_DIM], custos_err *err) {
  int rc;
  if ((rc = txn_check(t, true, err)) || (rc = id_check(photo_id, "photo", err)) ||
      (rc = model_check(model, err)))
    return rc;
  for (int i = 0; i < CUSTOS_TEMPLATE_DIM; i++) {
    if (!isfinite(v[i])) {
      return custos__err(err, CUSTOS_EINVAL, MOD, "template value %d is not a finite number", i);
    }
  }
  return OPS(t)->template_put(t, photo_id, model, v, err);
}

int custos__store_template_get(custos_txn *t, int64_t photo_id, const char *model,
                               float v[CUSTOS_TEMPLATE_DIM], custos_err *err) {
  int rc;
  if ((rc = txn_check(t, false, err)) || (rc = id_check(photo_id, "photo", err)) ||
      (rc = model_check(model, err)))
    return rc;
  return OPS(t)->template_get(t, photo_id, model, v, err);
}

int custos__store_template_foreach(custos_txn *t, const char *model, custos__template_cb cb,
                                   void *ctx, custos_err *err) {
  int rc;
  if ((rc = txn_check(t, false, err))) return rc;
  if (model != NULL && (rc = model_check(model, err))) return rc;
  return OPS(t)->template_foreach(t, model, cb, ctx, err);
}

int custos__store_template_count(custos_txn *t, const char *model, int64_t *n, custos_err *err) {
  int rc;
  *n = 0;
  if ((rc = txn_check(t, false, err))) return rc;
  if (model != NULL && (rc = model_check(model, err))) return rc;
  return OPS(t)->template_count(t, model, n, err);
}

int custos__store_template_generation(custos_txn *t, int64_t *gen, custos_err *err) {
  char buf[32];
  *gen = 0;
  int rc = custos__store_meta_get(t, "templates_generation", buf, sizeof buf, err);
  if (rc != CUSTOS_OK) return rc;
  char *end = NULL;
  long long v = strtoll(buf, &end, 10);
  if (end == buf || *end != '\0' || v < 0) {
    return custos__err(err, CUSTOS_ECORRUPT, MOD, "meta templates_generation is not a number");
  }
  *gen = (int64_t)v;
  return CUSTOS_OK;
}

/* ---- users
 * -------------------------------------------------------------------------------------------- */

int custos__store_user_add(custos_txn *t, const custos__user *u, int64_t *id, custos_err *err) {
  int rc;
  *id = 0;
  if ((rc = txn_check(t, true, err))) return rc;
  if ((rc = custos__text_check(u->name, "name", CUSTOS_USER_NAME_MAX, false, err))) return rc;
  if ((rc = custos__text_check(u->role, "role", sizeof u->role - 1, false, err))) return rc;
  if ((rc = custos__text_check(u->pwhash, "password hash", CUSTOS_PWHASH_MAX, false, err)))
    return rc;
  if (u->trained_until[0] != '\0' &&
      (rc = custos__date_check(u->trained_until, "trained_until", err)))
    return rc;
  if ((rc = custos__text_check(u->created, "created", CUSTOS_TIMESTAMP_LEN, false, err))) return rc;
  return OPS(t)->user_add(t, u, id, err);
}

int custos__store_user_get(custos_txn *t, const char *name, custos__user *out, custos_err *err) {
  int rc;
  memset(out, 0, sizeof *out);
  if ((rc = txn_check(t, false, err))) return rc;
  if (name == NULL || strnlen(name, CUSTOS_USER_NAME_MAX + 1) > CUSTOS_USER_NAME_MAX) {
    return custos__err(err, CUSTOS_ENOENT, MOD, "no such user");
  }
  return OPS(t)->user_get(t, name, out, err);
}

int custos__store_user_foreach(custos_txn *t, custos__user_cb cb, void *ctx, custos_err *err) {
  int rc;
  if ((rc = txn_check(t, false, err))) return rc;
  return OPS(t)->user_foreach(t, cb, ctx, err);
}

int custos__store_user_login_failed(custos_txn *t, int64_t id, int max_failed, bool *locked,
                                    custos_err *err) {
  int rc;
  bool dummy;
  if (locked == NULL) locked = &dummy;
  *locked = false;
  if ((rc = txn_check(t, true, err)) || (rc = id_check(id, "user", err))) return rc;
  if (max_failed < 1) return custos__err(err, CUSTOS_EINVAL, MOD, "max_failed must be >= 1");
  return OPS(t)->user_login_failed(t, id, max_failed, locked, err);
}

int custos__store_user_login_ok(custos_txn *t, int64_t id, const char *new_pwhash,
                                custos_err *err) {
  int rc;
  if ((rc = txn_check(t, true, err)) || (rc = id_check(id, "user", err))) return rc;
  if (new_pwhash != NULL &&
      (rc = custos__text_check(new_pwhash, "password hash", CUSTOS_PWHASH_MAX, false, err)))
    return rc;
  return OPS(t)->user_login_ok(t, id, new_pwhash, err);
}

int custos__store_user_unlock(custos_txn *t, int64_t id, custos_err *err) {
  int rc;
  if ((rc = txn_check(t, true, err)) || (rc = id_check(id, "user", err))) return rc;
  return OPS(t)->user_unlock(t, id, err);
}

int custos__store_user_set_training(custos_txn *t, int64_t id, const char *until, custos_err *err) {
  int rc;
  if ((rc = txn_check(t, true, err)) || (rc = id_check(id, "user", err))) return rc;
  if (until != NULL && until[0] == '\0') until = NULL;
  if (until != NULL && (rc = custos__date_check(until, "trained_until", err))) return rc;
  return OPS(t)->user_set_training(t, id, until, err);
}

/* ---- the audit log's rows
 * ------------------------------------------------------------------------------ */

static int audit_idx_check(int64_t idx, const char *what, custos_err *err) {
  if (idx < 0) return custos__err(err, CUSTOS_EINVAL, MOD, "%s: negative index", what);
  return CUSTOS_OK;
}

/* A blob of min..max bytes. */
static int audit_len_check(const void *p, size_t len, size_t min, size_t max, const char *what,
                           custos_err *err) {
  if ((p == NULL && len > 0) || len < min || len > max) {
    return custos__err(err, CUSTOS_EINVAL, MOD, "%s: %zu bytes, expected %zu..%zu", what, len, min,
                       max);
  }
  return CUSTOS_OK;
}

int custos__store_audit_head_get(custos_txn *t, uint8_t *out, size_t cap, size_t *len,
                                 custos_err *err) {
  int rc;
  *len = 0;
  if ((rc = txn_check(t, false, err))) return rc;
  return OPS(t)->audit_head_get(t, out, cap, len, err);
}

int custos__store_audit_head_put(custos_txn *t, const uint8_t *blob, size_t len, custos_err *err) {
  int rc;
  if ((rc = txn_check(t, true, err)) ||
      (rc = audit_len_check(blob, len, 8, CUSTOS_STORE_AUDIT_HEAD_MAX, "audit head", err)))
    return rc;
  return OPS(t)->audit_head_put(t, blob, len, err);
}

int custos__store_audit_entry_add(custos_txn *t, int64_t idx, const void *data, size_t len,
                                  const uint8_t leaf[32], custos_err *err) {
  int rc;
  if ((rc = txn_check(t, true, err)) || (rc = audit_idx_check(idx, "audit entry", err)) ||
      (rc = audit_len_check(data, len, 1, CUSTOS_STORE_AUDIT_ENTRY_MAX, "audit entry", err)))
    return rc;
  return OPS(t)->audit_entry_add(t, idx, data, len, leaf, err);
}

int custos__store_audit_entry_get(custos_txn *t, int64_t idx, custos_buf *out, custos_err *err) {
  int rc;
  custos__buf_reset(out);
  if ((rc = txn_check(t, false, err)) || (rc = audit_idx_check(idx, "audit entry", err))) return rc;
  return OPS(t)->audit_entry_get(t, idx, out, err);
}

int custos__store_audit_entry_scan(custos_txn *t, int64_t first, custos__audit_entry_cb cb,
                                   void *ctx, custos_err *err) {
  int rc;
  if ((rc = txn_check(t, false, err)) || (rc = audit_idx_check(first, "audit entry", err)))
    return rc;
  return OPS(t)->audit_entry_scan(t, first, cb, ctx, err);
}

int custos__store_audit_entry_count(custos_txn *t, int64_t *n, custos_err *err) {
  int rc;
  *n = 0;
  if ((rc = txn_check(t, false, err))) return rc;
  return OPS(t)->audit_entry_count(t, n, err);
}

static int audit_level_check(int level, int min, custos_err *err) {
  if (level < min || level >= CUSTOS_STORE_AUDIT_LEVELS) {
    return custos__err(err, CUSTOS_EINVAL, MOD, "audit node: level %d outside %d..%d", level, min,
                       CUSTOS_STORE_AUDIT_LEVELS - 1);
  }
  return CUSTOS_OK;
}

int custos__store_audit_node_put(custos_txn *t, int level, int64_t idx, const uint8_t hash[32],
                                 custos_err *err) {
  int rc;
  if ((rc = txn_check(t, true, err)) || (rc = audit_level_check(level, 1, err)) ||
      (rc = audit_idx_check(idx, "audit node", err)))
    return rc;
  return OPS(t)->audit_node_put(t, level, idx, hash, err);
}

int custos__store_audit_node_get(custos_txn *t, int level, int64_t idx, uint8_t hash[32],
                                 custos_err *err) {
  int rc;
  if ((rc = txn_check(t, false, err)) || (rc = audit_level_check(level, 0, err)) ||
      (rc = audit_idx_check(idx, "audit node", err)))
    return rc;
  return OPS(t)->audit_node_get(t, level, idx, hash, err);
}

int custos__store_audit_checkpoint_add(custos_txn *t, int64_t size, const char *note, size_t len,
                                       custos_err *err) {
  int rc;
  if ((rc = txn_check(t, true, err)) || (rc = audit_idx_check(size, "audit checkpoint", err)) ||
      (rc = audit_len_check(note, len, 1, CUSTOS_STORE_AUDIT_NOTE_MAX, "audit checkpoint", err)))
    return rc;
  return OPS(t)->audit_checkpoint_add(t, size, note, len, err);
}

int custos__store_audit_checkpoint_count(custos_txn *t, int64_t *n, custos_err *err) {
  int rc;
  *n = 0;
  if ((rc = txn_check(t, false, err))) return rc;
  return OPS(t)->audit_checkpoint_count(t, n, err);
}

int custos__store_audit_checkpoint_get(custos_txn *t, int64_t i, custos_buf *out, custos_err *err) {
  int rc;
  custos__buf_reset(out);
  if ((rc = txn_check(t, false, err)) || (rc = audit_idx_check(i, "audit checkpoint", err)))
    return rc;
  return OPS(t)->audit_checkpoint_get(t, i, out, err);
}

/* ---- counts
 * ---------------------------------------------------------------------------------------------- */

int custos__store_count(custos_txn *t, custos__store_table table, int64_t *n, custos_err *err) {
  int rc;
  *n = 0;
  if ((rc = txn_check(t, false, err))) return rc;
  if ((int)table < 0 || table >= CUSTOS__T_COUNT) {
    return custos__err(err, CUSTOS_EINVAL, MOD, "no table %d", (int)table);
  }
  return OPS(t)->count(t, table, n, err);
}

/* ---- the import: erasing a field, de-duplication cases
 * ------------------------------------------------------------ */

int custos__store_sensitive_purge(custos_txn *t, custos__sensitive_field f, int64_t *n,
                                  custos_err *err) {
  int rc;
  *n = 0;
  if ((rc = txn_check(t, true, err)) || (rc = field_check(f, err))) return rc;
  return OPS(t)->sensitive_purge(t, f, n, err);
}

int custos__store_compact(custos_store *s, custos_err *err) {
  if (s->open_txn != NULL) {
    return custos__err(err, CUSTOS_EINTERNAL, MOD, "compaction inside a transaction");
  }
  return s->ops->compact(s, err);
}

int custos__store_dedup_case_add(custos_txn *t, const custos__dedup_case *c, int64_t *id,
                                 custos_err *err) {
  int rc;
  *id = 0;
  if ((rc = txn_check(t, true, err)) || (rc = id_check(c->holder_a, "holder", err)) ||
      (rc = id_check(c->holder_b, "holder", err)) || (rc = id_check(c->photo_a, "photo", err)) ||
      (rc = id_check(c->photo_b, "photo", err)))
    return rc;
  if (c->holder_a == c->holder_b) {
    return custos__err(err, CUSTOS_EINVAL, MOD, "a duplicate case names the same holder twice");
  }
  if (!isfinite(c->distance) || c->distance < 0) {
    return custos__err(err, CUSTOS_EINVAL, MOD, "a duplicate case's distance is not >= 0");
  }
  if ((rc = custos__text_check(c->created, "created", CUSTOS_TIMESTAMP_LEN, false, err))) return rc;
  return OPS(t)->dedup_case_add(t, c, id, err);
}

int custos__store_dedup_case_open_exists(custos_txn *t, int64_t a, int64_t b, bool *exists,
                                         custos_err *err) {
  int rc;
  *exists = false;
  if ((rc = txn_check(t, false, err))) return rc;
  return OPS(t)->dedup_case_open_exists(t, a, b, exists, err);
}

int custos__store_dedup_case_count(custos_txn *t, bool open_only, int64_t *n, custos_err *err) {
  int rc;
  *n = 0;
  if ((rc = txn_check(t, false, err))) return rc;
  return OPS(t)->dedup_case_count(t, open_only, n, err);
}

int custos__store_dedup_case_foreach(custos_txn *t, custos__dedup_case_cb cb, void *ctx,
                                     custos_err *err) {
  int rc;
  if ((rc = txn_check(t, false, err))) return rc;
  return OPS(t)->dedup_case_foreach(t, cb, ctx, err);
}

/* ---- request cases ------------------------------------------------------------------ */

static int case_row_check(const custos__case_row *c, custos_err *err) {
  int rc;
  if ((rc = custos__text_check(c->state, "case.state", CUSTOS_CASE_STATE_MAX, false, err))) return rc;
  if ((rc = custos__date_check(c->received, "case.received", err))) return rc;
  if ((rc = custos__text_check(c->created, "case.created", CUSTOS_TIMESTAMP_LEN, false, err)))
    return rc;
  if ((rc = custos__text_check(c->closed, "case.closed", CUSTOS_TIMESTAMP_LEN, true, err)))
    return rc;
  if (c->record == NULL || strlen(c->record) > CUSTOS_CASE_RECORD_MAX) {
    return custos__err(err, CUSTOS_EINVAL, MOD, "case.record: missing or too long");
  }
  return CUSTOS_OK;
}

int custos__store_case_add(custos_txn *t, const custos__case_row *c, const void *probe,
                           size_t probe_len, const void *doc, size_t doc_len, int64_t *id,
                           custos_err *err) {
  int rc;
  *id = 0;
  if ((rc = txn_check(t, true, err)) || (rc = case_row_check(c, err))) return rc;
  if (probe_len > INT32_MAX || doc_len > INT32_MAX) {
    return custos__err(err, CUSTOS_ETOOBIG, MOD, "case: a document is too large");
  }
  return OPS(t)->case_add(t, c, probe, probe_len, doc, doc_len, id, err);
}

int custos__store_case_get(custos_txn *t, int64_t id, custos__case_row *out, custos_buf *record,
                           custos_err *err) {
  int rc;
  memset(out, 0, sizeof *out);
  if ((rc = txn_check(t, false, err)) || (rc = id_check(id, "case", err))) return rc;
  custos__buf_reset(record);
  return OPS(t)->case_get(t, id, out, record, err);
}

int custos__store_case_update(custos_txn *t, const custos__case_row *c, custos_err *err) {
  int rc;
  if ((rc = txn_check(t, true, err)) || (rc = id_check(c->id, "case", err)) ||
      (rc = case_row_check(c, err)))
    return rc;
  return OPS(t)->case_update(t, c, err);
}

int custos__store_case_foreach(custos_txn *t, custos__case_cb cb, void *ctx, custos_err *err) {
  int rc;
  if ((rc = txn_check(t, false, err))) return rc;
  return OPS(t)->case_foreach(t, cb, ctx, err);
}

int custos__store_case_blob_get(custos_txn *t, int64_t id, bool probe, custos_buf *out,
                                custos_err *err) {
  int rc;
  if ((rc = txn_check(t, false, err)) || (rc = id_check(id, "case", err))) return rc;
  custos__buf_reset(out);
  return OPS(t)->case_blob_get(t, id, probe, out, err);
}

int custos__store_case_purge_probe(custos_txn *t, int64_t id, custos_err *err) {
  int rc;
  if ((rc = txn_check(t, true, err)) || (rc = id_check(id, "case", err))) return rc;
  return OPS(t)->case_purge_probe(t, id, err);
}
