/*
 * Audit entries (GOV-20): who did what, when, in which case, for which
 * reasons, on which documents — and nothing else (GOV-18).
 *
 * An entry is encoded as canonical JSON: members in byte order of their keys,
 * no whitespace, integers in shortest decimal, strings drawn from alphabets
 * that need no escaping.  So one entry has exactly one encoding, and decoding
 * can check canonicity by encoding again and comparing bytes.
 *
 *   member   type                     rule
 *   action   string                   dotted lowercase words, 1..48 bytes: "case.review"
 *   actor    string                   [A-Za-z0-9._@:-], 1..64 bytes: "mjones", "system"
 *   case     string, optional         [A-Za-z0-9._:-], 1..64 bytes, first alphanumeric
 *   detail   object, optional         keys from DETAIL_KEYS below, values typed by key
 *   hashes   object, optional         name [a-z][a-z0-9_]* (1..32) -> 64 lowercase hex
 *   reasons  array, optional          sorted, distinct [A-Z][A-Z0-9_]* (1..48)
 *   seq      integer                  the leaf index, from 0
 *   time     string                   "YYYY-MM-DDTHH:MM:SSZ", UTC
 *   v        integer                  1
 *
 * Optional members are left out when empty.  There is no free-text member:
 * `detail` is the only open-ended part, and a detail key must be in the
 * table, its value short and of the key's type (an enumerated word, a number,
 * a version, an opaque record id).  A value with a space, a name or a
 * sentence does not fit any type, which is how a redacted value (GOV-18) is
 * kept out by construction rather than by review.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "util/json.h"

#define MOD "audit"

/* ---- time ----------------------------------------------------------------- */

#define TIME_MAX 253402300799LL /* 9999-12-31T23:59:59Z */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = (unsigned)(y - era * 400);
  unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  unsigned doe = (unsigned)(z - era * 146097);
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

int custos_audit_time_format(int64_t t, char *out, size_t cap) {
  if (t < 0 || t > TIME_MAX || cap < CUSTOS_AUDIT_TIME_LEN + 1) return CUSTOS_EINVAL;
  int64_t days = t / 86400, secs = t % 86400, y;
  unsigned m, d;
  civil_from_days(days, &y, &m, &d);
  snprintf(out, cap, "%04d-%02u-%02uT%02d:%02d:%02dZ", (int)y, m, d, (int)(secs / 3600),
           (int)(secs / 60 % 60), (int)(secs % 60));
  return CUSTOS_OK;
}

static bool digits(const char *s, size_t n, unsigned *out) {
  unsigned v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (unsigned)(s[i] - '0');
  }
  *out = v;
  return true;
}

int custos_audit_time_parse(const char *s, size_t len, int64_t *t) {
  static const unsigned mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  unsigned y, mo, d, h, mi, se;
  if (len != CUSTOS_AUDIT_TIME_LEN || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
      s[16] != ':' || s[19] != 'Z' || !digits(s, 4, &y) || !digits(s + 5, 2, &mo) ||
      !digits(s + 8, 2, &d) || !digits(s + 11, 2, &h) || !digits(s + 14, 2, &mi) ||
      !digits(s + 17, 2, &se)) {
    return CUSTOS_EINVAL;
  }
  if (y < 1970 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || se > 59) return CUSTOS_EINVAL;
  bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  unsigned dim = mdays[mo - 1] + (mo == 2 && leap ? 1u : 0u);
  if (d > dim) return CUSTOS_EINVAL;
  *t = days_from_civil(y, mo, d) * 86400 + (int64_t)(h * 3600 + mi * 60 + se);
  return CUSTOS_OK;
}

/* ---- alphabets -------------------------------------------------------------- */

static bool is_lower(char c) {
  return c >= 'a' && c <= 'z';
}
static bool is_upper(char c) {
  return c >= 'A' && c <= 'Z';
}
static bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
static bool is_alnum(char c) {
  return is_lower(c) || is_upper(c) || is_digit(c);
}

static bool valid_actor(const char *s, size_t n) {
  if (n == 0 || n > CUSTOS_AUDIT_ACTOR_MAX) return false;
  for (size_t i = 0; i < n; i++) {
    if (!is_alnum(s[i]) && !strchr("._@:-", s[i])) return false;
  }
  return true;
}

/* Dotted words: [a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)* */
static bool valid_action(const char *s, size_t n) {
  if (n == 0 || n > CUSTOS_AUDIT_ACTION_MAX) return false;
  bool word_start = true;
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (word_start) {
      if (!is_lower(c)) return false;
      word_start = false;
    } else if (c == '.') {
      word_start = true;
    } else if (!is_lower(c) && !is_digit(c) && c != '_') {
      return false;
    }
  }
  return !word_start;
}

