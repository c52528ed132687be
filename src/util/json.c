/*
 * JSON helpers on jansson: limits checked before parsing, field getters that
 * name the field in their errors, and serialisation into a bounded buffer.
 */
#include <string.h>

#include "util/json.h"

#define MOD "json"

/* Writes "PATH.KEY" (or "KEY" when path is empty) into buf. */
static const char *field(char *buf, size_t size, const char *path, const char *key) {
  snprintf(buf, size, "%s%s%.64s", path ? path : "", path && *path ? "." : "", key);
  return buf;
}

int custos__json_depth(const char *buf, size_t len, int limit) {
  int depth = 0, max = 0;
  bool in_string = false, escaped = false;
  for (size_t i = 0; i < len; i++) {
    char c = buf[i];
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max) {
        max = depth;
        if (max > limit) return limit + 1;
      }
    } else if ((c == ']' || c == '}') && depth > 0) {
      depth--;
    }
  }
  return max;
}

int custos__json_parse(const char *buf, size_t len, const custos_json_limits *lim, json_t **out,
                       custos_err *err) {
  custos_json_limits def = {CUSTOS_JSON_DEFAULT_MAX_BYTES, CUSTOS_JSON_DEFAULT_MAX_DEPTH};
  if (lim == NULL) lim = &def;
  *out = NULL;
  if (len > lim->max_bytes) {
    return custos__err(err, CUSTOS_ETOOBIG, MOD, "document of %zu bytes exceeds the limit of %zu",
                       len, lim->max_bytes);
  }
  if (custos__json_depth(buf, len, lim->max_depth) > lim->max_depth) {
    return custos__err(err, CUSTOS_ETOOBIG, MOD, "document nests deeper than %d levels",
                       lim->max_depth);
  }
  json_error_t je;
  json_t *v = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
  if (v == NULL) {
    return custos__err(err, CUSTOS_EJSON, MOD, "line %d, column %d: %s", je.line, je.column,
                       je.text);
  }
  *out = v;
  return CUSTOS_OK;
}

int custos__json_parse_file(const char *path, const custos_json_limits *lim, json_t **out,
                            custos_err *err) {
  custos_json_limits def = {CUSTOS_JSON_DEFAULT_MAX_BYTES, CUSTOS_JSON_DEFAULT_MAX_DEPTH};
  if (lim == NULL) lim = &def;
  unsigned char *data = NULL;
  size_t len = 0;
  int rc = custos__read_file(path, lim->max_bytes, &data, &len, err);
  if (rc != CUSTOS_OK) return rc;
  rc = custos__json_parse((const char *)data, len, lim, out, err);
  if (rc != CUSTOS_OK) {
    /* Prefix the file name, keeping the parser's detail. */
    char detail[CUSTOS_ERR_MESSAGE_MAX];
    snprintf(detail, sizeof detail, "%s", err ? err->message : "");
    custos__err(err, rc, MOD, "%s: %s", path, detail);
  }
  custos__free(data);
  return rc;
}

int custos__json_check_keys(const json_t *obj, const char *path, const char *const *allowed,
                            size_t n, custos_err *err) {
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)obj, key, v) {
    bool ok = false;
    for (size_t i = 0; i < n && !ok; i++) ok = strcmp(key, allowed[i]) == 0;
    if (!ok) {
      char name[256];
      return custos__err(err, CUSTOS_EINVAL, MOD, "%s: unknown key",
                         field(name, sizeof name, path, key));
    }
  }
  return CUSTOS_OK;
}

typedef enum { T_STRING, T_INTEGER, T_NUMBER, T_BOOL, T_OBJECT, T_ARRAY } want_type;

static bool has_type(const json_t *v, want_type t) {
  switch (t) {
  case T_STRING: return json_is_string(v);
  case T_INTEGER: return json_is_integer(v);
  case T_NUMBER: return json_is_number(v);
  case T_BOOL: return json_is_boolean(v);
  case T_OBJECT: return json_is_object(v);
  case T_ARRAY: return json_is_array(v);
  }
  return false;
}

static const char *const type_names[] = {"a string", "an integer", "a number",
                                         "true or false", "an object", "an array"};

/* Looks up key in obj and checks its type.  *v is untouched when the key is
 * absent and not required (CUSTOS_OK); a missing required key is CUSTOS_ENOENT, a
 * wrong type CUSTOS_EINVAL, both naming the field. */
