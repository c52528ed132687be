/*
 * JSON reading and writing on jansson, with limits.
 *
 * Reading: a document from outside is refused before jansson sees it when it
 * is larger than max_bytes or nests deeper than max_depth (jansson's own
 * depth limit is 2048 and not configurable).  Duplicate keys are refused.
 * Errors name the line and column.
 *
 * Field access: the getters take the object, the key and the dotted path of
 * the object ("agency", "legal_process") so an error names the exact field,
 * for example "agency.level: expected a string".  custos__json_check_keys
 * refuses keys that are not in an allowed list.
 */
#ifndef CUSTOS_UTIL_JSON_H
#define CUSTOS_UTIL_JSON_H

#include <jansson.h>
#include <stdbool.h>

#include "util/util.h"

typedef struct custos_json_limits {
  size_t max_bytes;  /* largest document accepted */
  int max_depth;     /* deepest nesting of arrays and objects accepted */
} custos_json_limits;

#define CUSTOS_JSON_DEFAULT_MAX_BYTES ((size_t)1 << 20)
#define CUSTOS_JSON_DEFAULT_MAX_DEPTH 32

/* Parses buf[0..len) into *out (caller owns: json_decref).  lim NULL means the
 * defaults above.  CUSTOS_ETOOBIG for size or depth, CUSTOS_EJSON otherwise. */
int custos__json_parse(const char *buf, size_t len, const custos_json_limits *lim, json_t **out,
                       custos_err *err);

/* Reads and parses a file with the same limits. */
int custos__json_parse_file(const char *path, const custos_json_limits *lim, json_t **out,
                            custos_err *err);

/* Nesting depth of a JSON text, ignoring brackets inside strings; stops
 * counting once past `limit` and returns limit + 1. */
int custos__json_depth(const char *buf, size_t len, int limit);

/* Refuses any key of obj not in allowed[0..n): "PATH.KEY: unknown key". */
int custos__json_check_keys(const json_t *obj, const char *path, const char *const *allowed,
                            size_t n, custos_err *err);

/* Getters.  When the key is absent: CUSTOS_ENOENT if required (message
 * "PATH.KEY: missing"), else CUSTOS_OK with the output untouched.  A value of
 * the wrong type, or a string longer than max_len bytes or holding a NUL,
 * gives CUSTOS_EINVAL naming the field.  Strings point into obj. */
int custos__json_get_string(const json_t *obj, const char *path, const char *key, bool required,
                            size_t max_len, const char **out, custos_err *err);
int custos__json_get_int(const json_t *obj, const char *path, const char *key, bool required,
                         long long min, long long max, long long *out, custos_err *err);
int custos__json_get_real(const json_t *obj, const char *path, const char *key, bool required,
                          double *out, custos_err *err);
int custos__json_get_bool(const json_t *obj, const char *path, const char *key, bool required,
                          bool *out, custos_err *err);
int custos__json_get_object(const json_t *obj, const char *path, const char *key, bool required,
                            const json_t **out, custos_err *err);
int custos__json_get_array(const json_t *obj, const char *path, const char *key, bool required,
                           size_t max_items, const json_t **out, custos_err *err);

/* Serialises v (compact, keys in insertion order, reals with 9 significant
 * digits — enough to round-trip a float) and appends it to b. */
int custos__json_dump(const json_t *v, custos_buf *b);

#endif
