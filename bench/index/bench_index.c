/*
 * Gallery index benchmark: custos's exact 1:N search on synthetic galleries
 * (bench/index/synth.h) against the memory-speed floor and against FAISS's
 * IndexFlatL2 (bench_faiss, run just before on the same data; its figures
 * come in as a JSON file).
 *
 * usage:
 *   bench_index --fit DEMO.jsonl --write-stats OUT
 *       per-dimension mean and standard deviation of real face-api
 *       descriptors ("faces"[].descriptor of each line); without the file,
 *       mean 0 and sd 0.12 (and a note saying so)
 *   bench_index --n N --stats FILE [--runs R] [--faiss JSON] [--faiss-labels BIN]
 *               [--json OUT] [--snapshot DIR]
 *       one gallery: prints its table; --json writes its JSON object
 *   bench_index --table JSON...
 *       the summary table of several galleries
 *
 * Timed: one query (k = 10) on 1 and 2 threads; a plain read of the same
 * code bytes on 2 threads (the floor); a batch of 64 queries on 2 threads;
 * the exact double-precision scan on 2 threads.  Medians of R runs (batches:
 * of max(3, R / 4)).  Recall@10 is over all 64 queries, fast single and
 * batched against the exact method; it must be 1.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "custos/custos.h"
#include "index/index.h"
#include "util/util.h"

#include "synth.h"
#include "../bench.h"

#define NQ 64
#define K 10

static void die(const char *what, const custos_err *err) {
  fprintf(stderr, "bench_index: %s: %s\n", what, err ? err->message : "");
  exit(1);
}

/* ---- fitting the statistics ----------------------------------------------- */

static int write_stats(const char *demo, const char *out) {
  double sum[SYNTH_DIMS] = {0}, sum2[SYNTH_DIMS] = {0};
  size_t n = 0;
  FILE *f = fopen(demo, "r");
  if (f != NULL) {
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, f) > 0) {
      json_t *root = json_loads(line, 0, NULL);
      json_t *faces = root ? json_object_get(root, "faces") : NULL;
      for (size_t i = 0; faces && i < json_array_size(faces); i++) {
        json_t *d = json_object_get(json_array_get(faces, i), "descriptor");
        if (json_array_size(d) != SYNTH_DIMS) continue;
        for (size_t j = 0; j < SYNTH_DIMS; j++) {
          double x = json_number_value(json_array_get(d, j));
          sum[j] += x;
          sum2[j] += x * x;
        }
        n++;
      }
      json_decref(root);
    }
    free(line);
    fclose(f);
  }
  FILE *o = fopen(out, "w");
  if (o == NULL) return 1;
  for (int d = 0; d < SYNTH_DIMS; d++) {
    double m = n ? sum[d] / (double)n : 0.0;
    double sd = n > 1 ? sqrt((sum2[d] - (double)n * m * m) / (double)(n - 1)) : 0.12;
    fprintf(o, "%.9g %.9g\n", m, sd);
  }
  fclose(o);
  if (n) {
    fprintf(stderr, "bench_index: per-dimension statistics fitted on %zu descriptors of %s\n", n,
            demo);
  } else {
    fprintf(stderr, "bench_index: %s has no descriptors: mean 0, sd 0.12 per dimension\n", demo);
  }
  return 0;
}

/* ---- the gallery ---------------------------------------------------------- */

typedef struct gen {
  const synth *s;
  size_t n, at;
} gen;

static int gen_next(void *ctx, custos_index_template *buf, size_t cap, size_t *n, custos_err *err) {
  (void)err;
  gen *g = ctx;
  size_t m = g->n - g->at < cap ? g->n - g->at : cap;
  for (size_t i = 0; i < m; i++) {
    buf[i].holder = (int64_t)(g->at + i);
    buf[i].photo = (int64_t)(g->at + i);
    synth_descriptor(g->s, g->at + i, buf[i].descriptor);
  }
  g->at += m;
  *n = m;
  return CUSTOS_OK;
}

static double time_search(custos_index *idx, const float *q, int threads, custos_index_method m,
                          custos_index_hit *hits, custos__index_trace *tr) {
  custos_index_search_opts o = {threads, m};
  size_t n;
  custos_err err;
  double t0 = now_ms();
  if (custos__index_search_traced(idx, q, 1, K, &o, hits, &n, tr, &err) != CUSTOS_OK) {
    die("search", &err);
  }
  return now_ms() - t0;
}

