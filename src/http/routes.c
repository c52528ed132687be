/*
 * The routing table and its handlers.
 *
 * Each row names a method, a path pattern, the handler, the roles admitted,
 * whether the CSRF token is needed and the body limit; server.c enforces all
 * of that before a handler runs, so a handler only parses its body and calls
 * the library.  The library checks the acting user again inside its own
 * transaction (a locked, removed or demoted user is refused at once), so the
 * roles here are the first of two checks, never the only one.
 *
 * To add an endpoint: write a handler below and add its row (docs/http.md).
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "custos/cases.h"
#include "httpInt.h"

#define ADMIN HTTP_ROLE(CUSTOS_ROLE_ADMIN)
#define INTAKE HTTP_ROLE(CUSTOS_ROLE_INTAKE)
#define EXAMINER HTTP_ROLE(CUSTOS_ROLE_EXAMINER)
#define AUDITOR HTTP_ROLE(CUSTOS_ROLE_AUDITOR)
#define RESPONDERS (INTAKE | HTTP_ROLE(CUSTOS_ROLE_MANAGER))
#define REVIEWERS                                                              \
  (INTAKE | HTTP_ROLE(CUSTOS_ROLE_MANAGER) | HTTP_ROLE(CUSTOS_ROLE_GOVERNOR) | \
   HTTP_ROLE(CUSTOS_ROLE_LEGAL))

/* The one answer to every failed sign-in, so that it tells nothing about
 * which of the user name, the password or the account was wrong. */
#define SIGNIN_FAILED "wrong user name or password, or the account is locked"

/* ---- matching ---------------------------------------------------------------------- */

