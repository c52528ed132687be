/*
 * The peer of the index benchmark: Debian's FAISS (libfaiss-dev 1.7.3,
 * IndexFlatL2: exact float32 search) on the same synthetic gallery and
 * queries as bench_index (synth.h).  Built only for the benchmark
 * (bench/index/run builds it).
 *
 * usage: bench_faiss --n N --stats FILE [--runs R] [--labels OUT]
 * Prints one JSON object: {"n", "faiss_single_ms_1t", "faiss_single_ms",
 * "faiss_batch64_ms_per_query", "faiss_batch_config"}; --labels writes the
 * batch's top-10 ids (64 x 10 int64) for bench_index's recall check.
 *
 * One query goes through FAISS's sequential scan (OpenMP over queries, so one
 * thread does the work); a batch of 64 goes through its BLAS path.  Its
 * OpenMP threads each call OpenBLAS, whose own threads clash with them
 * (MEASUREMENTS.md), so the batch is timed both ways, OpenMP 2 x BLAS 1 and
 * OpenMP 1 x BLAS 2, and the faster counts.
 */
#include <faiss/IndexFlat.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "synth.h"

#include <dlfcn.h>

/* OpenBLAS's thread count, set at run time when the BLAS behind -lblas is
 * OpenBLAS (Debian's default); otherwise OPENBLAS_NUM_THREADS rules. */
static void openblas_set_num_threads(int n) {
  using fn = void (*)(int);
  static fn f = (fn)dlsym(RTLD_DEFAULT, "openblas_set_num_threads");
  if (f) f(n);
}

static double now_ms() {
  using namespace std::chrono;
  return duration<double, std::milli>(steady_clock::now().time_since_epoch()).count();
}

static double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv) {
  size_t n = 0;
  int runs = 7;
  const char *stats = nullptr, *labels_out = nullptr;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--n")) n = strtoull(argv[i + 1], nullptr, 10);
    else if (!strcmp(argv[i], "--runs")) runs = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--stats")) stats = argv[i + 1];
    else if (!strcmp(argv[i], "--labels")) labels_out = argv[i + 1];
  }
  static synth s;
  if (n == 0 || stats == nullptr || runs < 1 || synth_load(&s, stats) != 0) {
    fprintf(stderr, "usage: bench_faiss --n N --stats FILE [--runs R] [--labels OUT]\n");
    return 2;
  }
  const int nq = 64, k = 10;
  faiss::IndexFlatL2 index(SYNTH_DIMS);
  {
    const size_t chunk = 65536;
    std::vector<float> buf(chunk * SYNTH_DIMS);
    for (size_t at = 0; at < n; at += chunk) {
      size_t m = std::min(chunk, n - at);
      for (size_t i = 0; i < m; i++) synth_descriptor(&s, at + i, &buf[i * SYNTH_DIMS]);
      index.add((faiss::Index::idx_t)m, buf.data());
    }
  }
  std::vector<float> q(nq * SYNTH_DIMS);
  for (int i = 0; i < nq; i++) synth_query(&s, n, (uint64_t)i, &q[i * SYNTH_DIMS]);
  std::vector<float> dist(nq * k);
  std::vector<faiss::Index::idx_t> lab(nq * k);

  auto single = [&](int threads) {
    omp_set_num_threads(threads);
    openblas_set_num_threads(1);
    index.search(1, q.data(), k, dist.data(), lab.data()); /* warm */
    std::vector<double> t;
    for (int r = 0; r < runs; r++) {
      double a = now_ms();
      index.search(1, &q[(r % nq) * SYNTH_DIMS], k, dist.data(), lab.data());
      t.push_back(now_ms() - a);
    }
    return median(t);
  };
  auto batch = [&](int omp, int blas) {
    omp_set_num_threads(omp);
    openblas_set_num_threads(blas);
    std::vector<double> t;
    int nb = std::max(3, runs / 2);
    for (int r = 0; r < nb; r++) {
      double a = now_ms();
      index.search(nq, q.data(), k, dist.data(), lab.data());
      t.push_back((now_ms() - a) / nq);
    }
    return median(t);
  };
  double s1 = single(1), s2 = single(2);
  double b21 = batch(2, 1), b12 = batch(1, 2);
  double b = std::min(b21, b12);
  if (labels_out) {
    FILE *f = fopen(labels_out, "wb");
    if (f) {
      std::vector<int64_t> l(lab.begin(), lab.end());
      fwrite(l.data(), sizeof(int64_t), l.size(), f);
      fclose(f);
    }
  }
  printf("{\"n\": %zu, \"faiss_single_ms_1t\": %.3f, \"faiss_single_ms\": %.3f, "
         "\"faiss_batch64_ms_per_query\": %.4f, \"faiss_batch_config\": "
         "\"OpenMP 2 x BLAS 1: %.3f ms/query; OpenMP 1 x BLAS 2: %.3f ms/query\"}\n",
         n, s1, s2, b, b21, b12);
  return 0;
}