static double time_batch(custos_index *idx, const float *q, int threads, custos_index_hit *hits) {
  custos_index_search_opts o = {threads, CUSTOS_INDEX_FAST};
  size_t n[NQ];
  custos_err err;
  double t0 = now_ms();
  if (custos_index_search_batch(idx, q, NQ, K, &o, hits, n, &err) != CUSTOS_OK) die("batch", &err);
  return now_ms() - t0;
}

/* Hits of a that are in b (by photo). */
static int overlap(const custos_index_hit *a, const custos_index_hit *b) {
  int m = 0;
  for (int i = 0; i < K; i++) {
    for (int j = 0; j < K; j++) m += a[i].photo == b[j].photo;
  }
  return m;
}

static bool identical(const custos_index_hit *a, const custos_index_hit *b) {
  for (int i = 0; i < K; i++) {
    if (a[i].holder != b[i].holder || a[i].photo != b[i].photo || a[i].distance != b[i].distance) {
      return false;
    }
  }
  return true;
}

static double jget(json_t *o, const char *key) {
  json_t *v = json_object_get(o, key);
  return v ? json_number_value(v) : NAN;
}

static int run_one(size_t n, const char *stats_path, int runs, const char *faiss_json,
                   const char *faiss_labels, const char *json_out, const char *snap_dir) {
  static synth s;
  if (synth_load(&s, stats_path) != 0) {
    fprintf(stderr, "bench_index: cannot read statistics %s\n", stats_path);
    return 1;
  }
  custos_err err;
  custos_index *idx = NULL;
  gen g = {&s, n, 0};
  custos_index_config cfg = {n, NULL, 0};
  double t0 = now_ms();
  if (custos_index_build(&cfg, gen_next, &g, &idx, &err) != CUSTOS_OK) die("build", &err);
  double build_s = (now_ms() - t0) / 1e3;
  custos_index_stats st;
  custos_index_stats_get(idx, &st);
  double bytes_per = (double)st.bytes / (double)n;

  static float q[NQ * SYNTH_DIMS];
  for (int i = 0; i < NQ; i++) synth_query(&s, n, (uint64_t)i, q + i * SYNTH_DIMS);
  static custos_index_hit exact[NQ * K], fast[NQ * K], batch[NQ * K], tmp[NQ * K];
  custos__index_trace tr;

  /* Correctness first (also warms the caches and page tables). */
  double t_exact[NQ];
  size_t cands = 0;
  for (int i = 0; i < NQ; i++) {
    t_exact[i] = time_search(idx, q + i * SYNTH_DIMS, 2, CUSTOS_INDEX_EXACT, exact + i * K, &tr);
    time_search(idx, q + i * SYNTH_DIMS, 2, CUSTOS_INDEX_FAST, fast + i * K, &tr);
    cands += tr.candidates;
  }
  time_batch(idx, q, 2, batch);
  int hit = 0, same = 0, bhit = 0, bsame = 0;
  for (int i = 0; i < NQ; i++) {
    hit += overlap(fast + i * K, exact + i * K);
    same += identical(fast + i * K, exact + i * K);
    bhit += overlap(batch + i * K, exact + i * K);
    bsame += identical(batch + i * K, exact + i * K);
  }
  double recall = (double)(hit < bhit ? hit : bhit) / (NQ * K);

  /* Timings, interleaved so that the floor and the searches it is compared
   * with see the same machine (it is shared: other work comes and goes). */
  int nb = runs / 4 < 3 ? 3 : runs / 4;
  double *t1 = calloc((size_t)runs, sizeof *t1), *t2 = calloc((size_t)runs, sizeof *t2);
  double *s1 = calloc((size_t)runs, sizeof *s1), *s2 = calloc((size_t)runs, sizeof *s2);
  double *tb = calloc((size_t)nb, sizeof *tb);
  uint64_t sink = 0, x;
  for (int r = 0; r < runs; r++) {
    const float *qr = q + (r % NQ) * SYNTH_DIMS;
    double a = now_ms();
    if (custos__index_stream(idx, 2, &x, &err) != CUSTOS_OK) die("stream", &err);
    s2[r] = now_ms() - a;
    sink ^= x;
    t2[r] = time_search(idx, qr, 2, CUSTOS_INDEX_FAST, tmp, &tr);
    a = now_ms();
    custos__index_stream(idx, 1, &x, &err);
    s1[r] = now_ms() - a;
    sink ^= x;
    t1[r] = time_search(idx, qr, 1, CUSTOS_INDEX_FAST, tmp, &tr);
  }
  double single1 = median(t1, runs), single2 = median(t2, runs);
  double stream1 = median(s1, runs), stream2 = median(s2, runs);
  for (int r = 0; r < nb; r++) tb[r] = time_batch(idx, q, 2, tmp) / NQ;
  double batch2 = median(tb, nb);
  double exact2 = median(t_exact, NQ);

  /* Snapshot save and load (1M-sized galleries and below). */
  double save_s = NAN, load_s = NAN;
  if (snap_dir != NULL) {
    char path[1024];
    snprintf(path, sizeof path, "%s/bench_index.snap", snap_dir);
    double a = now_ms();
    if (custos_index_save(idx, path, 1, &err) != CUSTOS_OK) die("save", &err);
    save_s = (now_ms() - a) / 1e3;
    custos_index *back = NULL;
    custos_index_stamp stamp = {1, n};
    a = now_ms();
    if (custos_index_load(NULL, path, &stamp, &back, &err) != CUSTOS_OK) die("load", &err);
    load_s = (now_ms() - a) / 1e3;
    custos_index_free(back);
    unlink(path);
  }

  /* The peer. */
  double f1 = NAN, f2 = NAN, fb = NAN, frecall = NAN;
  const char *fcfg = "";
  json_t *fj = faiss_json ? json_load_file(faiss_json, 0, NULL) : NULL;
  if (fj) {
    f1 = jget(fj, "faiss_single_ms_1t");
    f2 = jget(fj, "faiss_single_ms");
    fb = jget(fj, "faiss_batch64_ms_per_query");
    json_t *c = json_object_get(fj, "faiss_batch_config");
    if (c) fcfg = json_string_value(c);
  }
  FILE *lf = faiss_labels ? fopen(faiss_labels, "rb") : NULL;
  if (lf) {
    static int64_t labels[NQ * K];
    if (fread(labels, sizeof(int64_t), NQ * K, lf) == NQ * K) {
      int m = 0;
      for (int i = 0; i < NQ; i++) {
        for (int a = 0; a < K; a++) {
          for (int b = 0; b < K; b++) m += labels[i * K + a] == exact[i * K + b].photo;
        }
      }
      frecall = (double)m / (NQ * K);
    }
    fclose(lf);
  }

  printf(
      "\n== n = %zu: synthetic face-api-like descriptors, k = %d, medians of %d runs "
      "(batches %d) ==\n",
      n, K, runs, nb);
  printf(
      "build (generate, add, fit, code): %.2f s; memory %.0f bytes/template "
      "(a search streams %zu)",
      build_s, bytes_per, st.scan_bytes);
  if (snap_dir) printf("; snapshot save %.2f s, load %.2f s", save_s, load_s);
  printf("\n%-40s %10s %12s %12s\n", "", "custos", "FAISS Flat", "FAISS/custos");
  printf("%-40s %10.2f %12.2f %12.1f\n", "one query, 1 thread (ms)", single1, f1, f1 / single1);
  printf("%-40s %10.2f %12.2f %12.1f\n", "one query, 2 threads (ms)", single2, f2, f2 / single2);
  printf("%-40s %10.2f %12.2f %12.1f\n", "batch of 64, 2 threads (ms per query)", batch2, fb,
         fb / batch2);
  printf("%-40s %10.2f\n", "exact f64 scan, one query, 2 thr (ms)", exact2);
  printf("%-40s %10.2f   one query 2 threads / floor = %.2f\n",
         "floor: read the codes, 2 threads (ms)", stream2, single2 / stream2);
  printf("%-40s %10.2f   one query 1 thread / floor = %.2f\n",
         "floor: read the codes, 1 thread (ms)", stream1, single1 / stream1);
  printf("%-40s %10.3f %12.3f   identical lists: %d/%d single, %d/%d batch\n",
         "recall@10 against the exact search", recall, frecall, same, NQ, bsame, NQ);
  printf("%-40s %10.1f\n", "templates re-ranked exactly per query", (double)cands / NQ);
  if (*fcfg) printf("FAISS batch configuration: %s\n", fcfg);
  if (sink == 42) printf(" \n"); /* keeps the reads */

  json_t *o = json_object();
  json_object_set_new(o, "n", json_integer((json_int_t)n));
  json_object_set_new(o, "single_ms_1t", json_real(single1));
  json_object_set_new(o, "single_ms_2t", json_real(single2));
  json_object_set_new(o, "stream_ms", json_real(stream2));
  json_object_set_new(o, "batch64_ms_per_query", json_real(batch2));
  json_object_set_new(o, "faiss_single_ms", json_real(isnan(f2) ? -1 : f2));
  json_object_set_new(o, "faiss_batch64_ms_per_query", json_real(isnan(fb) ? -1 : fb));
  json_object_set_new(o, "recall_at_10", json_real(recall));
  json_object_set_new(o, "bytes_per_template", json_real(round(bytes_per)));
  json_object_set_new(o, "faiss_single_ms_1t", json_real(isnan(f1) ? -1 : f1));
  json_object_set_new(o, "stream_ms_1t", json_real(stream1));
  json_object_set_new(o, "exact_ms_2t", json_real(exact2));
  json_object_set_new(o, "faiss_recall_at_10", json_real(isnan(frecall) ? -1 : frecall));
  json_object_set_new(o, "build_s", json_real(build_s));
  if (snap_dir) {
    json_object_set_new(o, "snapshot_save_s", json_real(save_s));
    json_object_set_new(o, "snapshot_load_s", json_real(load_s));
  }
  if (json_out) json_dump_file(o, json_out, JSON_COMPACT | JSON_PRESERVE_ORDER);
  json_decref(o);
  json_decref(fj);
  free(t1);
  free(t2);
  free(s1);
  free(s2);
  free(tb);
  custos_index_free(idx);
  return same == NQ && bsame == NQ ? 0 : 3;
}

