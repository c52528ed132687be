/*
 * http internals: the request and reply a handler sees, the routing table,
 * and the parts the server is made of (sessions, login rate limits, the pool
 * of database handles, the static pages).
 *
 * A request goes through server.c in this order, and every step that refuses
 * it answers at once, before the body is read:
 *
 *   route (404 / 405)  ->  Content-Length against the route's limit (413)
 *   -> session (401)  ->  CSRF token (403 csrf)  ->  role (403 forbidden)
 *   -> body, read up to the limit (413 past it)  ->  the route's handler
 *
 * Handlers never touch libmicrohttpd: they read an http_req and fill its
 * http_reply, which server.c turns into a response with the security
 * headers.  So a new endpoint is one row in routes.c and one handler.
 */
#ifndef CUSTOS_HTTP_INT_H
#define CUSTOS_HTTP_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "custos/core.h"
#include "custos/face.h"
#include "custos/policy.h"
#include "http.h"

struct MHD_Connection;

#define HTTP_TOKEN_LEN 43                   /* base64url of 32 random bytes, no padding */
#define HTTP_MAX_PARAMS 4                   /* {placeholders} in one route pattern */
#define HTTP_PARAM_MAX 128                  /* bytes of one path parameter */
#define HTTP_JSON_MAX_DEPTH 16              /* nesting of a request's JSON body */
#define HTTP_BODY_JSON (64 * 1024)          /* default body limit of JSON routes, bytes */
#define HTTP_BODY_SMALL (4 * 1024)          /* body limit of sign-in and small commands, bytes */
#define HTTP_ADDR_MAX 64                    /* a client address as text */
#define HTTP_BODY_UPLOAD (24 * 1024 * 1024) /* body limit of the request upload, bytes */
#define HTTP_MAX_PARTS 8                    /* parts of one multipart body */

/* ---- roles a route admits ------------------------------------------------------ */

#define HTTP_ROLE(r) (1u << (unsigned)(r))
#define HTTP_PUBLIC 0u /* no session needed */
#define HTTP_SIGNED_IN                                                                             \
  (HTTP_ROLE(CUSTOS_ROLE_ADMIN) | HTTP_ROLE(CUSTOS_ROLE_INTAKE) | HTTP_ROLE(CUSTOS_ROLE_MANAGER) | \
   HTTP_ROLE(CUSTOS_ROLE_GOVERNOR) | HTTP_ROLE(CUSTOS_ROLE_LEGAL) |                                \
   HTTP_ROLE(CUSTOS_ROLE_EXAMINER) | HTTP_ROLE(CUSTOS_ROLE_AUDITOR))

/* ---- sessions (session.c) ------------------------------------------------------- */

/* One signed-in browser.  The cookie carries a random 256-bit id; the store
 * keeps only its SHA-256, so a memory dump does not yield live cookies. */
typedef struct http_session {
  unsigned char id_hash[32];           /* SHA-256 of the cookie's id */
  char csrf[HTTP_TOKEN_LEN + 1];       /* the X-CSRF-Token this session must send */
  custos_session *cs;                  /* the library's session (owned) */
  unsigned slot;                       /* pool slot cs was opened on (cs is bound to it) */
  char user[CUSTOS_USER_NAME_MAX + 1]; /* user name */
  custos_role role;                    /* role at sign-in; the library re-checks per action */
  int64_t created_ms;                  /* monotonic ms at sign-in */
  int64_t last_ms;                     /* monotonic ms of the last request */
  unsigned refs;                       /* requests using it now */
  bool ended;                          /* out of the table; freed when refs reaches 0 */
  struct http_session *next;           /* hash chain */
} http_session;

typedef struct http_sessions http_sessions;

/* A store of at most max sessions with idle and absolute lifetimes in ms.
 * CUSTOS_ENOMEM.  The caller frees it with http_sessions_free. */
int http_sessions_new(size_t max, int64_t idle_ms, int64_t max_ms, http_sessions **out);

/* Frees the store and every session in it; NULL-safe.  No request may hold a
 * session any more. */
void http_sessions_free(http_sessions *s);

/* Makes a session for cs (taking it, also on failure), opened on pool slot
 * slot, and writes its cookie id into id (NUL-terminated).  *out is held
 * (release it).  CUSTOS_ETOOBIG when max sessions are live; CUSTOS_EINTERNAL
 * when random bytes fail. */
