/*
 * The server on libmicrohttpd: options, start and stop, and the path of a
 * request from its headers to the handler's reply.
 *
 * libmicrohttpd runs one thread per connection (a handler may wait for a
 * password check or the database without stalling other clients), with a
 * bounded number of connections, a bound per client address and an idle
 * timeout.  It calls on_request several times per request: first with the
 * headers only, then once per piece of body, then with no data.  All checks
 * that need no body run in the first call and answer at once (httpInt.h
 * lists them), so a request refused there — a 100 MB upload to a 4 KiB route
 * above all — is answered without reading its body; libmicrohttpd then
 * closes the connection.  A body without Content-Length (chunked) is read
 * up to the route's limit, then thrown away up to DISCARD_MAX more bytes to
 * answer 413, and past that the connection is closed.
 *
 * Paths reach the router raw: the unescape callback leaves them as sent, so
 * "%2e%2e" or "%00" never turn into something that matches a route or a
 * page.
 *
 * SIGINT and SIGTERM are blocked in every thread and taken by the main
 * thread with sigwait; it then stops the daemon, which lets running
 * handlers finish, and frees everything.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "httpInt.h"

#ifndef CUSTOS_MODELS_DIR
#define CUSTOS_MODELS_DIR "models"
#endif
#ifndef CUSTOS_WEB_DIR
#define CUSTOS_WEB_DIR "web"
#endif

#define DISCARD_MAX ((uint64_t)1 << 20) /* body bytes thrown away after the limit */
#define TLS_FILE_MAX ((size_t)64 * 1024)
#define RATE_SLOTS 8192

#define CSP                                                                             \
  "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; " \
  "form-action 'self'; object-src 'none'"

void http_config_init(http_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->listen = "127.0.0.1:8080";
  cfg->max_connections = 256;
  cfg->max_per_ip = 64;
  cfg->conn_timeout_s = 30;
  cfg->db_handles = 4;
  cfg->session_idle_s = 15 * 60;
  cfg->session_max_s = 8 * 60 * 60;
  cfg->max_sessions = 10000;
  cfg->login_per_ip = 30;
  cfg->login_per_user = 10;
  cfg->purge_every_s = 3600;
}

/* ---- one request ------------------------------------------------------------------- */

/* State of one request across the calls of on_request. */
typedef struct request_state {
  http_req req;                    /* what the handler sees */
  bool answered;                   /* a response is queued */
  bool too_large;                  /* the body passed the route's limit */
  char *buf;                       /* body read so far */
  size_t cap;                      /* bytes buf holds (at most route->max_body), plus a NUL */
  size_t len;                      /* bytes in buf */
  uint64_t discarded;              /* bytes thrown away past the limit */
  int64_t start_ms;                /* when the headers arrived */
  char cookie[HTTP_TOKEN_LEN + 2]; /* the session cookie's value */
  char method[16];                 /* copy of the method */
  char path[256];                  /* the raw path, for the access log (cut) */
} request_state;

static const char *header(struct MHD_Connection *conn, const char *name) {
  return MHD_lookup_connection_value(conn, MHD_HEADER_KIND, name);
}

/* The client's address: the peer's, or behind a trusted proxy the last
 * address of X-Forwarded-For (the one the proxy added). */
static void client_address(const http_server *srv, struct MHD_Connection *conn, char *out,
                           size_t cap) {
  snprintf(out, cap, "unknown");
  if (srv->cfg->behind_https_proxy) {
    const char *xff = header(conn, "X-Forwarded-For");
    if (xff != NULL) {
      const char *last = strrchr(xff, ',');
      last = last ? last + 1 : xff;
      while (*last == ' ') last++;
      size_t n = strspn(last, "0123456789abcdefABCDEF:.");
      if (n > 0 && n < cap) {
        memcpy(out, last, n);
        out[n] = '\0';
        return;
      }
    }
  }
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
  if (ci == NULL || ci->client_addr == NULL) return;
  const struct sockaddr *sa = ci->client_addr;
  if (sa->sa_family == AF_INET) {
    inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, out,
              (socklen_t)cap);
  } else if (sa->sa_family == AF_INET6) {
    inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, out,
              (socklen_t)cap);
  }
}

/* Copies s into out for a log line: printable ASCII only. */
static void loggable(const char *s, char *out, size_t cap) {
  size_t i = 0;
  for (; s[i] && i + 1 < cap; i++) out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
  out[i] = '\0';
}