/* An opaque id: first alphanumeric, then [A-Za-z0-9._:-]. */
static bool valid_id(const char *s, size_t n, size_t max) {
  if (n == 0 || n > max || !is_alnum(s[0])) return false;
  for (size_t i = 1; i < n; i++) {
    if (!is_alnum(s[i]) && !strchr("._:-", s[i])) return false;
  }
  return true;
}

static bool valid_reason(const char *s, size_t n) {
  if (n == 0 || n > CUSTOS_AUDIT_REASON_MAX || !is_upper(s[0])) return false;
  for (size_t i = 1; i < n; i++) {
    if (!is_upper(s[i]) && !is_digit(s[i]) && s[i] != '_') return false;
  }
  return true;
}

/* [a-z][a-z0-9_]* of at most max bytes. */
static bool valid_word(const char *s, size_t n, size_t max) {
  if (n == 0 || n > max || !is_lower(s[0])) return false;
  for (size_t i = 1; i < n; i++) {
    if (!is_lower(s[i]) && !is_digit(s[i]) && s[i] != '_') return false;
  }
  return true;
}

/* GOV-18: the SHA-256 of a short value is as good as the value (it can be
 * found by trying them all), so a hash may not be named after a redacted
 * field.  Documents and images are what hashes are for. */
static const char *const REDACTED_NAMES[] = {
    "ssn",
    "social_security_number",
    "mother_maiden_name",
    "mothers_maiden_name",
    "birthplace",
    "place_of_birth",
    "twin_indicator",
    "triplet_indicator",
    "twin_triplet",
    "voter_indicator",
    "testing",
    "testing_information",
    "identity_documents",
    "previous_licence",
    "previous_license",
    "parental_id",
    "parental_id_document",
    "score",
    "scores",
};

static bool redacted_name(const char *s) {
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(REDACTED_NAMES); i++) {
    if (strcmp(s, REDACTED_NAMES[i]) == 0) return true;
  }
  return false;
}

/* ---- the detail table -------------------------------------------------------- */

typedef enum dtype {
  D_ENUM,    /* one of the words listed */
  D_UINT,    /* decimal without leading zeros, fits 64 bits */
  D_DECIMAL, /* -?(0|[1-9][0-9]*)(\.[0-9]+)?, at most 24 bytes */
  D_VERSION, /* [A-Za-z0-9][A-Za-z0-9._+-]*, at most 64 bytes */
  D_ID,      /* an opaque record id, as for case ids */
  D_FIELD,   /* a field name [a-z][a-z0-9_]*, at most 32 bytes (never its value) */
  D_DATE     /* a calendar date YYYY-MM-DD (1970..9999), or "none" */
} dtype;

typedef struct detail_key {
  const char *key;   /* the key */
  dtype type;        /* what its value may be */
  const char *words; /* D_ENUM: the allowed words, space-separated */
} detail_key;

/* GOV-18: the closed list of detail keys.  A new kind of detail is one row
 * here and one line in docs/audit.md. */
static const detail_key DETAIL_KEYS[] = {
    {"agency_level", D_ENUM, "federal state local tribal out_of_state foreign"},
    {"algorithm", D_VERSION, NULL},    /* GOV-14 */
    {"candidates", D_UINT, NULL},      /* GOV-14: list size */
    {"checkpoint_size", D_UINT, NULL}, /* GOV-14, GOV-22: checkpoint a result refers to */
    {"count", D_UINT, NULL},
    {"decision", D_ENUM, "approve reject"}, /* GOV-10 */
    {"field", D_FIELD, NULL},               /* GOV-19: a field's name */
    {"format", D_VERSION, NULL},
    {"gallery_size", D_UINT, NULL},                                       /* GOV-14 */
    {"immigration_related", D_ENUM, "yes no"},                            /* GOV-10 */
    {"mark", D_ENUM, "possible_match none"},                              /* GOV-15 */
    {"model", D_VERSION, NULL},                                           /* GOV-14 */
    {"outcome", D_ENUM, "possible_match no_identification inconclusive"}, /* GOV-15 */
    {"policy_version", D_VERSION, NULL},
    {"record", D_ID, NULL},                                     /* holder-record reads */
    {"response", D_ENUM, "no_identification limited_identity"}, /* GOV-17 */
    {"role", D_ENUM, "admin intake manager governor legal examiner auditor"}, /* user changes */
    {"rows", D_UINT, NULL},
    {"rows_failed", D_UINT, NULL},
    {"schema_version", D_UINT, NULL},                   /* schema migrations */
    {"stage", D_ENUM, "intake legal manager governor"}, /* GOV-10, GOV-11 */
    {"target_user", D_ID, NULL},                        /* user changes */
    {"threshold", D_DECIMAL, NULL},                     /* GOV-14, GOV-16 */
    {"trained_until", D_DATE, NULL},                    /* GOV-13: training certification */
    {"tree_size", D_UINT, NULL},
};

