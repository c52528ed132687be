/*
 * Verification statistics (the LFW protocol): reading a pairs file and
 * turning the distances of its pairs into accuracies and TAR at fixed FAR.
 *
 * Accuracy at a threshold t counts a pair right when both faces were found
 * and (distance < t) agrees with "same person".  The 10-fold figure picks,
 * for each fold, the threshold that is best on the other nine folds (a
 * midpoint between consecutive sorted distances) and scores the fold with it;
 * mean and sample standard deviation over the folds.  TAR at FAR f uses the
 * largest threshold at which at most f of all different-person pairs are
 * accepted; pairs with a missing face are never accepted.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "face/faceint.h"

#define MOD "face"
#define MAX_PAIRS_FILE ((size_t)16 << 20)
#define MAX_NAME 200

void custos_verify_pairs_free(custos_verify_pairs *p) {
  if (p == NULL) return;
  for (size_t i = 0; i < p->count; i++) {
    custos__free(p->pairs[i].a);
    custos__free(p->pairs[i].b);
  }
  custos__free(p->pairs);
  custos__free(p);
}

/* Parses a decimal integer in [lo, hi] from the whole of s. */
static bool parse_int(const char *s, long lo, long hi, long *out) {
  if (*s == '\0' || *s == '-' || *s == '+') return false;
  char *end = NULL;
  errno = 0;
  const long v = strtol(s, &end, 10);
  if (errno != 0 || *end != '\0' || v < lo || v > hi) return false;
  *out = v;
  return true;
}

static bool good_name(const char *s) {
  const size_t n = strlen(s);
  if (n == 0 || n > MAX_NAME || strstr(s, "..") != NULL) return false;
  for (const char *p = s; *p; p++) {
    if (*p == '/' || *p == '\\' || (unsigned char)*p < 0x20) return false;
  }
  return true;
}

static char *image_path(const char *name, long idx) {
  const size_t len = 2 * strlen(name) + 16;
  char *p = custos__malloc(len);
  if (p != NULL) snprintf(p, len, "%s/%s_%04ld.jpg", name, name, idx);
  return p;
}

/* Splits line at tabs (and trailing spaces/CR) into at most max fields. */
static int split(char *line, char **f, int max) {
  size_t n = strlen(line);
  while (n > 0 && (line[n - 1] == '\r' || line[n - 1] == ' ')) line[--n] = '\0';
  int k = 0;
  char *p = line;
  while (k < max) {
    f[k++] = p;
    char *t = strchr(p, '\t');
    if (t == NULL) break;
    *t = '\0';
    p = t + 1;
  }
  return strchr(p, '\t') != NULL ? max + 1 : k;
}