/* Turns the reply into a response with the security headers and queues it. */
static enum MHD_Result send_reply(request_state *st, struct MHD_Connection *conn) {
  http_reply *rep = &st->req.reply;
  struct MHD_Response *resp;
  bool is_page = rep->body_static != NULL && rep->status == 200 && rep->type != NULL &&
                 strncmp(rep->type, "application/json", 16) != 0;
  if (rep->status == 0) {
    http_reply_error(&st->req, 500, "internal", "the handler gave no answer");
  }
  if (rep->body_static != NULL) {
    resp = MHD_create_response_from_buffer(rep->len, (void *)(uintptr_t)rep->body_static,
                                           MHD_RESPMEM_PERSISTENT);
  } else {
    resp =
        MHD_create_response_from_buffer(rep->len, rep->body ? rep->body : (char *)"",
                                        rep->body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (resp != NULL) rep->body = NULL; /* the response frees it now */
  }
  if (resp == NULL) return MHD_NO;
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                          rep->type ? rep->type : "application/json");
  MHD_add_response_header(resp, "Content-Security-Policy", rep->csp ? rep->csp : CSP);
  MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
  MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
  MHD_add_response_header(resp, "X-Frame-Options", "DENY");
  MHD_add_response_header(resp, "Cross-Origin-Opener-Policy", "same-origin");
  MHD_add_response_header(resp, "Cross-Origin-Resource-Policy", "same-origin");
  MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, is_page ? "no-cache" : "no-store");
  if (st->req.secure) {
    MHD_add_response_header(resp, "Strict-Transport-Security", "max-age=31536000");
  }
  if (rep->set_cookie[0])
    MHD_add_response_header(resp, MHD_HTTP_HEADER_SET_COOKIE, rep->set_cookie);
  if (rep->allow[0]) MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, rep->allow);
  if (rep->disposition[0])
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_DISPOSITION, rep->disposition);
  if (rep->retry_after > 0) {
    char secs[16];
    snprintf(secs, sizeof secs, "%u", rep->retry_after);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, secs);
  }
  enum MHD_Result ok = MHD_queue_response(conn, rep->status, resp);
  MHD_destroy_response(resp);
  st->answered = true;
  return ok;
}

/* Serves a page of the manifest, or 404 / 405. */
static void static_page(request_state *st, const char *method, const char *path) {
  http_req *r = &st->req;
  const http_asset *a = st->req.srv->pages ? http_static_find(st->req.srv->pages, path) : NULL;
  if (a == NULL) {
    http_reply_error(r, 404, "not_found", "no such page or endpoint");
    return;
  }
  if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
    snprintf(r->reply.allow, sizeof r->reply.allow, "GET, HEAD");
    http_reply_error(r, 405, "method_not_allowed", "%s is not allowed here; use GET", st->method);
    return;
  }
  r->reply.status = 200;
  r->reply.type = a->type;
  r->reply.body_static = a->data;
  r->reply.len = a->len;
}

/* Everything decided from the headers alone (see httpInt.h for the order).
 * Leaves the reply set when the request is refused or fully answered. */
