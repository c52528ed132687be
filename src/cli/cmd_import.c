/*
 * custos import | purge-field: filling the gallery from a CSV file of licence
 * holders and their photos, and erasing a sensitive field (GOV-19).
 *
 * Progress goes to stderr: on a terminal one line refreshed in place (count,
 * rate, ETA); otherwise a plain line every --progress-interval seconds.  The
 * summary goes to stdout (one JSON document with --json).  Nothing printed
 * here can hold a field's value: the library's summary has counts, reason
 * codes and file names only (GOV-18).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "custos/core.h"

/* ---- custos import ------------------------------------------------------------------- */

static const char *opt_holders, *opt_photos, *opt_jobs, *opt_rejects, *opt_batch, *opt_policy,
    *opt_interval;
static const cli_opt import_opts[] = {
    {"--holders", "FILE.csv", &opt_holders, "the holders file (required)"},
    {"--photos", "DIR", &opt_photos, "the folder photo paths are relative to (required)"},
    {"--jobs", "N", &opt_jobs, "photo workers, 1..64 (default: the number of cores)"},
    {"--rejects", "FILE", &opt_rejects,
     "where refused rows are listed (default: beside the CSV, NAME.rejects.csv)"},
    {"--batch", "N", &opt_batch, "rows per transaction, 1..4096 (default 64)"},
    {"--policy", "FILE", &opt_policy, "policy file (default: the built-in policy)"},
    {"--progress-interval", "S", &opt_interval,
     "seconds between progress lines (default: 0.2 on a terminal, 10 otherwise; 0: none)"},
    {NULL, NULL, NULL, NULL},
};

/* Parses a whole number in lo..hi; false otherwise. */
static bool parse_int(const char *s, long lo, long hi, int *out) {
  char *end = NULL;
  long v = strtol(s, &end, 10);
  if (s[0] == '\0' || *end != '\0' || v < lo || v > hi) return false;
  *out = (int)v;
  return true;
}

typedef struct progress_state {
  bool tty;        /* stderr is a terminal: refresh one line in place */
  double interval; /* seconds between outputs; 0: none */
  double last;     /* elapsed time of the last output; < 0: none yet */
  bool drawn;      /* a line is on the terminal */
} progress_state;

static void format_duration(double s, char *out, size_t cap) {
  if (!(s >= 0) || s > 99 * 3600) {
    snprintf(out, cap, "--");
  } else if (s >= 3600) {
    snprintf(out, cap, "%dh%02dm", (int)(s / 3600), (int)fmod(s / 60, 60));
  } else if (s >= 60) {
    snprintf(out, cap, "%dm%02ds", (int)(s / 60), (int)fmod(s, 60));
  } else {
    snprintf(out, cap, "%ds", (int)s);
  }
}

static void show_progress(const custos_import_progress *p, void *ctx) {
  progress_state *ps = ctx;
  if (ps->interval <= 0) return;
  if (ps->last >= 0 && p->elapsed_s - ps->last < ps->interval) return;
  ps->last = p->elapsed_s;
  double rate = p->elapsed_s > 0 ? (double)p->rows_done / p->elapsed_s : 0;
  char eta[16];
  format_duration(rate > 0 ? (double)(p->rows_total - p->rows_done) / rate : -1, eta, sizeof eta);
  double pct = p->rows_total > 0 ? 100.0 * (double)p->rows_done / (double)p->rows_total : 100.0;
  fprintf(stderr,
          "%simport: %lld/%lld rows (%.0f%%), %.1f rows/s, ETA %s; accepted %lld, present %lld, "
          "refused %lld%s",
          ps->tty ? "\r\033[K" : "", (long long)p->rows_done, (long long)p->rows_total, pct, rate,
          eta, (long long)p->accepted, (long long)p->already_present, (long long)p->rejected,
          ps->tty ? "" : "\n");
  fflush(stderr);
  ps->drawn = ps->tty;
}

