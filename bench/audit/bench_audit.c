/*
 * Audit log benchmark, on the in-memory store (the SQLite and PostgreSQL
 * stores come with the persistence module; their figures will add the
 * transaction cost to the append).
 *
 *   append   time per custos__audit_log_append over N appends (encode and
 *            check the entry, hash it, update the compact range, store the
 *            entry, its subtree hashes and the head, sign a checkpoint every
 *            --every entries), against the floor of the same run: the
 *            SHA-256 work alone (leaf hash and range update of the same bytes).
 *   verify   custos__audit_log_verify over logs of each --verify size (decode
 *            every entry, recompute the tree, compare every stored subtree
 *            hash, check every checkpoint's signature, root and consistency),
 *            against its hashing floor (leaf hashes and range of the same
 *            entries).
 *   proofs   size and verification time of inclusion proofs (hashes, and the
 *            proof file's bytes) and consistency proofs in the largest log,
 *            and the time to verify a signed checkpoint (Ed25519).
 *
 * usage: bench_audit [--appends N] [--verify N,M,...] [--every K]
 * The last line of output is one JSON object with all figures.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "audit/audit.h"

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, const custos_err *err) {
  fprintf(stderr, "bench_audit: %s: %s\n", what, err ? err->message : "failed");
  exit(1);
}

static uint64_t rng(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

/* Entries like the workflow's: actor, action, usually a case, a document
 * hash, one or two detail pairs, sometimes a reason code. */
static const char *const ACTORS[] = {"staffer07",  "manager02",  "governor01",
                                     "examiner11", "examiner12", "admin01"};
static const char *const ACTIONS[] = {"case.register",  "case.review",     "search.run",
                                      "candidate.view", "case.adjudicate", "holder.read"};
static const char *const REASONS[] = {"FLAG_IMMIGRATION_AUTHORITY"};

static custos_audit_entry make_entry(uint64_t i, char *case_id, custos_audit_named_hash *h,
                                     custos_audit_detail *d, char *count) {
  snprintf(case_id, 32, "C-2024-%06llu", (unsigned long long)(i / 9));
  crypto_hash_sha256(h->sha256.b, (const unsigned char *)case_id, strlen(case_id));
  h->name = "probe";
  snprintf(count, 24, "%llu", (unsigned long long)(i % 1000));
  d[0] = (custos_audit_detail){"count", count};
  d[1] = (custos_audit_detail){"stage", "manager"};
  custos_audit_entry e = {.time = 1700000000 + (int64_t)i,
                          .actor = ACTORS[i % 6],
                          .action = ACTIONS[i % 6],
                          .case_id = case_id,
                          .reasons = REASONS,
                          .n_reasons = i % 4 == 0,
                          .hashes = h,
                          .n_hashes = 1,
                          .detail = d,
                          .n_detail = 1 + (i % 2)};
  return e;
}

typedef struct log_env {
  custos_audit_memstore *mem;
  custos_audit_store st;
  custos_audit_log *log;
} log_env;

/* Builds a log of n entries; returns seconds spent in append. */
static double build(log_env *env, const custos_audit_signer *s, uint64_t n, uint64_t every,
                    bool want_root) {
  custos_err err;
  if (custos__audit_memstore_new(&env->mem, &env->st) != CUSTOS_OK) die("memstore", NULL);
  custos_audit_log_config cfg = {"custos.bench/audit", every};
  if (custos__audit_log_open(&env->st, &cfg, s, NULL, &env->log, &err) != CUSTOS_OK) {
    die("open", &err);
  }
  double t = 0;
  for (uint64_t i = 0; i < n; i++) {
    char case_id[32], count[24];
    custos_audit_named_hash h;
    custos_audit_detail d[2];
    custos_audit_entry e = make_entry(i, case_id, &h, d, count);
    uint64_t index;
    custos_audit_hash root;
    double t0 = now_s();
    if (custos__audit_log_append(env->log, &e, &index, want_root ? &root : NULL, &err) !=
        CUSTOS_OK) {
      die("append", &err);
    }
    t += now_s() - t0;
  }
  bool fresh;
  custos_buf note;
  custos__buf_init(&note, CUSTOS_AUDIT_NOTE_MAX);
  if (custos__audit_log_checkpoint(env->log, &note, &fresh, &err) != CUSTOS_OK) {
    die("checkpoint", &err);
  }
  custos__buf_free(&note);
  return t;
}

