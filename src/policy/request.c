/*
 * The request document (POLICY.md "The request document"), parsed strictly.
 *
 * Every object's keys are checked against the keys it may hold before any
 * value is read, so an unknown key is refused wherever it stands — including
 * any key for nationality, birthplace, citizenship or immigration status,
 * which the format deliberately lacks (GOV-09).  Every value is checked for
 * its type, its length, its enumeration or its calendar date.  The first
 * problem refuses the whole request: CUSTOS_EINVAL, module "request", and a
 * message "FIELD: why" naming the field by its path ("offenses[1].citation";
 * "request" for the document as a whole).  Values are echoed in messages only
 * for dates and enumerations, cut short and with anything but printable
 * ASCII replaced.
 *
 * Files the request refers to are read once, here: the bytes checked are the
 * bytes a case stores.  A reference must be a relative path inside the
 * request's folder: no absolute path, no "." or ".." component, no empty
 * component, no backslash or control character; after resolving symbolic
 * links it must still lie inside the folder and outside /proc, /sys and /dev,
 * and name a non-empty regular file within its size limit.  The document must
 * be a PDF ("%PDF-") or a JPEG or PNG image, the probe a JPEG or PNG image,
 * both recognised by content.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "custos/image.h"
#include "policy/policyInt.h"
#include "util/json.h"

#define MOD "request"

static int malformed(custos_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int malformed(custos_err *err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int rc = custos__verr(err, CUSTOS_EINVAL, MOD, fmt, ap);
  va_end(ap);
  return rc;
}

/* A util/json error (which already names the field) as a MALFORMED one. */
static int rewrap(custos_err *err, int rc) {
  if (rc == CUSTOS_OK) return rc;
  if (rc == CUSTOS_ENOMEM) return custos__err(err, rc, MOD, "out of memory");
  if (err != NULL) {
    err->code = CUSTOS_EINVAL;
    snprintf(err->module, sizeof err->module, "%s", MOD);
  }
  return CUSTOS_EINVAL;
}

/* Up to 40 bytes of s for a message, anything but printable ASCII as '?'. */
static const char *shown(const char *s, char buf[48]) {
  size_t n = 0;
  for (; *s && n < 40; s++) buf[n++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
  if (*s) {
    memcpy(buf + n, "...", 3);
    n += 3;
  }
  buf[n] = '\0';
  return buf;
}

/* "PATH.KEY" or "KEY". */
static const char *field(char *buf, size_t size, const char *path, const char *key) {
  snprintf(buf, size, "%s%s%s", path, *path ? "." : "", key);
  return buf;
}

/* ---- keys (GOV-09) ---------------------------------------------------------------- */

/* Whether a key looks like a nationality, birthplace, citizenship or
 * immigration-status field (for the message only: every unknown key is
 * refused). */
static bool gov09_key(const char *key) {
  static const char *const words[] = {"nation", "birth",  "citizen",  "immigra", "alien",
                                      "visa",   "origin", "passport", "country"};
  char low[64];
  size_t n = 0;
  for (; key[n] && n + 1 < sizeof low; n++) {
    low[n] = (char)((key[n] >= 'A' && key[n] <= 'Z') ? key[n] + 32 : key[n]);
  }
  low[n] = '\0';
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(words); i++) {
    if (strstr(low, words[i]) != NULL) return true;
  }
  return false;
}

/* GOV-09: refuses any key of obj outside allowed[0..n). */
static int check_keys(const json_t *obj, const char *path, const char *const *allowed, size_t n,
                      custos_err *err) {
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)obj, key, v) {
    bool ok = false;
    for (size_t i = 0; i < n && !ok; i++) ok = strcmp(key, allowed[i]) == 0;
    if (ok) continue;
    char name[160], buf[48];
    field(name, sizeof name, path, shown(key, buf));
    if (gov09_key(key)) {
      return malformed(err,
                       "%s: unknown key (GOV-09: a request has no field for nationality, "
                       "birthplace, citizenship or immigration status)",
                       name);
    }
    return malformed(err, "%s: unknown key", name);
  }
  return CUSTOS_OK;
}

/* ---- values ------------------------------------------------------------------------- */

/* A string field: type and length by util/json, then no control characters
 * (line breaks and tabs allowed when multiline) and, when required, not empty. */
