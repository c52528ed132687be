/*
 * The policy file: a strict subset of TOML, read on top of the built-in
 * default policy.
 *
 * Grammar (one construct per line; lists may span lines):
 *
 *   line     := ws (comment | header | pair)? ws comment? EOL
 *   comment  := '#' any character but a control character, to the end of the line
 *   header   := '[' key ('.' key)* ']'           a known section, at most once
 *   pair     := key ws '=' ws value              a known key, at most once
 *   key      := [A-Za-z0-9_-]+ | string
 *   value    := integer | decimal | string | list | 'true' | 'false'
 *   integer  := [+-]? (0 | [1-9][0-9]*)
 *   decimal  := integer '.' [0-9]+ ([eE] [+-]? [0-9]+)?
 *   string   := '\'' literal characters '\'' | '"' characters, \\ \" \t escapes '"'
 *   list     := '[' (string ',')* string? ']'    comments and line breaks allowed inside
 *
 * The file must be UTF-8 without NUL bytes.  Every error is CUSTOS_EINVAL
 * with "NAME:LINE: section.key: why".
 *
 * Meaning: the schema table below says, for each section and key, its type,
 * its range and where it goes.  A scalar replaces the default.  A list adds
 * its entries to the policy's table; an entry the default already holds may
 * be repeated with the same meaning but not changed (a statute cannot move to
 * another class, an alias cannot point elsewhere), so a site file can only
 * extend POLICY.md's tables.  An entry twice in one file is an error.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "policy/policyInt.h"

#define MOD "policy"
#define DEFAULT_NAME "built-in default"
#define MAX_STRING 512      /* bytes of a string value */
#define MAX_LIST_ITEMS 4096 /* entries of one list */
#define MAX_SEEN 256        /* keys one file may set */

/* ---- values ---------------------------------------------------------------------- */

typedef enum vtype { V_INT, V_REAL, V_STRING, V_BOOL, V_LIST } vtype;

static const char *const vtype_names[] = {"an integer", "a decimal number", "a string",
                                          "true or false", "a list"};

typedef struct value {
  vtype type;
  long long i;  /* V_INT, V_BOOL */
  double r;     /* V_REAL (and V_INT converted) */
  char *s;      /* V_STRING (owned) */
  size_t n;     /* V_LIST: items */
  char **items; /* V_LIST: strings (owned) */
  int *lines;   /* V_LIST: the line of each item */
} value;

static void value_free(value *v) {
  custos__free(v->s);
  for (size_t i = 0; i < v->n; i++) custos__free(v->items[i]);
  custos__free(v->items);
  custos__free(v->lines);
  memset(v, 0, sizeof *v);
}

/* ---- the reader ------------------------------------------------------------------ */

typedef struct reader {
  const char *s; /* the text */
  size_t len;
  size_t pos;
  int line;         /* 1-based line of pos */
  const char *name; /* for messages */
  int origin;       /* ORIGIN_DEFAULT or ORIGIN_FILE */
  custos_policy *p;
  custos_err *err;
  char section[64];     /* current section, "" before the first header */
  char *seen[MAX_SEEN]; /* "section.key" set by this file (owned) */
  size_t nseen;
  char *seen_sections[32]; /* headers seen (owned) */
  size_t nseen_sections;
} reader;

static int fail_line(reader *r, int line, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* "NAME:LINE: section.key: why" (the key part only when key is not NULL). */
static int fail_line(reader *r, int line, const char *key, const char *fmt, ...) {
  char why[200];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, sizeof why, fmt, ap);
  va_end(ap);
  if (key != NULL) {
    return custos__err(r->err, CUSTOS_EINVAL, MOD, "%s:%d: %s%s%.64s: %s", r->name, line,
                       r->section, r->section[0] ? "." : "", key, why);
  }
  return custos__err(r->err, CUSTOS_EINVAL, MOD, "%s:%d: %s", r->name, line, why);
}

static int peek(const reader *r) {
  return r->pos < r->len ? (unsigned char)r->s[r->pos] : -1;
}

static void skip_ws(reader *r) {
  while (peek(r) == ' ' || peek(r) == '\t') r->pos++;
}

/* At a line end or the end of the text (after white space and a comment). */
static int end_of_line(reader *r) {
  skip_ws(r);
  if (peek(r) == '#') {
    while (peek(r) != -1 && peek(r) != '\n' && peek(r) != '\r') {
      int ch = peek(r);
      if (ch < 0x20 && ch != '\t')
        return fail_line(r, r->line, NULL, "control character in a comment");
      r->pos++;
    }
  }
  if (peek(r) == '\r') {
    r->pos++;
    if (peek(r) != '\n') return fail_line(r, r->line, NULL, "carriage return without a line feed");
  }
  if (peek(r) == '\n') {
    r->pos++;
    r->line++;
    return CUSTOS_OK;
  }
  if (peek(r) == -1) return CUSTOS_OK;
  return fail_line(r, r->line, NULL, "unexpected '%c' after the value", peek(r));
}