static bool unreserved(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

/* Matches path against pat, filling params. */
static bool match_path(const char *pat, const char *path,
                       char params[HTTP_MAX_PARAMS][HTTP_PARAM_MAX + 1]) {
  int np = 0;
  while (*pat && *path) {
    if (*pat == '{') {
      const char *close = strchr(pat, '}');
      size_t n = 0;
      if (close == NULL || np >= HTTP_MAX_PARAMS) return false;
      while (path[n] && path[n] != '/') {
        if (!unreserved(path[n]) || n >= HTTP_PARAM_MAX) return false;
        n++;
      }
      if (n == 0) return false;
      memcpy(params[np], path, n);
      params[np][n] = '\0';
      np++;
      path += n;
      pat = close + 1;
    } else if (*pat == *path) {
      pat++;
      path++;
    } else {
      return false;
    }
  }
  return *pat == '\0' && *path == '\0';
}

static void allow_add(char *allow, size_t cap, const char *method) {
  if (strstr(allow, method) != NULL) return;
  size_t n = strlen(allow);
  snprintf(allow + n, cap - n, "%s%s", n ? ", " : "", method);
}

http_match http_route_find(const http_route *table, const char *method, const char *path,
                           const http_route **route,
                           char params[HTTP_MAX_PARAMS][HTTP_PARAM_MAX + 1], char *allow,
                           size_t allow_cap) {
  char tmp[HTTP_MAX_PARAMS][HTTP_PARAM_MAX + 1];
  const char *m = strcmp(method, "HEAD") == 0 ? "GET" : method;
  bool path_seen = false;
  *route = NULL;
  if (allow_cap > 0) allow[0] = '\0';
  for (const http_route *row = table; row->method != NULL; row++) {
    if (!match_path(row->pattern, path, tmp)) continue;
    if (strcmp(row->method, m) == 0) {
      memcpy(params, tmp, sizeof tmp);
      *route = row;
      return HTTP_MATCH_ROUTE;
    }
    path_seen = true;
    allow_add(allow, allow_cap, row->method);
    if (strcmp(row->method, "GET") == 0) allow_add(allow, allow_cap, "HEAD");
  }
  return path_seen ? HTTP_MATCH_METHOD : HTTP_MATCH_NONE;
}

/* ---- shared pieces ------------------------------------------------------------------ */

static json_t *user_json(const custos_user_info *u) {
  return json_pack("{s:s, s:s, s:s?, s:b, s:i, s:s}", "name", u->name, "role",
                   custos_role_name(u->role), "trained_until",
                   u->trained_until[0] ? u->trained_until : NULL, "locked", u->locked,
                   "failed_logins", u->failed_logins, "created", u->created);
}

/* ---- GET /healthz -------------------------------------------------------------------- */

bool http_models_usable(const char *dir) {
  static const char *const manifests[] = {"ssd_mobilenetv1_model-weights_manifest.json",
                                          "face_landmark_68_model-weights_manifest.json",
                                          "face_recognition_model-weights_manifest.json"};
  static const char *const subs[] = {"", "/model"};
  for (size_t s = 0; s < 2; s++) {
    bool all = true;
    for (size_t i = 0; i < 3 && all; i++) {
      char path[4352];
      snprintf(path, sizeof path, "%s%s/%s", dir, subs[s], manifests[i]);
      all = access(path, R_OK) == 0;
    }
    if (all) return true;
  }
  return false;
}

static void h_healthz(http_req *r) {
  custos_err err;
  custos *c = NULL;
  custos_status st;
  custos_err_clear(&err);
  /* A fresh handle: the check is whether the database opens now. */
  int rc = custos_open(r->srv->cfg->db, &c, &err);
  if (rc == CUSTOS_OK) rc = custos_get_status(c, &st, &err);
  custos_close(c);
  bool db_ok = rc == CUSTOS_OK;
  if (!db_ok) http_log("health: database: %s", err.message[0] ? err.message : custos_strerror(rc));
  bool models_ok = http_models_usable(r->srv->models_dir);
  if (!models_ok) http_log("health: models: no face-api manifests in %s", r->srv->models_dir);
  json_t *o = json_pack("{s:b, s:s, s:s, s:s}", "ok", db_ok && models_ok, "version",
                        custos_version(), "database", db_ok ? "ok" : "unavailable", "models",
                        models_ok ? "ok" : "unavailable");
  if (o != NULL && !(db_ok && models_ok)) {
    json_object_set_new(o, "error", json_string("unavailable"));
    json_object_set_new(
        o, "message",
        json_string(!db_ok ? "the database cannot be opened" : "the face models are missing"));
  }
  http_reply_json(r, db_ok && models_ok ? 200 : 503, o);
}

/* ---- GET /oversight ------------------------------------------------------------------ */

/* The oversight page's policy: the default one, plus the report's own inline
 * <style> (it is one self-contained page, as custos report --format html
 * writes it).  No script runs on it. */
#define OVERSIGHT_CSP                                                         \
  "default-src 'self'; style-src 'self' 'unsafe-inline'; script-src 'none'; " \
  "frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"

/* HTML-escapes s onto f. */
static void html_esc(FILE *f, const char *s) {
  for (; s && *s; s++) {
    if (*s == '<')
      fputs("&lt;", f);
    else if (*s == '>')
      fputs("&gt;", f);
    else if (*s == '&')
      fputs("&amp;", f);
    else if (*s == '"')
      fputs("&quot;", f);
    else
      fputc(*s, f);
  }
}

/* GOV-22: the public oversight page, no sign-in.  The latest report of every
 * year from the first with a case to this one (custos_report_public: only
 * aggregate counts, so no session and no audit entry), the checkpoint it was
 * computed at, and how to check that checkpoint against the log. */
static void h_oversight(http_req *r) {
  custos_err err;
  custos_status st;
  char *page = NULL, *out = NULL;
  size_t out_len = 0;
  custos_err_clear(&err);
  memset(&st, 0, sizeof st);
  time_t now = time(NULL);
  struct tm tm;
  int to = gmtime_r(&now, &tm) != NULL ? tm.tm_year + 1900 : 0;
  if (to < 1800 || to > 2999) to = 0; /* 0: the last year with a case */
  custos *c = NULL;
  unsigned slot = http_pool_lock_any(r->srv->pool, &c);
  int rc = custos_report_public(c, 0, to, CUSTOS_REPORT_HTML, &page, &err);
  if (rc == CUSTOS_OK) rc = custos_get_status(c, &st, &err);
  http_pool_unlock(r->srv->pool, slot);
  if (rc != CUSTOS_OK) {
    http_reply_custos_error(r, rc, &err);
    goto out;
  }
  /* The verification paragraph goes just before the page's end. */
  const char *end = strstr(page, "</body>");
  size_t head = end != NULL ? (size_t)(end - page) : strlen(page);
  FILE *f = open_memstream(&out, &out_len);
  if (f == NULL) {
    http_reply_custos_error(r, CUSTOS_ENOMEM, NULL);
    goto out;
  }
  fwrite(page, 1, head, f);
  fprintf(f,
          "<section><h2>How to verify</h2>\n<p>Every request, review and search is an entry "
          "of the audit log, a Merkle tree whose checkpoints are signed.  These figures were "
          "computed at the checkpoint shown above (its tree size and root); the log's verifier "
          "key (as <code>custos status</code> shows it) is <code>");
  html_esc(f, st.log_key[0] ? st.log_key : "(no audit log)");
  fprintf(f,
          "</code>.  Compare it with the key you pinned when the system was set up, save a "
          "checkpoint and run <code>custos audit verify --key KEY --checkpoint FILE</code> "
          "to check that the log holds it and was not rewritten; a single entry's inclusion "
          "proof (<code>custos audit prove</code>) is checked offline with "
          "<code>tools/verify-proof --key KEY --checkpoint FILE --entry FILE "
          "--proof FILE</code>.</p></section>\n%s",
          end != NULL ? end : "");
  bool failed = ferror(f) != 0;
  if (fclose(f) != 0 || failed) {
    http_reply_custos_error(r, CUSTOS_ENOMEM, NULL);
    goto out;
  }
  r->reply.status = 200;
  r->reply.type = "text/html; charset=utf-8";
  r->reply.csp = OVERSIGHT_CSP;
  r->reply.body = out;
  r->reply.len = out_len;
  out = NULL;
out:
  free(out);
  free(page);
}

/* ---- /api/session ------------------------------------------------------------------- */

static void h_login(http_req *r) {
  static const char *const fields[] = {"user", "password", NULL};
  http_server *srv = r->srv;
  custos_err err;
  custos_session *cs = NULL;
  custos *c = NULL;
  char id[HTTP_TOKEN_LEN + 1];
  const char *user, *password;
  custos_err_clear(&err);

  unsigned wait = http_ratelimit_take(srv->login_ip, r->client, http_now_ms());
  if (wait > 0) {
    r->reply.retry_after = wait;
    http_reply_error(r, 429, "rate_limited",
                     "too many sign-in attempts from this address; try again in %u s", wait);
    return;
  }
  json_t *o = http_body_object(r, fields);
  if (o == NULL) return;
  if (!http_json_string(r, o, "user", true, false, &user) ||
      !http_json_string(r, o, "password", true, false, &password))
    goto out;
  wait = http_ratelimit_take(srv->login_user, user, http_now_ms());
  if (wait > 0) {
    r->reply.retry_after = wait;
    http_reply_error(r, 429, "rate_limited",
                     "too many sign-in attempts for this user; try again in %u s", wait);
    goto out;
  }
  unsigned slot = http_pool_lock_any(srv->pool, &c);
  int rc = custos_login(c, user, password, &cs, &err);
  http_pool_unlock(srv->pool, slot);
  if (rc == CUSTOS_EAUTH) {
    http_reply_error(r, 401, "unauthorized", SIGNIN_FAILED);
    goto out;
  }
  if (rc != CUSTOS_OK) {
    http_reply_custos_error(r, rc, &err);
    goto out;
  }
  /* A browser signing in again ends the session it had. */
  if (r->cookie_id != NULL) {
    http_session *old = http_sessions_get(srv->sessions, r->cookie_id, http_now_ms());
    http_sessions_end(srv->sessions, old);
    http_sessions_release(srv->sessions, old);
  }
  http_session *s = NULL;
  rc = http_sessions_create(srv->sessions, cs, slot, http_now_ms(), id, &s);
  if (rc == CUSTOS_ETOOBIG) {
    http_reply_error(r, 503, "unavailable", "too many sessions are open; try again later");
    goto out;
  }
  if (rc != CUSTOS_OK) {
    http_reply_custos_error(r, rc, NULL);
    goto out;
  }
  snprintf(r->reply.set_cookie, sizeof r->reply.set_cookie,
           HTTP_SESSION_COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%u%s", id,
           srv->cfg->session_max_s, r->secure ? "; Secure" : "");
  http_reply_json(
      r, 200,
      json_pack("{s:s, s:s, s:s, s:i, s:i}", "user", s->user, "role", custos_role_name(s->role),
                "csrf", s->csrf, "idle_timeout_s", (int)srv->cfg->session_idle_s, "max_age_s",
                (int)srv->cfg->session_max_s));
  http_sessions_release(srv->sessions, s);
out:
  sodium_memzero(id, sizeof id); /* the cookie: only the reply carries it */
  json_decref(o);
}

static void h_logout(http_req *r) {
  http_sessions_end(r->srv->sessions, r->session);
  snprintf(r->reply.set_cookie, sizeof r->reply.set_cookie,
           HTTP_SESSION_COOKIE "=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0%s",
           r->secure ? "; Secure" : "");
  http_reply_json(r, 200, json_pack("{s:b}", "ok", 1));
}

static void h_me(http_req *r) {
  const http_session *s = r->session;
  http_reply_json(
      r, 200,
      json_pack("{s:s, s:s, s:s, s:i, s:i}", "user", s->user, "role", custos_role_name(r->role),
                "csrf", s->csrf, "idle_timeout_s", (int)r->srv->cfg->session_idle_s, "max_age_s",
                (int)r->srv->cfg->session_max_s));
}

/* ---- /api/users (administrators) ------------------------------------------------------ */

static void h_users_list(http_req *r) {
  custos_err err;
  custos_user_info *users = NULL;
  size_t n = 0;
  custos_err_clear(&err);
  custos *c = http_pool_lock(r->srv->pool, r->session->slot);
  int rc = custos_user_list(c, r->session->cs, &users, &n, &err);
  http_pool_unlock(r->srv->pool, r->session->slot);
  if (rc != CUSTOS_OK) {
    http_reply_action_failed(r, rc, &err);
    return;
  }
  json_t *arr = json_array();
  for (size_t i = 0; arr != NULL && i < n; i++) json_array_append_new(arr, user_json(&users[i]));
  custos_user_list_free(users);
  http_reply_json(r, 200, json_pack("{s:o}", "users", arr));
}

static void h_users_add(http_req *r) {
  static const char *const fields[] = {"name", "role", "password", "trained_until", NULL};
  custos_err err;
  custos_role role = CUSTOS_ROLE_NONE;
  const char *name, *role_name, *password, *until;
  custos_err_clear(&err);
  json_t *o = http_body_object(r, fields);
  if (o == NULL) return;
  if (!http_json_string(r, o, "name", true, false, &name) ||
      !http_json_string(r, o, "role", true, false, &role_name) ||
      !http_json_string(r, o, "password", true, false, &password) ||
      !http_json_string(r, o, "trained_until", false, true, &until))
    goto out;
  if (until != NULL && until[0] == '\0') until = NULL;
  int rc = custos_role_parse(role_name, &role, &err);
  if (rc == CUSTOS_OK) {
    custos *c = http_pool_lock(r->srv->pool, r->session->slot);
    rc = custos_user_add(c, r->session->cs, name, role, until, password, &err);
    http_pool_unlock(r->srv->pool, r->session->slot);
  }
  if (rc != CUSTOS_OK) {
    http_reply_action_failed(r, rc, &err);
    goto out;
  }
  http_reply_json(r, 201,
                  json_pack("{s:s, s:s, s:s?}", "name", name, "role", custos_role_name(role),
                            "trained_until", until));
out:
  json_decref(o);
}

static void h_users_unlock(http_req *r) {
  custos_err err;
  custos_err_clear(&err);
  const char *name = r->params[0];
  custos *c = http_pool_lock(r->srv->pool, r->session->slot);
  int rc = custos_user_unlock(c, r->session->cs, name, &err);
  http_pool_unlock(r->srv->pool, r->session->slot);
  if (rc != CUSTOS_OK) {
    http_reply_action_failed(r, rc, &err);
    return;
  }
  http_reply_json(r, 200, json_pack("{s:s, s:b}", "name", name, "locked", 0));
}

static void h_users_training(http_req *r) {
  static const char *const fields[] = {"trained_until", NULL};
  custos_err err;
  const char *until;
  const char *name = r->params[0];
  custos_err_clear(&err);
  json_t *o = http_body_object(r, fields);
  if (o == NULL) return;
  if (!http_json_string(r, o, "trained_until", true, true, &until)) goto out;
  if (until != NULL && until[0] == '\0') until = NULL;
  custos *c = http_pool_lock(r->srv->pool, r->session->slot);
  int rc = custos_user_set_training(c, r->session->cs, name, until, &err);
  http_pool_unlock(r->srv->pool, r->session->slot);
  if (rc != CUSTOS_OK) {
    http_reply_action_failed(r, rc, &err);
    goto out;
  }
  http_reply_json(r, 200, json_pack("{s:s, s:s?}", "name", name, "trained_until", until));
out:
  json_decref(o);
}

/* ---- the table --------------------------------------------------------------------------- */

/* method, pattern, handler, roles, csrf, max_body, body type */
const http_route http_routes[] = {
    {"GET", "/healthz", h_healthz, HTTP_PUBLIC, false, 0, HTTP_BODY_NONE},
    {"GET", "/oversight", h_oversight, HTTP_PUBLIC, false, 0, HTTP_BODY_NONE},
    {"POST", "/api/session", h_login, HTTP_PUBLIC, false, HTTP_BODY_SMALL, HTTP_BODY_IS_JSON},
    {"DELETE", "/api/session", h_logout, HTTP_SIGNED_IN, true, 0, HTTP_BODY_NONE},
    {"GET", "/api/me", h_me, HTTP_SIGNED_IN, false, 0, HTTP_BODY_NONE},
    {"GET", "/api/users", h_users_list, ADMIN, false, 0, HTTP_BODY_NONE},
    {"POST", "/api/users", h_users_add, ADMIN, true, HTTP_BODY_JSON, HTTP_BODY_IS_JSON},
    {"POST", "/api/users/{name}/unlock", h_users_unlock, ADMIN, true, 0, HTTP_BODY_NONE},
    {"PUT", "/api/users/{name}/training", h_users_training, ADMIN, true, HTTP_BODY_JSON,
     HTTP_BODY_IS_JSON},
    /* cases (cases.c) */
    {"GET", "/api/cases", http_h_cases_list, HTTP_SIGNED_IN, false, 0, HTTP_BODY_NONE},
    {"POST", "/api/cases", http_h_cases_create, INTAKE, true, HTTP_BODY_UPLOAD,
     HTTP_BODY_MULTIPART},
    {"GET", "/api/cases/{id}", http_h_case_show, HTTP_SIGNED_IN, false, 0, HTTP_BODY_NONE},
    {"GET", "/api/cases/{id}/order", http_h_case_order, REVIEWERS, false, 0, HTTP_BODY_NONE},
    {"POST", "/api/cases/{id}/reviews", http_h_case_review, REVIEWERS, true, HTTP_BODY_JSON,
     HTTP_BODY_IS_JSON},
    {"POST", "/api/cases/{id}/search", http_h_case_search, EXAMINER, true, 0, HTTP_BODY_NONE},
    {"POST", "/api/cases/{id}/examination", http_h_case_examine, EXAMINER, true, 0, HTTP_BODY_NONE},
    {"POST", "/api/cases/{id}/adjudication", http_h_case_adjudicate, EXAMINER, true,
     HTTP_BODY_SMALL, HTTP_BODY_IS_JSON},
    {"POST", "/api/cases/{id}/letter", http_h_case_letter, RESPONDERS, true, 0, HTTP_BODY_NONE},
    {"POST", "/api/cases/{id}/close", http_h_case_close, RESPONDERS, true, 0, HTTP_BODY_NONE},
    {"POST", "/api/cases/{id}/withdraw", http_h_case_withdraw, RESPONDERS, true, HTTP_BODY_JSON,
     HTTP_BODY_IS_JSON},
    /* the auditor's report and log, the administrator's purge (cases.c) */
    {"GET", "/api/report", http_h_report, AUDITOR, false, 0, HTTP_BODY_NONE},
    {"GET", "/api/audit", http_h_audit, AUDITOR, false, 0, HTTP_BODY_NONE},
    {"POST", "/api/audit/checkpoint", http_h_audit_checkpoint, AUDITOR, true, 0, HTTP_BODY_NONE},
    {"POST", "/api/audit/verify", http_h_audit_verify, AUDITOR, true, 0, HTTP_BODY_NONE},
    {"GET", "/api/audit/entries/{index}", http_h_audit_entry, AUDITOR, false, 0, HTTP_BODY_NONE},
    {"POST", "/api/retention/purge", http_h_purge, ADMIN, true, 0, HTTP_BODY_NONE},
    {NULL, NULL, NULL, 0, false, 0, HTTP_BODY_NONE},
};
