/*
 * Audit log benchmark, on the in-memory store and on the SQLite store (the
 * custos database, through custos__audit_dbstore).
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
 *   sqlite   the same log in a custos database (WAL, synchronous=FULL, as
 *            custos opens it).  Append: each in its own write transaction, as
 *            an action makes it (begin, open the log over the transaction,
 *            append, commit), over --sqlite-appends appends on tmpfs
 *            (--tmpfs-dir: the work without the device flush) and
 *            --sqlite-disk-appends on the disk of --dir (the flush dominates),
 *            each beside its peer from the same run, in alternating blocks of
 *            100 (the disk's flush time varies from minute to minute): a bare
 *            SQLite transaction inserting one row of the entry's size with the
 *            same settings.  Verify: over logs of each --sqlite-verify size
 *            (built 10,000 appends per transaction, which changes nothing
 *            verify reads), beside the memory store's figure.  Proofs:
 *            generation from the database.
 *
 * usage: bench_audit [--appends N] [--verify N,M,...] [--every K]
 *                    [--sqlite-appends N] [--sqlite-disk-appends N]
 *                    [--sqlite-verify N,M,...] [--dir DIR] [--tmpfs-dir DIR]
 * The last line of output is one JSON object with all figures.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <limits.h>
#include <sodium.h>
#include <sqlite3.h>
#include <unistd.h>

#include "audit/audit.h"
#include "store/store.h"

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

/* ---- the SQLite store ------------------------------------------------------------ */

typedef struct sq_env {
  char dir[PATH_MAX];       /* a fresh folder */
  char path[PATH_MAX + 16]; /* the database in it */
  custos_store *s;          /* open, at the latest schema */
} sq_env;

static void sq_open(sq_env *e, const char *parent) {
  custos_err err;
  snprintf(e->dir, sizeof e->dir, "%s/custos-bench-audit.XXXXXX", parent);
  if (mkdtemp(e->dir) == NULL) die("mkdtemp", NULL);
  snprintf(e->path, sizeof e->path, "%s/custos.db", e->dir);
  if (custos__store_open(e->path, CUSTOS__STORE_CREATE, &e->s, &err) != CUSTOS_OK ||
      custos__store_migrate(e->s, CUSTOS_SCHEMA_VERSION, NULL, NULL, &err) != CUSTOS_OK) {
    die("sqlite store", &err);
  }
}

static void sq_close(sq_env *e) {
  static const char *const suffixes[] = {"", "-wal", "-shm"};
  custos__store_close(e->s);
  e->s = NULL;
  for (size_t i = 0; i < 3; i++) {
    char p[PATH_MAX + 24];
    snprintf(p, sizeof p, "%s%s", e->path, suffixes[i]);
    unlink(p);
  }
  rmdir(e->dir);
}

/* A write (or read) transaction and a log over it. */
static custos_txn *sq_begin(sq_env *e, bool write, const custos_audit_signer *s, uint64_t every,
                            custos_audit_log **log) {
  custos_err err;
  custos_txn *t = NULL;
  custos_audit_store st;
  custos_audit_log_config cfg = {"custos.bench/audit", every};
  if (custos__store_begin(e->s, write, &t, &err) != CUSTOS_OK) die("begin", &err);
  custos__audit_dbstore(t, &st);
  if (custos__audit_log_open(&st, &cfg, s, NULL, log, &err) != CUSTOS_OK) die("open", &err);
  return t;
}

static void sq_commit(custos_txn *t, custos_audit_log *log) {
  custos_err err;
  custos__audit_log_close(log);
  if (custos__store_commit(t, &err) != CUSTOS_OK) die("commit", &err);
}

/* Appends n entries from `first` on, `batch` per transaction (1: each its
 * own, as an action does); returns seconds for all of it, transactions
 * included. */
static double sq_append(sq_env *e, const custos_audit_signer *s, uint64_t first, uint64_t n,
                        uint64_t every, uint64_t batch) {
  custos_err err;
  double t0 = now_s();
  for (uint64_t i = first; i < first + n;) {
    custos_audit_log *log;
    custos_txn *t = sq_begin(e, true, s, every, &log);
    for (uint64_t k = 0; k < batch && i < first + n; k++, i++) {
      char case_id[32], count[24];
      custos_audit_named_hash h;
      custos_audit_detail d[2];
      custos_audit_entry en = make_entry(i, case_id, &h, d, count);
      if (custos__audit_log_append(log, &en, NULL, NULL, &err) != CUSTOS_OK) die("append", &err);
    }
    sq_commit(t, log);
  }
  return now_s() - t0;
}

