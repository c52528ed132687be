/*
 * custos eval verify: LFW-protocol verification accuracy of the face engine.
 *
 * Every image named by the pairs file is embedded once (the face nearest the
 * image centre when there are several), in batches spread over the engine's
 * workers; each pair's distance then goes to custos_verify_compute, which
 * gives the 10-fold accuracy, the accuracy at face-api's fixed threshold 0.6
 * and TAR at FAR 1e-2 and 1e-3.  An image where no face is found (or that
 * cannot be read) makes its pairs count wrong.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static cli_face_args args;
static const char *opt_root, *opt_pairs, *opt_limit;

static const cli_opt verify_opts[] = {
    {"--root", "DIR", &opt_root, "folder the pairs' image paths are relative to (required)"},
    {"--pairs", "FILE", &opt_pairs, "LFW pairs file: pairs.txt, pairsDevTest.txt... (required)"},
    {"--limit", "N", &opt_limit, "use only the first N pairs (quick checks)"},
    CLI_FACE_OPTS(args),
    {NULL, NULL, NULL, NULL},
};

/* A JSON number, or null for NaN and infinities (JSON has neither). */
static json_t *num(double v) {
  return isfinite(v) ? json_real(v) : json_null();
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Index of path in the sorted unique list. */
static size_t find_path(const char *const *uniq, size_t n, const char *path) {
  const char *const *hit = bsearch(&path, uniq, n, sizeof *uniq, cmp_str);
  return hit ? (size_t)(hit - uniq) : (size_t)-1;
}

static void progress(size_t done, size_t total, double t0, bool tty, size_t *next_line) {
  const double el = now_s() - t0;
  const double rate = el > 0 ? (double)done / el : 0;
  const double eta = rate > 0 ? (double)(total - done) / rate : 0;
  if (tty) {
    fprintf(stderr, "\rverify: %zu/%zu images, %.1f/s, ETA %.0f s   ", done, total, rate, eta);
    if (done == total) fprintf(stderr, "\n");
  } else if (done >= *next_line || done == total) {
    fprintf(stderr, "verify: %zu/%zu images, %.1f/s, ETA %.0f s\n", done, total, rate, eta);
    *next_line = done + (total + 9) / 10;
  }
}

static int run_verify(const cli_cmd *cmd, cli_common *common, int argc, char **argv) {
  (void)argc;
  (void)argv;
  if (opt_root == NULL || opt_pairs == NULL) {
    cli_error(cmd->words, "--root and --pairs are required", "see 'custos eval verify --help'");
    return CLI_USAGE;
  }
  long limit = -1;
  if (opt_limit != NULL) {
    char *end = NULL;
    limit = strtol(opt_limit, &end, 10);
    if (end == opt_limit || *end != '\0' || limit < 1) {
      cli_error(cmd->words, "--limit: expected a positive number of pairs", NULL);
      return CLI_USAGE;
    }
  }
  custos_face_options o;
  int status = cli_face_options(cmd->words, &args, &o);
  if (status != CLI_OK) return status;

  custos_err err;
  custos_err_clear(&err);
  custos_verify_pairs *pairs = NULL;
  custos_face_engine *e = NULL;
  const char **uniq = NULL;
  float(*desc)[CUSTOS_FACE_DESCRIPTOR_DIM] = NULL;
  bool *found = NULL, *same = NULL;
  double *dist = NULL;
  int *fold = NULL;
  custos_image **imgs = NULL;
  custos_face_list **outs = NULL;
  int *rcs = NULL;
  size_t *which = NULL;
  int rc = custos_verify_pairs_load(opt_pairs, &pairs, &err);
  if (rc != CUSTOS_OK) {
    status = cli_fail("--pairs", rc, &err);
    goto out;
  }
  const size_t np = limit > 0 && (size_t)limit < pairs->count ? (size_t)limit : pairs->count;
  status = cli_face_open(cmd->words, common, &o, &e);
  if (status != CLI_OK) goto out;

  /* The distinct images, sorted. */
  uniq = calloc(2 * np, sizeof *uniq);
  if (uniq == NULL) goto oom;
  size_t nu = 0;
  for (size_t i = 0; i < np; i++) {
    uniq[nu++] = pairs->pairs[i].a;
    uniq[nu++] = pairs->pairs[i].b;
  }
  qsort(uniq, nu, sizeof *uniq, cmp_str);
  size_t w = 0;
  for (size_t i = 0; i < nu; i++) {
    if (w == 0 || strcmp(uniq[w - 1], uniq[i]) != 0) uniq[w++] = uniq[i];
  }
  nu = w;
  desc = calloc(nu, sizeof *desc);
  found = calloc(nu, sizeof *found);
  const size_t bs = (size_t)(o.threads < 2 ? 4 : 4 * o.threads);
  imgs = calloc(bs, sizeof *imgs);
  outs = calloc(bs, sizeof *outs);
  rcs = calloc(bs, sizeof *rcs);
  which = calloc(bs, sizeof *which);
  if (!desc || !found || !imgs || !outs || !rcs || !which) goto oom;

  const bool tty = isatty(STDERR_FILENO);
  const double t0 = now_s();
  size_t next_line = 0, unreadable = 0, no_face = 0, padded = 0;
  for (size_t start = 0; start < nu; start += bs) {
    size_t n = 0;
    for (size_t i = start; i < nu && i < start + bs; i++) {
      char path[4096];
      if ((size_t)snprintf(path, sizeof path, "%s/%s", opt_root, uniq[i]) >= sizeof path) {
        cli_error(uniq[i], "path too long", NULL);
        unreadable++;
        continue;
      }
      custos_err derr;
      custos_err_clear(&derr);
      custos_image *img = NULL;
      const int drc = custos_image_decode_file(path, NULL, &img, NULL, &derr);
      if (drc != CUSTOS_OK) {
        if (tty) fprintf(stderr, "\n");
        cli_fail(path, drc, &derr);
        unreadable++;
        continue;
      }
      imgs[n] = img;
      which[n] = i;
      n++;
    }
    custos_face_embed_many(e, (const custos_image *const *)imgs, n, true, outs, rcs, NULL);
    for (size_t k = 0; k < n; k++) {
      if (rcs[k] == CUSTOS_OK) {
        const long c = custos_face_list_central(outs[k]);
        if (c >= 0) {
          memcpy(desc[which[k]], outs[k]->faces[c].descriptor, sizeof desc[0]);
          found[which[k]] = true;
          padded += outs[k]->padded;
        } else {
          no_face++;
        }
      } else {
        unreadable++;
      }
      custos_face_list_free(outs[k]);
      custos_image_free(imgs[k]);
      outs[k] = NULL;
      imgs[k] = NULL;
    }
    progress(start + bs < nu ? start + bs : nu, nu, t0, tty, &next_line);
  }
  const double seconds = now_s() - t0;

  dist = calloc(np, sizeof *dist);
  same = calloc(np, sizeof *same);
  fold = calloc(np, sizeof *fold);
  if (!dist || !same || !fold) goto oom;
  for (size_t i = 0; i < np; i++) {
    const custos_verify_pair *p = &pairs->pairs[i];
    const size_t a = find_path(uniq, nu, p->a), b = find_path(uniq, nu, p->b);
    same[i] = p->same;
    fold[i] = p->fold;
    dist[i] = found[a] && found[b] ? custos_face_distance(desc[a], desc[b]) : -1;
  }
  custos_verify_stats s;
  rc = custos_verify_compute(dist, same, fold, np, CUSTOS_FACE_SAME_THRESHOLD, &s, &err);
  if (rc != CUSTOS_OK) {
    status = cli_fail(cmd->words, rc, &err);
    goto out;
  }
  if (common->json) {
    json_t *doc =
        json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "pairs_file", opt_pairs,
                  "detector", custos_face_detector_name(o.detector), "align",
                  custos_face_alignment_name(o.align), "pairs", (json_int_t)s.pairs, "same_pairs",
                  (json_int_t)s.same_pairs, "images", (json_int_t)nu, "no_face_images",
                  (json_int_t)no_face, "unreadable_images", (json_int_t)unreadable, "padded_images",
                  (json_int_t)padded, "missing_pairs", (json_int_t)s.missing_pairs);
    json_object_set_new(doc, "kfold",
                        json_pack("{s:o, s:o, s:o}", "mean", num(s.kfold_mean), "sd",
                                  num(s.kfold_sd), "threshold", num(s.kfold_threshold)));
    json_object_set_new(
        doc, "fixed",
        json_pack("{s:o, s:o, s:o}", "threshold", num(s.fixed_threshold), "accuracy",
                  num(s.acc_fixed), "accuracy_found", num(s.acc_found)));
    json_object_set_new(
        doc, "best",
        json_pack("{s:o, s:o}", "threshold", num(s.best_threshold), "accuracy", num(s.acc_best)));
    json_object_set_new(
        doc, "tar_at_far",
        json_pack("{s:{s:o, s:o}, s:{s:o, s:o}}", "1e-2", "tar", num(s.tar_far2), "threshold",
                  num(s.thr_far2), "1e-3", "tar", num(s.tar_far3), "threshold", num(s.thr_far3)));
    json_object_set_new(
        doc, "median_distance",
        json_pack("{s:o, s:o}", "same", num(s.same_median), "different", num(s.diff_median)));
    json_object_set_new(doc, "seconds", num(seconds));
    cli_print_json(doc);
  } else {
    printf("%s: %zu pairs (%zu same), %zu images, detector %s, alignment %s\n", opt_pairs, s.pairs,
           s.same_pairs, nu, custos_face_detector_name(o.detector),
           custos_face_alignment_name(o.align));
    printf(
        "  no face found:        %zu images (%zu unreadable), %zu pairs affected; "
        "%zu images found on the padded image\n",
        no_face, unreadable, s.missing_pairs, padded);
    printf("  10-fold accuracy:     %.2f%% +- %.2f%% (mean threshold %.3f)\n", 100 * s.kfold_mean,
           100 * s.kfold_sd, s.kfold_threshold);
    printf("  accuracy at %.2f:     %.2f%% (%.2f%% of pairs with both faces found)\n",
           s.fixed_threshold, 100 * s.acc_fixed, 100 * s.acc_found);
    printf("  best threshold:       %.3f: %.2f%%\n", s.best_threshold, 100 * s.acc_best);
    printf("  TAR at FAR 1e-2:      %.2f%% (threshold %.3f)\n", 100 * s.tar_far2, s.thr_far2);
    printf("  TAR at FAR 1e-3:      %.2f%% (threshold %.3f)\n", 100 * s.tar_far3, s.thr_far3);
    printf("  median distance:      same %.3f, different %.3f\n", s.same_median, s.diff_median);
    printf("  time:                 %.1f s (%.1f images/s)\n", seconds,
           seconds > 0 ? (double)nu / seconds : 0);
  }
  goto out;
oom:
  cli_error(cmd->words, "out of memory", NULL);
  status = CLI_INTERNAL;
out:
  free(uniq);
  free(desc);
  free(found);
  free(dist);
  free(same);
  free(fold);
  free(imgs);
  free(outs);
  free(rcs);
  free(which);
  custos_face_engine_close(e);
  custos_verify_pairs_free(pairs);
  return status;
}

const cli_cmd cli_eval_cmds[] = {
    {"eval verify", "", "LFW-style verification accuracy of the face engine",
     "Embeds every image of a pairs file (LFW's pairs.txt format, paths relative to\n"
     "--root; with several faces, the one nearest the image centre) and prints the\n"
     "10-fold accuracy (mean +- sd, each fold's threshold chosen on the other nine), the\n"
     "accuracy at face-api's threshold 0.6, TAR at FAR 1e-2 and 1e-3 and the number of\n"
     "images without a face (their pairs count wrong).  Progress goes to stderr.",
     0, 0, verify_opts, run_verify},
    {NULL, NULL, NULL, NULL, 0, 0, NULL, NULL},
};