static void on_headers(http_server *srv, struct MHD_Connection *conn, request_state *st,
                       const char *url, const char *method) {
  http_req *r = &st->req;
  snprintf(st->method, sizeof st->method, "%s", method);
  loggable(url, st->path, sizeof st->path);
  r->srv = srv;
  r->method = st->method;
  r->path = url;
  r->body = "";
  r->conn = conn;
  r->content_type = header(conn, MHD_HTTP_HEADER_CONTENT_TYPE);
  r->secure = srv->tls || srv->cfg->behind_https_proxy;
  client_address(srv, conn, r->client, sizeof r->client);
  const char *cookies = header(conn, MHD_HTTP_HEADER_COOKIE);
  if (cookies != NULL &&
      http_cookie_find(cookies, HTTP_SESSION_COOKIE, st->cookie, sizeof st->cookie))
    r->cookie_id = st->cookie;

  http_match m = http_route_find(http_routes, method, url, &r->route, r->params, r->reply.allow,
                                 sizeof r->reply.allow);
  if (m == HTTP_MATCH_NONE) {
    static_page(st, method, url);
    return;
  }
  if (m == HTTP_MATCH_METHOD) {
    http_reply_error(r, 405, "method_not_allowed", "%s is not allowed on this path; allowed: %s",
                     st->method, r->reply.allow);
    return;
  }
  r->reply.allow[0] = '\0';
  const http_route *route = r->route;

  if (route->roles != HTTP_PUBLIC) {
    r->session = http_sessions_get(srv->sessions, r->cookie_id, http_now_ms());
    if (r->session == NULL) {
      http_reply_error(r, 401, "unauthorized", "sign in first (no session, or it expired)");
      return;
    }
    if (route->csrf) {
      const char *token = header(conn, "X-CSRF-Token");
      if (token == NULL || strlen(token) != HTTP_TOKEN_LEN ||
          sodium_memcmp(token, r->session->csrf, HTTP_TOKEN_LEN) != 0) {
        http_reply_error(r, 403, "csrf",
                         "the X-CSRF-Token header is missing or does not match the session");
        return;
      }
    }
    /* The user as the database has it now: removed, replaced or locked since
     * sign-in ends the session at once; a changed role applies at once. */
    custos_err rerr;
    custos *c = http_pool_lock(srv->pool, r->session->slot);
    int rrc = custos_session_refresh(c, r->session->cs, &rerr);
    custos_role role = custos_session_role(r->session->cs);
    http_pool_unlock(srv->pool, r->session->slot);
    if (rrc != CUSTOS_OK) {
      http_sessions_end(srv->sessions, r->session);
      http_reply_error(r, 401, "unauthorized", "sign in again: the account changed since sign-in");
      return;
    }
    r->role = role;
    if ((route->roles & HTTP_ROLE(role)) == 0) {
      http_reply_error(r, 403, "forbidden", "the %s role may not do this", custos_role_name(role));
      return;
    }
  }

  const char *cl = header(conn, MHD_HTTP_HEADER_CONTENT_LENGTH);
  const char *te = header(conn, MHD_HTTP_HEADER_TRANSFER_ENCODING);
  uint64_t length = 0;
  if (cl != NULL && !http_parse_length(cl, &length)) {
    http_reply_error(r, 400, "malformed", "Content-Length is not a number");
    return;
  }
  if (length > route->max_body) {
    http_reply_error(r, 413, "too_large", "the body is %llu bytes; this endpoint takes at most %zu",
                     (unsigned long long)length, route->max_body);
    return;
  }
  bool has_body = length > 0 || te != NULL;
  if (has_body && route->body == HTTP_BODY_IS_JSON && !http_is_json_type(r->content_type)) {
    http_reply_error(r, 415, "unsupported_media_type", "the body must be application/json");
    return;
  }
  if (has_body && route->body == HTTP_BODY_MULTIPART &&
      (r->content_type == NULL || strncasecmp(r->content_type, "multipart/form-data", 19) != 0)) {
    http_reply_error(r, 415, "unsupported_media_type", "the body must be multipart/form-data");
    return;
  }
  if (has_body) {
    /* As much as Content-Length says (a chunked body grows up to the limit). */
    st->cap = cl != NULL ? (size_t)length : (route->max_body < 65536 ? route->max_body : 65536);
    st->buf = malloc(st->cap + 1);
    if (st->buf == NULL) {
      http_reply_error(r, 500, "internal", "out of memory");
      return;
    }
  }
}

/* Takes a piece of body: keeps it while under the limit, else counts it. */
static void on_body(request_state *st, const char *data, size_t n) {
  size_t max = st->req.route->max_body;
  if (!st->too_large && st->buf != NULL && n <= max - st->len && n > st->cap - st->len) {
    size_t cap = st->cap * 2 > st->len + n ? st->cap * 2 : st->len + n;
    if (cap > max) cap = max;
    char *bigger = malloc(cap + 1); /* not realloc: the old bytes are wiped, not left behind */
    if (bigger != NULL) {
      memcpy(bigger, st->buf, st->len);
      sodium_memzero(st->buf, st->len);
      free(st->buf);
      st->buf = bigger;
      st->cap = cap;
    }
  }
  if (!st->too_large && st->buf != NULL && n <= st->cap - st->len) {
    memcpy(st->buf + st->len, data, n);
    st->len += n;
    return;
  }
  if (!st->too_large && st->buf != NULL) sodium_memzero(st->buf, st->len);
  st->too_large = true;
  st->discarded += n;
}