/* Skips white space, comments and line ends (inside a list). */
static int skip_blank(reader *r) {
  for (;;) {
    skip_ws(r);
    int ch = peek(r);
    if (ch == '#' || ch == '\r' || ch == '\n') {
      int rc = end_of_line(r);
      if (rc != CUSTOS_OK) return rc;
      continue;
    }
    return CUSTOS_OK;
  }
}

static bool bare_char(int ch) {
  return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
         ch == '_' || ch == '-';
}

/* A quoted string at pos into *out (owned by the caller). */
static int read_string(reader *r, char **out) {
  const int quote = peek(r);
  const int line = r->line;
  char buf[MAX_STRING + 1];
  size_t n = 0;
  r->pos++;
  for (;;) {
    int ch = peek(r);
    if (ch == -1 || ch == '\n' || ch == '\r')
      return fail_line(r, line, NULL, "unterminated string");
    r->pos++;
    if (ch == quote) break;
    if (ch < 0x20 && ch != '\t') return fail_line(r, line, NULL, "control character in a string");
    if (ch == 0x7f) return fail_line(r, line, NULL, "control character in a string");
    if (ch == '\\' && quote == '"') {
      int e = peek(r);
      r->pos++;
      if (e == '"' || e == '\\') {
        ch = e;
      } else if (e == 't') {
        ch = '\t';
      } else {
        return fail_line(r, line, NULL, "unsupported escape in a string (only \\\\, \\\" and \\t)");
      }
    }
    if (n == MAX_STRING) return fail_line(r, line, NULL, "string longer than %d bytes", MAX_STRING);
    buf[n++] = (char)ch;
  }
  buf[n] = '\0';
  *out = custos__strdup(buf);
  return *out ? CUSTOS_OK : custos__err(r->err, CUSTOS_ENOMEM, MOD, "out of memory");
}

/* A key (bare or quoted) into buf. */
static int read_key(reader *r, char *buf, size_t size) {
  int ch = peek(r);
  if (ch == '\'' || ch == '"') {
    char *s = NULL;
    int rc = read_string(r, &s);
    if (rc != CUSTOS_OK) return rc;
    if (strlen(s) >= size || s[0] == '\0') {
      custos__free(s);
      return fail_line(r, r->line, NULL, "key empty or too long");
    }
    snprintf(buf, size, "%s", s);
    custos__free(s);
    return CUSTOS_OK;
  }
  size_t n = 0;
  while (bare_char(peek(r))) {
    if (n + 1 >= size) return fail_line(r, r->line, NULL, "key too long");
    buf[n++] = (char)peek(r);
    r->pos++;
  }
  buf[n] = '\0';
  if (n == 0) {
    return ch == -1 || ch < 0x20 || ch >= 0x7f
               ? fail_line(r, r->line, NULL, "expected a key")
               : fail_line(r, r->line, NULL, "expected a key, found '%c'", ch);
  }
  return CUSTOS_OK;
}

static int read_number(reader *r, const char *key, value *v) {
  const size_t start = r->pos;
  size_t p = r->pos;
  if (r->s[p] == '+' || r->s[p] == '-') p++;
  const size_t digits = p;
  while (p < r->len && isdigit((unsigned char)r->s[p])) p++;
  if (p == digits) return fail_line(r, r->line, key, "expected a value");
  if (p - digits > 1 && r->s[digits] == '0')
    return fail_line(r, r->line, key, "leading zero in a number");
  bool real = false;
  if (p < r->len && r->s[p] == '.') {
    real = true;
    p++;
    const size_t frac = p;
    while (p < r->len && isdigit((unsigned char)r->s[p])) p++;
    if (p == frac) return fail_line(r, r->line, key, "expected digits after the decimal point");
  }
  if (p < r->len && (r->s[p] == 'e' || r->s[p] == 'E')) {
    real = true;
    p++;
    if (p < r->len && (r->s[p] == '+' || r->s[p] == '-')) p++;
    const size_t ex = p;
    while (p < r->len && isdigit((unsigned char)r->s[p])) p++;
    if (p == ex) return fail_line(r, r->line, key, "expected digits in the exponent");
  }
  if (p < r->len && (bare_char((unsigned char)r->s[p]) || r->s[p] == '.')) {
    return fail_line(r, r->line, key, "not a number");
  }
  char buf[64];
  if (p - start >= sizeof buf) return fail_line(r, r->line, key, "number too long");
  memcpy(buf, r->s + start, p - start);
  buf[p - start] = '\0';
  r->pos = p;
  errno = 0;
  if (real) {
    v->type = V_REAL;
    v->r = strtod(buf, NULL);
    if (errno != 0 || !isfinite(v->r)) return fail_line(r, r->line, key, "number out of range");
  } else {
    v->type = V_INT;
    v->i = strtoll(buf, NULL, 10);
    if (errno != 0) return fail_line(r, r->line, key, "integer out of range");
    v->r = (double)v->i;
  }
  return CUSTOS_OK;
}

