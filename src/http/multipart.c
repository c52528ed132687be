/*
 * multipart/form-data bodies (RFC 7578), as the intake form uploads them.
 *
 * The body is already in memory (read up to the route's limit by server.c),
 * so the parser only finds the boundaries and each part's headers; the parts
 * point into the body.  It is strict where being lenient could let a part be
 * read two ways: one Content-Disposition of type form-data with a quoted
 * name per part, header lines ended by CRLF, a closing boundary.  Messages
 * name the problem, never the body's bytes.
 */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "httpInt.h"

#define BOUNDARY_MAX 70 /* RFC 2046 */
#define HEADER_LINE_MAX 1024

static bool fail(char *why, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static bool fail(char *why, size_t cap, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, cap, fmt, ap);
  va_end(ap);
  return false;
}

/* Finds parameter key (case-insensitive) in a header value's "; k=v" list and
 * copies its value (quoted or a token) into out.  false when absent, too long
 * or unterminated. */
static bool param(const char *v, size_t vlen, const char *key, char *out, size_t cap) {
  size_t klen = strlen(key);
  const char *end = v + vlen;
  const char *p = memchr(v, ';', vlen);
  while (p != NULL && p < end) {
    p++;
    while (p < end && (*p == ' ' || *p == '\t')) p++;
    const char *eq = memchr(p, '=', (size_t)(end - p));
    if (eq == NULL) return false;
    bool hit = (size_t)(eq - p) == klen && strncasecmp(p, key, klen) == 0;
    const char *q = eq + 1;
    const char *vs, *ve;
    if (q < end && *q == '"') {
      vs = q + 1;
      ve = memchr(vs, '"', (size_t)(end - vs));
      if (ve == NULL) return false;
      p = ve + 1;
    } else {
      vs = q;
      ve = vs;
      while (ve < end && *ve != ';' && *ve != ' ' && *ve != '\t') ve++;
      p = ve;
    }
    if (hit) {
      size_t n = (size_t)(ve - vs);
      if (n >= cap) return false;
      memcpy(out, vs, n);
      out[n] = '\0';
      return true;
    }
    p = memchr(p, ';', (size_t)(end - p));
  }
  return false;
}

/* Whether s has a control character or a path separator (file names are
 * shown back to people, never used as paths). */
static bool printable(const char *s) {
  for (; *s; s++) {
    if ((unsigned char)*s < 0x20 || *s == 0x7f) return false;
  }
  return true;
}

/* Parses one part's header block [h, hend) into part. */
static bool part_headers(const char *h, const char *hend, http_part *part, size_t index, char *why,
                         size_t cap) {
  bool disposition = false;
  while (h < hend) {
    const char *eol = memmem(h, (size_t)(hend - h), "\r\n", 2);
    const char *le = eol ? eol : hend;
    size_t n = (size_t)(le - h);
    if (n > HEADER_LINE_MAX)
      return fail(why, cap, "part %zu: a header line is too long", index + 1);
    const char *colon = memchr(h, ':', n);
    if (colon == NULL) return fail(why, cap, "part %zu: a header line has no ':'", index + 1);
    size_t name_len = (size_t)(colon - h);
    const char *v = colon + 1;
    while (v < le && (*v == ' ' || *v == '\t')) v++;
    size_t vlen = (size_t)(le - v);
    if (name_len == 19 && strncasecmp(h, "Content-Disposition", 19) == 0) {
      if (disposition)
        return fail(why, cap, "part %zu: two Content-Disposition headers", index + 1);
      disposition = true;
      if (vlen < 9 || strncasecmp(v, "form-data", 9) != 0 ||
          (vlen > 9 && v[9] != ';' && v[9] != ' '))
        return fail(why, cap, "part %zu: Content-Disposition is not form-data", index + 1);
      if (!param(v, vlen, "name", part->name, sizeof part->name) || part->name[0] == '\0' ||
          !printable(part->name))
        return fail(why, cap, "part %zu: no usable name in Content-Disposition", index + 1);
      if (!param(v, vlen, "filename", part->filename, sizeof part->filename))
        part->filename[0] = '\0';
      if (!printable(part->filename))
        return fail(why, cap, "part '%s': the file name has control characters", part->name);
    } else if (name_len == 12 && strncasecmp(h, "Content-Type", 12) == 0) {
      if (vlen >= sizeof part->type)
        return fail(why, cap, "part %zu: Content-Type is too long", index + 1);
      memcpy(part->type, v, vlen);
      part->type[vlen] = '\0';
      if (!printable(part->type))
        return fail(why, cap, "part %zu: Content-Type has control characters", index + 1);
    }
    h = eol ? eol + 2 : hend;
  }
  if (!disposition) return fail(why, cap, "part %zu: no Content-Disposition header", index + 1);
  return true;
}

bool http_multipart_parse(const char *content_type, const char *body, size_t len, http_part *parts,
                          size_t max, size_t *n, char *why, size_t why_cap) {
  char boundary[BOUNDARY_MAX + 1];
  char delim[BOUNDARY_MAX + 5]; /* CRLF "--" boundary */
  *n = 0;
  if (content_type == NULL || strncasecmp(content_type, "multipart/form-data", 19) != 0 ||
      (content_type[19] != ';' && content_type[19] != ' ' && content_type[19] != '\0'))
    return fail(why, why_cap, "the body must be multipart/form-data");
  if (!param(content_type, strlen(content_type), "boundary", boundary, sizeof boundary) ||
      boundary[0] == '\0')
    return fail(why, why_cap, "the multipart Content-Type has no boundary (1 to 70 characters)");
  size_t blen = strlen(boundary);
  snprintf(delim, sizeof delim, "\r\n--%s", boundary);
  size_t dlen = blen + 4;

  /* The first boundary: at the very start, or after a preamble's CRLF. */
  const char *end = body + len;
  const char *p;
  if (len >= dlen - 2 && memcmp(body, delim + 2, dlen - 2) == 0) {
    p = body + dlen - 2;
  } else {
    p = memmem(body, len, delim, dlen);
    if (p == NULL) return fail(why, why_cap, "the body has no multipart boundary");
    p += dlen;
  }
  for (;;) {
    /* After a boundary: "--" closes the body, else optional blanks and CRLF. */
    if (end - p >= 2 && p[0] == '-' && p[1] == '-') return true;
    while (p < end && (*p == ' ' || *p == '\t')) p++;
    if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
      return fail(why, why_cap, "the multipart body ends without its closing boundary");
    p += 2;
    if (*n >= max) return fail(why, why_cap, "the body has more than %zu parts", max);
    const char *hend = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
    const char *next = memmem(p, (size_t)(end - p), delim, dlen);
    if (next == NULL)
      return fail(why, why_cap, "part %zu has no boundary after it (the body is cut short)",
                  *n + 1);
    http_part *part = &parts[*n];
    memset(part, 0, sizeof *part);
    if (hend == NULL || hend > next) {
      /* A part with no header block at all ("\r\n" then data) has no name. */
      if (p + 2 <= next && p[0] == '\r' && p[1] == '\n')
        return fail(why, why_cap, "part %zu: no Content-Disposition header", *n + 1);
      return fail(why, why_cap, "part %zu: its headers do not end with a blank line", *n + 1);
    }
    if (!part_headers(p, hend, part, *n, why, why_cap)) return false;
    part->data = hend + 4;
    part->len = (size_t)(next - part->data);
    (*n)++;
    p = next + dlen;
  }
}
