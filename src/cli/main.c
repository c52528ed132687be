/*
 * custos: entry point.  Finds the sub-command from the leading words, parses
 * the common options (--db, --models, --as, --json) and the command's own
 * options wherever they stand after the command words, checks the number of
 * arguments and runs the command.  Usage errors exit 2 with a hint.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const cli_cmd *const groups[] = {cli_image_cmds, cli_face_cmds,  cli_eval_cmds,
                                        cli_admin_cmds, cli_policy_cmds, cli_audit_cmds,
                                        cli_serve_cmds, cli_import_cmds, cli_request_cmds,
                                        cli_report_cmds};

void cli_error(const char *what, const char *why, const char *hint) {
  if (what != NULL && *what) {
    fprintf(stderr, "custos: %s: %s\n", what, why);
  } else {
    fprintf(stderr, "custos: %s\n", why);
  }
  if (hint != NULL) fprintf(stderr, "hint: %s\n", hint);
}

int cli_status_of(int rc) {
  switch (custos_err_class_of(rc)) {
  case CUSTOS_CLASS_OK: return CLI_OK;
  case CUSTOS_CLASS_REFUSED: return CLI_REFUSED;
  case CUSTOS_CLASS_DENIED: return CLI_DENIED;
  case CUSTOS_CLASS_NOT_FOUND: return CLI_NOT_FOUND;
  case CUSTOS_CLASS_INTERNAL: break;
  }
  return CLI_INTERNAL;
}

void cli_print_json(json_t *o) {
  if (o == NULL) return;
  char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
  if (s != NULL) {
    puts(s);
    free(s);
  }
  json_decref(o);
  fflush(stdout);
}

int cli_fail(const char *what, int rc, const custos_err *err) {
  const char *why = err != NULL && err->message[0] ? err->message : custos_strerror(rc);
  /* Messages that already start with what (a file name) are not prefixed twice. */
  size_t n = what != NULL ? strlen(what) : 0;
  if (n > 0 && strncmp(why, what, n) == 0 && why[n] == ':') what = NULL;
  cli_error(what, why, NULL);
  return cli_status_of(rc);
}

/* Number of words in "image info". */
static int word_count(const char *words) {
  int n = 1;
  for (const char *p = words; *p; p++) n += *p == ' ';
  return n;
}

/* Whether argv[0..] starts with the command's words. */
static bool matches(const cli_cmd *c, int argc, char **argv) {
  const char *w = c->words;
  for (int i = 0; i < argc; i++) {
    size_t n = strcspn(w, " ");
    if (strlen(argv[i]) != n || strncmp(argv[i], w, n) != 0) return false;
    if (w[n] == '\0') return true;
    w += n + 1;
  }
  return false;
}

/* Levenshtein distance of two short words, for "did you mean". */
static size_t distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 31 || lb > 31) return 99;
  size_t d[32][32];
  for (size_t i = 0; i <= la; i++) d[i][0] = i;
  for (size_t j = 0; j <= lb; j++) d[0][j] = j;
  for (size_t i = 1; i <= la; i++) {
    for (size_t j = 1; j <= lb; j++) {
      size_t sub = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
      size_t del = d[i - 1][j] + 1, ins = d[i][j - 1] + 1;
      d[i][j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
    }
  }
  return d[la][lb];
}

static void print_usage_line(FILE *f, const cli_cmd *c) {
  fprintf(f, "  custos %s%s%s\n", c->words, c->args && *c->args ? " " : "", c->args ? c->args : "");
}

static void print_help(FILE *f) {
  fprintf(f,
          "custos %s — a governed face-search system for a driver-licence photo database\n\n"
          "usage: custos <command> [arguments] [options]\n\ncommands:\n",
          custos_version());
  for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++) {
    for (const cli_cmd *c = groups[g]; c->words; c++) {
      fprintf(f, "  %-22s %s\n", c->words, c->summary);
    }
  }
  fprintf(f,
          "\noptions every command takes:\n"
          "  --db PATH       database (else $CUSTOS_DB, else ./custos.db)\n"
          "  --models DIR    face models (else $CUSTOS_MODELS, else the build's folder)\n"
          "  --as USER       act as USER (password from $CUSTOS_PASSWORD or a prompt)\n"
          "  --json          print one JSON document on stdout\n"
          "  --help          help for a command: custos <command> --help\n"
          "  --version       print the version\n\n"
          "exit status: 0 done, 1 internal failure, 2 usage, 3 refused, 4 not permitted,\n"
          "5 not found.\n");
}