static int read_list(reader *r, const char *key, value *v) {
  const int line = r->line;
  int rc;
  size_t cap = 0;
  v->type = V_LIST;
  r->pos++; /* '[' */
  for (;;) {
    if ((rc = skip_blank(r)) != CUSTOS_OK) return rc;
    int ch = peek(r);
    if (ch == -1) return fail_line(r, line, key, "list not closed");
    if (ch == ']') {
      r->pos++;
      return CUSTOS_OK;
    }
    if (ch != '\'' && ch != '"') return fail_line(r, r->line, key, "lists hold strings only");
    if (v->n == MAX_LIST_ITEMS)
      return fail_line(r, r->line, key, "more than %d entries", MAX_LIST_ITEMS);
    if (v->n == cap) {
      size_t ncap = cap ? cap * 2 : 16;
      char **items = custos__reallocarray(v->items, ncap, sizeof *items);
      if (items == NULL) return custos__err(r->err, CUSTOS_ENOMEM, MOD, "out of memory");
      v->items = items;
      int *lines = custos__reallocarray(v->lines, ncap, sizeof *lines);
      if (lines == NULL) return custos__err(r->err, CUSTOS_ENOMEM, MOD, "out of memory");
      v->lines = lines;
      cap = ncap;
    }
    v->lines[v->n] = r->line;
    if ((rc = read_string(r, &v->items[v->n])) != CUSTOS_OK) return rc;
    v->n++;
    if ((rc = skip_blank(r)) != CUSTOS_OK) return rc;
    ch = peek(r);
    if (ch == ',') {
      r->pos++;
    } else if (ch != ']') {
      return ch == -1 ? fail_line(r, line, key, "list not closed")
                      : fail_line(r, r->line, key, "expected ',' or ']' in the list");
    }
  }
}

static int read_value(reader *r, const char *key, value *v) {
  int ch = peek(r);
  if (ch == '\'' || ch == '"') {
    v->type = V_STRING;
    return read_string(r, &v->s);
  }
  if (ch == '[') return read_list(r, key, v);
  if (ch == 't' || ch == 'f') {
    const char *word = ch == 't' ? "true" : "false";
    size_t n = strlen(word);
    if (r->len - r->pos >= n && memcmp(r->s + r->pos, word, n) == 0 &&
        !(r->pos + n < r->len && bare_char((unsigned char)r->s[r->pos + n]))) {
      r->pos += n;
      v->type = V_BOOL;
      v->i = ch == 't';
      return CUSTOS_OK;
    }
  }
  if (ch == '+' || ch == '-' || (ch >= '0' && ch <= '9')) return read_number(r, key, v);
  if (ch == -1 || ch == '\n' || ch == '\r' || ch == '#')
    return fail_line(r, r->line, key, "missing value");
  return fail_line(r, r->line, key, "expected a number, a string or a list");
}

/* ---- the schema ---------------------------------------------------------------- */

typedef enum kind {
  K_INT,         /* an int parameter */
  K_REAL,        /* a double parameter (integers accepted) */
  K_LIST,        /* a string list (target: a policy_list) */
  K_IMMIGRATION, /* statutes of class immigration */
  K_MIXED        /* statutes of class mixed */
} kind;

typedef struct key_spec {
  const char *section;
  const char *key;
  kind kind;
  double min, max; /* K_INT, K_REAL: allowed range */
  bool min_open;   /* K_REAL: min itself not allowed */
  size_t offset;   /* K_INT, K_REAL: in custos_policy_params; K_LIST: the policy_list */
} key_spec;

#define PARAM(f) offsetof(custos_policy_params, f)

