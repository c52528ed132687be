/*
 * http: the custos server, the second front end beside the command line.
 *
 * `custos serve` fills an http_config and calls http_serve, which runs until
 * SIGINT or SIGTERM.  Like the CLI, the server uses only the public API
 * (include/custos), so every role check, policy rule and audit entry holds
 * the same way for a browser as for a terminal.  docs/http.md describes the
 * routes, limits, sessions and headers.
 */
#ifndef CUSTOS_HTTP_H
#define CUSTOS_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "custos/error.h"

/* What the server is told; http_config_init gives the defaults below. */
typedef struct http_config {
  const char *listen;       /* "127.0.0.1:8080" or "[::1]:8080"; port 0 picks a free one */
  const char *db;           /* database URL (custos_open) */
  const char *models;       /* models folder, or NULL for the build's folder */
  const char *web;          /* folder of the static pages, or NULL for the build's web/ */
  const char *tls_cert;     /* PEM certificate file for HTTPS, or NULL */
  const char *tls_key;      /* its PEM private key, or NULL */
  bool behind_https_proxy;  /* a trusted proxy terminates HTTPS: Secure cookies, and the
                               client address from its X-Forwarded-For */
  unsigned max_connections; /* open connections at most (default 256) */
  unsigned max_per_ip;      /* open connections from one address (default 64) */
  unsigned conn_timeout_s;  /* idle connection timeout, seconds (default 30) */
  unsigned db_handles;      /* database connections = concurrent password checks (default 4) */
  unsigned session_idle_s;  /* a session ends this long after its last request (900) */
  unsigned session_max_s;   /* and this long after sign-in in any case (28800) */
  unsigned max_sessions;    /* sessions held at once (default 10000) */
  unsigned login_per_ip;    /* sign-in attempts per minute from one address; 0 no limit (30) */
  unsigned login_per_user;  /* sign-in attempts per minute for one user name; 0 none (10) */
  bool access_log;          /* one line per request on stderr */
  const char *photos;       /* the gallery's photo folder (the blind examination), or NULL */
  const char *policy;       /* policy file, or NULL for the built-in policy */
  unsigned purge_every_s;   /* the retention purge runs at start and this often; 0 never
                               (default 3600) */
} http_config;

/* Fills *cfg with the defaults; listen "127.0.0.1:8080", db NULL. */
void http_config_init(http_config *cfg);

/* Exit statuses of http_serve, as the CLI's (CLI.md). */
enum {
  HTTP_EXIT_OK = 0,
  HTTP_EXIT_INTERNAL = 1,
  HTTP_EXIT_USAGE = 2,
  HTTP_EXIT_REFUSED = 3,
  HTTP_EXIT_NOT_FOUND = 5
};

/* Opens the database, loads the pages, listens, prints one line
 * "custos: serving http://HOST:PORT/" on stdout and serves until SIGINT or
 * SIGTERM, then finishes the requests in progress and returns.  Failures to
 * start are printed on stderr as "custos: serve: ..."; returns an
 * HTTP_EXIT_... status. */
int http_serve(const http_config *cfg);

#endif