static int get_typed(const json_t *obj, const char *path, const char *key, bool required,
                     want_type t, const json_t **v, custos_err *err) {
  char name[256];
  const json_t *found = json_is_object(obj) ? json_object_get(obj, key) : NULL;
  if (found == NULL) {
    if (!required) return CUSTOS_OK;
    return custos__err(err, CUSTOS_ENOENT, MOD, "%s: missing", field(name, sizeof name, path, key));
  }
  if (!has_type(found, t)) {
    return custos__err(err, CUSTOS_EINVAL, MOD, "%s: expected %s",
                       field(name, sizeof name, path, key), type_names[t]);
  }
  *v = found;
  return CUSTOS_OK;
}

int custos__json_get_string(const json_t *obj, const char *path, const char *key, bool required,
                            size_t max_len, const char **out, custos_err *err) {
  const json_t *v = NULL;
  int rc = get_typed(obj, path, key, required, T_STRING, &v, err);
  if (rc != CUSTOS_OK || v == NULL) return rc;
  char name[256];
  size_t len = json_string_length(v);
  const char *s = json_string_value(v);
  if (len > max_len) {
    return custos__err(err, CUSTOS_EINVAL, MOD, "%s: longer than %zu bytes",
                       field(name, sizeof name, path, key), max_len);
  }
  if (strlen(s) != len) {
    return custos__err(err, CUSTOS_EINVAL, MOD, "%s: contains a NUL character",
                       field(name, sizeof name, path, key));
  }
  *out = s;
  return CUSTOS_OK;
}

int custos__json_get_int(const json_t *obj, const char *path, const char *key, bool required,
                         long long min, long long max, long long *out, custos_err *err) {
  const json_t *v = NULL;
  int rc = get_typed(obj, path, key, required, T_INTEGER, &v, err);
  if (rc != CUSTOS_OK || v == NULL) return rc;
  long long x = json_integer_value(v);
  if (x < min || x > max) {
    char name[256];
    return custos__err(err, CUSTOS_EINVAL, MOD, "%s: %lld is outside [%lld, %lld]",
                       field(name, sizeof name, path, key), x, min, max);
  }
  *out = x;
  return CUSTOS_OK;
}

int custos__json_get_real(const json_t *obj, const char *path, const char *key, bool required,
                          double *out, custos_err *err) {
  const json_t *v = NULL;
  int rc = get_typed(obj, path, key, required, T_NUMBER, &v, err);
  if (v != NULL) *out = json_number_value(v);
  return rc;
}

int custos__json_get_bool(const json_t *obj, const char *path, const char *key, bool required,
                          bool *out, custos_err *err) {
  const json_t *v = NULL;
  int rc = get_typed(obj, path, key, required, T_BOOL, &v, err);
  *out = v != NULL ? json_is_true(v) : *out;
  return rc;
}

int custos__json_get_object(const json_t *obj, const char *path, const char *key, bool required,
                            const json_t **out, custos_err *err) {
  return get_typed(obj, path, key, required, T_OBJECT, out, err);
}

int custos__json_get_array(const json_t *obj, const char *path, const char *key, bool required,
                           size_t max_items, const json_t **out, custos_err *err) {
  const json_t *v = NULL;
  int rc = get_typed(obj, path, key, required, T_ARRAY, &v, err);
  if (rc != CUSTOS_OK || v == NULL) return rc;
  if (json_array_size(v) > max_items) {
    char name[256];
    return custos__err(err, CUSTOS_EINVAL, MOD, "%s: more than %zu items",
                       field(name, sizeof name, path, key), max_items);
  }
  *out = v;
  return CUSTOS_OK;
}

static int dump_cb(const char *chunk, size_t size, void *data) {
  return custos__buf_append(data, chunk, size) == CUSTOS_OK ? 0 : -1;
}

int custos__json_dump(const json_t *v, custos_buf *b) {
  size_t before = b->len;
  if (json_dump_callback(v, dump_cb, b, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9) |
                                            JSON_ENCODE_ANY) != 0) {
    b->len = before;
    if (b->data) b->data[before] = '\0';
    return CUSTOS_ETOOBIG;
  }
  return CUSTOS_OK;
}