static const key_spec schema[] = {
    {"requests", "order_max_age_days", K_INT, 1, 365, false, PARAM(order_max_age_days)},
    {"legal_process", "administrative_forms", K_LIST, 0, 0, false, LIST_FORMS},
    {"statutes", "immigration", K_IMMIGRATION, 0, 0, false, 0},
    {"statutes", "mixed", K_MIXED, 0, 0, false, 0},
    {"agencies.immigration_authority", "departments", K_LIST, 0, 0, false, LIST_DEPARTMENTS},
    {"agencies.immigration_authority", "components", K_LIST, 0, 0, false, LIST_COMPONENTS},
    {"agencies.immigration_authority", "names", K_LIST, 0, 0, false, LIST_NAMES},
    {"probe", "min_face_px", K_REAL, 1, 10000, false, PARAM(probe_min_face_px)},
    {"probe", "min_sharpness", K_REAL, 0, 1e6, false, PARAM(probe_min_sharpness)},
    {"search", "candidates", K_INT, 1, 1000, false, PARAM(candidates)},
    {"search", "threshold", K_REAL, 0, 4, true, PARAM(search_threshold)},
    {"search", "dedup_threshold", K_REAL, 0, 4, true, PARAM(dedup_threshold)},
    {"records", "retention_days", K_INT, 1, 36500, false, PARAM(retention_days)},
    {"fields", "not_collected", K_LIST, 0, 0, false, LIST_NOT_COLLECTED},
    {"audit", "checkpoint_every", K_INT, 1, 1000000, false, PARAM(checkpoint_every)},
    {"accounts", "max_failed_logins", K_INT, 1, 1000, false, PARAM(max_failed_logins)},
};

#define ALIASES_SECTION "statutes.aliases"

static bool known_section(const char *s) {
  if (strcmp(s, ALIASES_SECTION) == 0) return true;
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(schema); i++) {
    if (strcmp(schema[i].section, s) == 0) return true;
  }
  return false;
}

/* ---- tables ------------------------------------------------------------------------ */

static const char *class_word(custos_offense_class c) {
  return custos_policy_class_name(c);
}

static int grow(void **items, size_t *cap, size_t count, size_t size) {
  if (count < *cap) return CUSTOS_OK;
  size_t ncap = *cap ? *cap * 2 : 32;
  void *n = custos__reallocarray(*items, ncap, size);
  if (n == NULL) return CUSTOS_ENOMEM;
  *items = n;
  *cap = ncap;
  return CUSTOS_OK;
}

static int add_statute(reader *r, const char *key, const char *text, int line,
                       custos_offense_class cls) {
  custos__cite c;
  if (!custos__cite_parse(text, true, &c)) {
    return fail_line(r, line, key, "'%.80s' is not a statute citation", text);
  }
  char k[CUSTOS_POLICY_STATUTE_MAX];
  custos__cite_key(&c, c.nsubs, k, sizeof k);
  for (size_t i = 0; i < r->p->nstatutes; i++) {
    statute_entry *e = &r->p->statutes[i];
    if (e->cite.wildcard != c.wildcard || strcmp(e->key, k) != 0) continue;
    if (e->origin != r->origin) {
      if (e->cls == cls) return CUSTOS_OK; /* repeats a default */
      return fail_line(r, line, key,
                       "'%.80s' is %s in the default policy; a policy file can add statutes, "
                       "not reclassify them",
                       text, class_word(e->cls));
    }
    if (e->cls == cls)
      return fail_line(r, line, key, "'%.80s' listed twice (line %d)", text, e->line);
    return fail_line(r, line, key, "'%.80s' is also listed as %s (line %d)", text,
                     class_word(e->cls), e->line);
  }
  if (grow((void **)&r->p->statutes, &r->p->cap_statutes, r->p->nstatutes, sizeof(statute_entry)))
    return custos__err(r->err, CUSTOS_ENOMEM, MOD, "out of memory");
  statute_entry *e = &r->p->statutes[r->p->nstatutes++];
  e->cite = c;
  snprintf(e->key, sizeof e->key, "%s", k);
  e->cls = cls;
  e->origin = r->origin;
  e->line = line;
  return CUSTOS_OK;
}

