/*
 * The custos command: shared pieces of its sub-commands.
 *
 * The CLI uses only the public API (include/custos), like any other program
 * linking libcustos.  Each sub-command is a function taking the parsed common
 * options and its own arguments; option parsing, error printing and exit
 * statuses (CLI.md) live here so every command behaves the same way.
 */
#ifndef CUSTOS_CLI_H
#define CUSTOS_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include <jansson.h>

#include "custos/custos.h"

/* Exit statuses (CLI.md). */
enum {
  CLI_OK = 0,
  CLI_INTERNAL = 1,
  CLI_USAGE = 2,
  CLI_REFUSED = 3,
  CLI_DENIED = 4,
  CLI_NOT_FOUND = 5
};

/* One option a command accepts besides the common ones. */
typedef struct cli_opt {
  const char *name;  /* "--min-score" */
  const char *arg;   /* name of its argument ("S"), or NULL for a flag */
  const char **value; /* receives the argument (or "1" for a flag) */
  const char *help;  /* one line */
} cli_opt;

/* Options every command shares; they may stand anywhere after the command
 * words. */
typedef struct cli_common {
  const char *db;     /* --db, else $CUSTOS_DB, else ./custos.db */
  const char *models; /* --models, else $CUSTOS_MODELS, else the build's folder */
  const char *as;     /* --as USER */
  bool json;          /* --json */
} cli_common;

/* A sub-command. */
typedef struct cli_cmd {
  const char *words;    /* "image info" */
  const char *args;     /* "FILE..." for the usage line */
  const char *summary;  /* one line for custos --help */
  const char *details;  /* paragraph for custos <command> --help, or NULL */
  int min_args, max_args; /* positional arguments accepted; max -1: no limit */
  const cli_opt *opts;  /* extra options, terminated by {NULL}; may be NULL */
  int (*run)(const struct cli_cmd *cmd, cli_common *common, int argc, char **argv);
} cli_cmd;

/* Prints "custos: what: why" (and "hint: ..." when hint is not NULL) on
 * stderr. */
void cli_error(const char *what, const char *why, const char *hint);

/* Prints err as "custos: what: message" and returns the exit status of its
 * class. */
int cli_fail(const char *what, int rc, const custos_err *err);

/* Prints o as one compact JSON line on stdout and releases it (steals the
 * reference; NULL-safe, printing nothing). */
void cli_print_json(json_t *o);

/* Exit status for a custos error code. */
int cli_status_of(int rc);

/* Sub-command tables, one per group of commands. */
extern const cli_cmd cli_image_cmds[];
extern const cli_cmd cli_face_cmds[];
extern const cli_cmd cli_eval_cmds[];
extern const cli_cmd cli_admin_cmds[]; /* init, status, user ... (cmd_admin.c) */
extern const cli_cmd cli_policy_cmds[]; /* policy check, policy show (cmd_policy.c) */
extern const cli_cmd cli_audit_cmds[]; /* audit verify, checkpoint, prove, setup (cmd_audit.c) */
extern const cli_cmd cli_serve_cmds[]; /* serve: the HTTP server (cmd_serve.c, src/http) */
extern const cli_cmd cli_import_cmds[]; /* import, purge-field (cmd_import.c) */
extern const cli_cmd cli_request_cmds[]; /* request ... (cmd_request.c) */
extern const cli_cmd cli_report_cmds[];  /* report (cmd_report.c) */

/* ---- acting as a person (session.c) ---- */

/* Bytes of a password buffer: CUSTOS_PASSWORD_MAX, a byte to detect an
 * overlong one, and the NUL. */
#define CLI_PASSWORD_CAP (CUSTOS_PASSWORD_MAX + 2)

/* Reads a password into out[CLI_PASSWORD_CAP]: from the environment variable
 * env when it is set, else from the terminal with echo off (twice when
 * confirm), prompting with prompt.  Returns a CLI status, having printed why
 * (as what) on failure; out is wiped then. */
int cli_read_password(const char *what, const char *env, const char *prompt, bool confirm,
                      char *out);

/* Requires --as, opens the database and logs the acting user in (password
 * from $CUSTOS_PASSWORD or the terminal).  Returns a CLI status, errors
 * printed; on success *c and *as are the caller's, to release with
 * cli_logout, else both are NULL. */
int cli_login(const cli_cmd *cmd, const cli_common *common, custos **c, custos_session **as);

/* Frees the session and closes the database; NULL-safe. */
void cli_logout(custos *c, custos_session *as);

/* The options of the face engine that face and eval commands share. */
typedef struct cli_face_args {
  const char *detector;  /* --detector ssd|tiny */
  const char *min_score; /* --min-score S */
  const char *align;     /* --align reference|similarity */
  const char *threads;   /* --threads N */
  const char *no_pad;    /* --no-pad (flag) */
} cli_face_args;

/* Their cli_opt entries, filling the cli_face_args variable a. */
#define CLI_FACE_OPTS(a)                                                                     \
  {"--detector", "ssd|tiny", &(a).detector, "face detector (default ssd)"},                 \
      {"--min-score", "S", &(a).min_score, "minimum detection score, 0 < S < 1 (default 0.5)"}, \
      {"--align", "reference|similarity", &(a).align,                                        \
       "crop for the descriptor (default reference)"},                                       \
      {"--threads", "N", &(a).threads, "worker threads (default 1)"},                        \
      {"--no-pad", NULL, &(a).no_pad, "no retry on a padded image when no face is found"}

/* Turns parsed face options into engine options; returns a CLI status
 * (usage errors printed). */
int cli_face_options(const char *words, const cli_face_args *a, custos_face_options *o);

/* Opens the face engine from --models, $CUSTOS_MODELS or the build's folder;
 * returns a CLI status (errors printed, with a hint). */
int cli_face_open(const char *words, const cli_common *common, const custos_face_options *o,
                  custos_face_engine **e);

#endif
