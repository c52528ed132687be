/*
 * custos serve: runs the HTTP server (src/http) until SIGINT or SIGTERM.
 *
 * This file only turns options into an http_config; numbers are parsed
 * whole (digits only, within the range each names) before anything starts.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "http.h"

static const char *o_listen, *o_web, *o_tls_cert, *o_tls_key, *o_proxy, *o_max_conn, *o_per_ip,
    *o_timeout, *o_handles, *o_idle, *o_max_age, *o_max_sessions, *o_login_ip, *o_login_user,
    *o_access_log, *o_photos, *o_policy, *o_purge_every;

static const cli_opt serve_opts[] = {
    {"--listen", "ADDRESS:PORT", &o_listen,
     "where to listen (default 127.0.0.1:8080; port 0 picks a free one)"},
    {"--web", "DIR", &o_web, "static pages (else $CUSTOS_WEB, else the source tree's web/)"},
    {"--tls-cert", "FILE", &o_tls_cert, "serve HTTPS with this PEM certificate"},
    {"--tls-key", "FILE", &o_tls_key, "and this PEM private key"},
    {"--behind-https-proxy", NULL, &o_proxy,
     "a trusted proxy terminates HTTPS: Secure cookies, client address from X-Forwarded-For"},
    {"--max-connections", "N", &o_max_conn, "open connections at most (default 256)"},
    {"--max-per-ip", "N", &o_per_ip, "open connections from one address (default 64)"},
    {"--timeout", "SECONDS", &o_timeout, "close idle connections after this (default 30)"},
    {"--db-handles", "N", &o_handles,
     "database connections, also concurrent password checks (default 4)"},
    {"--session-idle", "SECONDS", &o_idle, "sessions end after this long unused (default 900)"},
    {"--session-max", "SECONDS", &o_max_age, "and this long after sign-in (default 28800)"},
    {"--max-sessions", "N", &o_max_sessions, "sessions open at once (default 10000)"},
    {"--login-per-ip", "N", &o_login_ip,
     "sign-in attempts per minute from one address, 0 no limit (default 30)"},
    {"--login-per-user", "N", &o_login_user,
     "sign-in attempts per minute for one user name, 0 no limit (default 10)"},
    {"--access-log", NULL, &o_access_log, "print one line per request on stderr"},
    {"--photos", "DIR", &o_photos,
     "the gallery's photo folder, for the blind examination (default $CUSTOS_PHOTOS)"},
    {"--policy", "FILE", &o_policy, "policy file (default: the built-in policy)"},
    {"--purge-every", "SECONDS", &o_purge_every,
     "run the retention purge at start and this often, 0 never (default 3600)"},
    {NULL, NULL, NULL, NULL},
};

/* Parses option name's value s into *out within [lo, hi]; prints why not. */
static bool parse_uint(const char *name, const char *s, unsigned lo, unsigned hi, unsigned *out) {
  if (s == NULL) return true;
  unsigned long v = 0;
  bool ok = *s != '\0' && strlen(s) <= 10;
  for (const char *p = s; ok && *p; p++) {
    ok = *p >= '0' && *p <= '9';
    v = v * 10 + (unsigned long)(*p - '0');
  }
  if (!ok || v < lo || v > hi) {
    char why[128];
    snprintf(why, sizeof why, "%s: expected a whole number from %u to %u", name, lo, hi);
    cli_error("serve", why, NULL);
    return false;
  }
  *out = (unsigned)v;
  return true;
}

static int run_serve(const cli_cmd *cmd, cli_common *common, int argc, char **argv) {
  (void)cmd;
  (void)argc;
  (void)argv;
  http_config cfg;
  http_config_init(&cfg);
  if (o_listen != NULL) cfg.listen = o_listen;
  cfg.db = common->db;
  cfg.models = common->models;
  cfg.web = o_web;
  cfg.tls_cert = o_tls_cert;
  cfg.tls_key = o_tls_key;
  cfg.behind_https_proxy = o_proxy != NULL;
  cfg.access_log = o_access_log != NULL;
  cfg.photos = o_photos ? o_photos : getenv("CUSTOS_PHOTOS");
  cfg.policy = o_policy;
  if (!parse_uint("--max-connections", o_max_conn, 1, 10000, &cfg.max_connections) ||
      !parse_uint("--max-per-ip", o_per_ip, 1, 10000, &cfg.max_per_ip) ||
      !parse_uint("--timeout", o_timeout, 1, 3600, &cfg.conn_timeout_s) ||
      !parse_uint("--db-handles", o_handles, 1, 64, &cfg.db_handles) ||
      !parse_uint("--session-idle", o_idle, 1, 86400, &cfg.session_idle_s) ||
      !parse_uint("--session-max", o_max_age, 1, 7 * 86400, &cfg.session_max_s) ||
      !parse_uint("--max-sessions", o_max_sessions, 1, 1000000, &cfg.max_sessions) ||
      !parse_uint("--login-per-ip", o_login_ip, 0, 100000, &cfg.login_per_ip) ||
      !parse_uint("--login-per-user", o_login_user, 0, 100000, &cfg.login_per_user) ||
      !parse_uint("--purge-every", o_purge_every, 0, 366 * 86400, &cfg.purge_every_s))
    return CLI_USAGE;
  return http_serve(&cfg);
}

const cli_cmd cli_serve_cmds[] = {
    {"serve", "[--listen ADDRESS:PORT]", "run the HTTP server: JSON API and staff pages",
     "Serves the database named by --db (else $CUSTOS_DB, else ./custos.db) until SIGINT\n"
     "or SIGTERM, then finishes the requests in progress and exits 0.  Prints one line\n"
     "'custos: serving http://ADDRESS:PORT/' once it listens.  GET /healthz answers 200\n"
     "when the database opens and the models folder (--models, $CUSTOS_MODELS, else the\n"
     "build's) holds the face models.  docs/http.md lists the routes and limits.",
     0, 0, serve_opts, run_serve},
    {NULL, NULL, NULL, NULL, 0, 0, NULL, NULL},
};