static int add_alias(reader *r, const char *from_text, const value *v, int line) {
  custos__cite from, to;
  if (v->type != V_STRING) {
    return fail_line(r, line, from_text, "expected a string (the citation it stands for), found %s",
                     vtype_names[v->type]);
  }
  if (!custos__cite_parse(from_text, false, &from)) {
    return fail_line(r, line, from_text, "not a statute citation");
  }
  if (!custos__cite_parse(v->s, false, &to)) {
    return fail_line(r, line, from_text, "'%.80s' is not a statute citation", v->s);
  }
  char fk[CUSTOS_POLICY_STATUTE_MAX], tk[CUSTOS_POLICY_STATUTE_MAX];
  custos__cite_key(&from, from.nsubs, fk, sizeof fk);
  custos__cite_key(&to, to.nsubs, tk, sizeof tk);
  if (strcmp(fk, tk) == 0) return fail_line(r, line, from_text, "an alias of itself");
  for (size_t i = 0; i < r->p->naliases; i++) {
    alias_entry *a = &r->p->aliases[i];
    if (strcmp(a->from, fk) != 0) continue;
    char ak[CUSTOS_POLICY_STATUTE_MAX];
    custos__cite_key(&a->to, a->to.nsubs, ak, sizeof ak);
    if (a->origin != r->origin) {
      if (strcmp(ak, tk) == 0) return CUSTOS_OK;
      char shown[CUSTOS_POLICY_STATUTE_MAX];
      custos__cite_display(&a->to, a->to.nsubs, shown, sizeof shown);
      return fail_line(r, line, from_text,
                       "stands for %s in the default policy; a policy file can add aliases, "
                       "not change them",
                       shown);
    }
    return fail_line(r, line, from_text, "listed twice (line %d)", a->line);
  }
  if (grow((void **)&r->p->aliases, &r->p->cap_aliases, r->p->naliases, sizeof(alias_entry)))
    return custos__err(r->err, CUSTOS_ENOMEM, MOD, "out of memory");
  alias_entry *a = &r->p->aliases[r->p->naliases++];
  snprintf(a->from, sizeof a->from, "%s", fk);
  a->to = to;
  a->origin = r->origin;
  a->line = line;
  return CUSTOS_OK;
}

static int add_string(reader *r, const char *key, policy_list list, const char *text, int line) {
  char match[MAX_STRING + 1];
  custos__policy_match_form(text, list == LIST_FORMS, match, sizeof match);
  if (match[0] == '\0' || strcmp(match, "*") == 0) {
    return fail_line(r, line, key, "'%.80s' is empty or matches everything", text);
  }
  if (list == LIST_NOT_COLLECTED && !custos__policy_known_sensitive_field(text)) {
    return fail_line(r, line, key,
                     "'%.80s' is not a sensitive import column (ssn, mothers_maiden_name, "
                     "birthplace, twin_indicator, voter_indicator, testing_info, "
                     "identity_documents, previous_license, parental_id_document)",
                     text);
  }
  string_list *l = &r->p->lists[list];
  for (size_t i = 0; i < l->count; i++) {
    if (strcmp(l->items[i].match, match) != 0) continue;
    if (l->items[i].origin != r->origin) return CUSTOS_OK;
    return fail_line(r, line, key, "'%.80s' listed twice (line %d)", text, l->items[i].line);
  }
  if (grow((void **)&l->items, &l->cap, l->count, sizeof(string_entry)))
    return custos__err(r->err, CUSTOS_ENOMEM, MOD, "out of memory");
  string_entry *e = &l->items[l->count];
  e->text = custos__strdup(text);
  e->match = custos__strdup(match);
  if (e->text == NULL || e->match == NULL) {
    custos__free(e->text);
    custos__free(e->match);
    return custos__err(r->err, CUSTOS_ENOMEM, MOD, "out of memory");
  }
  e->origin = r->origin;
  e->line = line;
  l->count++;
  return CUSTOS_OK;
}

/* Applies `key = v` of the current section. */
static int apply(reader *r, const char *key, const value *v, int line) {
  if (strcmp(r->section, ALIASES_SECTION) == 0) return add_alias(r, key, v, line);
  const key_spec *spec = NULL;
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(schema) && spec == NULL; i++) {
    if (strcmp(schema[i].section, r->section) == 0 && strcmp(schema[i].key, key) == 0)
      spec = &schema[i];
  }
  if (spec == NULL) {
    if (r->section[0] == '\0') return fail_line(r, line, key, "unknown key outside a [section]");
    return fail_line(r, line, key, "unknown key");
  }
  unsigned char *params = (unsigned char *)&r->p->params;
  switch (spec->kind) {
    case K_INT:
      if (v->type != V_INT)
        return fail_line(r, line, key, "expected an integer, found %s", vtype_names[v->type]);
      if ((double)v->i < spec->min || (double)v->i > spec->max) {
        return fail_line(r, line, key, "%lld is outside %.0f..%.0f", v->i, spec->min, spec->max);
      }
      {
        int x = (int)v->i;
        memcpy(params + spec->offset, &x, sizeof x);
      }
      return CUSTOS_OK;
    case K_REAL:
      if (v->type != V_INT && v->type != V_REAL) {
        return fail_line(r, line, key, "expected a number, found %s", vtype_names[v->type]);
      }
      if (v->r < spec->min || v->r > spec->max || (spec->min_open && v->r <= spec->min)) {
        return fail_line(r, line, key, "%g is outside %s%g..%g", v->r, spec->min_open ? "(" : "",
                         spec->min, spec->max);
      }
      memcpy(params + spec->offset, &v->r, sizeof v->r);
      return CUSTOS_OK;
    case K_LIST:
    case K_IMMIGRATION:
    case K_MIXED:
      if (v->type != V_LIST)
        return fail_line(r, line, key, "expected a list, found %s", vtype_names[v->type]);
      for (size_t i = 0; i < v->n; i++) {
        int rc = spec->kind == K_LIST
                     ? add_string(r, key, (policy_list)spec->offset, v->items[i], v->lines[i])
                     : add_statute(r, key, v->items[i], v->lines[i],
                                   spec->kind == K_MIXED ? CUSTOS_OFFENSE_MIXED
                                                         : CUSTOS_OFFENSE_IMMIGRATION);
        if (rc != CUSTOS_OK) return rc;
      }
      return CUSTOS_OK;
  }
  return CUSTOS_EINTERNAL;
}