static void print_cmd_help(FILE *f, const cli_cmd *c) {
  fprintf(f, "usage:\n");
  print_usage_line(f, c);
  fprintf(f, "\n%s\n", c->summary);
  if (c->details) fprintf(f, "\n%s\n", c->details);
  if (c->opts && c->opts->name) {
    fprintf(f, "\noptions:\n");
    for (const cli_opt *o = c->opts; o->name; o++) {
      char left[64];
      snprintf(left, sizeof left, "%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
      fprintf(f, "  %-20s %s\n", left, o->help);
    }
  }
  fprintf(f, "\ncommon options: --db PATH, --models DIR, --as USER, --json, --help\n");
}

/* Returns the option's value slot for a common option, or NULL. */
static const char **common_slot(const char *name, cli_common *common, const char **db,
                                const char **models) {
  if (strcmp(name, "--db") == 0) return db;
  if (strcmp(name, "--models") == 0) return models;
  if (strcmp(name, "--as") == 0) return &common->as;
  return NULL;
}

/* Parses options and positional arguments after the command words into
 * common, the command's option slots and pos[]; returns a CLI status. */
static int parse_args(const cli_cmd *c, int argc, char **argv, cli_common *common, char **pos,
                      int *npos) {
  const char *db = NULL, *models = NULL;
  bool only_positional = false;
  *npos = 0;
  for (int i = 0; i < argc; i++) {
    char *a = argv[i];
    if (only_positional || a[0] != '-' || a[1] == '\0') {
      pos[(*npos)++] = a;
      continue;
    }
    if (strcmp(a, "--") == 0) {
      only_positional = true;
      continue;
    }
    /* --name=value form */
    char name[64];
    const char *inline_value = NULL;
    const char *eq = strchr(a, '=');
    size_t nlen = eq ? (size_t)(eq - a) : strlen(a);
    if (nlen >= sizeof name) nlen = sizeof name - 1;
    memcpy(name, a, nlen);
    name[nlen] = '\0';
    if (eq) inline_value = eq + 1;

    if (strcmp(name, "--json") == 0 && !eq) {
      common->json = true;
      continue;
    }
    const char **slot = common_slot(name, common, &db, &models);
    bool takes_arg = slot != NULL;
    if (slot == NULL && c->opts) {
      for (const cli_opt *o = c->opts; o->name; o++) {
        if (strcmp(o->name, name) == 0) {
          slot = o->value;
          takes_arg = o->arg != NULL;
          break;
        }
      }
    }
    if (slot == NULL) {
      char why[128];
      snprintf(why, sizeof why, "unknown option '%s'", name);
      char hint[96];
      snprintf(hint, sizeof hint, "see 'custos %s --help'", c->words);
      cli_error(c->words, why, hint);
      return CLI_USAGE;
    }
    if (!takes_arg) {
      if (eq) {
        char why[128];
        snprintf(why, sizeof why, "option '%s' takes no value", name);
        cli_error(c->words, why, NULL);
        return CLI_USAGE;
      }
      *slot = "1";
      continue;
    }
    if (inline_value == NULL) {
      if (i + 1 >= argc) {
        char why[128];
        snprintf(why, sizeof why, "option '%s' needs an argument", name);
        cli_error(c->words, why, NULL);
        return CLI_USAGE;
      }
      inline_value = argv[++i];
    }
    *slot = inline_value;
  }
  if (*npos < c->min_args || (c->max_args >= 0 && *npos > c->max_args)) {
    char why[160];
    snprintf(why, sizeof why, "%s arguments (expected %s)", *npos < c->min_args ? "missing" : "too many",
             c->args && *c->args ? c->args : "none");
    char hint[96];
    snprintf(hint, sizeof hint, "see 'custos %s --help'", c->words);
    cli_error(c->words, why, hint);
    return CLI_USAGE;
  }
  if (db == NULL) db = getenv("CUSTOS_DB");
  if (db == NULL || *db == '\0') db = "custos.db";
  if (models == NULL) models = getenv("CUSTOS_MODELS");
  common->db = db;
  common->models = models && *models ? models : NULL;
  return CLI_OK;
}

static bool wants_help(int argc, char **argv) {
  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0) return false;
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) return true;
  }
  return false;
}

/* The command whose words are nearest to what was typed, for "did you mean". */
static const char *nearest_command(const char *typed) {
  const char *best = NULL;
  size_t best_d = 3;
  for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++) {
    for (const cli_cmd *c = groups[g]; c->words; c++) {
      /* Compare with as many words as were typed. */
      char cand[96];
      snprintf(cand, sizeof cand, "%s", c->words);
      if (strchr(typed, ' ') == NULL) cand[strcspn(cand, " ")] = '\0';
      size_t d = distance(typed, cand);
      if (d < best_d) {
        best_d = d;
        best = c->words;
      }
    }
  }
  return best;
}

static void unknown_command(int argc, char **argv) {
  char typed[96];
  snprintf(typed, sizeof typed, "%s%s%s", argv[0], argc > 1 && argv[1][0] != '-' ? " " : "",
           argc > 1 && argv[1][0] != '-' ? argv[1] : "");
  char why[160];
  snprintf(why, sizeof why, "unknown command '%s'", typed);
  const char *best = nearest_command(typed);
  char hint[160];
  if (best) {
    snprintf(hint, sizeof hint, "did you mean 'custos %s'? See 'custos --help'", best);
  } else {
    snprintf(hint, sizeof hint, "see 'custos --help' for the list of commands");
  }
  cli_error(NULL, why, hint);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    print_help(stderr);
    return CLI_USAGE;
  }
  if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
    printf("custos %s\n", custos_version());
    return CLI_OK;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
      strcmp(argv[1], "help") == 0) {
    print_help(stdout);
    return CLI_OK;
  }
  const cli_cmd *cmd = NULL;
  for (size_t g = 0; g < sizeof groups / sizeof groups[0] && !cmd; g++) {
    for (const cli_cmd *c = groups[g]; c->words; c++) {
      if (matches(c, argc - 1, argv + 1)) {
        cmd = c;
        break;
      }
    }
  }
  if (cmd == NULL) {
    unknown_command(argc - 1, argv + 1);
    return CLI_USAGE;
  }
  int skip = 1 + word_count(cmd->words);
  if (wants_help(argc - skip, argv + skip)) {
    print_cmd_help(stdout, cmd);
    return CLI_OK;
  }
  char **pos = calloc((size_t)argc, sizeof *pos);
  if (pos == NULL) {
    cli_error(NULL, "out of memory", NULL);
    return CLI_INTERNAL;
  }
  cli_common common = {0};
  int npos = 0;
  int status = parse_args(cmd, argc - skip, argv + skip, &common, pos, &npos);
  if (status == CLI_OK) status = cmd->run(cmd, &common, npos, pos);
  free(pos);
  return status;
}