static int get_text(const json_t *obj, const char *path, const char *key, bool required, size_t max,
                    bool multiline, const char **out, custos_err *err) {
  const char *s = NULL;
  int rc = custos__json_get_string(obj, path, key, required, max, &s, err);
  if (rc != CUSTOS_OK) return rewrap(err, rc);
  if (s == NULL) return CUSTOS_OK;
  char name[160];
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if ((*p < 0x20 || *p == 0x7f) && !(multiline && (*p == '\n' || *p == '\t' || *p == '\r'))) {
      return malformed(err, "%s: contains a control character",
                       field(name, sizeof name, path, key));
    }
  }
  if (required && s[strspn(s, " \t\r\n")] == '\0') {
    return malformed(err, "%s: empty", field(name, sizeof name, path, key));
  }
  *out = s;
  return CUSTOS_OK;
}

static int get_enum(const json_t *obj, const char *path, const char *key, bool required,
                    const char *const *names, size_t n, int *out, custos_err *err) {
  const char *s = NULL;
  int rc = custos__json_get_string(obj, path, key, required, 64, &s, err);
  if (rc == CUSTOS_EINVAL && json_is_string(json_object_get(obj, key))) {
    s = json_string_value(json_object_get(obj, key)); /* too long: fall through to the list */
    rc = CUSTOS_OK;
  }
  if (rc != CUSTOS_OK) return rewrap(err, rc);
  if (s == NULL) return CUSTOS_OK;
  for (size_t i = 0; i < n; i++) {
    if (strcmp(s, names[i]) == 0) {
      *out = (int)i;
      return CUSTOS_OK;
    }
  }
  char name[160], buf[48], list[400];
  size_t len = 0;
  list[0] = '\0';
  for (size_t i = 0; i < n; i++) {
    int k = snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", names[i]);
    if (k < 0 || (size_t)k >= sizeof list - len) break;
    len += (size_t)k;
  }
  return malformed(err, "%s: '%s' is not one of %s", field(name, sizeof name, path, key),
                   shown(s, buf), list);
}

static int get_date(const json_t *obj, const char *path, const char *key, bool required,
                    char out[11], long *days, custos_err *err) {
  const json_t *v = json_object_get(obj, key);
  char name[160], buf[48];
  if (v == NULL) {
    if (!required) return CUSTOS_OK;
    return malformed(err, "%s: missing", field(name, sizeof name, path, key));
  }
  if (!json_is_string(v)) {
    return malformed(err, "%s: expected a date YYYY-MM-DD", field(name, sizeof name, path, key));
  }
  const char *s = json_string_value(v);
  if (json_string_length(v) != 10 || !custos__policy_date_parse(s, days)) {
    return malformed(err, "%s: not a date (%s)", field(name, sizeof name, path, key),
                     shown(s, buf));
  }
  memcpy(out, s, 11);
  return CUSTOS_OK;
}

static int get_object(const json_t *obj, const char *path, const char *key, bool required,
                      const json_t **out, custos_err *err) {
  return rewrap(err, custos__json_get_object(obj, path, key, required, out, err));
}

/* ---- files ------------------------------------------------------------------------ */

/* Lexical rules for a file reference. */
static int check_ref(const char *name, const char *path, custos_err *err) {
  if (path[0] == '/')
    return malformed(err, "%s: an absolute path; give a path relative to the request's folder",
                     name);
  for (const char *p = path; *p; p++) {
    if ((unsigned char)*p < 0x20 || *p == 0x7f)
      return malformed(err, "%s: contains a control character", name);
    if (*p == '\\') return malformed(err, "%s: contains a backslash", name);
  }
  for (const char *c = path;;) {
    size_t n = strcspn(c, "/");
    if (n == 0) return malformed(err, "%s: empty path component", name);
    if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.')) {
      return malformed(err, "%s: '.' and '..' are not allowed in a path", name);
    }
    if (c[n] == '\0') break;
    c += n + 1;
  }
  return CUSTOS_OK;
}

static bool under(const char *path, const char *dir) {
  size_t n = strlen(dir);
  if (n == 1 && dir[0] == '/') return true;
  return strncmp(path, dir, n) == 0 && path[n] == '/';
}