static void drop(log_env *env) {
  custos__audit_log_close(env->log);
  custos__audit_memstore_free(env->mem);
}

/* Hashes from the store, for roots at past sizes. */
static int src_leaf(void *ctx, uint64_t index, custos_audit_hash *out, custos_err *err) {
  const custos_audit_store *st = ctx;
  return st->get_node(st->ctx, 0, index, out, err);
}

static int src_node(void *ctx, unsigned level, uint64_t index, custos_audit_hash *out,
                    custos_err *err) {
  const custos_audit_store *st = ctx;
  return st->get_node(st->ctx, level, index, out, err);
}

/* The hashing floor over the stored entries: leaf hashes and range updates,
 * and with `root` the root folded after each leaf as an append returning it
 * does. */
typedef struct floor_state {
  custos_audit_range r; /* the tree so far */
  bool root;            /* also fold the root after each leaf */
  uint8_t sink;         /* keeps the root's work from being optimised away */
} floor_state;

static int floor_entry(void *arg, uint64_t index, const void *data, size_t len) {
  (void)index;
  floor_state *fs = arg;
  custos_audit_hash leaf;
  custos_audit_leaf_hash(data, len, &leaf);
  custos__audit_range_append(&fs->r, &leaf, NULL, NULL);
  if (fs->root) {
    custos__audit_range_root(&fs->r, &leaf);
    fs->sink ^= leaf.b[0];
  }
  return 0;
}

static double hash_floor(log_env *env, bool root, double *bytes_per_entry) {
  floor_state fs = {.root = root};
  custos__audit_range_init(&fs.r);
  custos_err err;
  double t0 = now_s();
  env->st.scan_entries(env->st.ctx, 0, floor_entry, &fs, &err);
  double t = now_s() - t0;
  if (fs.sink == 0x5a) fputs("", stdout);
  if (bytes_per_entry) {
    uint64_t n = 0, total = 0;
    custos_buf b;
    custos__buf_init(&b, CUSTOS_AUDIT_ENTRY_MAX);
    env->st.count_entries(env->st.ctx, &n, &err);
    for (uint64_t i = 0; i < n && i < 10000; i++) {
      env->st.read_entry(env->st.ctx, i, &b, &err);
      total += b.len;
    }
    custos__buf_free(&b);
    *bytes_per_entry = (double)total / (double)(n < 10000 ? n : 10000);
  }
  return t;
}