const char *http_query(const http_req *r, const char *key) {
  if (r->conn == NULL) return NULL;
  return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, key);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls) {
  http_server *srv = cls;
  request_state *st = *con_cls;
  (void)version;
  if (st == NULL) {
    st = calloc(1, sizeof *st);
    if (st == NULL) return MHD_NO;
    st->start_ms = http_now_ms();
    *con_cls = st;
    on_headers(srv, conn, st, url, method);
    if (st->req.reply.status != 0) return send_reply(st, conn);
    return MHD_YES;
  }
  if (st->answered) {
    *upload_data_size = 0;
    return MHD_YES;
  }
  if (*upload_data_size > 0) {
    on_body(st, upload_data, *upload_data_size);
    *upload_data_size = 0;
    return st->discarded > DISCARD_MAX ? MHD_NO : MHD_YES;
  }
  http_req *r = &st->req;
  if (st->too_large) {
    http_reply_error(r, 413, "too_large", "the body is larger than this endpoint takes (%zu bytes)",
                     r->route->max_body);
    return send_reply(st, conn);
  }
  if (st->buf != NULL) {
    st->buf[st->len] = '\0';
    r->body = st->buf;
    r->body_len = st->len;
  }
  r->route->handler(r);
  return send_reply(st, conn);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  http_server *srv = cls;
  request_state *st = *con_cls;
  (void)conn;
  if (st == NULL) return;
  if (srv->cfg->access_log) {
    http_log("%s %s %s %u %.1f ms%s", st->req.client, st->method, st->path, st->req.reply.status,
             (double)(http_now_ms() - st->start_ms),
             toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? "" : " (connection closed)");
  }
  http_sessions_release(srv->sessions, st->req.session);
  if (st->buf != NULL) {
    sodium_memzero(st->buf, st->len); /* may hold a password */
    free(st->buf);
  }
  free(st->req.reply.body);
  free(st);
  *con_cls = NULL;
}

/* Leaves paths and arguments exactly as sent (see the top of this file). */
static size_t keep_raw(void *cls, struct MHD_Connection *conn, char *s) {
  (void)cls;
  (void)conn;
  return strlen(s);
}

static void mhd_log(void *cls, const char *fmt, va_list ap) {
  char line[512];
  (void)cls;
  vsnprintf(line, sizeof line, fmt, ap);
  line[strcspn(line, "\r\n")] = '\0';
  http_log("libmicrohttpd: %s", line);
}

/* ---- start and stop ------------------------------------------------------------------- */

/* Parses "HOST:PORT" or "[V6]:PORT" (numeric addresses) into *ss. */
static bool parse_listen(const char *s, struct sockaddr_storage *ss, bool *v6) {
  char host[64];
  const char *port;
  memset(ss, 0, sizeof *ss);
  if (s[0] == '[') {
    const char *close = strchr(s, ']');
    if (close == NULL || close[1] != ':' || (size_t)(close - s - 1) >= sizeof host) return false;
    memcpy(host, s + 1, (size_t)(close - s - 1));
    host[close - s - 1] = '\0';
    port = close + 2;
  } else {
    const char *colon = strrchr(s, ':');
    if (colon == NULL || (size_t)(colon - s) >= sizeof host) return false;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    port = colon + 1;
  }
  uint64_t p;
  if (!http_parse_length(port, &p) || p > 65535 || strlen(port) > 5) return false;
  struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
  if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)p);
    *v6 = false;
    return true;
  }
  if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((uint16_t)p);
    *v6 = true;
    return true;
  }
  return false;
}

/* Reads a PEM file (at most TLS_FILE_MAX bytes) into a new NUL-terminated string. */
static char *read_pem(const char *path) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) return NULL;
  char *buf = malloc(TLS_FILE_MAX + 1);
  size_t n = buf ? fread(buf, 1, TLS_FILE_MAX + 1, f) : 0;
  fclose(f);
  if (buf == NULL || n == 0 || n > TLS_FILE_MAX) {
    free(buf);
    return NULL;
  }
  buf[n] = '\0';
  return buf;
}

static void serve_error(const char *what, const char *why, const char *hint) {
  fprintf(stderr, "custos: serve: %s: %s\n", what, why);
  if (hint != NULL) fprintf(stderr, "hint: %s\n", hint);
}

static int exit_of(int rc) {
  switch (custos_err_class_of(rc)) {
    case CUSTOS_CLASS_OK:
      return HTTP_EXIT_OK;
    case CUSTOS_CLASS_REFUSED:
    case CUSTOS_CLASS_DENIED:
      return HTTP_EXIT_REFUSED;
    case CUSTOS_CLASS_NOT_FOUND:
      return HTTP_EXIT_NOT_FOUND;
    case CUSTOS_CLASS_INTERNAL:
      break;
  }
  return HTTP_EXIT_INTERNAL;
}