int custos_verify_pairs_load(const char *path, custos_verify_pairs **out, custos_err *err) {
  *out = NULL;
  unsigned char *buf = NULL;
  size_t len = 0;
  custos_verify_pairs *p = NULL;
  int rc = custos__read_file(path, MAX_PAIRS_FILE, &buf, &len, err);
  if (rc != CUSTOS_OK) return rc;
  char *s = (char *)buf;
  char *save = s;
  size_t lineno = 0;
  long folds = 1, per = 0;
  bool single = false;
  p = custos__calloc(1, sizeof *p);
  if (p == NULL) {
    rc = custos__err(err, CUSTOS_ENOMEM, MOD, "out of memory");
    goto out;
  }
  size_t expected = 0, same_seen = 0, diff_seen = 0;
  while (save != NULL && *save != '\0') {
    char *line = save;
    char *nl = strchr(line, '\n');
    if (nl != NULL) {
      *nl = '\0';
      save = nl + 1;
    } else {
      save = NULL;
    }
    lineno++;
    char *f[5];
    const int nf = split(line, f, 4);
    if (lineno == 1) {
      bool ok;
      if (nf == 1) {
        single = true;
        ok = parse_int(f[0], 1, CUSTOS_VERIFY_MAX_PAIRS / 2, &per);
      } else {
        ok = nf == 2 && parse_int(f[0], 1, 100, &folds) &&
             parse_int(f[1], 1, CUSTOS_VERIFY_MAX_PAIRS / 2, &per);
      }
      if (!ok) {
        rc = custos__err(err, CUSTOS_EINVAL, MOD,
                         "%s:1: expected \"FOLDS<TAB>N\" or \"N\" (pairs per class)", path);
        goto out;
      }
      if ((size_t)folds * (size_t)per * 2 > CUSTOS_VERIFY_MAX_PAIRS) {
        rc = custos__err(err, CUSTOS_ETOOBIG, MOD, "%s:1: more than %d pairs", path,
                         CUSTOS_VERIFY_MAX_PAIRS);
        goto out;
      }
      if (!single && folds != CUSTOS_VERIFY_FOLDS) {
        rc = custos__err(err, CUSTOS_EINVAL, MOD, "%s:1: expected %d folds, found %ld", path,
                         CUSTOS_VERIFY_FOLDS, folds);
        goto out;
      }
      expected = (size_t)folds * (size_t)per * 2;
      p->pairs = custos__calloc(expected, sizeof *p->pairs);
      if (p->pairs == NULL) {
        rc = custos__err(err, CUSTOS_ENOMEM, MOD, "out of memory");
        goto out;
      }
      continue;
    }
    if (nf == 1 && f[0][0] == '\0') continue; /* blank line */
    if (p->count >= expected) {
      rc = custos__err(err, CUSTOS_EINVAL, MOD, "%s:%zu: more pairs than the header's %zu", path,
                       lineno, expected);
      goto out;
    }
    long i = 0, j = 0;
    const char *n1 = f[0], *n2 = NULL;
    bool ok = false, same = false;
    if (nf == 3) {
      same = true;
      n2 = n1;
      ok = good_name(n1) && parse_int(f[1], 1, 9999, &i) && parse_int(f[2], 1, 9999, &j);
    } else if (nf == 4) {
      n2 = f[2];
      ok = good_name(n1) && good_name(n2) && parse_int(f[1], 1, 9999, &i) &&
           parse_int(f[3], 1, 9999, &j);
    }
    if (!ok) {
      rc = custos__err(err, CUSTOS_EINVAL, MOD,
                       "%s:%zu: expected \"name<TAB>i<TAB>j\" or \"name1<TAB>i<TAB>name2<TAB>j\"",
                       path, lineno);
      goto out;
    }
    custos_verify_pair *q = &p->pairs[p->count];
    q->a = image_path(n1, i);
    q->b = image_path(n2, j);
    p->count++;
    if (q->a == NULL || q->b == NULL) {
      rc = custos__err(err, CUSTOS_ENOMEM, MOD, "out of memory");
      goto out;
    }
    q->same = same;
    if (single) {
      const size_t k = same ? same_seen : diff_seen;
      q->fold = (int)(k * CUSTOS_VERIFY_FOLDS / (size_t)per);
      if (q->fold >= CUSTOS_VERIFY_FOLDS) q->fold = CUSTOS_VERIFY_FOLDS - 1;
    } else {
      q->fold = (int)((p->count - 1) / (2 * (size_t)per));
    }
    if (same)
      same_seen++;
    else
      diff_seen++;
  }
  if (lineno == 0 || p->count != expected) {
    rc = custos__err(err, CUSTOS_EINVAL, MOD, "%s: %zu pairs, the header announces %zu", path,
                     p->count, expected);
    goto out;
  }
  *out = p;
  p = NULL;
  rc = CUSTOS_OK;
out:
  custos_verify_pairs_free(p);
  custos__free(buf);
  return rc;
}

/* ---- statistics ------------------------------------------------------------ */

typedef struct scored {
  double d;
  bool same;
} scored;

static int by_distance(const void *pa, const void *pb) {
  const scored *a = pa, *b = pb;
  return (a->d > b->d) - (a->d < b->d);
}

/* Number of right calls at threshold t among found pairs. */
static size_t right_at(const scored *s, size_t n, double t) {
  size_t r = 0;
  for (size_t i = 0; i < n; i++) r += (s[i].d < t) == s[i].same;
  return r;
}

/* Threshold with the most right calls over sorted s[0..n): a midpoint
 * between consecutive distinct distances, or just outside the range. */
static double best_threshold(const scored *s, size_t n) {
  if (n == 0) return CUSTOS_FACE_SAME_THRESHOLD;
  size_t diff_total = 0;
  for (size_t i = 0; i < n; i++) diff_total += !s[i].same;
  /* Threshold below everything: all called different. */
  size_t right = diff_total, best = right;
  double best_t = s[0].d - 1e-6;
  for (size_t i = 0; i < n; i++) {
    /* Moving the threshold past s[i] calls it same. */
    right += s[i].same ? 1 : 0;
    right -= s[i].same ? 0 : 1;
    if (i + 1 < n && s[i + 1].d == s[i].d) continue;
    const double t = i + 1 < n ? (s[i].d + s[i + 1].d) / 2 : s[i].d + 1e-6;
    if (right > best) {
      best = right;
      best_t = t;
    }
  }
  return best_t;
}

static int cmp_double(const void *pa, const void *pb) {
  const double a = *(const double *)pa, b = *(const double *)pb;
  return (a > b) - (a < b);
}