int http_sessions_create(http_sessions *s, custos_session *cs, unsigned slot, int64_t now_ms,
                         char id[HTTP_TOKEN_LEN + 1], http_session **out);

/* The live session of cookie id, held, with its idle timer restarted; NULL
 * when there is none or it expired (an expired one is ended). */
http_session *http_sessions_get(http_sessions *s, const char *id, int64_t now_ms);

/* Drops a hold from get or create; frees an ended session with no holds. */
void http_sessions_release(http_sessions *s, http_session *x);

/* Ends a held session (sign-out, or its user lost access); the caller still
 * releases it. */
void http_sessions_end(http_sessions *s, http_session *x);

/* Live sessions now. */
size_t http_sessions_count(http_sessions *s);

/* Ends every session of user (an account locked or removed); returns how many. */
size_t http_sessions_end_user(http_sessions *s, const char *user);

/* ---- login rate limits (ratelimit.c) --------------------------------------------- */

typedef struct http_ratelimit http_ratelimit;

/* Token buckets of per_minute tokens, refilled at per_minute per minute, for
 * at most slots keys (the least recently used is forgotten first).
 * per_minute 0 makes a limiter that allows everything.  CUSTOS_ENOMEM. */
int http_ratelimit_new(unsigned per_minute, size_t slots, http_ratelimit **out);
void http_ratelimit_free(http_ratelimit *r); /* NULL-safe */

/* Takes a token for key: 0 when allowed, else the whole seconds until one is
 * available (at least 1). */
unsigned http_ratelimit_take(http_ratelimit *r, const char *key, int64_t now_ms);

/* ---- database handles (pool.c) ------------------------------------------------------ */

/* A custos handle serves one thread at a time, and a library session is bound
 * to the handle it was opened on; so the server keeps n handles, each behind
 * a mutex, and a session's requests use its own handle.  n also bounds the
 * password checks (64 MiB of Argon2id memory each) running at once. */
typedef struct http_pool http_pool;

/* Opens n handles on db.  Errors of custos_open. */
int http_pool_open(const char *db, unsigned n, http_pool **out, custos_err *err);
void http_pool_close(http_pool *p); /* NULL-safe; no handle may be locked */

/* Locks slot's handle (waiting for it) and returns it. */
custos *http_pool_lock(http_pool *p, unsigned slot);

/* Locks a free handle, or waits for one; returns its slot and sets *c. */
unsigned http_pool_lock_any(http_pool *p, custos **c);

void http_pool_unlock(http_pool *p, unsigned slot);

/* ---- static pages (static.c) ------------------------------------------------------- */

typedef struct http_static http_static;

/* One page or asset of web/, by its exact URL path. */
typedef struct http_asset {
  const char *path;    /* "/signin": matched exactly against the raw request path */
  const char *file;    /* "signin.html", a name inside the web folder */
  const char *type;    /* its Content-Type */
  unsigned char *data; /* the file's bytes, loaded at start */
  size_t len;          /* bytes */
} http_asset;

/* Loads every file of the manifest (static.c) from dir; a missing or
 * over-large file is an error naming it (CUSTOS_ENOENT, CUSTOS_ETOOBIG). */
int http_static_load(const char *dir, http_static **out, custos_err *err);
void http_static_free(http_static *s); /* NULL-safe */

/* The asset served at path exactly, or NULL.  No path is ever joined to a
 * folder: only the manifest's names are read, so no request can reach
 * another file. */
const http_asset *http_static_find(const http_static *s, const char *path);

/* ---- the server --------------------------------------------------------------------- */

typedef struct http_server {
  const http_config *cfg;      /* options */
  char models_dir[4096];       /* resolved models folder */
  http_pool *pool;             /* database handles */
  http_sessions *sessions;     /* signed-in browsers */
  http_ratelimit *login_ip;    /* sign-in attempts per client address */
  http_ratelimit *login_user;  /* sign-in attempts per user name */
  http_static *pages;          /* web/ */
  bool tls;                    /* served over HTTPS itself */
  custos_policy *policy;       /* the policy file (--policy), or the built-in one */
  pthread_mutex_t engine_lock; /* one face engine run at a time; taken before a pool slot */
  custos_face_engine *engine;  /* opened at the first request that needs it */
  pthread_mutex_t purge_lock;  /* the scheduled purge's clock */
  pthread_cond_t purge_wake;   /* signalled to stop it */
  bool purge_stop;             /* the server is stopping */
} http_server;