/* Reads the file a reference names into f (checks: see the top of the file). */
static int read_ref(const char *name, const char *base_dir, const char *ref, size_t max,
                    custos_request_file *f, custos_err *err) {
  int rc = check_ref(name, ref, err);
  if (rc != CUSTOS_OK) return rc;
  char joined[PATH_MAX + CUSTOS_REQUEST_MAX_PATH + 2];
  char base[PATH_MAX], real[PATH_MAX];
  if (realpath(base_dir, base) == NULL) {
    return malformed(err, "%s: the request's folder cannot be resolved: %s", name, strerror(errno));
  }
  if ((size_t)snprintf(joined, sizeof joined, "%s/%s", base, ref) >= sizeof joined) {
    return malformed(err, "%s: path too long", name);
  }
  if (realpath(joined, real) == NULL) {
    int e = errno;
    if (e == ENOENT || e == ENOTDIR)
      return malformed(err, "%s: no such file in the request's folder", name);
    return malformed(err, "%s: cannot be read: %s", name, strerror(e));
  }
  if (!under(real, base)) return malformed(err, "%s: leads outside the request's folder", name);
  if (under(real, "/proc") || under(real, "/sys") || under(real, "/dev")) {
    return malformed(err, "%s: not a regular file", name);
  }
  int fd = open(real, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) return malformed(err, "%s: cannot be read: %s", name, strerror(errno));
  struct stat st;
  unsigned char *data = NULL;
  if (fstat(fd, &st) != 0) {
    rc = malformed(err, "%s: cannot be read: %s", name, strerror(errno));
    goto out;
  }
  if (!S_ISREG(st.st_mode)) {
    rc = malformed(err, "%s: not a regular file", name);
    goto out;
  }
  if (st.st_size <= 0) {
    rc = malformed(err, "%s: empty file", name);
    goto out;
  }
  if ((unsigned long long)st.st_size > max) {
    rc = malformed(err, "%s: larger than %zu bytes", name, max);
    goto out;
  }
  size_t size = (size_t)st.st_size, got = 0;
  if ((data = custos__malloc(size)) == NULL) {
    rc = custos__err(err, CUSTOS_ENOMEM, MOD, "out of memory");
    goto out;
  }
  while (got < size) {
    ssize_t n = read(fd, data + got, size - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      rc = malformed(err, "%s: cannot be read: %s", name, strerror(errno));
      goto out;
    }
    if (n == 0) {
      rc = malformed(err, "%s: the file changed while it was read", name);
      goto out;
    }
    got += (size_t)n;
  }
  if ((rc = custos__policy_sha256_hex(data, size, f->sha256, err)) != CUSTOS_OK) goto out;
  f->path = ref;
  f->data = data;
  f->len = size;
  data = NULL;
out:
  custos__free(data);
  close(fd);
  return rc;
}

/* The kind of a file: "pdf", "jpeg", "png", or NULL. */
static const char *file_kind(const custos_request_file *f, bool pdf_allowed) {
  if (pdf_allowed && f->len >= 5 && memcmp(f->data, "%PDF-", 5) == 0) return "pdf";
  custos_image_info info;
  if (custos_image_probe(f->data, f->len, &info, NULL) != CUSTOS_OK) return NULL;
  if (info.format == CUSTOS_IMAGE_JPEG) return "jpeg";
  if (info.format == CUSTOS_IMAGE_PNG) return "png";
  return NULL;
}

/* ---- enumerations ------------------------------------------------------------------ */

static const char *const level_names[] = {"federal", "state",        "local",
                                          "tribal",  "out_of_state", "foreign"};
/* legal_process.type, from CUSTOS_LEGAL_COURT_ORDER on. */
static const char *const legal_names[] = {"court_order",
                                          "judicial_warrant",
                                          "judicial_subpoena",
                                          "grand_jury_subpoena",
                                          "administrative_warrant",
                                          "administrative_subpoena",
                                          "detainer",
                                          "immigration_judge_order",
                                          "none"};
/* legal_process.court_system, from CUSTOS_COURT_US_ARTICLE_III on. */
static const char *const court_names[] = {"us_article_iii",    "washington", "other_state",
                                          "immigration_court", "agency",     "none"};
static const char *const source_names[] = {
    "surveillance",  "booking",     "social_media", "identity_document",
    "witness_photo", "other_photo", "sketch",       "composite",
    "edited",        "lookalike"};

const char *custos_policy_level_name(custos_agency_level v) {
  return (unsigned)v < CUSTOS_ARRAY_LEN(level_names) ? level_names[v] : "?";
}