static const detail_key *find_detail_key(const char *k) {
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(DETAIL_KEYS); i++) {
    if (strcmp(DETAIL_KEYS[i].key, k) == 0) return &DETAIL_KEYS[i];
  }
  return NULL;
}

static bool in_words(const char *words, const char *v, size_t n) {
  const char *p = words;
  while (*p) {
    const char *e = strchr(p, ' ');
    size_t wl = e ? (size_t)(e - p) : strlen(p);
    if (wl == n && memcmp(p, v, n) == 0) return true;
    if (!e) break;
    p = e + 1;
  }
  return false;
}

static bool valid_uint(const char *s, size_t n) {
  if (n == 0 || n > 20 || (s[0] == '0' && n > 1)) return false;
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (!is_digit(s[i])) return false;
    unsigned dgt = (unsigned)(s[i] - '0');
    if (v > (UINT64_MAX - dgt) / 10) return false;
    v = v * 10 + dgt;
  }
  return true;
}

static bool valid_decimal(const char *s, size_t n) {
  if (n == 0 || n > 24) return false;
  size_t i = 0;
  if (s[i] == '-') i++;
  if (i >= n || !is_digit(s[i])) return false;
  if (s[i] == '0' && i + 1 < n && is_digit(s[i + 1])) return false;
  while (i < n && is_digit(s[i])) i++;
  if (i == n) return true;
  if (s[i++] != '.' || i == n) return false;
  for (; i < n; i++) {
    if (!is_digit(s[i])) return false;
  }
  return true;
}

static bool valid_version(const char *s, size_t n) {
  if (n == 0 || n > CUSTOS_AUDIT_VALUE_MAX || !is_alnum(s[0])) return false;
  for (size_t i = 1; i < n; i++) {
    if (!is_alnum(s[i]) && !strchr("._+-", s[i])) return false;
  }
  return true;
}

static bool valid_date(const char *s, size_t n) {
  if (n == 4 && memcmp(s, "none", 4) == 0) return true;
  char t[CUSTOS_AUDIT_TIME_LEN + 1];
  int64_t ignored;
  if (n != 10) return false;
  memcpy(t, s, 10);
  memcpy(t + 10, "T00:00:00Z", 11);
  return custos_audit_time_parse(t, CUSTOS_AUDIT_TIME_LEN, &ignored) == CUSTOS_OK;
}

static bool valid_detail_value(const detail_key *k, const char *v, size_t n) {
  switch (k->type) {
    case D_ENUM:
      return in_words(k->words, v, n);
    case D_UINT:
      return valid_uint(v, n);
    case D_DECIMAL:
      return valid_decimal(v, n);
    case D_VERSION:
      return valid_version(v, n);
    case D_ID:
      return valid_id(v, n, CUSTOS_AUDIT_VALUE_MAX);
    case D_FIELD:
      return valid_word(v, n, CUSTOS_AUDIT_NAME_MAX);
    case D_DATE:
      return valid_date(v, n);
  }
  return false;
}

static const char *dtype_text(const detail_key *k) {
  switch (k->type) {
    case D_ENUM:
      return "one of the listed words";
    case D_UINT:
      return "a decimal integer without leading zeros";
    case D_DECIMAL:
      return "a decimal number";
    case D_VERSION:
      return "a version ([A-Za-z0-9._+-], at most 64 bytes)";
    case D_ID:
      return "an id ([A-Za-z0-9._:-], at most 64 bytes)";
    case D_FIELD:
      return "a field name ([a-z0-9_], at most 32 bytes)";
    case D_DATE:
      return "a date YYYY-MM-DD or none";
  }
  return "?";
}

/* ---- encoding --------------------------------------------------------------- */

/* A bounded writer into caller memory. */
typedef struct writer {
  char *p;    /* output */
  size_t cap; /* bytes available, including the NUL */
  size_t len; /* bytes written */
  bool full;  /* an append did not fit */
} writer;

static void put(writer *w, const char *s, size_t n) {
  if (w->full || n >= w->cap - w->len) {
    w->full = true;
    return;
  }
  memcpy(w->p + w->len, s, n);
  w->len += n;
  w->p[w->len] = '\0';
}