/* What a handler answers.  Zeroed before the handler runs. */
typedef struct http_reply {
  unsigned status;                  /* HTTP status; 0 means the handler set nothing (500) */
  const char *type;                 /* Content-Type (static string) */
  char *body;                       /* body bytes (malloc'd, owned) unless body_static */
  size_t len;                       /* body bytes */
  const unsigned char *body_static; /* body not owned (a static page), or NULL */
  char set_cookie[192];             /* Set-Cookie value; "" none */
  char allow[64];                   /* Allow header (405); "" none */
  unsigned retry_after;             /* Retry-After seconds (429); 0 none */
  const char *csp;                  /* Content-Security-Policy (static string); NULL: the default */
  char disposition[96];             /* Content-Disposition; "" none */
} http_reply;

/* One request as a handler sees it. */
typedef struct http_req {
  http_server *srv;                                 /* the server */
  const struct http_route *route;                   /* the row that matched */
  const char *method;                               /* "GET", ... */
  const char *path;                                 /* raw path, no query */
  char params[HTTP_MAX_PARAMS][HTTP_PARAM_MAX + 1]; /* {placeholders}, in order */
  const char *body;                                 /* request body, NUL-terminated; "" none */
  size_t body_len;                                  /* its bytes */
  const char *cookie_id;                            /* the session cookie's value, or NULL */
  http_session *session;                            /* held session, or NULL (public routes) */
  custos_role role; /* the session user's role as the database has it now (signed-in routes) */
  char client[HTTP_ADDR_MAX];  /* client address */
  bool secure;                 /* reached over HTTPS (cookies get Secure) */
  const char *content_type;    /* the Content-Type header, or NULL */
  struct MHD_Connection *conn; /* only for http_query (server.c); handlers never use it */
  http_reply reply;            /* the answer */
} http_req;

typedef void (*http_handler)(http_req *r);

/* The type a route's body must have. */
typedef enum http_body_type {
  HTTP_BODY_NONE = 0,     /* no body (max_body 0), or any type */
  HTTP_BODY_IS_JSON = 1,  /* application/json */
  HTTP_BODY_MULTIPART = 2 /* multipart/form-data (http_multipart_parse) */
} http_body_type;

/* A row of the routing table (routes.c). */
typedef struct http_route {
  const char *method;   /* "GET", "POST", "PUT", "DELETE" (GET also answers HEAD) */
  const char *pattern;  /* "/api/users/{name}/unlock": {x} is one path segment */
  http_handler handler; /* fills the reply */
  unsigned roles;       /* HTTP_PUBLIC, or HTTP_ROLE() bits admitted (HTTP_SIGNED_IN) */
  bool csrf;            /* needs X-CSRF-Token equal to the session's */
  size_t max_body;      /* request body limit, bytes; 0: no body accepted */
  http_body_type body;  /* what Content-Type a body must have */
} http_route;

/* The routing table, ended by a row with method NULL. */
extern const http_route http_routes[];

/* Outcome of looking a request up in the table. */
typedef enum http_match {
  HTTP_MATCH_ROUTE = 0,  /* *route and params are set */
  HTTP_MATCH_METHOD = 1, /* the path exists with other methods; allow lists them */
  HTTP_MATCH_NONE = 2    /* no row has this path */
} http_match;

/* Finds method + path in table.  A {placeholder} matches one non-empty
 * segment of unreserved characters (A-Z a-z 0-9 - . _ ~) up to
 * HTTP_PARAM_MAX bytes, copied into params; nothing is percent-decoded. */
http_match http_route_find(const http_route *table, const char *method, const char *path,
                           const http_route **route,
                           char params[HTTP_MAX_PARAMS][HTTP_PARAM_MAX + 1], char *allow,
                           size_t allow_cap);

/* The value of the query argument key of r's URL ("?state=intake"), as sent
 * (not decoded), or NULL when absent. */
const char *http_query(const http_req *r, const char *key);

/* ---- the case, report and audit handlers (cases.c) ------------------------------------- */