const char *custos_policy_legal_type_name(custos_legal_type v) {
  if (v == CUSTOS_LEGAL_MISSING) return "missing";
  return (unsigned)v - 1 < CUSTOS_ARRAY_LEN(legal_names) ? legal_names[v - 1] : "?";
}

const char *custos_policy_court_system_name(custos_court_system v) {
  if (v == CUSTOS_COURT_MISSING) return "missing";
  return (unsigned)v - 1 < CUSTOS_ARRAY_LEN(court_names) ? court_names[v - 1] : "?";
}

const char *custos_policy_probe_source_name(custos_probe_source v) {
  return (unsigned)v < CUSTOS_ARRAY_LEN(source_names) ? source_names[v] : "?";
}

/* ---- the document ------------------------------------------------------------------ */

static int parse_agency(const json_t *root, custos_policy_request *r, custos_err *err) {
  static const char *const keys[] = {"name", "level", "department", "component"};
  const json_t *a = NULL;
  int rc, level = 0;
  if ((rc = get_object(root, "", "agency", true, &a, err)) ||
      (rc = check_keys(a, "agency", keys, CUSTOS_ARRAY_LEN(keys), err)) ||
      (rc = get_text(a, "agency", "name", true, CUSTOS_REQUEST_MAX_TEXT, false, &r->agency.name,
                     err)) ||
      (rc = get_enum(a, "agency", "level", true, level_names, CUSTOS_ARRAY_LEN(level_names), &level,
                     err)) ||
      (rc = get_text(a, "agency", "department", false, CUSTOS_REQUEST_MAX_TEXT, false,
                     &r->agency.department, err)) ||
      (rc = get_text(a, "agency", "component", false, CUSTOS_REQUEST_MAX_TEXT, false,
                     &r->agency.component, err)))
    return rc;
  r->agency.level = (custos_agency_level)level;
  return CUSTOS_OK;
}

static int parse_requester(const json_t *root, custos_policy_request *r, custos_err *err) {
  static const char *const keys[] = {"name", "title", "contact"};
  const json_t *q = NULL;
  int rc;
  if ((rc = get_object(root, "", "requester", true, &q, err)) ||
      (rc = check_keys(q, "requester", keys, CUSTOS_ARRAY_LEN(keys), err)) ||
      (rc = get_text(q, "requester", "name", true, CUSTOS_REQUEST_MAX_TEXT, false,
                     &r->requester.name, err)) ||
      (rc = get_text(q, "requester", "title", false, CUSTOS_REQUEST_MAX_TEXT, false,
                     &r->requester.title, err)) ||
      (rc = get_text(q, "requester", "contact", true, CUSTOS_REQUEST_MAX_TEXT, false,
                     &r->requester.contact, err)))
    return rc;
  return CUSTOS_OK;
}