/* Records section.key as set by this file; an error when it was set before. */
static int mark_seen(reader *r, const char *key, int line) {
  char full[sizeof r->section + MAX_STRING + 2];
  snprintf(full, sizeof full, "%s.%s", r->section, key);
  for (size_t i = 0; i < r->nseen; i++) {
    if (strcmp(r->seen[i], full) == 0) return fail_line(r, line, key, "duplicate key");
  }
  if (r->nseen == MAX_SEEN) return fail_line(r, line, key, "too many keys");
  if ((r->seen[r->nseen] = custos__strdup(full)) == NULL)
    return custos__err(r->err, CUSTOS_ENOMEM, MOD, "out of memory");
  r->nseen++;
  return CUSTOS_OK;
}

static int read_header(reader *r) {
  const int line = r->line;
  char name[64] = "";
  size_t n = 0;
  r->pos++; /* '[' */
  for (;;) {
    skip_ws(r);
    char part[64];
    int rc = read_key(r, part, sizeof part);
    if (rc != CUSTOS_OK) return rc;
    size_t l = strlen(part);
    if (n + l + 2 > sizeof name) return fail_line(r, line, NULL, "section name too long");
    if (n > 0) name[n++] = '.';
    memcpy(name + n, part, l + 1);
    n += l;
    skip_ws(r);
    if (peek(r) == '.') {
      r->pos++;
      continue;
    }
    if (peek(r) != ']') return fail_line(r, line, NULL, "expected ']' to close the section name");
    r->pos++;
    break;
  }
  if (!known_section(name)) return fail_line(r, line, NULL, "unknown section [%s]", name);
  for (size_t i = 0; i < r->nseen_sections; i++) {
    if (strcmp(r->seen_sections[i], name) == 0) {
      return fail_line(r, line, NULL, "section [%s] appears twice", name);
    }
  }
  if (r->nseen_sections == CUSTOS_ARRAY_LEN(r->seen_sections)) {
    return fail_line(r, line, NULL, "too many sections");
  }
  if ((r->seen_sections[r->nseen_sections] = custos__strdup(name)) == NULL)
    return custos__err(r->err, CUSTOS_ENOMEM, MOD, "out of memory");
  r->nseen_sections++;
  snprintf(r->section, sizeof r->section, "%s", name);
  return end_of_line(r);
}

static int read_pair(reader *r) {
  const int line = r->line;
  char key[MAX_STRING + 1];
  int rc = read_key(r, key, sizeof key);
  if (rc != CUSTOS_OK) return rc;
  skip_ws(r);
  if (peek(r) != '=') return fail_line(r, line, key, "expected '=' after the key");
  r->pos++;
  skip_ws(r);
  value v;
  memset(&v, 0, sizeof v);
  if ((rc = read_value(r, key, &v)) == CUSTOS_OK && (rc = end_of_line(r)) == CUSTOS_OK &&
      (strcmp(r->section, ALIASES_SECTION) == 0 || (rc = mark_seen(r, key, line)) == CUSTOS_OK)) {
    rc = apply(r, key, &v, line);
  }
  value_free(&v);
  return rc;
}