static void puts_(writer *w, const char *s) {
  put(w, s, strlen(s));
}

/* "s" — every string reaching here passed a check that excludes '"', '\\'
 * and control characters, so no escaping is ever needed. */
static void put_str(writer *w, const char *s) {
  put(w, "\"", 1);
  puts_(w, s);
  put(w, "\"", 1);
}

static void put_u64(writer *w, uint64_t v) {
  char tmp[24];
  snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
  puts_(w, tmp);
}

/* Sorts idx[0..n) by keys[idx[i]] (insertion sort; n <= 16), returning false
 * on a duplicate. */
static bool sort_unique(const char *const *keys, size_t *idx, size_t n) {
  for (size_t i = 0; i < n; i++) idx[i] = i;
  for (size_t i = 1; i < n; i++) {
    size_t x = idx[i], j = i;
    while (j > 0 && strcmp(keys[idx[j - 1]], keys[x]) > 0) {
      idx[j] = idx[j - 1];
      j--;
    }
    idx[j] = x;
  }
  for (size_t i = 1; i < n; i++) {
    if (strcmp(keys[idx[i - 1]], keys[idx[i]]) == 0) return false;
  }
  return true;
}

/* bad(err, fmt, ...): CUSTOS_EINVAL with a message naming the part at fault. */
#define bad(err, ...) custos__err((err), CUSTOS_EINVAL, MOD, __VA_ARGS__)

/* Checks every field of e; the message names the field, never its value
 * (a rejected value might be exactly what must not be logged). */
static int check_entry(const custos_audit_entry *e, custos_err *err) {
  if (e->time < 0 || e->time > TIME_MAX) return bad(err, "entry.time: outside 1970..9999");
  if (e->actor == NULL || !valid_actor(e->actor, strlen(e->actor))) {
    return bad(err, "entry.actor: expected 1..%d characters of [A-Za-z0-9._@:-]",
               CUSTOS_AUDIT_ACTOR_MAX);
  }
  if (e->action == NULL || !valid_action(e->action, strlen(e->action))) {
    return bad(err, "entry.action: expected dotted lowercase words, at most %d bytes",
               CUSTOS_AUDIT_ACTION_MAX);
  }
  if (e->case_id && !valid_id(e->case_id, strlen(e->case_id), CUSTOS_AUDIT_CASE_MAX)) {
    return bad(err, "entry.case: expected 1..%d characters of [A-Za-z0-9._:-]",
               CUSTOS_AUDIT_CASE_MAX);
  }
  if (e->n_reasons > CUSTOS_AUDIT_MAX_REASONS) {
    return bad(err, "entry.reasons: %zu codes, more than %d", e->n_reasons,
               CUSTOS_AUDIT_MAX_REASONS);
  }
  if (e->n_reasons && e->reasons == NULL) return bad(err, "entry.reasons: missing");
  for (size_t i = 0; i < e->n_reasons; i++) {
    if (e->reasons[i] == NULL || !valid_reason(e->reasons[i], strlen(e->reasons[i]))) {
      return bad(err, "entry.reasons[%zu]: expected a reason code [A-Z][A-Z0-9_]*", i);
    }
  }
  if (e->n_hashes > CUSTOS_AUDIT_MAX_HASHES) {
    return bad(err, "entry.hashes: %zu hashes, more than %d", e->n_hashes, CUSTOS_AUDIT_MAX_HASHES);
  }
  if (e->n_hashes && e->hashes == NULL) return bad(err, "entry.hashes: missing");
  for (size_t i = 0; i < e->n_hashes; i++) {
    const char *nm = e->hashes[i].name;
    if (nm == NULL || !valid_word(nm, strlen(nm), CUSTOS_AUDIT_NAME_MAX)) {
      return bad(err, "entry.hashes[%zu]: name must be [a-z][a-z0-9_]*, at most %d bytes", i,
                 CUSTOS_AUDIT_NAME_MAX);
    }
    if (redacted_name(nm)) { /* GOV-18 */
      return bad(err, "entry.hashes.%s: a redacted field may not be logged, not even hashed", nm);
    }
  }
  if (e->n_detail > CUSTOS_AUDIT_MAX_DETAIL) {
    return bad(err, "entry.detail: %zu pairs, more than %d", e->n_detail, CUSTOS_AUDIT_MAX_DETAIL);
  }
  if (e->n_detail && e->detail == NULL) return bad(err, "entry.detail: missing");
  for (size_t i = 0; i < e->n_detail; i++) {
    const char *k = e->detail[i].key, *v = e->detail[i].value;
    /* GOV-18: only keys of the table, only values of the key's type. */
    const detail_key *dk =
        k && valid_word(k, strlen(k), CUSTOS_AUDIT_NAME_MAX) ? find_detail_key(k) : NULL;
    if (dk == NULL) {
      if (k && valid_word(k, strlen(k), CUSTOS_AUDIT_NAME_MAX)) {
        return bad(err, "entry.detail.%s: not a detail key (see docs/audit.md)", k);
      }
      return bad(err, "entry.detail[%zu]: not a detail key (see docs/audit.md)", i);
    }
    if (v == NULL || !valid_detail_value(dk, v, strlen(v))) {
      return bad(err, "entry.detail.%s: expected %s", dk->key, dtype_text(dk));
    }
  }
  return CUSTOS_OK;
}