static int parse_legal(const json_t *root, const char *base_dir, custos_policy_request *r,
                       custos_err *err) {
  static const char *const keys[] = {"type",   "form",   "court_system", "court",   "judge",
                                     "signed", "docket", "issued",       "expires", "document"};
  const json_t *l = NULL;
  int rc, type = -1, court = -1;
  long issued = 0, expires = 0;
  const char *doc = NULL;
  if ((rc = get_object(root, "", "legal_process", false, &l, err)) != CUSTOS_OK) return rc;
  r->legal_process.is_signed = -1;
  if (l == NULL) return CUSTOS_OK; /* GOV-01 rejects it */
  const char *lp = "legal_process";
  if ((rc = check_keys(l, lp, keys, CUSTOS_ARRAY_LEN(keys), err)) ||
      (rc = get_enum(l, lp, "type", false, legal_names, CUSTOS_ARRAY_LEN(legal_names), &type,
                     err)) ||
      (rc = get_text(l, lp, "form", false, CUSTOS_REQUEST_MAX_ID, false, &r->legal_process.form,
                     err)) ||
      (rc = get_enum(l, lp, "court_system", false, court_names, CUSTOS_ARRAY_LEN(court_names),
                     &court, err)) ||
      (rc = get_text(l, lp, "court", false, CUSTOS_REQUEST_MAX_TEXT, false, &r->legal_process.court,
                     err)) ||
      (rc = get_text(l, lp, "judge", false, CUSTOS_REQUEST_MAX_TEXT, false, &r->legal_process.judge,
                     err)) ||
      (rc = get_text(l, lp, "docket", false, CUSTOS_REQUEST_MAX_ID, false, &r->legal_process.docket,
                     err)))
    return rc;
  r->legal_process.type = type < 0 ? CUSTOS_LEGAL_MISSING : (custos_legal_type)(type + 1);
  r->legal_process.court_system =
      court < 0 ? CUSTOS_COURT_MISSING : (custos_court_system)(court + 1);
  if (json_object_get(l, "signed") != NULL) {
    bool s = false;
    if ((rc = rewrap(err, custos__json_get_bool(l, lp, "signed", false, &s, err))) != CUSTOS_OK)
      return rc;
    r->legal_process.is_signed = s ? 1 : 0;
  }
  const bool process =
      r->legal_process.type != CUSTOS_LEGAL_MISSING && r->legal_process.type != CUSTOS_LEGAL_NONE;
  if ((rc = get_date(l, lp, "issued", process, r->legal_process.issued, &issued, err)) ||
      (rc = get_date(l, lp, "expires", false, r->legal_process.expires, &expires, err)) ||
      (rc = get_text(l, lp, "document", process, CUSTOS_REQUEST_MAX_PATH, false, &doc, err)))
    return rc;
  if (r->legal_process.issued[0] && r->legal_process.expires[0] && expires < issued) {
    return malformed(err, "legal_process.expires: before legal_process.issued");
  }
  if (doc != NULL) {
    custos_request_file *f = &r->legal_process.document;
    if ((rc = read_ref("legal_process.document", base_dir, doc, CUSTOS_REQUEST_MAX_DOCUMENT, f,
                       err)))
      return rc;
    if ((f->kind = file_kind(f, true)) == NULL) {
      return malformed(err, "legal_process.document: not a PDF, JPEG or PNG file");
    }
  }
  return CUSTOS_OK;
}

static int parse_offenses(const json_t *root, custos_policy_request *r, custos_err *err) {
  static const char *const keys[] = {"citation", "description"};
  const json_t *a = NULL;
  int rc =
      custos__json_get_array(root, "", "offenses", false, CUSTOS_REQUEST_MAX_OFFENSES, &a, err);
  if (rc != CUSTOS_OK) return rewrap(err, rc);
  if (a == NULL || json_array_size(a) == 0) return CUSTOS_OK; /* GOV-05 rejects it */
  r->offenses = custos__calloc(json_array_size(a), sizeof *r->offenses);
  if (r->offenses == NULL) return custos__err(err, CUSTOS_ENOMEM, MOD, "out of memory");
  for (size_t i = 0; i < json_array_size(a); i++) {
    char path[32];
    snprintf(path, sizeof path, "offenses[%zu]", i);
    const json_t *o = json_array_get(a, i);
    if (!json_is_object(o)) return malformed(err, "%s: expected an object", path);
    custos_request_offense *f = &r->offenses[i];
    if ((rc = check_keys(o, path, keys, CUSTOS_ARRAY_LEN(keys), err)) ||
        (rc = get_text(o, path, "citation", true, CUSTOS_REQUEST_MAX_CITATION, false, &f->citation,
                       err)) ||
        (rc = get_text(o, path, "description", false, CUSTOS_REQUEST_MAX_DESCRIPTION, true,
                       &f->description, err)))
      return rc;
    r->noffenses++;
  }
  return CUSTOS_OK;
}

static int parse_probe(const json_t *root, const char *base_dir, custos_policy_request *r,
                       custos_err *err) {
  static const char *const keys[] = {"image", "source"};
  const json_t *p = NULL;
  const char *image = NULL;
  int rc, source = 0;
  if ((rc = get_object(root, "", "probe", true, &p, err)) ||
      (rc = check_keys(p, "probe", keys, CUSTOS_ARRAY_LEN(keys), err)) ||
      (rc = get_text(p, "probe", "image", true, CUSTOS_REQUEST_MAX_PATH, false, &image, err)) ||
      (rc = get_enum(p, "probe", "source", true, source_names, CUSTOS_ARRAY_LEN(source_names),
                     &source, err)))
    return rc;
  r->probe.source = (custos_probe_source)source;
  custos_request_file *f = &r->probe.image;
  if ((rc = read_ref("probe.image", base_dir, image, CUSTOS_REQUEST_MAX_PROBE, f, err))) return rc;
  if ((f->kind = file_kind(f, false)) == NULL)
    return malformed(err, "probe.image: not a JPEG or PNG image");
  return CUSTOS_OK;
}