/* Checks that the text is UTF-8 without NUL bytes. */
static int check_utf8(reader *r) {
  int line = 1;
  const unsigned char *s = (const unsigned char *)r->s;
  for (size_t i = 0; i < r->len;) {
    unsigned char c = s[i];
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (c == 0) return fail_line(r, line, NULL, "NUL byte");
    if (n == 0 || i + n > r->len) return fail_line(r, line, NULL, "not UTF-8");
    for (size_t k = 1; k < n; k++) {
      if ((s[i + k] & 0xc0) != 0x80) return fail_line(r, line, NULL, "not UTF-8");
    }
    if ((n == 2 && c < 0xc2) || (n == 3 && c == 0xe0 && s[i + 1] < 0xa0) ||
        (n == 4 && (c > 0xf4 || (c == 0xf0 && s[i + 1] < 0x90)))) {
      return fail_line(r, line, NULL, "not UTF-8 (overlong)");
    }
    if (c == '\n') line++;
    i += n;
  }
  return CUSTOS_OK;
}

/* Aliases must not chain: what an alias stands for is not itself an alias. */
static int check_aliases(reader *r) {
  for (size_t i = 0; i < r->p->naliases; i++) {
    const alias_entry *a = &r->p->aliases[i];
    char tk[CUSTOS_POLICY_STATUTE_MAX];
    custos__cite_key(&a->to, a->to.nsubs, tk, sizeof tk);
    for (size_t j = 0; j < r->p->naliases; j++) {
      if (strcmp(r->p->aliases[j].from, tk) == 0) {
        const alias_entry *bad = a->origin == r->origin ? a : &r->p->aliases[j];
        snprintf(r->section, sizeof r->section, "%s", ALIASES_SECTION);
        return fail_line(r, bad->line, bad->from, "aliases may not chain (%s is itself an alias)",
                         tk);
      }
    }
  }
  return CUSTOS_OK;
}

/* Reads one text into p. */
static int read_text(custos_policy *p, const char *text, size_t len, const char *name, int origin,
                     custos_err *err) {
  reader r;
  memset(&r, 0, sizeof r);
  r.s = text;
  r.len = len;
  r.line = 1;
  r.name = name;
  r.origin = origin;
  r.p = p;
  r.err = err;
  int rc = check_utf8(&r);
  if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) r.pos = 3; /* a BOM */
  while (rc == CUSTOS_OK && r.pos < r.len) {
    skip_ws(&r);
    int ch = peek(&r);
    if (ch == '[') {
      rc = read_header(&r);
    } else if (ch == '#' || ch == '\n' || ch == '\r' || ch == -1) {
      rc = end_of_line(&r);
    } else {
      rc = read_pair(&r);
    }
  }
  if (rc == CUSTOS_OK) rc = check_aliases(&r);
  for (size_t i = 0; i < r.nseen; i++) custos__free(r.seen[i]);
  for (size_t i = 0; i < r.nseen_sections; i++) custos__free(r.seen_sections[i]);
  return rc;
}

/* ---- helpers shared with the checks ----------------------------------------------- */

void custos__policy_match_form(const char *s, bool form, char *out, size_t size) {
  size_t n = 0;
  bool space = false;
  if (size == 0) return;
  for (; *s; s++) {
    unsigned char ch = (unsigned char)*s;
    if (ch == '.') continue;
    if (form && (ch == '-' || ch == ' ' || ch == '\t' || ch == '_')) continue;
    if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') {
      space = n > 0;
      continue;
    }
    if (space) {
      if (n + 1 >= size) break;
      out[n++] = ' ';
      space = false;
    }
    if (n + 1 >= size) break;
    out[n++] = (char)tolower(ch);
  }
  out[n] = '\0';
  if (form && strncmp(out, "form", 4) == 0 && out[4] != '\0') memmove(out, out + 4, n - 3);
}

bool custos__policy_glob(const char *pattern, const char *text) {
  /* Iterative glob with backtracking to the last '*'. */
  const char *star = NULL, *resume = NULL;
  while (*text) {
    if (*pattern == '*') {
      star = pattern++;
      resume = text;
    } else if (*pattern == *text) {
      pattern++;
      text++;
    } else if (star != NULL) {
      pattern = star + 1;
      text = ++resume;
    } else {
      return false;
    }
  }
  while (*pattern == '*') pattern++;
  return *pattern == '\0';
}

bool custos__policy_list_match(const custos_policy *p, policy_list list, const char *text) {
  char match[MAX_STRING + 1];
  if (text == NULL) return false;
  custos__policy_match_form(text, list == LIST_FORMS, match, sizeof match);
  if (match[0] == '\0') return false;
  const string_list *l = &p->lists[list];
  for (size_t i = 0; i < l->count; i++) {
    if (custos__policy_glob(l->items[i].match, match)) return true;
  }
  return false;
}

bool custos__policy_known_sensitive_field(const char *name) {
  static const char *const fields[] = {"ssn",
                                       "mothers_maiden_name",
                                       "birthplace",
                                       "twin_indicator",
                                       "voter_indicator",
                                       "testing_info",
                                       "identity_documents",
                                       "previous_license",
                                       "parental_id_document"};
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(fields); i++) {
    if (strcmp(name, fields[i]) == 0) return true;
  }
  return false;
}