static double median_of(double *v, size_t n) {
  if (n == 0) return NAN;
  qsort(v, n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* TAR at the largest threshold with at most far * n_diff false accepts. */
static void tar_at(const scored *s, size_t n, size_t n_same, size_t n_diff, double far, double *tar,
                   double *thr) {
  const size_t allowed = (size_t)floor(far * (double)n_diff + 1e-9);
  /* Sorted ascending: find the (allowed + 1)-th different-person distance. */
  size_t seen = 0;
  double t = INFINITY;
  for (size_t i = 0; i < n; i++) {
    if (s[i].same) continue;
    if (seen == allowed) {
      t = s[i].d;
      break;
    }
    seen++;
  }
  size_t acc = 0;
  for (size_t i = 0; i < n; i++) acc += s[i].same && s[i].d < t;
  *tar = n_same ? (double)acc / (double)n_same : 0;
  *thr = t;
}

int custos_verify_compute(const double *dist, const bool *same, const int *fold, size_t n,
                          double fixed_threshold, custos_verify_stats *out, custos_err *err) {
  memset(out, 0, sizeof *out);
  if (n == 0 || dist == NULL || same == NULL || fold == NULL)
    return custos__err(err, CUSTOS_EINVAL, MOD, "no pairs");
  for (size_t i = 0; i < n; i++) {
    if (fold[i] < 0 || fold[i] >= CUSTOS_VERIFY_FOLDS)
      return custos__err(err, CUSTOS_EINVAL, MOD, "pair %zu: fold %d out of range", i, fold[i]);
  }
  int rc = CUSTOS_OK;
  scored *all = custos__mallocarray(n, sizeof *all);
  scored *train = custos__mallocarray(n, sizeof *train);
  scored *test = custos__mallocarray(n, sizeof *test);
  double *ds = custos__mallocarray(n, sizeof *ds);
  double *dd = custos__mallocarray(n, sizeof *dd);
  if (all == NULL || train == NULL || test == NULL || ds == NULL || dd == NULL) {
    rc = custos__err(err, CUSTOS_ENOMEM, MOD, "out of memory");
    goto out;
  }
  size_t nf = 0, n_same = 0, n_diff = 0, nds = 0, ndd = 0;
  for (size_t i = 0; i < n; i++) {
    n_same += same[i];
    n_diff += !same[i];
    if (!(dist[i] >= 0)) {
      out->missing_pairs++;
      continue;
    }
    all[nf++] = (scored){dist[i], same[i]};
    if (same[i])
      ds[nds++] = dist[i];
    else
      dd[ndd++] = dist[i];
  }
  out->pairs = n;
  out->same_pairs = n_same;
  out->fixed_threshold = fixed_threshold;
  qsort(all, nf, sizeof *all, by_distance);
  out->acc_fixed = (double)right_at(all, nf, fixed_threshold) / (double)n;
  out->acc_found = nf ? (double)right_at(all, nf, fixed_threshold) / (double)nf : 0;
  out->best_threshold = best_threshold(all, nf);
  out->acc_best = (double)right_at(all, nf, out->best_threshold) / (double)n;

  /* 10 folds. */
  double acc[CUSTOS_VERIFY_FOLDS];
  int used = 0;
  double tsum = 0;
  for (int f = 0; f < CUSTOS_VERIFY_FOLDS; f++) {
    size_t ntr = 0, nte = 0, fold_total = 0;
    for (size_t i = 0; i < n; i++) {
      if (fold[i] == f) fold_total++;
      if (!(dist[i] >= 0)) continue;
      if (fold[i] == f)
        test[nte++] = (scored){dist[i], same[i]};
      else
        train[ntr++] = (scored){dist[i], same[i]};
    }
    if (fold_total == 0) continue;
    qsort(train, ntr, sizeof *train, by_distance);
    const double t = best_threshold(train, ntr);
    acc[used++] = (double)right_at(test, nte, t) / (double)fold_total;
    tsum += t;
  }
  double mean = 0;
  for (int f = 0; f < used; f++) mean += acc[f] / used;
  double var = 0;
  for (int f = 0; f < used; f++) var += (acc[f] - mean) * (acc[f] - mean);
  out->kfold_mean = mean;
  out->kfold_sd = used > 1 ? sqrt(var / (used - 1)) : 0;
  out->kfold_threshold = used ? tsum / used : 0;

  tar_at(all, nf, n_same, n_diff, 1e-2, &out->tar_far2, &out->thr_far2);
  tar_at(all, nf, n_same, n_diff, 1e-3, &out->tar_far3, &out->thr_far3);
  out->same_median = median_of(ds, nds);
  out->diff_median = median_of(dd, ndd);
out:
  custos__free(all);
  custos__free(train);
  custos__free(test);
  custos__free(ds);
  custos__free(dd);
  return rc;
}