void http_h_cases_list(http_req *r);
void http_h_cases_create(http_req *r);
void http_h_case_show(http_req *r);
void http_h_case_order(http_req *r);
void http_h_case_review(http_req *r);
void http_h_case_search(http_req *r);
void http_h_case_examine(http_req *r);
void http_h_case_adjudicate(http_req *r);
void http_h_case_letter(http_req *r);
void http_h_case_close(http_req *r);
void http_h_case_withdraw(http_req *r);
void http_h_report(http_req *r);
void http_h_audit(http_req *r);
void http_h_audit_checkpoint(http_req *r);
void http_h_audit_verify(http_req *r);
void http_h_audit_entry(http_req *r);
void http_h_purge(http_req *r);

/* The scheduled retention purge (GOV-21): runs custos_case_purge_scheduled
 * at start and then every cfg->purge_every_s seconds until purge_stop, each
 * time also signing a checkpoint of the audit log when it has grown.  The
 * thread's entry point; arg is the http_server. */
void *http_purge_thread(void *arg);

/* ---- multipart bodies (multipart.c) ---------------------------------------------------- */

/* One part of a multipart/form-data body; data points into the body. */
typedef struct http_part {
  char name[64];      /* the form field's name */
  char filename[256]; /* the file name sent, "" when none */
  char type[128];     /* its Content-Type, "" when none */
  const char *data;   /* its bytes */
  size_t len;
} http_part;

/* Splits body (len bytes) of Content-Type content_type into at most max
 * parts.  false with why (a sentence naming the problem, never body bytes)
 * when the type is not multipart/form-data with a boundary, a part has no
 * name or a malformed header, there are more than max parts, or the closing
 * boundary is missing. */
bool http_multipart_parse(const char *content_type, const char *body, size_t len, http_part *parts,
                          size_t max, size_t *n, char *why, size_t why_cap);

/* Whether dir (or its "model" sub-folder, as the face engine looks) holds the
 * manifests of the three face-api networks. */
bool http_models_usable(const char *dir);

/* ---- replies and helpers (reply.c) ------------------------------------------------ */

/* Sets a JSON reply (steals o; NULL o is a 500). */
void http_reply_json(http_req *r, unsigned status, json_t *o);

/* Sets the error reply {"error": code, "message": ...}. */
void http_reply_error(http_req *r, unsigned status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Sets the reply for a failed library call: its class and code give the
 * status (400 invalid, 409 conflict, 413, 401, 403, 404, 500); internal
 * failures are logged and answered without their detail. */
void http_reply_custos_error(http_req *r, int rc, const custos_err *err);

/* A library action for the request's session failed: answers as
 * http_reply_custos_error, and when the library no longer accepts the user
 * (CUSTOS_EAUTH: locked since sign-in) ends every session of that user and
 * clears the cookie. */
void http_reply_action_failed(http_req *r, int rc, const custos_err *err);

/* Parses the request body as one JSON object no deeper than
 * HTTP_JSON_MAX_DEPTH, refusing duplicate keys and keys not in allowed
 * (NULL-terminated).  On failure sets a 400 "malformed" reply naming the
 * problem and returns NULL. */
json_t *http_body_object(http_req *r, const char *const *allowed);

/* A string member: required or not (absent, or null when nullable, leaves
 * *out NULL).  On a wrong type sets a 400 naming the field; returns false. */
bool http_json_string(http_req *r, json_t *o, const char *key, bool required, bool nullable,
                      const char **out);

/* Whether the JSON text nests deeper than max_depth (strings are skipped). */
bool http_json_too_deep(const char *s, size_t len, int max_depth);

/* Writes 32 random bytes as base64url into out; CUSTOS_EINTERNAL if libsodium fails. */
int http_random_token(char out[HTTP_TOKEN_LEN + 1]);

/* Monotonic clock, ms. */
int64_t http_now_ms(void);

/* Parses a decimal Content-Length (digits only, no sign, no overflow). */
bool http_parse_length(const char *s, uint64_t *out);

/* Finds cookie name in a Cookie header value; copies its value into out.
 * Returns false when absent or longer than cap - 1. */
bool http_cookie_find(const char *header, const char *name, char *out, size_t cap);

/* Whether a Content-Type value is application/json (parameters allowed). */
bool http_is_json_type(const char *type);

/* Fills err (module "http") and returns code. */
int http_err_set(custos_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Logs one line "custos serve: ..." on stderr. */
void http_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define HTTP_SESSION_COOKIE "custos_session"

#endif