int custos__policy_sha256_hex(const void *data, size_t len, char hex[CUSTOS_POLICY_SHA256_HEX],
                              custos_err *err) {
  unsigned char digest[crypto_hash_sha256_BYTES];
  if (sodium_init() < 0)
    return custos__err(err, CUSTOS_EINTERNAL, MOD, "libsodium failed to start");
  crypto_hash_sha256(digest, data, len);
  sodium_bin2hex(hex, CUSTOS_POLICY_SHA256_HEX, digest, sizeof digest);
  return CUSTOS_OK;
}

/* ---- the public API ------------------------------------------------------------ */

void custos_policy_free(custos_policy *p) {
  if (p == NULL) return;
  for (int l = 0; l < LIST_COUNT; l++) {
    for (size_t i = 0; i < p->lists[l].count; i++) {
      custos__free(p->lists[l].items[i].text);
      custos__free(p->lists[l].items[i].match);
    }
    custos__free(p->lists[l].items);
  }
  custos__free(p->statutes);
  custos__free(p->aliases);
  custos__free(p->source);
  custos__free(p);
}

int custos_policy_parse(const char *text, size_t len, const char *name, custos_policy **out,
                        custos_err *err) {
  int rc;
  size_t dlen = 0;
  const char *dtext = custos_policy_default_text(&dlen);
  custos_policy *p = NULL;
  *out = NULL;
  if (text != NULL && len > CUSTOS_POLICY_MAX_BYTES) {
    return custos__err(err, CUSTOS_ETOOBIG, MOD, "%s: larger than %zu bytes",
                       name ? name : "policy", CUSTOS_POLICY_MAX_BYTES);
  }
  if ((p = custos__calloc(1, sizeof *p)) == NULL ||
      (p->source = custos__strdup(text != NULL ? (name ? name : "policy") : DEFAULT_NAME)) ==
          NULL) {
    rc = custos__err(err, CUSTOS_ENOMEM, MOD, "out of memory");
    goto out;
  }
  if ((rc = read_text(p, dtext, dlen, DEFAULT_NAME, ORIGIN_DEFAULT, err)) != CUSTOS_OK) goto out;
  if (text != NULL) {
    if ((rc = read_text(p, text, len, p->source, ORIGIN_FILE, err)) != CUSTOS_OK) goto out;
    rc = custos__policy_sha256_hex(text, len, p->sha256, err);
  } else {
    rc = custos__policy_sha256_hex(dtext, dlen, p->sha256, err);
  }
out:
  if (rc != CUSTOS_OK) {
    custos_policy_free(p);
    return rc;
  }
  *out = p;
  return CUSTOS_OK;
}

int custos_policy_load(const char *path, custos_policy **out, custos_err *err) {
  unsigned char *data = NULL;
  size_t len = 0;
  *out = NULL;
  if (path == NULL) return custos_policy_parse(NULL, 0, NULL, out, err);
  int rc = custos__read_file(path, CUSTOS_POLICY_MAX_BYTES, &data, &len, err);
  if (rc != CUSTOS_OK) {
    char detail[CUSTOS_ERR_MESSAGE_MAX];
    snprintf(detail, sizeof detail, "%s", err ? err->message : "");
    return custos__err(err, rc, MOD, "policy file %s", detail);
  }
  rc = custos_policy_parse((const char *)data, len, path, out, err);
  custos__free(data);
  return rc;
}

const char *custos_policy_sha256(const custos_policy *p) {
  return p ? p->sha256 : "";
}

const char *custos_policy_source(const custos_policy *p) {
  return p ? p->source : "";
}

const custos_policy_params *custos_policy_get_params(const custos_policy *p) {
  return p ? &p->params : NULL;
}

bool custos_policy_not_collected(const custos_policy *p, const char *field) {
  if (p == NULL || field == NULL) return false;
  const string_list *l = &p->lists[LIST_NOT_COLLECTED];
  for (size_t i = 0; i < l->count; i++) {
    if (strcmp(l->items[i].text, field) == 0) return true;
  }
  return false;
}

size_t custos_policy_not_collected_count(const custos_policy *p) {
  return p ? p->lists[LIST_NOT_COLLECTED].count : 0;
}

const char *custos_policy_not_collected_field(const custos_policy *p, size_t i) {
  if (p == NULL || i >= p->lists[LIST_NOT_COLLECTED].count) return NULL;
  return p->lists[LIST_NOT_COLLECTED].items[i].text;
}