/* The peer of an append: a bare SQLite transaction inserting one row of an
 * entry's size (and a 32-byte hash) with the settings custos uses (WAL,
 * synchronous=FULL). */
typedef struct floor_db {
  char dir[PATH_MAX];       /* a fresh folder */
  char path[PATH_MAX + 16]; /* the database in it */
  sqlite3 *db;              /* the connection */
  sqlite3_stmt *ins, *begin, *commit;
  uint64_t next; /* next row's idx */
} floor_db;

static void floor_open(floor_db *f, const char *parent) {
  snprintf(f->dir, sizeof f->dir, "%s/custos-bench-floor.XXXXXX", parent);
  if (mkdtemp(f->dir) == NULL) die("mkdtemp", NULL);
  snprintf(f->path, sizeof f->path, "%s/floor.db", f->dir);
  f->next = 0;
  if (sqlite3_open(f->path, &f->db) != SQLITE_OK ||
      sqlite3_exec(f->db,
                   "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; "
                   "CREATE TABLE t (idx INTEGER PRIMARY KEY, entry BLOB, leaf BLOB);",
                   NULL, NULL, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(f->db, "INSERT INTO t VALUES (?1, ?2, ?3)", -1, &f->ins, NULL) !=
          SQLITE_OK ||
      sqlite3_prepare_v2(f->db, "BEGIN IMMEDIATE", -1, &f->begin, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(f->db, "COMMIT", -1, &f->commit, NULL) != SQLITE_OK) {
    die("floor database", NULL);
  }
}

/* n one-row transactions; returns seconds. */
static double floor_run(floor_db *f, uint64_t n, size_t bytes) {
  static uint8_t row[CUSTOS_AUDIT_ENTRY_MAX];
  uint8_t hash[32] = {0};
  memset(row, 'x', sizeof row);
  double t0 = now_s();
  for (uint64_t i = 0; i < n; i++) {
    sqlite3_step(f->begin);
    sqlite3_reset(f->begin);
    sqlite3_bind_int64(f->ins, 1, (sqlite3_int64)f->next++);
    sqlite3_bind_blob(f->ins, 2, row, (int)bytes, SQLITE_STATIC);
    sqlite3_bind_blob(f->ins, 3, hash, 32, SQLITE_STATIC);
    if (sqlite3_step(f->ins) != SQLITE_DONE) die("floor insert", NULL);
    sqlite3_reset(f->ins);
    if (sqlite3_step(f->commit) != SQLITE_DONE) die("floor commit", NULL);
    sqlite3_reset(f->commit);
  }
  return now_s() - t0;
}

static void floor_close(floor_db *f) {
  sqlite3_finalize(f->ins);
  sqlite3_finalize(f->begin);
  sqlite3_finalize(f->commit);
  sqlite3_close(f->db);
  static const char *const suffixes[] = {"", "-wal", "-shm"};
  for (size_t i = 0; i < 3; i++) {
    char p[PATH_MAX + 40];
    snprintf(p, sizeof p, "%s%s", f->path, suffixes[i]);
    unlink(p);
  }
  rmdir(f->dir);
}

/* Appends each in its own transaction on a database in parent, and the peer
 * on another database there, in alternating blocks of 100 so that both see
 * the same load on the machine and its disk: per-append microseconds. */
static void sq_append_bench(const char *parent, const custos_audit_signer *s, uint64_t n,
                            uint64_t every, size_t entry_bytes, double *us, double *floor_us) {
  sq_env e;
  floor_db f;
  double ours = 0, peer = 0;
  sq_open(&e, parent);
  floor_open(&f, parent);
  for (uint64_t done = 0; done < n; done += 100) {
    uint64_t k = n - done < 100 ? n - done : 100;
    ours += sq_append(&e, s, done, k, every, 1);
    peer += floor_run(&f, k, entry_bytes);
  }
  sq_close(&e);
  floor_close(&f);
  *us = ours / (double)n * 1e6;
  *floor_us = peer / (double)n * 1e6;
}

int main(int argc, char **argv) {
  uint64_t appends = 100000, every = 1000, sq_appends = 100000, sq_disk_appends = 0;
  uint64_t sizes[8] = {100000, 1000000}, sq_sizes[8] = {100000, 1000000};
  size_t n_sizes = 2, n_sq_sizes = 2;
  const char *dir = "/tmp", *tmpfs_dir = "/dev/shm";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--appends") == 0) {
      appends = strtoull(argv[i + 1], NULL, 10);
    } else if (strcmp(argv[i], "--every") == 0) {
      every = strtoull(argv[i + 1], NULL, 10);
    } else if (strcmp(argv[i], "--verify") == 0 || strcmp(argv[i], "--sqlite-verify") == 0) {
      bool sq = argv[i][2] == 's';
      uint64_t *z = sq ? sq_sizes : sizes;
      size_t *nz = sq ? &n_sq_sizes : &n_sizes;
      *nz = 0;
      for (char *p = argv[i + 1]; *p && *nz < 8;) {
        z[(*nz)++] = strtoull(p, &p, 10);
        if (*p == ',') p++;
      }
    } else if (strcmp(argv[i], "--sqlite-appends") == 0) {
      sq_appends = strtoull(argv[i + 1], NULL, 10);
    } else if (strcmp(argv[i], "--sqlite-disk-appends") == 0) {
      sq_disk_appends = strtoull(argv[i + 1], NULL, 10);
    } else if (strcmp(argv[i], "--dir") == 0) {
      dir = argv[i + 1];
    } else if (strcmp(argv[i], "--tmpfs-dir") == 0) {
      tmpfs_dir = argv[i + 1];
    } else {
      fprintf(stderr,
              "usage: bench_audit [--appends N] [--verify N,M,...] [--every K]\n"
              "                   [--sqlite-appends N] [--sqlite-disk-appends N]\n"
              "                   [--sqlite-verify N,M,...] [--dir DIR] [--tmpfs-dir DIR]\n");
      return 2;
    }
  }
  if (appends == 0 || n_sizes == 0 || n_sq_sizes == 0 || sodium_init() < 0) return 2;
  if (sq_disk_appends == 0) sq_disk_appends = sq_appends;
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

  /* ---- the same on the SQLite store ---- */
  double sq_disk_us = 0, sq_disk_floor_us = 0, sq_tmpfs_us = 0, sq_tmpfs_floor_us = 0;
  if (sq_appends > 0) {
    sq_append_bench(tmpfs_dir, signer, sq_appends, every, (size_t)entry_bytes, &sq_tmpfs_us,
                    &sq_tmpfs_floor_us);
    printf(
        "append on SQLite (WAL, synchronous=FULL), each its own transaction, %llu appends:\n"
        "  on tmpfs %s (no device flush): %.1f us each; bare one-row transaction %.1f us; "
        "ratio %.2f\n",
        (unsigned long long)sq_appends, tmpfs_dir, sq_tmpfs_us, sq_tmpfs_floor_us,
        sq_tmpfs_us / sq_tmpfs_floor_us);
    fflush(stdout);
    sq_append_bench(dir, signer, sq_disk_appends, every, (size_t)entry_bytes, &sq_disk_us,
                    &sq_disk_floor_us);
    printf(
        "  on disk %s (a device flush per commit), %llu appends: %.1f us each; bare one-row "
        "transaction %.1f us; ratio %.2f\n",
        dir, (unsigned long long)sq_disk_appends, sq_disk_us, sq_disk_floor_us,
        sq_disk_us / sq_disk_floor_us);
  }
  double sq_verify_s[8] = {0}, sq_mem_s[8] = {0};
  double sq_prove_us = 0, sq_ver_us = 0;
  uint64_t sq_largest = 0;
  for (size_t k = 0; k < n_sq_sizes; k++) {
    sq_env e;
    sq_open(&e, dir);
    double t_build = sq_append(&e, signer, 0, sq_sizes[k], every, 10000);
    custos_audit_log *log;
    custos_audit_verify_report rep;
    custos_txn *t = sq_begin(&e, false, signer, every, &log);
    double t1 = now_s();
    if (custos__audit_log_verify(log, NULL, 0, &rep, &err) != CUSTOS_OK) die("verify", &err);
    sq_verify_s[k] = now_s() - t1;
    /* The memory store's figure for the same size, from this run. */
    for (size_t j = 0; j < n_sizes; j++) {
      if (sizes[j] == sq_sizes[k]) sq_mem_s[k] = verify_s[j];
    }
    printf(
        "verify %llu entries from SQLite (%llu checkpoints, %llu consistency proofs): "
        "%.3f s (%.2f us/entry)",
        (unsigned long long)sq_sizes[k], (unsigned long long)rep.checkpoints,
        (unsigned long long)rep.consistency_proofs, sq_verify_s[k],
        sq_verify_s[k] / (double)sq_sizes[k] * 1e6);
    if (sq_mem_s[k] > 0) {
      printf("; memory store %.3f s; ratio %.2f", sq_mem_s[k], sq_verify_s[k] / sq_mem_s[k]);
    }
    printf("; building it took %.2f us/append in batches of 10,000\n",
           t_build / (double)sq_sizes[k] * 1e6);
    if (k + 1 == n_sq_sizes) {
      /* Proofs generated from the database, in the largest log. */
      custos_audit_checkpoint scp;
      if (custos__audit_log_latest_checkpoint(log, NULL, &scp, &err) != CUSTOS_OK) {
        die("checkpoint", &err);
      }
      custos_audit_store st;
      custos__audit_dbstore(t, &st);
      double tg = 0, tv = 0;
      for (int i = 0; i < PROOFS; i++) {
        uint64_t idx = rng(&seed) % scp.size;
        custos_audit_inclusion_proof p;
        double t2 = now_s();
        if (custos__audit_log_prove(log, idx, scp.size, &p, &err) != CUSTOS_OK) die("prove", &err);
        tg += now_s() - t2;
        st.read_entry(st.ctx, idx, &b, &err);
        t2 = now_s();
        if (custos_audit_proof_verify(&p, b.data, b.len, &scp, &err) != CUSTOS_OK) {
          die("proof verify", &err);
        }
        tv += now_s() - t2;
      }
      sq_prove_us = tg / PROOFS * 1e6;
      sq_ver_us = tv / PROOFS * 1e6;
      sq_largest = scp.size;
      printf(
          "inclusion proofs from SQLite in %llu entries: generation %.2f us (reads the entry "
          "and its stored subtrees); verification %.2f us\n",
          (unsigned long long)sq_largest, sq_prove_us, sq_ver_us);
    }
    custos__audit_log_close(log);
    custos__store_rollback(t);
    sq_close(&e);
  }

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
      "\"checkpoint_bytes\":%zu,\"checkpoint_verify_us\":%.1f",
      (unsigned long long)largest, avg_hashes, avg_hashes * 32, avg_file, incl_gen_us, incl_ver_us,
      incl_floor_us, avg_chashes, cons_gen_us, cons_ver_us, note.len, cp_us);
  printf(
      ",\"sqlite\":{\"synchronous\":\"FULL\",\"appends\":%llu,\"disk_appends\":%llu,"
      "\"append_disk_us\":%.1f,"
      "\"append_disk_floor_us\":%.1f,\"append_disk_ratio\":%.2f,\"append_tmpfs_us\":%.1f,"
      "\"append_tmpfs_floor_us\":%.1f,\"append_tmpfs_ratio\":%.2f",
      (unsigned long long)sq_appends, (unsigned long long)sq_disk_appends, sq_disk_us,
      sq_disk_floor_us, sq_disk_floor_us > 0 ? sq_disk_us / sq_disk_floor_us : 0.0, sq_tmpfs_us,
      sq_tmpfs_floor_us, sq_tmpfs_floor_us > 0 ? sq_tmpfs_us / sq_tmpfs_floor_us : 0.0);
  for (size_t k = 0; k < n_sq_sizes; k++) {
    printf(",\"verify_%llu_s\":%.3f", (unsigned long long)sq_sizes[k], sq_verify_s[k]);
    if (sq_mem_s[k] > 0) {
      printf(",\"verify_%llu_vs_memory\":%.2f", (unsigned long long)sq_sizes[k],
             sq_verify_s[k] / sq_mem_s[k]);
    }
  }
  printf(",\"proof_tree_size\":%llu,\"inclusion_prove_us\":%.2f,\"inclusion_verify_us\":%.2f}}\n",
         (unsigned long long)sq_largest, sq_prove_us, sq_ver_us);
  custos__buf_free(&b);
  custos__buf_free(&note);
  drop(&big);
  custos__audit_signer_free(signer);
  return 0;
}