int custos_audit_entry_encode(const custos_audit_entry *e, char *out, size_t cap, size_t *len,
                              custos_err *err) {
  if (e == NULL || out == NULL || cap == 0) {
    return custos__err(err, CUSTOS_EINVAL, MOD, "entry: missing entry or output");
  }
  int rc = check_entry(e, err);
  if (rc != CUSTOS_OK) return rc;
  size_t ri[CUSTOS_AUDIT_MAX_REASONS], hi[CUSTOS_AUDIT_MAX_HASHES], di[CUSTOS_AUDIT_MAX_DETAIL];
  const char *hk[CUSTOS_AUDIT_MAX_HASHES], *dk[CUSTOS_AUDIT_MAX_DETAIL];
  for (size_t i = 0; i < e->n_hashes; i++) hk[i] = e->hashes[i].name;
  for (size_t i = 0; i < e->n_detail; i++) dk[i] = e->detail[i].key;
  if (!sort_unique(e->reasons, ri, e->n_reasons)) return bad(err, "entry.reasons: duplicate code");
  if (!sort_unique(hk, hi, e->n_hashes)) return bad(err, "entry.hashes: duplicate name");
  if (!sort_unique(dk, di, e->n_detail)) return bad(err, "entry.detail: duplicate key");

  char time[CUSTOS_AUDIT_TIME_LEN + 1];
  custos_audit_time_format(e->time, time, sizeof time);
  writer w = {out, cap, 0, false};
  out[0] = '\0';
  puts_(&w, "{\"action\":");
  put_str(&w, e->action);
  puts_(&w, ",\"actor\":");
  put_str(&w, e->actor);
  if (e->case_id) {
    puts_(&w, ",\"case\":");
    put_str(&w, e->case_id);
  }
  if (e->n_detail) {
    puts_(&w, ",\"detail\":{");
    for (size_t i = 0; i < e->n_detail; i++) {
      if (i) put(&w, ",", 1);
      put_str(&w, e->detail[di[i]].key);
      put(&w, ":", 1);
      put_str(&w, e->detail[di[i]].value);
    }
    put(&w, "}", 1);
  }
  if (e->n_hashes) {
    puts_(&w, ",\"hashes\":{");
    for (size_t i = 0; i < e->n_hashes; i++) {
      char hex[2 * CUSTOS_AUDIT_HASH_SIZE + 1];
      custos__audit_hex_encode(e->hashes[hi[i]].sha256.b, CUSTOS_AUDIT_HASH_SIZE, hex);
      if (i) put(&w, ",", 1);
      put_str(&w, e->hashes[hi[i]].name);
      put(&w, ":", 1);
      put_str(&w, hex);
    }
    put(&w, "}", 1);
  }
  if (e->n_reasons) {
    puts_(&w, ",\"reasons\":[");
    for (size_t i = 0; i < e->n_reasons; i++) {
      if (i) put(&w, ",", 1);
      put_str(&w, e->reasons[ri[i]]);
    }
    put(&w, "]", 1);
  }
  puts_(&w, ",\"seq\":");
  put_u64(&w, e->seq);
  puts_(&w, ",\"time\":");
  put_str(&w, time);
  puts_(&w, ",\"v\":1}");
  if (w.full) {
    return custos__err(err, CUSTOS_ETOOBIG, MOD, "entry: encoding needs more than %zu bytes",
                       cap - 1);
  }
  if (len) *len = w.len;
  return CUSTOS_OK;
}

/* ---- decoding --------------------------------------------------------------- */

/* A decoded entry with its own storage; `e` first so the public pointer is
 * the allocation. */