static int table(int argc, char **argv) {
  printf("\n%-10s %8s %8s %8s %9s %10s %10s %8s %11s %8s %7s %6s\n", "n", "1q 1t", "1q 2t", "floor",
         "2t/floor", "b64 ms/q", "FAISS 1q", "ratio", "FAISS b64", "ratio", "recall", "B/tpl");
  for (int i = 0; i < argc; i++) {
    json_t *o = json_load_file(argv[i], 0, NULL);
    if (o == NULL) continue;
    double s2 = jget(o, "single_ms_2t"), b = jget(o, "batch64_ms_per_query");
    double f = jget(o, "faiss_single_ms"), fb = jget(o, "faiss_batch64_ms_per_query");
    printf("%-10.0f %8.2f %8.2f %8.2f %9.2f %10.3f %10.1f %7.1fx %11.3f %7.1fx %7.3f %6.0f\n",
           jget(o, "n"), jget(o, "single_ms_1t"), s2, jget(o, "stream_ms"),
           s2 / jget(o, "stream_ms"), b, f, f / s2, fb, fb / b, jget(o, "recall_at_10"),
           jget(o, "bytes_per_template"));
    json_decref(o);
  }
  printf(
      "(ms; 1q = one query k=10; floor = plain read of the code bytes on 2 threads; ratio = "
      "FAISS / custos)\n");
  return 0;
}

