/*
 * custos policy check|show: the automatic checks of a request (POLICY.md
 * GOV-01..09) without side effects, and the policy in force.
 *
 * `policy check` parses the request, analyses its probe photo with the face
 * engine (loaded only when the probe's source is a photo) and prints the
 * decision, the reasons, the class of each offense and the reviews required.
 * It exits 0 whenever the check ran, whatever the decision; a malformed
 * request exits 3 with the field named on stderr and, with --json, also the
 * document {"decision": "reject", "reasons": ["MALFORMED"], "field",
 * "message", "offense_classes": {}, "reviews": []} on stdout.
 */
#include <string.h>

#include "cli.h"
#include "custos/core.h"

static const char *opt_on, *opt_policy;

static const cli_opt check_opts[] = {
    {"--on", "YYYY-MM-DD", &opt_on, "day of the check (default: today, UTC)"},
    {"--policy", "FILE", &opt_policy, "policy file (default: the built-in policy/default.policy)"},
    {NULL, NULL, NULL, NULL}};

static const cli_opt show_opts[] = {
    {"--policy", "FILE", &opt_policy, "policy file (default: the built-in policy/default.policy)"},
    {NULL, NULL, NULL, NULL}};

/* Loads --policy or the default; returns a CLI status (errors printed). */
static int load_policy(const char *words, custos_policy **p) {
  custos_err err;
  custos_err_clear(&err);
  int rc = custos_policy_load(opt_policy, p, &err);
  if (rc != CUSTOS_OK) {
    char what[96];
    snprintf(what, sizeof what, "%s: --policy", words);
    return cli_fail(what, rc, &err);
  }
  return CLI_OK;
}

/* {"statute": "class", ...}; a citation that does not parse is keyed as
 * written, with class "none". */
static json_t *classes_json(const custos_policy_result *res) {
  json_t *o = json_object();
  for (size_t i = 0; o != NULL && i < res->noffenses; i++) {
    const custos_policy_offense *f = &res->offenses[i];
    json_object_set_new(o, f->statute[0] ? f->statute : f->citation,
                        json_string(custos_policy_class_name(f->cls)));
  }
  return o;
}

static json_t *result_json(const custos_policy_result *res) {
  json_t *reasons = json_array(), *reviews = json_array();
  for (size_t i = 0; i < res->nreasons; i++) {
    json_array_append_new(reasons, json_string(custos_policy_reason_name(res->reasons[i])));
  }
  for (size_t i = 0; i < res->nreviews; i++)
    json_array_append_new(reviews, json_string(res->reviews[i]));
  json_t *o = json_pack("{s:s, s:o, s:o, s:o, s:s, s:s}", "decision",
                        custos_policy_decision_name(res->decision), "reasons", reasons,
                        "offense_classes", classes_json(res), "reviews", reviews, "on", res->on,
                        "policy_sha256", res->policy_sha256);
  if (o != NULL && res->probe_analyzed) {
    json_object_set_new(o, "probe",
                        json_pack("{s:i, s:f, s:f}", "faces", res->probe.faces, "face_px",
                                  res->probe.face_px, "sharpness", res->probe.sharpness));
  }
  return o;
}

static void print_result(const char *file, const custos_policy_result *res) {
  printf("%s: %s (checked on %s)\n", file, custos_policy_decision_name(res->decision), res->on);
  if (res->nreasons == 0) printf("  no reasons\n");
  for (size_t i = 0; i < res->nreasons; i++) {
    const custos_policy_reason r = res->reasons[i];
    printf("  %-28s %s: %s\n", custos_policy_reason_name(r), custos_policy_reason_rule(r),
           custos_policy_reason_text(r));
  }
  for (size_t i = 0; i < res->noffenses; i++) {
    const custos_policy_offense *f = &res->offenses[i];
    if (f->statute[0]) {
      printf("  offense %zu: %s -> %s, %s\n", i + 1, f->citation, f->statute,
             custos_policy_class_name(f->cls));
    } else {
      printf("  offense %zu: %s -> not a statute citation\n", i + 1, f->citation);
    }
  }
  if (res->probe_analyzed) {
    printf("  probe: %d face%s", res->probe.faces, res->probe.faces == 1 ? "" : "s");
    if (res->probe.faces > 0) {
      printf(", best %.0f px, sharpness %.1f", res->probe.face_px, res->probe.sharpness);
    }
    printf("\n");
  }
  if (res->nreviews > 0) {
    printf("  reviews:");
    for (size_t i = 0; i < res->nreviews; i++) printf("%s %s", i ? "," : "", res->reviews[i]);
    printf("\n");
  }
}

