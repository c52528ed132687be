/*
 * custos request submit | show | list | review | search | examine |
 * adjudicate | respond | close | withdraw | purge-expired: the request
 * workflow (POLICY.md GOV-10..17, GOV-21) on the public API.  Every rule is
 * the library's (include/custos/cases.h); this file only parses arguments
 * and prints.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "custos/custos.h"

/* A case id: a positive decimal number. */
static int parse_case(const char *words, const char *s, int64_t *id) {
  char *end = NULL;
  long long v = strtoll(s, &end, 10);
  if (s[0] == '\0' || *end != '\0' || v <= 0) {
    cli_error(words, "CASE: expected a case number", NULL);
    return CLI_USAGE;
  }
  *id = (int64_t)v;
  return CLI_OK;
}

static const char *opt_policy, *opt_state, *opt_stage, *opt_decision, *opt_immigration, *opt_note,
    *opt_rests_on, *opt_candidate, *opt_out, *opt_photos, *opt_tmp;

/* What a command holds while it acts as a person. */
typedef struct acting {
  custos *c;          /* the database */
  custos_session *as; /* the acting user's session */
  custos_err err;     /* detail of the last library call */
} acting;

/* Logs the acting user in (cli_login); a CLI status, errors printed.  On
 * failure nothing is held. */
static int act_begin(const cli_cmd *cmd, const cli_common *common, acting *a) {
  a->c = NULL;
  a->as = NULL;
  custos_err_clear(&a->err);
  return cli_login(cmd, common, &a->c, &a->as);
}

/* Parses the CASE argument s into *id, then logs in as act_begin does. */
static int act_begin_case(const cli_cmd *cmd, const cli_common *common, const char *s, int64_t *id,
                          acting *a) {
  int status = parse_case(cmd->words, s, id);
  return status != CLI_OK ? status : act_begin(cmd, common, a);
}

/* The CLI status of a library call's rc, printed when it failed. */
static int act_status(const cli_cmd *cmd, acting *a, int rc) {
  return rc == CUSTOS_OK ? CLI_OK : cli_fail(cmd->words, rc, &a->err);
}

/* Logs out and returns status. */
static int act_end(acting *a, int status) {
  cli_logout(a->c, a->as);
  return status;
}

/* Loads --policy and opens the face engine with its default options; a CLI
 * status, errors printed.  The caller frees *p and *e whatever the status. */
static int open_policy_engine(const cli_cmd *cmd, const cli_common *common, custos_policy **p,
                              custos_face_engine **e) {
  custos_err err;
  custos_err_clear(&err);
  int rc = custos_policy_load(opt_policy, p, &err);
  if (rc != CUSTOS_OK) return cli_fail(cmd->words, rc, &err);
  custos_face_options o;
  custos_face_options_init(&o);
  return cli_face_open(cmd->words, common, &o, e);
}