typedef struct owned_entry {
  custos_audit_entry e;
  char actor[CUSTOS_AUDIT_ACTOR_MAX + 1];
  char action[CUSTOS_AUDIT_ACTION_MAX + 1];
  char case_id[CUSTOS_AUDIT_CASE_MAX + 1];
  char reason_buf[CUSTOS_AUDIT_MAX_REASONS][CUSTOS_AUDIT_REASON_MAX + 1];
  const char *reasons[CUSTOS_AUDIT_MAX_REASONS];
  char hash_names[CUSTOS_AUDIT_MAX_HASHES][CUSTOS_AUDIT_NAME_MAX + 1];
  custos_audit_named_hash hashes[CUSTOS_AUDIT_MAX_HASHES];
  char keys[CUSTOS_AUDIT_MAX_DETAIL][CUSTOS_AUDIT_NAME_MAX + 1];
  char values[CUSTOS_AUDIT_MAX_DETAIL][CUSTOS_AUDIT_VALUE_MAX + 1];
  custos_audit_detail detail[CUSTOS_AUDIT_MAX_DETAIL];
} owned_entry;

static int copy_str(const json_t *obj, const char *key, bool required, char *dst, size_t max,
                    bool *present, custos_err *err) {
  const char *s = NULL;
  int rc = custos__json_get_string(obj, "entry", key, required, max, &s, err);
  if (rc != CUSTOS_OK) return rc;
  if (present) *present = s != NULL;
  if (s) snprintf(dst, max + 1, "%s", s);
  return CUSTOS_OK;
}

/* The general path: jansson, with limits, naming the field at fault. */
static int parse_json(const char *data, size_t len, owned_entry *o, custos_err *err) {
  static const char *const KEYS[] = {"action",  "actor", "case", "detail", "hashes",
                                     "reasons", "seq",   "time", "v"};
  int rc = CUSTOS_OK;
  json_t *root = NULL;
  custos_json_limits lim = {CUSTOS_AUDIT_ENTRY_MAX, 3};
  rc = custos__json_parse(data, len, &lim, &root, err);
  if (rc != CUSTOS_OK) goto out;
  if (!json_is_object(root)) {
    rc = bad(err, "entry: expected a JSON object");
    goto out;
  }
  rc = custos__json_check_keys(root, "entry", KEYS, CUSTOS_ARRAY_LEN(KEYS), err);
  if (rc != CUSTOS_OK) goto out;
  long long v = 0, seq = 0;
  rc = custos__json_get_int(root, "entry", "v", true, 0, 1000, &v, err);
  if (rc != CUSTOS_OK) goto out;
  if (v != CUSTOS_AUDIT_ENTRY_VERSION) {
    rc = custos__err(err, CUSTOS_EVERSION, MOD, "entry.v: version %lld is not supported", v);
    goto out;
  }
  rc = custos__json_get_int(root, "entry", "seq", true, 0, INT64_MAX, &seq, err);
  if (rc != CUSTOS_OK) goto out;
  o->e.seq = (uint64_t)seq;
  const char *time = NULL;
  rc = custos__json_get_string(root, "entry", "time", true, CUSTOS_AUDIT_TIME_LEN, &time, err);
  if (rc != CUSTOS_OK) goto out;
  if (custos_audit_time_parse(time, strlen(time), &o->e.time) != CUSTOS_OK) {
    rc = bad(err, "entry.time: expected YYYY-MM-DDTHH:MM:SSZ, a real UTC time");
    goto out;
  }
  bool has_case = false;
  if ((rc = copy_str(root, "actor", true, o->actor, CUSTOS_AUDIT_ACTOR_MAX, NULL, err)) ||
      (rc = copy_str(root, "action", true, o->action, CUSTOS_AUDIT_ACTION_MAX, NULL, err)) ||
      (rc = copy_str(root, "case", false, o->case_id, CUSTOS_AUDIT_CASE_MAX, &has_case, err))) {
    goto out;
  }
  o->e.actor = o->actor;
  o->e.action = o->action;
  o->e.case_id = has_case ? o->case_id : NULL;

  const json_t *arr = NULL;
  rc = custos__json_get_array(root, "entry", "reasons", false, CUSTOS_AUDIT_MAX_REASONS, &arr, err);
  if (rc != CUSTOS_OK) goto out;
  for (size_t i = 0; arr && i < json_array_size(arr); i++) {
    const json_t *s = json_array_get(arr, i);
    if (!json_is_string(s) || json_string_length(s) > CUSTOS_AUDIT_REASON_MAX) {
      rc = bad(err, "entry.reasons[%zu]: expected a reason code", i);
      goto out;
    }
    snprintf(o->reason_buf[i], sizeof o->reason_buf[i], "%s", json_string_value(s));
    o->reasons[i] = o->reason_buf[i];
    o->e.n_reasons++;
  }
  o->e.reasons = o->reasons;

  const json_t *obj = NULL;
  const char *k;
  json_t *val;
  rc = custos__json_get_object(root, "entry", "hashes", false, &obj, err);
  if (rc != CUSTOS_OK) goto out;
  if (obj && json_object_size(obj) > CUSTOS_AUDIT_MAX_HASHES) {
    rc = bad(err, "entry.hashes: more than %d hashes", CUSTOS_AUDIT_MAX_HASHES);
    goto out;
  }
  json_object_foreach((json_t *)obj, k, val) {
    size_t i = o->e.n_hashes;
    if (strlen(k) > CUSTOS_AUDIT_NAME_MAX) {
      rc = bad(err, "entry.hashes: name longer than %d bytes", CUSTOS_AUDIT_NAME_MAX);
      goto out;
    }
    if (!json_is_string(val) ||
        !custos__audit_hex_decode(json_string_value(val), json_string_length(val),
                                  o->hashes[i].sha256.b, CUSTOS_AUDIT_HASH_SIZE)) {
      rc = bad(err, "entry.hashes.%s: expected 64 lowercase hex digits",
               valid_word(k, strlen(k), CUSTOS_AUDIT_NAME_MAX) ? k : "?");
      goto out;
    }
    snprintf(o->hash_names[i], sizeof o->hash_names[i], "%s", k);
    o->hashes[i].name = o->hash_names[i];
    o->e.n_hashes++;
  }
  o->e.hashes = o->hashes;

  rc = custos__json_get_object(root, "entry", "detail", false, &obj, err);
  if (rc != CUSTOS_OK) goto out;
  if (obj && json_object_size(obj) > CUSTOS_AUDIT_MAX_DETAIL) {
    rc = bad(err, "entry.detail: more than %d pairs", CUSTOS_AUDIT_MAX_DETAIL);
    goto out;
  }
  json_object_foreach((json_t *)obj, k, val) {
    size_t i = o->e.n_detail;
    bool key_ok = strlen(k) <= CUSTOS_AUDIT_NAME_MAX && valid_word(k, strlen(k), 1000);
    if (!key_ok || !json_is_string(val) || json_string_length(val) > CUSTOS_AUDIT_VALUE_MAX) {
      rc = bad(err, "entry.detail.%s: expected a detail key with a short string value",
               key_ok ? k : "?");
      goto out;
    }
    snprintf(o->keys[i], sizeof o->keys[i], "%s", k);
    snprintf(o->values[i], sizeof o->values[i], "%s", json_string_value(val));
    o->detail[i] = (custos_audit_detail){o->keys[i], o->values[i]};
    o->e.n_detail++;
  }
  o->e.detail = o->detail;

out:
  json_decref(root);
  return rc;
}

