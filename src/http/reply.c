/*
 * Replies and the small parsers every handler shares: JSON replies and the
 * error shape {"error": code, "message": text}, the mapping from a library
 * error to an HTTP status, the request body as a checked JSON object, random
 * tokens, Content-Length and Cookie parsing.
 *
 * Error messages never echo request bytes beyond a field's name: a malformed
 * body is described by its line and column only, so a half-sent password
 * cannot come back in a reply or a log line.
 */
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "httpInt.h"

#define JSON_TYPE "application/json"

int http_err_set(custos_err *err, int code, const char *fmt, ...) {
  if (err == NULL) return code;
  va_list ap;
  va_start(ap, fmt);
  err->code = code;
  snprintf(err->module, sizeof err->module, "http");
  vsnprintf(err->message, sizeof err->message, fmt, ap);
  va_end(ap);
  return code;
}

void http_log(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  flockfile(stderr);
  fputs("custos serve: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  funlockfile(stderr);
  va_end(ap);
}

int64_t http_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int http_random_token(char out[HTTP_TOKEN_LEN + 1]) {
  unsigned char raw[32];
  if (sodium_init() < 0) return CUSTOS_EINTERNAL;
  randombytes_buf(raw, sizeof raw);
  sodium_bin2base64(out, HTTP_TOKEN_LEN + 1, raw, sizeof raw,
                    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
  sodium_memzero(raw, sizeof raw);
  return CUSTOS_OK;
}

bool http_parse_length(const char *s, uint64_t *out) {
  uint64_t v = 0;
  if (s == NULL || *s == '\0') return false;
  for (; *s; s++) {
    if (*s < '0' || *s > '9') return false;
    unsigned d = (unsigned)(*s - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

bool http_cookie_find(const char *header, const char *name, char *out, size_t cap) {
  size_t nlen = strlen(name);
  const char *p = header;
  while (p != NULL && *p) {
    while (*p == ' ' || *p == '\t' || *p == ';') p++;
    const char *end = strchr(p, ';');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
      size_t vlen = len - nlen - 1;
      while (vlen > 0 && (p[nlen + 1 + vlen - 1] == ' ' || p[nlen + 1 + vlen - 1] == '\t')) vlen--;
      if (vlen + 1 > cap) return false;
      memcpy(out, p + nlen + 1, vlen);
      out[vlen] = '\0';
      return true;
    }
    p = end;
  }
  return false;
}

bool http_is_json_type(const char *type) {
  if (type == NULL) return false;
  size_t n = strlen(JSON_TYPE);
  if (strncasecmp(type, JSON_TYPE, n) != 0) return false;
  const char *rest = type + n;
  while (*rest == ' ') rest++;
  return *rest == '\0' || *rest == ';';
}

/* ---- replies ------------------------------------------------------------------ */

static void set_body(http_req *r, unsigned status, const char *type, char *body) {
  free(r->reply.body);
  r->reply.status = status;
  r->reply.type = type;
  r->reply.body = body;
  r->reply.len = body ? strlen(body) : 0;
  r->reply.body_static = NULL;
}

void http_reply_json(http_req *r, unsigned status, json_t *o) {
  char *s = NULL;
  if (o != NULL) s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(o);
  if (s == NULL) {
    /* The one reply that needs no allocation of its own. */
    static const char oom[] = "{\"error\":\"internal\",\"message\":\"out of memory\"}";
    set_body(r, 500, JSON_TYPE, NULL);
    r->reply.body_static = (const unsigned char *)oom;
    r->reply.len = sizeof oom - 1;
    return;
  }
  set_body(r, status, JSON_TYPE, s);
}

void http_reply_error(http_req *r, unsigned status, const char *code, const char *fmt, ...) {
  char msg[CUSTOS_ERR_MESSAGE_MAX + 64];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  http_reply_json(r, status, json_pack("{s:s, s:s}", "error", code, "message", msg));
}

void http_reply_custos_error(http_req *r, int rc, const custos_err *err) {
  const char *msg = err != NULL && err->message[0] ? err->message : custos_strerror(rc);
  switch (custos_err_class_of(rc)) {
    case CUSTOS_CLASS_REFUSED:
      if (rc == CUSTOS_ECONFLICT) {
        http_reply_error(r, 409, "conflict", "%s", msg);
      } else if (rc == CUSTOS_ETOOBIG || rc == CUSTOS_EIMAGE_TOO_LARGE) {
        http_reply_error(r, 413, "too_large", "%s", msg);
      } else if (rc == CUSTOS_EPOLICY) {
        http_reply_error(r, 422, "policy", "%s", msg);
      } else {
        http_reply_error(r, 400, "invalid", "%s", msg);
      }
      return;
    case CUSTOS_CLASS_DENIED:
      if (rc == CUSTOS_EAUTH) {
        http_reply_error(r, 401, "unauthorized", "%s", msg);
      } else {
        http_reply_error(r, 403, "forbidden", "%s", msg);
      }
      return;
    case CUSTOS_CLASS_NOT_FOUND:
      http_reply_error(r, 404, "not_found", "%s", msg);
      return;
    case CUSTOS_CLASS_OK:
    case CUSTOS_CLASS_INTERNAL:
      break;
  }
  http_log("%s %s: %s (%s)", r->method, r->path, msg, custos_err_name(rc));
  http_reply_error(r, 500, "internal", "internal error (%s); the server log has the detail",
                   custos_err_name(rc));
}

void http_reply_action_failed(http_req *r, int rc, const custos_err *err) {
  if (rc == CUSTOS_EAUTH && r->session != NULL) {
    http_sessions_end_user(r->srv->sessions, r->session->user);
    snprintf(r->reply.set_cookie, sizeof r->reply.set_cookie,
             HTTP_SESSION_COOKIE "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0%s",
             r->secure ? "; Secure" : "");
  }
  http_reply_custos_error(r, rc, err);
}

/* ---- request bodies ------------------------------------------------------------- */

bool http_json_too_deep(const char *s, size_t len, int max_depth) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if (in_string) {
      if (c == '\\') {
        i++;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return true;
    } else if (c == ']' || c == '}') {
      depth--;
    }
  }
  return false;
}

json_t *http_body_object(http_req *r, const char *const *allowed) {
  json_error_t jerr;
  if (r->body_len == 0) {
    http_reply_error(r, 400, "malformed", "request body: expected a JSON object, got nothing");
    return NULL;
  }
  if (http_json_too_deep(r->body, r->body_len, HTTP_JSON_MAX_DEPTH)) {
    http_reply_error(r, 400, "malformed", "request body: JSON nested deeper than %d levels",
                     HTTP_JSON_MAX_DEPTH);
    return NULL;
  }
  json_t *o = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &jerr);
  if (o == NULL) {
    /* Line and column only: jerr.text quotes the input. */
    http_reply_error(r, 400, "malformed", "request body: malformed JSON at line %d, column %d",
                     jerr.line, jerr.column);
    return NULL;
  }
  if (!json_is_object(o)) {
    json_decref(o);
    http_reply_error(r, 400, "malformed", "request body: expected a JSON object");
    return NULL;
  }
  const char *key;
  json_t *v;
  json_object_foreach(o, key, v) {
    bool known = false;
    for (const char *const *a = allowed; *a && !known; a++) known = strcmp(*a, key) == 0;
    if (!known) {
      http_reply_error(r, 400, "malformed", "request body: unknown field '%.64s'", key);
      json_decref(o);
      return NULL;
    }
  }
  return o;
}

bool http_json_string(http_req *r, json_t *o, const char *key, bool required, bool nullable,
                      const char **out) {
  json_t *v = json_object_get(o, key);
  *out = NULL;
  if (v == NULL) {
    if (!required) return true;
    http_reply_error(r, 400, "malformed", "request body: field '%s' is required", key);
    return false;
  }
  if (nullable && json_is_null(v)) return true;
  if (!json_is_string(v)) {
    http_reply_error(r, 400, "malformed", "request body: field '%s' must be a string%s", key,
                     nullable ? " or null" : "");
    return false;
  }
  *out = json_string_value(v);
  return true;
}