int main(int argc, char **argv) {
  const char *fit = NULL, *write = NULL, *stats = NULL, *faiss = NULL, *labels = NULL;
  const char *json = NULL, *snap = NULL;
  size_t n = 0;
  int runs = 15;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--table") == 0) return table(argc - i - 1, argv + i + 1);
    if (v == NULL) break;
    if (strcmp(a, "--fit") == 0) {
      fit = v;
    } else if (strcmp(a, "--write-stats") == 0) {
      write = v;
    } else if (strcmp(a, "--stats") == 0) {
      stats = v;
    } else if (strcmp(a, "--faiss") == 0) {
      faiss = v;
    } else if (strcmp(a, "--faiss-labels") == 0) {
      labels = v;
    } else if (strcmp(a, "--json") == 0) {
      json = v;
    } else if (strcmp(a, "--snapshot") == 0) {
      snap = v;
    } else if (strcmp(a, "--n") == 0) {
      n = (size_t)strtoull(v, NULL, 10);
    } else if (strcmp(a, "--runs") == 0) {
      runs = (int)strtol(v, NULL, 10);
    } else {
      break;
    }
    i++;
  }
  if (fit && write) return write_stats(fit, write);
  if (n == 0 || stats == NULL || runs < 1 || runs > 1000) {
    fprintf(stderr,
            "usage: bench_index --fit DEMO.jsonl --write-stats OUT\n"
            "       bench_index --n N --stats FILE [--runs R] [--faiss JSON] "
            "[--faiss-labels BIN] [--json OUT] [--snapshot DIR]\n"
            "       bench_index --table JSON...\n");
    return 2;
  }
  return run_one(n, stats, runs, faiss, labels, json, snap);
}