void custos_policy_request_free(custos_policy_request *r) {
  if (r == NULL) return;
  custos__free(r->legal_process.document.data);
  custos__free(r->probe.image.data);
  custos__free(r->offenses);
  json_decref((json_t *)r->internal);
  custos__free(r);
}

int custos_policy_request_parse(const char *json, size_t len, const char *base_dir,
                                custos_policy_request **out, custos_err *err) {
  static const char *const keys[] = {"received",      "agency",   "requester", "case_number",
                                     "legal_process", "offenses", "narrative", "probe"};
  const custos_json_limits lim = {CUSTOS_REQUEST_MAX_BYTES, 8};
  custos_policy_request *r = NULL;
  json_t *root = NULL;
  long received = 0;
  int rc;
  *out = NULL;
  if (base_dir == NULL || *base_dir == '\0') base_dir = ".";
  rc = custos__json_parse(json, len, &lim, &root, err);
  if (rc != CUSTOS_OK) {
    char detail[CUSTOS_ERR_MESSAGE_MAX];
    snprintf(detail, sizeof detail, "%s", err ? err->message : "");
    return rc == CUSTOS_ENOMEM ? rc : malformed(err, "request: %s", detail);
  }
  if (!json_is_object(root)) {
    rc = malformed(err, "request: expected a JSON object");
    goto out;
  }
  if ((r = custos__calloc(1, sizeof *r)) == NULL) {
    rc = custos__err(err, CUSTOS_ENOMEM, MOD, "out of memory");
    goto out;
  }
  r->internal = root;
  root = NULL;
  const json_t *doc = r->internal;
  if ((rc = check_keys(doc, "", keys, CUSTOS_ARRAY_LEN(keys), err)) ||
      (rc = get_date(doc, "", "received", true, r->received, &received, err)) ||
      (rc = parse_agency(doc, r, err)) || (rc = parse_requester(doc, r, err)) ||
      (rc = get_text(doc, "", "case_number", false, CUSTOS_REQUEST_MAX_ID, false, &r->case_number,
                     err)) ||
      (rc = parse_legal(doc, base_dir, r, err)) || (rc = parse_offenses(doc, r, err)) ||
      (rc = get_text(doc, "", "narrative", false, CUSTOS_REQUEST_MAX_NARRATIVE, true, &r->narrative,
                     err)) ||
      (rc = parse_probe(doc, base_dir, r, err)))
    goto out;
out:
  json_decref(root);
  if (rc != CUSTOS_OK) {
    custos_policy_request_free(r);
    return rc;
  }
  *out = r;
  return CUSTOS_OK;
}

int custos_policy_request_load(const char *path, custos_policy_request **out, custos_err *err) {
  unsigned char *data = NULL;
  size_t len = 0;
  *out = NULL;
  int rc = custos__read_file(path, CUSTOS_REQUEST_MAX_BYTES, &data, &len, err);
  if (rc == CUSTOS_ETOOBIG)
    return malformed(err, "request: larger than %zu bytes", CUSTOS_REQUEST_MAX_BYTES);
  if (rc == CUSTOS_EINVAL) return malformed(err, "request: not a regular file");
  if (rc != CUSTOS_OK) return rc;
  char dir[PATH_MAX];
  (void)custos__path_dir(path, dir, sizeof dir); /* a folder too long is cut short */
  rc = custos_policy_request_parse((const char *)data, len, dir, out, err);
  custos__free(data);
  return rc;
}

bool custos_policy_err_malformed(const custos_err *err) {
  return err != NULL && err->code == CUSTOS_EINVAL && strcmp(err->module, MOD) == 0;
}

const char *custos_policy_err_field(const custos_err *err, char *buf, size_t size) {
  if (buf == NULL || size == 0) return buf;
  buf[0] = '\0';
  if (!custos_policy_err_malformed(err)) return buf;
  const char *colon = strstr(err->message, ": ");
  size_t n = colon ? (size_t)(colon - err->message) : strlen(err->message);
  if (n >= size) n = size - 1;
  memcpy(buf, err->message, n);
  buf[n] = '\0';
  return buf;
}