/* The fast path: the canonical grammar itself, no allocation.  It accepts
 * only what looks canonical and leaves every check to the encoder; anything
 * it does not take goes to parse_json, which explains what is wrong. */
typedef struct cursor {
  const char *p;   /* next byte */
  const char *end; /* end of input */
} cursor;

static bool take(cursor *c, const char *lit, size_t n) {
  if ((size_t)(c->end - c->p) < n || memcmp(c->p, lit, n) != 0) return false;
  c->p += n;
  return true;
}

#define TAKE(c, lit) take((c), (lit), sizeof(lit) - 1)

/* A string without escapes or control characters, of at most max bytes. */
static bool take_str(cursor *c, char *dst, size_t max) {
  if (!TAKE(c, "\"")) return false;
  const char *q = c->p;
  while (q < c->end && *q != '"') {
    unsigned char ch = (unsigned char)*q;
    if (ch == '\\' || ch < 0x20 || ch >= 0x7f || (size_t)(q - c->p) >= max) return false;
    q++;
  }
  if (q >= c->end) return false;
  memcpy(dst, c->p, (size_t)(q - c->p));
  dst[q - c->p] = '\0';
  c->p = q + 1;
  return true;
}

static bool parse_fast(const char *data, size_t len, owned_entry *o) {
  cursor c = {data, data + len};
  char tmp[2 * CUSTOS_AUDIT_HASH_SIZE + 1];
  if (!TAKE(&c, "{\"action\":") || !take_str(&c, o->action, CUSTOS_AUDIT_ACTION_MAX) ||
      !TAKE(&c, ",\"actor\":") || !take_str(&c, o->actor, CUSTOS_AUDIT_ACTOR_MAX)) {
    return false;
  }
  o->e.action = o->action;
  o->e.actor = o->actor;
  if (TAKE(&c, ",\"case\":")) {
    if (!take_str(&c, o->case_id, CUSTOS_AUDIT_CASE_MAX)) return false;
    o->e.case_id = o->case_id;
  }
  if (TAKE(&c, ",\"detail\":{")) {
    do {
      size_t i = o->e.n_detail;
      if (i == CUSTOS_AUDIT_MAX_DETAIL || !take_str(&c, o->keys[i], CUSTOS_AUDIT_NAME_MAX) ||
          !TAKE(&c, ":") || !take_str(&c, o->values[i], CUSTOS_AUDIT_VALUE_MAX)) {
        return false;
      }
      o->detail[i] = (custos_audit_detail){o->keys[i], o->values[i]};
      o->e.n_detail++;
    } while (TAKE(&c, ","));
    if (!TAKE(&c, "}")) return false;
  }
  o->e.detail = o->detail;
  if (TAKE(&c, ",\"hashes\":{")) {
    do {
      size_t i = o->e.n_hashes;
      if (i == CUSTOS_AUDIT_MAX_HASHES || !take_str(&c, o->hash_names[i], CUSTOS_AUDIT_NAME_MAX) ||
          !TAKE(&c, ":") || !take_str(&c, tmp, sizeof tmp - 1) ||
          !custos__audit_hex_decode(tmp, strlen(tmp), o->hashes[i].sha256.b,
                                    CUSTOS_AUDIT_HASH_SIZE)) {
        return false;
      }
      o->hashes[i].name = o->hash_names[i];
      o->e.n_hashes++;
    } while (TAKE(&c, ","));
    if (!TAKE(&c, "}")) return false;
  }
  o->e.hashes = o->hashes;
  if (TAKE(&c, ",\"reasons\":[")) {
    do {
      size_t i = o->e.n_reasons;
      if (i == CUSTOS_AUDIT_MAX_REASONS ||
          !take_str(&c, o->reason_buf[i], CUSTOS_AUDIT_REASON_MAX)) {
        return false;
      }
      o->reasons[i] = o->reason_buf[i];
      o->e.n_reasons++;
    } while (TAKE(&c, ","));
    if (!TAKE(&c, "]")) return false;
  }
  o->e.reasons = o->reasons;
  if (!TAKE(&c, ",\"seq\":")) return false;
  uint64_t seq = 0;
  const char *digits_at = c.p;
  while (c.p < c.end && *c.p >= '0' && *c.p <= '9') {
    unsigned d = (unsigned)(*c.p++ - '0');
    if (seq > ((uint64_t)INT64_MAX - d) / 10) return false;
    seq = seq * 10 + d;
  }
  if (c.p == digits_at) return false;
  o->e.seq = seq;
  if (!TAKE(&c, ",\"time\":") || !take_str(&c, tmp, CUSTOS_AUDIT_TIME_LEN) ||
      custos_audit_time_parse(tmp, strlen(tmp), &o->e.time) != CUSTOS_OK ||
      !TAKE(&c, ",\"v\":1}")) {
    return false;
  }
  return c.p == c.end;
}