static int run_check(const cli_cmd *cmd, cli_common *common, int argc, char **argv) {
  (void)argc;
  const char *words = cmd->words;
  custos_policy *p = NULL;
  custos_policy_request *req = NULL;
  custos_face_engine *engine = NULL;
  custos_policy_result *res = NULL;
  custos_probe_facts facts;
  custos_err err;
  custos_err_clear(&err);
  char today[11];
  int status = CLI_OK, rc;

  if (opt_on == NULL) {
    custos_policy_today(today);
    opt_on = today;
  } else if (custos_date_check(opt_on, "--on", &err) != CUSTOS_OK) {
    cli_error(words, err.message, "give the day as YYYY-MM-DD");
    return CLI_USAGE;
  }
  if ((status = load_policy(words, &p)) != CLI_OK) goto out;
  rc = custos_policy_request_load(argv[0], &req, &err);
  if (rc == CUSTOS_OK && custos_policy_request_needs_probe_facts(req)) {
    /* GOV-08: the probe photo goes through the face engine. */
    custos_face_options o;
    custos_face_options_init(&o);
    if ((status = cli_face_open(words, common, &o, &engine)) != CLI_OK) goto out;
    rc = custos_policy_probe_analyze(engine, req, &facts, &err);
  }
  if (rc == CUSTOS_OK) {
    rc = custos_policy_check(p, req, custos_policy_request_needs_probe_facts(req) ? &facts : NULL,
                             opt_on, &res, &err);
  }
  if (rc != CUSTOS_OK) {
    if (custos_policy_err_malformed(&err) && common->json) {
      char fieldname[160];
      custos_policy_err_field(&err, fieldname, sizeof fieldname);
      cli_print_json(json_pack("{s:s, s:[s], s:s, s:s, s:{}, s:[]}", "decision", "reject",
                               "reasons", "MALFORMED", "field", fieldname, "message", err.message,
                               "offense_classes", "reviews"));
    }
    status = cli_fail(words, rc, &err);
    if (custos_policy_err_malformed(&err))
      fprintf(stderr,
              "hint: the request is MALFORMED; docs/policy.md describes the request document\n");
    goto out;
  }
  if (common->json) {
    cli_print_json(result_json(res));
  } else {
    print_result(argv[0], res);
  }
out:
  custos_policy_result_free(res);
  custos_face_engine_close(engine);
  custos_policy_request_free(req);
  custos_policy_free(p);
  return status;
}

static int run_show(const cli_cmd *cmd, cli_common *common, int argc, char **argv) {
  (void)argc;
  (void)argv;
  custos_policy *p = NULL;
  int status = load_policy(cmd->words, &p);
  if (status != CLI_OK) return status;
  const custos_policy_params *pp = custos_policy_get_params(p);
  if (common->json) {
    json_t *fields = json_array();
    for (size_t i = 0; i < custos_policy_not_collected_count(p); i++) {
      json_array_append_new(fields, json_string(custos_policy_not_collected_field(p, i)));
    }
    cli_print_json(json_pack(
        "{s:s, s:s, s:{s:i, s:i, s:f, s:f, s:f, s:f, s:i, s:i, s:i}, s:o}", "source",
        custos_policy_source(p), "sha256", custos_policy_sha256(p), "params", "order_max_age_days",
        pp->order_max_age_days, "candidates", pp->candidates, "search_threshold",
        pp->search_threshold, "dedup_threshold", pp->dedup_threshold, "probe_min_face_px",
        pp->probe_min_face_px, "probe_min_sharpness", pp->probe_min_sharpness, "retention_days",
        pp->retention_days, "checkpoint_every", pp->checkpoint_every, "max_failed_logins",
        pp->max_failed_logins, "not_collected", fields));
  } else {
    printf("policy            %s\n", custos_policy_source(p));
    printf("sha256            %s\n", custos_policy_sha256(p));
    printf("order max age     %d days (GOV-03)\n", pp->order_max_age_days);
    printf("probe             faces of at least %g px, sharpness %g (GOV-08)\n",
           pp->probe_min_face_px, pp->probe_min_sharpness);
    printf("search            %d candidates, threshold %g (GOV-14, GOV-16)\n", pp->candidates,
           pp->search_threshold);
    printf("de-duplication    threshold %g\n", pp->dedup_threshold);
    printf("retention         %d days (GOV-21)\n", pp->retention_days);
    printf("not collected    ");
    for (size_t i = 0; i < custos_policy_not_collected_count(p); i++) {
      printf(" %s", custos_policy_not_collected_field(p, i));
    }
    printf(" (GOV-19)\n");
    printf("audit checkpoint  every %d entries\n", pp->checkpoint_every);
    printf("failed logins     %d lock an account\n", pp->max_failed_logins);
  }
  custos_policy_free(p);
  return CLI_OK;
}

const cli_cmd cli_policy_cmds[] = {
    {"policy check", "REQUEST.json", "run the automatic checks of a request (GOV-01..09)",
     "Parses the request strictly, analyses its probe photo with the face engine and\n"
     "applies GOV-01..09 of POLICY.md on the day given by --on; changes nothing.  With\n"
     "--json: {\"decision\": \"reject\"|\"review\", \"reasons\": [...], \"offense_classes\":\n"
     "{statute: class}, \"reviews\": [...], \"on\", \"policy_sha256\", \"probe\": {\"faces\",\n"
     "\"face_px\", \"sharpness\"}} (probe only when the photo was analysed).  Exit 0 when\n"
     "the check ran, whatever the decision; 3 for a malformed request, with the field\n"
     "named on stderr and, with --json, {\"decision\": \"reject\", \"reasons\":\n"
     "[\"MALFORMED\"], \"field\", \"message\", \"offense_classes\": {}, \"reviews\": []} on\n"
     "stdout; 5 when the request file or the models are missing.  docs/policy.md\n"
     "describes the request document, the reason codes and the policy file.",
     1, 1, check_opts, run_check},
    {"policy show", "", "print the policy in force: its SHA-256 and parameters",
     "Loads --policy FILE on top of the built-in default (or the default alone) and\n"
     "prints its source, SHA-256 and parameters; an invalid file is refused with its line\n"
     "named (exit 3).  With --json: {\"source\", \"sha256\", \"params\": {...},\n"
     "\"not_collected\": [...]}.",
     0, 0, show_opts, run_show},
    {NULL, NULL, NULL, NULL, 0, 0, NULL, NULL}};