static json_t *summary_json(const custos_import_summary *s) {
  json_t *by = json_object();
  for (int i = 0; i < CUSTOS_IMPORT_REASON_COUNT; i++) {
    if (s->rejected_by[i] > 0) {
      json_object_set_new(by, custos_import_reason_name((custos_import_reason)i),
                          json_integer((json_int_t)s->rejected_by[i]));
    }
  }
  json_t *nc = json_object();
  for (int i = 0; i < CUSTOS_SENSITIVE_FIELD_COUNT; i++) {
    if (s->not_collected_by[i] > 0) {
      json_object_set_new(nc, custos_sensitive_field_name(i),
                          json_integer((json_int_t)s->not_collected_by[i]));
    }
  }
  json_t *stages = json_object();
  for (int i = 0; i < CUSTOS_IMPORT_STAGE_COUNT; i++) {
    json_object_set_new(stages, custos_import_stage_name((custos_import_stage)i),
                        json_real(s->stage_s[i]));
  }
  double pps = s->elapsed_s > 0 ? (double)s->photos_processed / s->elapsed_s : 0;
  double rps = s->elapsed_s > 0 ? (double)s->rows / s->elapsed_s : 0;
  return json_pack(
      "{s:I, s:I, s:I, s:I, s:I, s:o, s:I, s:o, s:I, s:I, s:f, s:f, s:f, s:i, s:i, s:o, s:s, "
      "s:s}",
      "rows", (json_int_t)s->rows, "accepted", (json_int_t)s->accepted, "renewals",
      (json_int_t)s->renewals, "already_present", (json_int_t)s->already_present, "rejected",
      (json_int_t)s->rejected, "rejected_by", by, "not_collected", (json_int_t)s->not_collected,
      "not_collected_by", nc, "dedup_cases", (json_int_t)s->dedup_cases, "photos_processed",
      (json_int_t)s->photos_processed, "elapsed_s", s->elapsed_s, "photos_per_s", pps, "rows_per_s",
      rps, "jobs", s->jobs, "batch_rows", s->batch_rows, "stages_s", stages, "rejects_file",
      s->rejects_path, "model", s->model);
}

static void summary_text(const custos_import_summary *s) {
  double pps = s->elapsed_s > 0 ? (double)s->photos_processed / s->elapsed_s : 0;
  printf("import: %lld rows in %.1f s with %d jobs (%lld photos described, %.1f photos/s)\n",
         (long long)s->rows, s->elapsed_s, s->jobs, (long long)s->photos_processed, pps);
  printf("  accepted          %lld new holders, %lld renewal photos\n", (long long)s->accepted,
         (long long)s->renewals);
  printf("  already present   %lld\n", (long long)s->already_present);
  printf("  refused           %lld (listed in %s)\n", (long long)s->rejected, s->rejects_path);
  for (int i = 0; i < CUSTOS_IMPORT_REASON_COUNT; i++) {
    if (s->rejected_by[i] > 0) {
      printf("    %-16s %lld\n", custos_import_reason_name((custos_import_reason)i),
             (long long)s->rejected_by[i]);
    }
  }
  for (int i = 0; i < CUSTOS_SENSITIVE_FIELD_COUNT; i++) {
    if (s->not_collected_by[i] > 0) {
      printf("  not collected     %s: %lld values dropped (GOV-19)\n",
             custos_sensitive_field_name(i), (long long)s->not_collected_by[i]);
    }
  }
  printf("  possible duplicates: %lld case%s opened for an examiner\n", (long long)s->dedup_cases,
         s->dedup_cases == 1 ? "" : "s");
}

static int run_import(const cli_cmd *cmd, cli_common *common, int argc, char **argv) {
  (void)argc;
  (void)argv;
  custos_err err;
  custos_err_clear(&err);
  custos_import_opts o = {0};
  progress_state ps = {.tty = isatty(STDERR_FILENO) == 1, .last = -1};
  ps.interval = ps.tty ? 0.2 : 10;
  /* Usage first, before anyone is asked for a password. */
  if (opt_holders == NULL || opt_photos == NULL) {
    cli_error(cmd->words, "--holders FILE.csv and --photos DIR are required",
              "see 'custos import --help'");
    return CLI_USAGE;
  }
  if (opt_jobs != NULL && !parse_int(opt_jobs, 1, CUSTOS_IMPORT_MAX_JOBS, &o.jobs)) {
    cli_error(cmd->words, "--jobs: expected a whole number 1..64", NULL);
    return CLI_USAGE;
  }
  if (opt_batch != NULL && !parse_int(opt_batch, 1, 4096, &o.batch_rows)) {
    cli_error(cmd->words, "--batch: expected a whole number 1..4096", NULL);
    return CLI_USAGE;
  }
  if (opt_interval != NULL) {
    char *end = NULL;
    ps.interval = strtod(opt_interval, &end);
    if (opt_interval[0] == '\0' || *end != '\0' || !(ps.interval >= 0 && ps.interval <= 86400)) {
      cli_error(cmd->words, "--progress-interval: expected seconds, 0..86400", NULL);
      return CLI_USAGE;
    }
  }
  custos_policy *policy = NULL;
  if (opt_policy != NULL) {
    int rc = custos_policy_load(opt_policy, &policy, &err);
    if (rc != CUSTOS_OK) return cli_fail(cmd->words, rc, &err);
  }
  custos *c = NULL;
  custos_session *as = NULL;
  int status = cli_login(cmd, common, &c, &as);
  if (status != CLI_OK) {
    custos_policy_free(policy);
    return status;
  }
  custos_import_summary *sum = calloc(1, sizeof *sum);
  if (sum == NULL) {
    cli_error(cmd->words, "out of memory", NULL);
    status = CLI_INTERNAL;
    goto out;
  }
  o.holders_csv = opt_holders;
  o.photos_dir = opt_photos;
  o.rejects_path = opt_rejects;
  o.models_dir = common->models;
  o.policy = policy;
  o.progress = show_progress;
  o.progress_ctx = &ps;
  int rc = custos_import(c, as, &o, sum, &err);
  if (ps.drawn) fputc('\n', stderr);
  if (rc != CUSTOS_OK) {
    status = cli_fail(cmd->words, rc, &err);
    if (sum->accepted + sum->renewals > 0) {
      fprintf(stderr,
              "hint: %lld rows were committed before the failure; running the same import again "
              "completes it without duplicating them\n",
              (long long)(sum->accepted + sum->renewals));
    }
    goto out;
  }
  if (common->json) {
    cli_print_json(summary_json(sum));
  } else {
    summary_text(sum);
  }
  if (sum->rejected > 0) {
    fprintf(stderr, "custos: import: %lld rows refused; see %s\n", (long long)sum->rejected,
            sum->rejects_path);
  }
  for (int i = 0; i < CUSTOS_SENSITIVE_FIELD_COUNT; i++) {
    if (sum->not_collected_by[i] > 0) {
      /* GOV-19: the values were dropped; say how many, never which. */
      fprintf(stderr,
              "custos: import: warning: %lld %s values dropped: the policy does not collect "
              "%s (GOV-19)\n",
              (long long)sum->not_collected_by[i], custos_sensitive_field_name(i),
              custos_sensitive_field_name(i));
    }
  }
out:
  free(sum);
  cli_logout(c, as);
  custos_policy_free(policy);
  return status;
}