int custos_audit_entry_decode(const char *data, size_t len, custos_audit_entry **out,
                              custos_err *err) {
  int rc = CUSTOS_OK;
  char *again = NULL;
  *out = NULL;
  if (data == NULL) return custos__err(err, CUSTOS_EINVAL, MOD, "entry: no data");
  owned_entry *o = custos__calloc(1, sizeof *o);
  if (o == NULL) return custos__err(err, CUSTOS_ENOMEM, MOD, "entry: out of memory");
  if (len > CUSTOS_AUDIT_ENTRY_MAX || !parse_fast(data, len, o)) {
    memset(o, 0, sizeof *o);
    rc = parse_json(data, len, o, err);
    if (rc != CUSTOS_OK) goto out;
  }
  /* Encoding checks every field; equal bytes prove the input canonical. */
  again = custos__malloc(CUSTOS_AUDIT_ENTRY_MAX + 1);
  if (again == NULL) {
    rc = custos__err(err, CUSTOS_ENOMEM, MOD, "entry: out of memory");
    goto out;
  }
  size_t alen = 0;
  rc = custos_audit_entry_encode(&o->e, again, CUSTOS_AUDIT_ENTRY_MAX + 1, &alen, err);
  if (rc != CUSTOS_OK) goto out;
  if (alen != len || memcmp(again, data, len) != 0) {
    rc = bad(err,
             "entry: not in canonical form (sorted keys, no whitespace, no escapes, "
             "sorted reasons, empty members left out)");
    goto out;
  }
  *out = &o->e;
  o = NULL;
out:
  custos__free(again);
  custos__free(o);
  return rc;
}

void custos_audit_entry_free(custos_audit_entry *e) {
  custos__free(e);
}