int main(int argc, char **argv) {
  uint64_t appends = 100000, every = 1000;
  uint64_t sizes[8] = {100000, 1000000};
  size_t n_sizes = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--appends") == 0) {
      appends = strtoull(argv[i + 1], NULL, 10);
    } else if (strcmp(argv[i], "--every") == 0) {
      every = strtoull(argv[i + 1], NULL, 10);
    } else if (strcmp(argv[i], "--verify") == 0) {
      n_sizes = 0;
      for (char *p = argv[i + 1]; *p && n_sizes < 8;) {
        sizes[n_sizes++] = strtoull(p, &p, 10);
        if (*p == ',') p++;
      }
    } else {
      fprintf(stderr, "usage: bench_audit [--appends N] [--verify N,M,...] [--every K]\n");
      return 2;
    }
  }
  if (appends == 0 || n_sizes == 0 || sodium_init() < 0) return 2;
  custos_err err;
  custos_audit_signer *signer = NULL;
  if (custos__audit_signer_generate("custos.bench/audit", &signer, &err) != CUSTOS_OK) {
    die("key", &err);
  }
  custos_audit_verifier v;
  custos__audit_signer_verifier(signer, &v);

  /* Appends. */
  log_env env;
  double t_plain = build(&env, signer, appends, every, false);
  drop(&env);
  double t_append = build(&env, signer, appends, every, true);
  double entry_bytes = 0;
  double t_floor = hash_floor(&env, true, &entry_bytes);
  double t_floor_plain = hash_floor(&env, false, NULL);
  double append_us = t_append / (double)appends * 1e6, floor_us = t_floor / (double)appends * 1e6;
  double plain_us = t_plain / (double)appends * 1e6;
  double plain_floor_us = t_floor_plain / (double)appends * 1e6;
  printf(
      "append (memory store, checkpoint every %llu, entries of %.0f bytes on average), "
      "%llu appends:\n  returning index and root: %.2f us each; hashing floor (leaf, range, "
      "root) %.2f us; ratio %.2f\n  returning the index only: %.2f us each; hashing floor "
      "(leaf, range) %.2f us; ratio %.2f\n",
      (unsigned long long)every, entry_bytes, (unsigned long long)appends, append_us, floor_us,
      append_us / floor_us, plain_us, plain_floor_us, plain_us / plain_floor_us);
  drop(&env);

  /* Verify. */
  double verify_s[8] = {0}, vfloor_s[8] = {0};
  uint64_t largest = 0;
  log_env big = {0};
  for (size_t k = 0; k < n_sizes; k++) {
    double t_build = build(&env, signer, sizes[k], every, false);
    custos_audit_verify_report rep;
    double t0 = now_s();
    if (custos__audit_log_verify(env.log, NULL, 0, &rep, &err) != CUSTOS_OK) die("verify", &err);
    verify_s[k] = now_s() - t0;
    vfloor_s[k] = hash_floor(&env, false, NULL);
    printf(
        "verify %llu entries (%llu checkpoints, %llu consistency proofs): %.3f s "
        "(%.2f us/entry); hashing floor %.3f s; ratio %.2f; building it took %.2f us/append\n",
        (unsigned long long)sizes[k], (unsigned long long)rep.checkpoints,
        (unsigned long long)rep.consistency_proofs, verify_s[k],
        verify_s[k] / (double)sizes[k] * 1e6, vfloor_s[k], verify_s[k] / vfloor_s[k],
        t_build / (double)sizes[k] * 1e6);
    if (sizes[k] >= largest) {
      if (largest) drop(&big);
      big = env;
      largest = sizes[k];
    } else {
      drop(&env);
    }
  }

  /* Proofs in the largest log. */
  enum { PROOFS = 10000 };
  uint64_t seed = 0x9e3779b97f4a7c15ULL;
  double t_gen = 0, t_ver = 0, t_floor_ver = 0;
  size_t hashes_sum = 0, hashes_max = 0, file_sum = 0;
  custos_buf b;
  custos__buf_init(&b, CUSTOS_AUDIT_ENTRY_MAX);
  custos_audit_checkpoint cp;
  custos_buf note;
  custos__buf_init(&note, CUSTOS_AUDIT_NOTE_MAX);
  if (custos__audit_log_latest_checkpoint(big.log, &note, &cp, &err) != CUSTOS_OK) {
    die("checkpoint", &err);
  }
  for (int i = 0; i < PROOFS; i++) {
    uint64_t idx = rng(&seed) % largest;
    custos_audit_inclusion_proof p;
    double t0 = now_s();
    if (custos__audit_log_prove(big.log, idx, largest, &p, &err) != CUSTOS_OK) die("prove", &err);
    t_gen += now_s() - t0;
    char file[CUSTOS_AUDIT_PROOF_FILE_MAX];
    size_t len = 0;
    custos_audit_proof_encode(&p, file, sizeof file, &len, &err);
    file_sum += len;
    hashes_sum += p.n;
    if (p.n > hashes_max) hashes_max = p.n;
    big.st.read_entry(big.st.ctx, idx, &b, &err);
    t0 = now_s();
    if (custos_audit_proof_verify(&p, b.data, b.len, &cp, &err) != CUSTOS_OK) die("verify", &err);
    t_ver += now_s() - t0;
    /* Floor: the SHA-256 calls alone (one leaf, n nodes). */
    t0 = now_s();
    custos_audit_hash acc;
    custos_audit_leaf_hash(b.data, b.len, &acc);
    for (size_t j = 0; j < p.n; j++) custos_audit_node_hash(&p.hashes[j], &acc, &acc);
    t_floor_ver += now_s() - t0;
    if (acc.b[0] == 0x5a && acc.b[1] == 0xa5) putchar(' '); /* keep the floor's work */
  }
  double incl_gen_us = t_gen / PROOFS * 1e6, incl_ver_us = t_ver / PROOFS * 1e6;
  double incl_floor_us = t_floor_ver / PROOFS * 1e6;
  double avg_hashes = (double)hashes_sum / PROOFS, avg_file = (double)file_sum / PROOFS;
  printf(
      "inclusion proofs in %llu entries: %.1f hashes (%.0f bytes) on average, at most %zu; "
      "proof file %.0f bytes; generation %.2f us; verification %.2f us; hashing floor %.2f us; "
      "ratio %.2f\n",
      (unsigned long long)largest, avg_hashes, avg_hashes * 32, hashes_max, avg_file, incl_gen_us,
      incl_ver_us, incl_floor_us, incl_ver_us / incl_floor_us);

  double t_cgen = 0, t_cver = 0;
  size_t chashes = 0;
  custos_audit_hash_source src = {&big.st, src_leaf, src_node};
  for (int i = 0; i < PROOFS; i++) {
    uint64_t s1 = 1 + rng(&seed) % (largest - 1);
    custos_audit_hash proof[CUSTOS_AUDIT_CONSISTENCY_MAX], r1;
    size_t n = 0;
    double t0 = now_s();
    if (custos__audit_log_prove_consistency(big.log, s1, largest, proof, &n, &err) != CUSTOS_OK) {
      die("consistency", &err);
    }
    t_cgen += now_s() - t0;
    chashes += n;
    if (custos__audit_root_at(&src, s1, &r1, &err) != CUSTOS_OK) die("root", &err);
    t0 = now_s();
    if (custos_audit_verify_consistency(s1, largest, proof, n, &r1, &cp.root, &err) != CUSTOS_OK) {
      die("consistency verify", &err);
    }
    t_cver += now_s() - t0;
  }
  double cons_gen_us = t_cgen / PROOFS * 1e6, cons_ver_us = t_cver / PROOFS * 1e6;
  double avg_chashes = (double)chashes / PROOFS;
  printf(
      "consistency proofs to %llu entries: %.1f hashes (%.0f bytes) on average; "
      "generation %.2f us; verification %.2f us\n",
      (unsigned long long)largest, avg_chashes, avg_chashes * 32, cons_gen_us, cons_ver_us);

  enum { CPS = 2000 };
  double t0 = now_s();
  for (int i = 0; i < CPS; i++) {
    custos_audit_checkpoint c;
    if (custos_audit_checkpoint_verify(note.data, note.len, &v, &c, &err) != CUSTOS_OK) {
      die("checkpoint verify", &err);
    }
  }
  double cp_us = (now_s() - t0) / CPS * 1e6;
  printf("signed checkpoint (%zu bytes): verification %.1f us (Ed25519)\n", note.len, cp_us);

  printf(
      "{\"bench\":\"audit\",\"store\":\"memory\",\"checkpoint_every\":%llu,"
      "\"appends\":%llu,\"entry_bytes\":%.0f,\"append_us\":%.3f,\"append_floor_us\":%.3f,"
      "\"append_ratio\":%.2f,\"append_index_only_us\":%.3f,"
      "\"append_index_only_floor_us\":%.3f,\"append_index_only_ratio\":%.2f",
      (unsigned long long)every, (unsigned long long)appends, entry_bytes, append_us, floor_us,
      append_us / floor_us, plain_us, plain_floor_us, plain_us / plain_floor_us);
  for (size_t k = 0; k < n_sizes; k++) {
    printf(",\"verify_%llu_s\":%.3f,\"verify_%llu_floor_s\":%.3f,\"verify_%llu_ratio\":%.2f",
           (unsigned long long)sizes[k], verify_s[k], (unsigned long long)sizes[k], vfloor_s[k],
           (unsigned long long)sizes[k], verify_s[k] / vfloor_s[k]);
  }
  printf(
      ",\"proof_tree_size\":%llu,\"inclusion_proof_hashes\":%.1f,"
      "\"inclusion_proof_bytes\":%.0f,\"inclusion_proof_file_bytes\":%.0f,"
      "\"inclusion_prove_us\":%.2f,\"inclusion_verify_us\":%.2f,"
      "\"inclusion_verify_floor_us\":%.2f,\"consistency_proof_hashes\":%.1f,"
      "\"consistency_prove_us\":%.2f,\"consistency_verify_us\":%.2f,"
      "\"checkpoint_bytes\":%zu,\"checkpoint_verify_us\":%.1f}\n",
      (unsigned long long)largest, avg_hashes, avg_hashes * 32, avg_file, incl_gen_us, incl_ver_us,
      incl_floor_us, avg_chashes, cons_gen_us, cons_ver_us, note.len, cp_us);
  custos__buf_free(&b);
  custos__buf_free(&note);
  drop(&big);
  custos__audit_signer_free(signer);
  return 0;
}