int http_serve(const http_config *cfg) {
  int status = HTTP_EXIT_OK;
  int rc;
  custos_err err;
  http_server srv;
  struct MHD_Daemon *d = NULL;
  char *cert = NULL, *key = NULL;
  struct sockaddr_storage ss;
  bool v6 = false;
  sigset_t sigs, old_sigs;
  bool masked = false;
  int sig = 0; /* the signal that stopped the server */
  custos_err_clear(&err);
  memset(&srv, 0, sizeof srv);
  srv.cfg = cfg;

  if (cfg->db == NULL || !parse_listen(cfg->listen, &ss, &v6)) {
    serve_error("--listen", "expected ADDRESS:PORT with a numeric address",
                "for example --listen 127.0.0.1:8080 or --listen [::1]:8080");
    return HTTP_EXIT_USAGE;
  }
  if ((cfg->tls_cert == NULL) != (cfg->tls_key == NULL)) {
    serve_error("--tls-cert", "--tls-cert and --tls-key go together", NULL);
    return HTTP_EXIT_USAGE;
  }
  if (sodium_init() < 0) {
    serve_error("start", "libsodium failed to start", NULL);
    return HTTP_EXIT_INTERNAL;
  }
  json_object_seed(0); /* jansson's hash seed, set once before any thread starts */
  /* Signals go to the main thread's sigwait only: block them before anything
   * (the library included) can start a thread, so every thread inherits the
   * mask. */
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &sigs, &old_sigs);
  masked = true;
  signal(SIGPIPE, SIG_IGN);

  const char *models = cfg->models ? cfg->models : CUSTOS_MODELS_DIR;
  snprintf(srv.models_dir, sizeof srv.models_dir, "%s", models);
  const char *web = cfg->web ? cfg->web : getenv("CUSTOS_WEB");
  if (web == NULL || *web == '\0') web = CUSTOS_WEB_DIR;

  pthread_mutex_init(&srv.engine_lock, NULL);
  pthread_mutex_init(&srv.purge_lock, NULL);
  pthread_cond_init(&srv.purge_wake, NULL);
  if ((rc = custos_policy_load(cfg->policy, &srv.policy, &err)) != CUSTOS_OK) {
    serve_error(cfg->policy ? cfg->policy : "policy",
                err.message[0] ? err.message : custos_strerror(rc), NULL);
    status = rc == CUSTOS_ENOENT ? HTTP_EXIT_NOT_FOUND : HTTP_EXIT_USAGE;
    goto out;
  }
  if ((rc = http_pool_open(cfg->db, cfg->db_handles, &srv.pool, &err)) != CUSTOS_OK) {
    serve_error(cfg->db, err.message[0] ? err.message : custos_strerror(rc),
                rc == CUSTOS_ENOENT ? "create it with 'custos init --admin NAME'" : NULL);
    status = exit_of(rc);
    goto out;
  }
  {
    /* The policy must be the one the database was set up with, if it names
     * one: say so now rather than refuse every request later. */
    custos *c = NULL;
    custos_status st;
    unsigned slot = http_pool_lock_any(srv.pool, &c);
    rc = custos_get_status(c, &st, &err);
    http_pool_unlock(srv.pool, slot);
    if (rc == CUSTOS_OK && st.policy_sha256[0] != '\0' &&
        strcmp(st.policy_sha256, custos_policy_sha256(srv.policy)) != 0) {
      serve_error(cfg->policy ? cfg->policy : "the built-in policy",
                  "is not the policy this database was set up with",
                  "start with --policy naming the file given to 'custos init --policy'");
      status = HTTP_EXIT_REFUSED;
      goto out;
    }
    if (rc != CUSTOS_OK) {
      serve_error(cfg->db, err.message[0] ? err.message : custos_strerror(rc), NULL);
      status = exit_of(rc);
      goto out;
    }
  }
  if ((rc = http_static_load(web, &srv.pages, &err)) != CUSTOS_OK) {
    serve_error("web pages", err.message, "pass --web DIR or set CUSTOS_WEB");
    status = exit_of(rc);
    goto out;
  }
  if (http_sessions_new(cfg->max_sessions, (int64_t)cfg->session_idle_s * 1000,
                        (int64_t)cfg->session_max_s * 1000, &srv.sessions) != CUSTOS_OK ||
      http_ratelimit_new(cfg->login_per_ip, RATE_SLOTS, &srv.login_ip) != CUSTOS_OK ||
      http_ratelimit_new(cfg->login_per_user, RATE_SLOTS, &srv.login_user) != CUSTOS_OK) {
    serve_error("start", "out of memory", NULL);
    status = HTTP_EXIT_INTERNAL;
    goto out;
  }

  unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
                   MHD_USE_ERROR_LOG;
  if (v6) flags |= MHD_USE_IPv6;
  if (cfg->tls_cert != NULL) {
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
      serve_error("--tls-cert", "this libmicrohttpd was built without TLS", NULL);
      status = HTTP_EXIT_REFUSED;
      goto out;
    }
    if ((cert = read_pem(cfg->tls_cert)) == NULL || (key = read_pem(cfg->tls_key)) == NULL) {
      serve_error(cert == NULL ? cfg->tls_cert : cfg->tls_key,
                  "cannot read it (a PEM file of at most 64 KiB)", NULL);
      status = HTTP_EXIT_NOT_FOUND;
      goto out;
    }
    flags |= MHD_USE_TLS;
    srv.tls = true;
  }

  struct MHD_OptionItem tls_opts[] = {
      {cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, 0, cert},
      {key ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, 0, key},
      {MHD_OPTION_END, 0, NULL},
  };
  /* One option and its arguments per line. */
  /* clang-format off */
  d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, &srv,
                       MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL, /* first: logs of the rest */
                       MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
                       MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections,
                       MHD_OPTION_PER_IP_CONNECTION_LIMIT, cfg->max_per_ip,
                       MHD_OPTION_CONNECTION_TIMEOUT, cfg->conn_timeout_s,
                       MHD_OPTION_NOTIFY_COMPLETED, on_completed, &srv,
                       MHD_OPTION_UNESCAPE_CALLBACK, keep_raw, NULL,
                       MHD_OPTION_STRICT_FOR_CLIENT, (int)1, /* refuse malformed headers */
                       MHD_OPTION_ARRAY, tls_opts,
                       MHD_OPTION_END);
  /* clang-format on */
  if (d == NULL) {
    serve_error(cfg->listen, "cannot listen there (address in use, or not this machine's)",
                "choose another --listen ADDRESS:PORT");
    status = HTTP_EXIT_INTERNAL;
    goto out;
  }
  const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
  char host[INET6_ADDRSTRLEN] = "";
  if (v6) {
    inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof host);
  } else {
    inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof host);
  }
  printf("custos: serving %s://%s%s%s:%u/\n", srv.tls ? "https" : "http", v6 ? "[" : "", host,
         v6 ? "]" : "", info ? (unsigned)info->port : 0u);
  fflush(stdout);
  if (!http_models_usable(srv.models_dir)) {
    http_log(
        "warning: no face models in %s; /healthz answers 503 (pass --models DIR or set "
        "CUSTOS_MODELS)",
        srv.models_dir);
  }

  pthread_t purger;
  bool purging =
      cfg->purge_every_s > 0 && pthread_create(&purger, NULL, http_purge_thread, &srv) == 0;
  if (cfg->purge_every_s > 0 && !purging)
    http_log("warning: the scheduled retention purge did not start");

  while (sigwait(&sigs, &sig) != 0) {
  }
  http_log("%s: finishing the requests in progress", sig == SIGINT ? "SIGINT" : "SIGTERM");
  if (purging) {
    pthread_mutex_lock(&srv.purge_lock);
    srv.purge_stop = true;
    pthread_cond_signal(&srv.purge_wake);
    pthread_mutex_unlock(&srv.purge_lock);
    pthread_join(purger, NULL);
  }
  MHD_stop_daemon(d);
  d = NULL;
  http_log("stopped");
out:
  if (d != NULL) MHD_stop_daemon(d);
  /* After a stop by signal the mask stays: a second Ctrl-C must not cut the
   * clean-up short.  The process ends right after. */
  if (masked && sig == 0) pthread_sigmask(SIG_SETMASK, &old_sigs, NULL);
  http_sessions_free(srv.sessions);
  http_ratelimit_free(srv.login_ip);
  http_ratelimit_free(srv.login_user);
  http_static_free(srv.pages);
  http_pool_close(srv.pool);
  custos_face_engine_close(srv.engine);
  custos_policy_free(srv.policy);
  pthread_mutex_destroy(&srv.engine_lock);
  pthread_mutex_destroy(&srv.purge_lock);
  pthread_cond_destroy(&srv.purge_wake);
  if (key != NULL) sodium_memzero(key, strlen(key));
  free(key);
  free(cert);
  return status;
}
