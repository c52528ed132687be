/*
 * The static pages: a fixed manifest of URL path -> file in web/ -> type.
 *
 * Every file is read once at start into memory, so a request never opens a
 * file and never joins a request path to a folder: a path is served only if
 * it equals one of the manifest's paths byte for byte (the server passes the
 * raw, undecoded path), which rules out "..", percent-encoded dots, NULs and
 * every other way of reaching a file outside the manifest.  Adding a page is
 * adding a row here and the file in web/.
 *
 * The staff pages share one header (web/nav.html): a page holds the line
 * NAV_MARKER where it goes, and loading puts it there once, with
 * aria-current="page" on the link to the page itself.  nav.html is not in
 * the manifest, so it is never served on its own.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpInt.h"

#define ASSET_MAX_BYTES ((size_t)1 << 20)
#define NAV_FILE "nav.html"
#define NAV_MARKER "<!-- custos:nav -->\n" /* a line of its own */
#define CURRENT " aria-current=\"page\""

#define HTML "text/html; charset=utf-8"
#define CSS "text/css; charset=utf-8"
#define JS "text/javascript; charset=utf-8"
#define SVG "image/svg+xml"

static const http_asset manifest[] = {
    {"/", "index.html", HTML, NULL, 0},
    {"/signin", "signin.html", HTML, NULL, 0},
    {"/admin/users", "users.html", HTML, NULL, 0},
    {"/cases", "cases.html", HTML, NULL, 0},
    {"/cases/new", "case-new.html", HTML, NULL, 0},
    {"/case", "case.html", HTML, NULL, 0},
    {"/case/examine", "examine.html", HTML, NULL, 0},
    {"/case/letter", "letter.html", HTML, NULL, 0},
    {"/audit", "audit.html", HTML, NULL, 0},
    {"/static/custos.css", "custos.css", CSS, NULL, 0},
    {"/static/custos.js", "custos.js", JS, NULL, 0},
    {"/static/signin.js", "signin.js", JS, NULL, 0},
    {"/static/home.js", "home.js", JS, NULL, 0},
    {"/static/users.js", "users.js", JS, NULL, 0},
    {"/static/casekit.js", "casekit.js", JS, NULL, 0},
    {"/static/cases.js", "cases.js", JS, NULL, 0},
    {"/static/case-new.js", "case-new.js", JS, NULL, 0},
    {"/static/case.js", "case.js", JS, NULL, 0},
    {"/static/examine.js", "examine.js", JS, NULL, 0},
    {"/static/letter.js", "letter.js", JS, NULL, 0},
    {"/static/audit.js", "audit.js", JS, NULL, 0},
    {"/static/favicon.svg", "favicon.svg", SVG, NULL, 0},
};
#define NASSETS (sizeof manifest / sizeof manifest[0])

struct http_static {
  http_asset assets[NASSETS]; /* the manifest with data loaded */
};

/* Reads dir/name (at most ASSET_MAX_BYTES) into a new buffer. */
static int read_asset(const char *dir, http_asset *a, custos_err *err);

/* Puts the header nav (len bytes) where page a holds NAV_MARKER, marking the
 * link to a's own path as the current page.  Pages without it are left. */
static int put_nav(http_asset *a, const http_asset *nav, custos_err *err) {
  const char *at = a->len ? memmem(a->data, a->len, NAV_MARKER, strlen(NAV_MARKER)) : NULL;
  if (at == NULL) return CUSTOS_OK;
  char href[160];
  snprintf(href, sizeof href, "<a href=\"%s\"", a->path);
  const char *link = memmem(nav->data, nav->len, href, strlen(href));
  size_t head = (size_t)(at - (const char *)a->data), tail = a->len - head - strlen(NAV_MARKER);
  size_t cut = link ? (size_t)(link - (const char *)nav->data) + strlen(href) : nav->len;
  size_t len = head + nav->len + (link ? strlen(CURRENT) : 0) + tail;
  unsigned char *buf = malloc(len + 1);
  if (buf == NULL) return http_err_set(err, CUSTOS_ENOMEM, "out of memory building %s", a->file);
  unsigned char *p = buf;
  memcpy(p, a->data, head);
  p += head;
  memcpy(p, nav->data, cut);
  p += cut;
  if (link) {
    memcpy(p, CURRENT, strlen(CURRENT));
    p += strlen(CURRENT);
  }
  memcpy(p, nav->data + cut, nav->len - cut);
  p += nav->len - cut;
  memcpy(p, at + strlen(NAV_MARKER), tail);
  free(a->data);
  a->data = buf;
  a->len = len;
  return CUSTOS_OK;
}

static int read_asset(const char *dir, http_asset *a, custos_err *err) {
  char path[4096];
  int rc = CUSTOS_OK;
  int n = snprintf(path, sizeof path, "%s/%s", dir, a->file);
  if (n < 0 || (size_t)n >= sizeof path) {
    return http_err_set(err, CUSTOS_EINVAL, "web folder path is too long");
  }
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    return http_err_set(err, errno == ENOENT ? CUSTOS_ENOENT : CUSTOS_EIO, "page %s: %s", path,
                        strerror(errno));
  }
  unsigned char *buf = malloc(ASSET_MAX_BYTES + 1);
  if (buf == NULL) {
    rc = http_err_set(err, CUSTOS_ENOMEM, "out of memory reading %s", path);
    goto out;
  }
  size_t len = fread(buf, 1, ASSET_MAX_BYTES + 1, f);
  if (ferror(f)) {
    rc = http_err_set(err, CUSTOS_EIO, "page %s: read failed", path);
  } else if (len > ASSET_MAX_BYTES) {
    rc = http_err_set(err, CUSTOS_ETOOBIG, "page %s: larger than %zu bytes", path, ASSET_MAX_BYTES);
  } else {
    a->data = buf;
    a->len = len;
    buf = NULL;
  }
out:
  free(buf);
  fclose(f);
  return rc;
}

int http_static_load(const char *dir, http_static **out, custos_err *err) {
  int rc = CUSTOS_OK;
  *out = NULL;
  http_static *s = calloc(1, sizeof *s);
  if (s == NULL) return http_err_set(err, CUSTOS_ENOMEM, "out of memory");
  memcpy(s->assets, manifest, sizeof manifest);
  for (size_t i = 0; i < NASSETS && rc == CUSTOS_OK; i++) rc = read_asset(dir, &s->assets[i], err);
  http_asset nav = {"", NAV_FILE, HTML, NULL, 0};
  if (rc == CUSTOS_OK) rc = read_asset(dir, &nav, err);
  for (size_t i = 0; i < NASSETS && rc == CUSTOS_OK; i++) {
    if (strcmp(s->assets[i].type, HTML) == 0) rc = put_nav(&s->assets[i], &nav, err);
  }
  free(nav.data);
  if (rc != CUSTOS_OK) {
    http_static_free(s);
    return rc;
  }
  *out = s;
  return CUSTOS_OK;
}

void http_static_free(http_static *s) {
  if (s == NULL) return;
  for (size_t i = 0; i < NASSETS; i++) free(s->assets[i].data);
  free(s);
}

const http_asset *http_static_find(const http_static *s, const char *path) {
  for (size_t i = 0; i < NASSETS; i++) {
    if (strcmp(s->assets[i].path, path) == 0) return &s->assets[i];
  }
  return NULL;
}