/* Pretty-prints a JSON text for people, or as one line with --json. */
static void print_doc(const cli_common *common, const char *text) {
  json_t *v = json_loads(text, 0, NULL);
  if (v == NULL) return;
  if (common->json) {
    cli_print_json(v);
  } else {
    char *s = json_dumps(v, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (s) puts(s);
    free(s);
    json_decref(v);
  }
}

/* Ends a command whose library call returned rc and the JSON text text:
 * prints it (print_doc) or the error, frees text and logs out. */
static int act_end_doc(const cli_cmd *cmd, const cli_common *common, acting *a, int rc,
                       char *text) {
  int status = act_status(cmd, a, rc);
  if (status == CLI_OK) print_doc(common, text);
  free(text);
  return act_end(a, status);
}

/* Ends a command whose library call returned rc and counted n things:
 * prints {key: n} with --json, else "n what", or the error; logs out. */
static int act_end_count(const cli_cmd *cmd, const cli_common *common, acting *a, int rc,
                         const char *key, int64_t n, const char *what) {
  int status = act_status(cmd, a, rc);
  if (status == CLI_OK && common->json) {
    cli_print_json(json_pack("{s:I}", key, (json_int_t)n));
  } else if (status == CLI_OK) {
    printf("%lld %s\n", (long long)n, what);
  }
  return act_end(a, status);
}

/* ---- submit ----------------------------------------------------------------------- */

static const cli_opt submit_opts[] = {
    {"--policy", "FILE", &opt_policy, "policy file (default: the built-in policy)"},
    {NULL, NULL, NULL, NULL}};

static int run_submit(const cli_cmd *cmd, cli_common *common, int argc, char **argv) {
  (void)argc;
  acting a;
  custos_policy *p = NULL;
  custos_face_engine *e = NULL;
  custos_policy_result *res = NULL;
  int64_t id = 0;
  int status = act_begin(cmd, common, &a);
  if (status != CLI_OK) return status;
  if ((status = open_policy_engine(cmd, common, &p, &e)) != CLI_OK) goto out;
  int rc = custos_case_submit(a.c, a.as, p, argv[0], e, &id, &res, &a.err);
  if (rc != CUSTOS_OK) {
    status = cli_fail(cmd->words, rc, &a.err);
    if (custos_policy_err_malformed(&a.err))
      fprintf(stderr, "hint: the request is MALFORMED; nothing was stored\n");
    goto out;
  }
  if (common->json) {
    json_t *reasons = json_array();
    for (size_t i = 0; i < res->nreasons; i++)
      json_array_append_new(reasons, json_string(custos_policy_reason_name(res->reasons[i])));
    cli_print_json(json_pack("{s:I, s:s, s:o}", "case", (json_int_t)id, "decision",
                             custos_policy_decision_name(res->decision), "reasons", reasons));
  } else {
    printf("%lld\n", (long long)id);
    if (res->decision == CUSTOS_POLICY_DECISION_REJECT) {
      fprintf(stderr, "case %lld is rejected:", (long long)id);
      for (size_t i = 0; i < res->nreasons; i++)
        fprintf(stderr, " %s", custos_policy_reason_name(res->reasons[i]));
      fprintf(stderr, "\n");
    }
  }
out:
  custos_policy_result_free(res);
  custos_face_engine_close(e);
  custos_policy_free(p);
  return act_end(&a, status);
}

/* ---- show, list ----------------------------------------------------------------------- */

static int run_show(const cli_cmd *cmd, cli_common *common, int argc, char **argv) {
  (void)argc;
  acting a;
  int64_t id;
  int status = act_begin_case(cmd, common, argv[0], &id, &a);
  if (status != CLI_OK) return status;
  char *text = NULL;
  int rc = custos_case_show(a.c, a.as, id, &text, &a.err);
  return act_end_doc(cmd, common, &a, rc, text);
}

static const cli_opt list_opts[] = {{"--state", "S", &opt_state, "only cases in state S"},
                                    {NULL, NULL, NULL, NULL}};

static int run_list(const cli_cmd *cmd, cli_common *common, int argc, char **argv) {
  (void)argc;
  (void)argv;
  acting a;
  int status = act_begin(cmd, common, &a);
  if (status != CLI_OK) return status;
  char *text = NULL;
  int rc = custos_case_list(a.c, a.as, opt_state, &text, &a.err);
  if (rc != CUSTOS_OK || common->json) return act_end_doc(cmd, common, &a, rc, text);
  json_t *arr = json_loads(text, 0, NULL);
  size_t i;
  json_t *v;
  json_array_foreach(arr, i, v) {
    printf("%-6lld %-10s %s  %s (%s)\n", (long long)json_integer_value(json_object_get(v, "case")),
           json_string_value(json_object_get(v, "state")),
           json_string_value(json_object_get(v, "received")),
           json_string_value(json_object_get(v, "agency")),
           json_string_value(json_object_get(v, "level")));
  }
  json_decref(arr);
  free(text);
  return act_end(&a, status);
}

/* ---- review ---------------------------------------------------------------------------- */

static const cli_opt review_opts[] = {
    {"--stage", "intake|legal|manager|governor", &opt_stage, "the review (required)"},
    {"--decision", "approve|reject", &opt_decision, "the decision (required)"},
    {"--immigration-related", "no|yes", &opt_immigration,
     "is this request immigration-related? (required; must be no to approve)"},
    {"--note", "TEXT", &opt_note, "the reviewer's note (required)"},
    {"--rests-on", "CITATION", &opt_rests_on,
     "ESCALATE_MIXED_OFFENSE, governor: the non-immigration crime the case rests on"},
    {NULL, NULL, NULL, NULL}};

static int run_review(const cli_cmd *cmd, cli_common *common, int argc, char **argv) {
  (void)argc;
  int64_t id;
  int status = parse_case(cmd->words, argv[0], &id);
  if (status != CLI_OK) return status;
  if (opt_stage == NULL || opt_decision == NULL || opt_immigration == NULL || opt_note == NULL) {
    cli_error(cmd->words, "--stage, --decision, --immigration-related and --note are required",
              NULL);
    return CLI_USAGE;
  }
  bool approve = strcmp(opt_decision, "approve") == 0;
  bool imm = strcmp(opt_immigration, "yes") == 0;
  if ((!approve && strcmp(opt_decision, "reject") != 0) ||
      (!imm && strcmp(opt_immigration, "no") != 0)) {
    cli_error(cmd->words, "--decision approve|reject, --immigration-related no|yes", NULL);
    return CLI_USAGE;
  }
  acting a;
  if ((status = act_begin(cmd, common, &a)) != CLI_OK) return status;
  custos_case_review_in in = {.stage = opt_stage,
                              .approve = approve,
                              .immigration_related = imm,
                              .note = opt_note,
                              .rests_on = opt_rests_on};
  int rc = custos_case_review(a.c, a.as, id, &in, &a.err);
  return act_end(&a, act_status(cmd, &a, rc));
}

/* ---- search, examine, adjudicate ------------------------------------------------------- */

static const cli_opt search_opts[] = {
    {"--policy", "FILE", &opt_policy, "policy file (default: the built-in policy)"},
    {NULL, NULL, NULL, NULL}};

static int run_search(const cli_cmd *cmd, cli_common *common, int argc, char **argv) {
  (void)argc;
  acting a;
  custos_policy *p = NULL;
  custos_face_engine *e = NULL;
  int64_t id;
  int status = act_begin_case(cmd, common, argv[0], &id, &a);
  if (status != CLI_OK) return status;
  if ((status = open_policy_engine(cmd, common, &p, &e)) != CLI_OK) goto out;
  custos_case_search_info info;
  int rc = custos_case_search(a.c, a.as, id, p, e, common->models, &info, &a.err);
  if ((status = act_status(cmd, &a, rc)) != CLI_OK) goto out;
  if (common->json) {
    cli_print_json(json_pack("{s:I, s:I, s:I}", "case", (json_int_t)id, "gallery_size",
                             (json_int_t)info.gallery_size, "candidates",
                             (json_int_t)info.candidates));
  } else {
    printf("case %lld searched: %lld candidates from a gallery of %lld\n", (long long)id,
           (long long)info.candidates, (long long)info.gallery_size);
  }
out:
  custos_face_engine_close(e);
  custos_policy_free(p);
  return act_end(&a, status);
}

static const cli_opt examine_opts[] = {
    {"--photos", "DIR", &opt_photos,
     "the gallery's photo folder (as given to import; default $CUSTOS_PHOTOS)"},
    {"--tmp", "DIR", &opt_tmp, "where the private folder is made (default $TMPDIR or /tmp)"},
    {NULL, NULL, NULL, NULL}};

static int run_examine(const cli_cmd *cmd, cli_common *common, int argc, char **argv) {
  (void)argc;
  acting a;
  int64_t id;
  int status = act_begin_case(cmd, common, argv[0], &id, &a);
  if (status != CLI_OK) return status;
  const char *photos = opt_photos ? opt_photos : getenv("CUSTOS_PHOTOS");
  char *text = NULL;
  int rc = custos_case_examine(a.c, a.as, id, photos, opt_tmp, &text, &a.err);
  return act_end_doc(cmd, common, &a, rc, text);
}

static const cli_opt adjudicate_opts[] = {
    {"--candidate", "LABEL|none", &opt_candidate, "your mark (required)"},
    {NULL, NULL, NULL, NULL}};

static int run_adjudicate(const cli_cmd *cmd, cli_common *common, int argc, char **argv) {
  (void)argc;
  int64_t id;
  int status = parse_case(cmd->words, argv[0], &id);
  if (status != CLI_OK) return status;
  if (opt_candidate == NULL) {
    cli_error(cmd->words, "--candidate LABEL|none is required", NULL);
    return CLI_USAGE;
  }
  acting a;
  if ((status = act_begin(cmd, common, &a)) != CLI_OK) return status;
  int rc = custos_case_adjudicate(
      a.c, a.as, id, strcmp(opt_candidate, "none") == 0 ? NULL : opt_candidate, &a.err);
  return act_end(&a, act_status(cmd, &a, rc));
}

/* ---- respond ------------------------------------------------------------------------------ */

static const cli_opt respond_opts[] = {
    {"--out", "FILE", &opt_out, "write the letter to FILE (mode 0600) instead of stdout"},
    {NULL, NULL, NULL, NULL}};

/* GOV-17: the letter holds the five fields (or "no identification made") and
 * the statement; nothing else (GOV-18). */
static char *letter_text(const custos_case_letter *l, bool json) {
  if (json) return custos_case_letter_json(l);
  char *s = NULL;
  size_t n = 0;
  FILE *f = open_memstream(&s, &n);
  if (f == NULL) return NULL;
  fprintf(f, "Response to %s", l->agency);
  if (l->case_number[0]) fprintf(f, " (your case %s)", l->case_number);
  fprintf(f, "\nOur case: %lld\n\n", (long long)l->case_id);
  if (l->identity) {
    fprintf(f, "First name:     %s\n", custos_disclosure_first_name(l->identity));
    fprintf(f, "Middle name:    %s\n", custos_disclosure_middle_name(l->identity));
    fprintf(f, "Last name:      %s\n", custos_disclosure_last_name(l->identity));
    fprintf(f, "Date of birth:  %s\n", custos_disclosure_dob(l->identity));
    fprintf(f, "Licence number: %s\n\n", custos_disclosure_license_no(l->identity));
  }
  fprintf(f, "%s\n", l->statement);
  fclose(f);
  return s;
}

static int run_respond(const cli_cmd *cmd, cli_common *common, int argc, char **argv) {
  (void)argc;
  acting a;
  custos_case_letter *l = NULL;
  int64_t id;
  int status = act_begin_case(cmd, common, argv[0], &id, &a);
  if (status != CLI_OK) return status;
  int rc = custos_case_respond(a.c, a.as, id, &l, &a.err);
  if ((status = act_status(cmd, &a, rc)) != CLI_OK) goto out;
  char *text = letter_text(l, common->json);
  if (text == NULL) {
    cli_error(cmd->words, "out of memory", NULL);
    status = CLI_INTERNAL;
    goto out;
  }
  if (opt_out) {
    int fd = open(opt_out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    size_t n = strlen(text);
    if (fd < 0 || write(fd, text, n) != (ssize_t)n || write(fd, "\n", 1) != 1) {
      cli_error(cmd->words, "could not write the letter", opt_out);
      status = CLI_INTERNAL;
    }
    if (fd >= 0) close(fd);
  } else {
    puts(text);
  }
  explicit_bzero(text, strlen(text));
  free(text);
out:
  custos_case_letter_free(l);
  return act_end(&a, status);
}

/* ---- close, withdraw, purge ------------------------------------------------------------- */

static int run_close(const cli_cmd *cmd, cli_common *common, int argc, char **argv) {
  (void)argc;
  acting a;
  int64_t id;
  int status = act_begin_case(cmd, common, argv[0], &id, &a);
  if (status != CLI_OK) return status;
  int rc = strcmp(cmd->words, "request close") == 0
               ? custos_case_close(a.c, a.as, id, &a.err)
               : custos_case_withdraw(a.c, a.as, id, opt_note, &a.err);
  return act_end(&a, act_status(cmd, &a, rc));
}

static const cli_opt withdraw_opts[] = {{"--note", "TEXT", &opt_note, "why"},
                                        {NULL, NULL, NULL, NULL}};

static int run_purge(const cli_cmd *cmd, cli_common *common, int argc, char **argv) {
  (void)argc;
  (void)argv;
  acting a;
  custos_policy *p = NULL;
  int64_t n = 0;
  int status = act_begin(cmd, common, &a);
  if (status != CLI_OK) return status;
  int rc = custos_policy_load(opt_policy, &p, &a.err);
  if (rc == CUSTOS_OK) rc = custos_case_purge_expired(a.c, a.as, p, &n, &a.err);
  custos_policy_free(p);
  return act_end_count(cmd, common, &a, rc, "purged", n, "cases purged");
}

static int run_import_history(const cli_cmd *cmd, cli_common *common, int argc, char **argv) {
  (void)argc;
  acting a;
  int status = act_begin(cmd, common, &a);
  if (status != CLI_OK) return status;
  int64_t n = 0;
  int rc = custos_case_import_history(a.c, a.as, argv[0], &n, &a.err);
  return act_end_count(cmd, common, &a, rc, "imported", n, "historical requests imported");
}

const cli_cmd cli_request_cmds[] = {
    {"request submit", "REQUEST.json --as INTAKE", "register an agency's request as a case",
     "Runs the automatic checks (GOV-01..09), then stores the case with its order and\n"
     "probe (never in the gallery); rejected requests are stored too, with their reasons.\n"
     "Prints the case number; with --json {\"case\", \"decision\", \"reasons\"}.  A\n"
     "malformed request stores nothing (exit 3, the field named).",
     1, 1, submit_opts, run_submit},
    {"request show", "CASE --as USER", "show a case (no candidates, scores or identities)", NULL, 1,
     1, NULL, run_show},
    {"request list", "[--state S] --as USER", "list cases", NULL, 0, 0, list_opts, run_list},
    {"request review", "CASE --stage S --decision D --immigration-related A --note TEXT --as USER",
     "record a review (GOV-10, GOV-11)",
     "Reviews come in order: (legal,) intake, manager, governor, each by a distinct user\n"
     "holding that role; the submitter may do the intake review only.  Approving needs\n"
     "--immigration-related no; any reject or yes rejects the case.",
     1, 1, review_opts, run_review},
    {"request search", "CASE --as EXAMINER", "search the gallery for an approved case (GOV-12..14)",
     "Only a trained examiner, only on a case with every review approved, once.  The\n"
     "order must still be in force (else REJECT_EXPIRED).  Prints only the list size.",
     1, 1, search_opts, run_search},
    {"request examine", "CASE --as EXAMINER", "your blind candidate list (GOV-15)",
     "Writes the probe and the candidates' photos to a new private folder and prints\n"
     "{\"probe\", \"candidates\": [{\"label\", \"photo\", \"photo_sha256\"}]} in your own\n"
     "random order: no score, no rank, no identity.",
     1, 1, examine_opts, run_examine},
    {"request adjudicate", "CASE --candidate LABEL|none --as EXAMINER",
     "mark a possible match, or none (GOV-15)", NULL, 1, 1, adjudicate_opts, run_adjudicate},
    {"request respond", "CASE [--out FILE] --as USER", "the response letter (GOV-16, GOV-17)",
     "Intake or manager.  The letter holds exactly the five limited-identity fields of\n"
     "the candidate two examiners confirmed and the lead-only statement, or \"no\n"
     "identification made\".  --json: {\"case\", \"agency\", \"outcome\", \"identity\",\n"
     "\"statement\"}.",
     1, 1, respond_opts, run_respond},
    {"request close", "CASE --as USER", "close a responded case", NULL, 1, 1, NULL, run_close},
    {"request withdraw", "CASE [--note TEXT] --as USER", "withdraw an open case", NULL, 1, 1,
     withdraw_opts, run_close},
    {"request purge-expired", "--as ADMIN",
     "purge probes and candidate lists past retention (GOV-21)",
     "Erases the probe image and the candidate list of every case closed, rejected or\n"
     "withdrawn more than retention_days (policy) ago; their SHA-256 stays in the log.",
     0, 0, submit_opts, run_purge},
    {"request import-history", "FILE.csv --as ADMIN", "record legacy requests for the report",
     "Header received,agency_name,agency_level,department,outcome,offense_class\n"
     "(outcome approved|rejected|no_identification|possible_match|withdrawn).  All rows or\n"
     "none; a bad row is named with its line (exit 3).",
     1, 1, NULL, run_import_history},
    {NULL, NULL, NULL, NULL, 0, 0, NULL, NULL}};