/* ---- custos purge-field ------------------------------------------------------------------ */

static int run_purge(const cli_cmd *cmd, cli_common *common, int argc, char **argv) {
  (void)argc;
  custos_err err;
  custos_err_clear(&err);
  custos *c = NULL;
  custos_session *as = NULL;
  int status = cli_login(cmd, common, &c, &as);
  if (status != CLI_OK) return status;
  int64_t erased = 0;
  int rc = custos_purge_field(c, as, argv[0], &erased, &err);
  cli_logout(c, as);
  if (rc != CUSTOS_OK) return cli_fail(cmd->words, rc, &err);
  if (common->json) {
    cli_print_json(json_pack("{s:s, s:I, s:b}", "field", argv[0], "erased", (json_int_t)erased,
                             "compacted", 1));
  } else {
    printf("purged %s: %lld values erased; the database is compacted\n", argv[0],
           (long long)erased);
  }
  return CLI_OK;
}

const cli_cmd cli_import_cmds[] = {
    {"import", "--holders FILE.csv --photos DIR [--jobs N] [--rejects FILE] --as ADMIN",
     "enrol licence holders and their photos from a CSV file",
     "The CSV file (RFC 4180) has a header row naming its columns in any order:\n"
     "license_no, first_name, middle_name, last_name, dob, photo, and optionally ssn,\n"
     "mothers_maiden_name, birthplace, twin_indicator, voter_indicator, testing_info,\n"
     "identity_documents, previous_license, parental_id_document.  Any other column\n"
     "refuses the file before anything is imported (exit 3).  photo is a path relative\n"
     "to --photos.  Each photo must hold one face, large and sharp enough for the\n"
     "policy.  Rows are committed in batches; a killed import run again adds only what\n"
     "is missing (a row present with the same data and photo counts as present).\n"
     "Refused rows are listed, with row number, line, reason code and column but never a\n"
     "value, in the rejects file, written anew by each run.  birthplace is not\n"
     "collected (GOV-19): its values are dropped and counted.  A new photo closer than\n"
     "the policy's dedup_threshold to another holder's opens a possible-duplicate case\n"
     "for an examiner.  Progress goes to stderr, the summary to stdout (--json: one\n"
     "object).  Exit 0 when the import finished, even with refused rows.",
     0, 0, import_opts, run_import},
    {"purge-field", "FIELD --as ADMIN", "erase a sensitive field of every holder (GOV-19)",
     "Erases FIELD (ssn, mothers_maiden_name, birthplace, twin_indicator,\n"
     "voter_indicator, testing_info, identity_documents, previous_license or\n"
     "parental_id_document) of every holder, records the purge (field and count) in the\n"
     "audit log, then compacts the database (WAL checkpoint, VACUUM) so that the values\n"
     "are gone from its files.  If another program has the database open the\n"
     "compaction fails (exit 1); the values are erased already: run it again.",
     1, 1, NULL, run_purge},
    {NULL, NULL, NULL, NULL, 0, 0, NULL, NULL},
};
