/*
 * Unit tests of src/audit: the Merkle tree against a textbook recursive
 * reference, proofs against every vector of transparency-dev/merkle
 * (tests/data/merkle-vectors), the entry format (GOV-20) and what it refuses
 * (GOV-18), keys and signed notes against the Go reference's published
 * example, checkpoints, the log over the in-memory store with every kind of
 * tampering `audit verify` must detect, the same log on the SQLite store through
 * custos__audit_dbstore (an entry commits and rolls back with the change it
 * records, and a failing append fails the change), and tools/verify-proof on
 * proofs made here, good and tampered.
 *
 * `test_audit --verify-proof PATH` runs only the verify-proof group with that
 * binary (the CTest test verify_proof_tool); without it the group looks for
 * the binary beside the build's tests folder, or in $CUSTOS_VERIFY_PROOF, and
 * is skipped if it is not built.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "audit/audit.h"
#include "custos/custos.h"
#include "store/store.h"

#ifndef CUSTOS_TEST_DATA
#define CUSTOS_TEST_DATA "tests/data"
#endif

extern char **environ;

/* ---- helpers ------------------------------------------------------------------- */

static custos_audit_hash hash_hex(const char *hex) {
  custos_audit_hash h;
  assert_true(custos__audit_hex_decode(hex, strlen(hex), h.b, 32));
  return h;
}

static custos_audit_hash hash_of(const char *s) {
  custos_audit_hash h;
  crypto_hash_sha256(h.b, (const unsigned char *)s, strlen(s));
  return h;
}

static void assert_hash_equal(const custos_audit_hash *a, const custos_audit_hash *b) {
  assert_memory_equal(a->b, b->b, 32);
}

static uint64_t xorshift(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

/* ---- the textbook tree (RFC 9162 2.1.1, 2.1.3.1, 2.1.4.1), recursive ---------- */

static uint64_t ref_split(uint64_t n) {
  uint64_t k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/* MTH over leaf hashes d[0..n). */
static void ref_mth(const custos_audit_hash *d, uint64_t n, custos_audit_hash *out) {
  if (n == 0) {
    custos_audit_empty_root(out);
  } else if (n == 1) {
    *out = d[0];
  } else {
    uint64_t k = ref_split(n);
    custos_audit_hash l, r;
    ref_mth(d, k, &l);
    ref_mth(d + k, n - k, &r);
    custos_audit_node_hash(&l, &r, out);
  }
}

static void ref_path(uint64_t m, const custos_audit_hash *d, uint64_t n, custos_audit_hash *p,
                     size_t *np) {
  if (n <= 1) return;
  uint64_t k = ref_split(n);
  if (m < k) {
    ref_path(m, d, k, p, np);
    ref_mth(d + k, n - k, &p[(*np)++]);
  } else {
    ref_path(m - k, d + k, n - k, p, np);
    ref_mth(d, k, &p[(*np)++]);
  }
}

static void ref_subproof(uint64_t m, const custos_audit_hash *d, uint64_t n, bool b,
                         custos_audit_hash *p, size_t *np) {
  if (m == n) {
    if (!b) ref_mth(d, n, &p[(*np)++]);
    return;
  }
  uint64_t k = ref_split(n);
  if (m <= k) {
    ref_subproof(m, d, k, b, p, np);
    ref_mth(d + k, n - k, &p[(*np)++]);
  } else {
    ref_subproof(m - k, d + k, n - k, false, p, np);
    ref_mth(d, k, &p[(*np)++]);
  }
}

/* A hash source over an array of leaf hashes. */
typedef struct leaves {
  const custos_audit_hash *h;
  uint64_t n;
} leaves;

static int src_leaf(void *ctx, uint64_t i, custos_audit_hash *out, custos_err *err) {
  const leaves *L = ctx;
  if (i >= L->n) return custos__err(err, CUSTOS_ENOENT, "test", "leaf %llu", (unsigned long long)i);
  *out = L->h[i];
  return CUSTOS_OK;
}

static int src_node(void *ctx, unsigned level, uint64_t index, custos_audit_hash *out,
                    custos_err *err) {
  const leaves *L = ctx;
  uint64_t a = index << level, b = (index + 1) << level;
  if (b > L->n) return custos__err(err, CUSTOS_ENOENT, "test", "node");
  ref_mth(L->h + a, b - a, out);
  return CUSTOS_OK;
}

static void random_leaves(custos_audit_hash *h, size_t n, uint64_t seed) {
  for (size_t i = 0; i < n; i++) {
    uint64_t x[2] = {xorshift(&seed), i};
    custos_audit_leaf_hash(x, sizeof x, &h[i]);
  }
}

/* ---- hashing and the compact range --------------------------------------------- */

/* The 8-leaf tree of the vectors' SOURCE.md, and the roots of its prefixes. */
static const char *const LEAVES_HEX[] = {"",
                                         "00",
                                         "10",
                                         "2021",
                                         "3031",
                                         "40414243",
                                         "5051525354555657",
                                         "606162636465666768696a6b6c6d6e6f"};
static const char *const ROOTS_HEX[] = {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

static custos_audit_hash vector_leaves[8];

static void load_vector_leaves(void) {
  for (int i = 0; i < 8; i++) {
    uint8_t raw[16];
    size_t n = strlen(LEAVES_HEX[i]) / 2;
    assert_true(custos__audit_hex_decode(LEAVES_HEX[i], 2 * n, raw, n));
    custos_audit_leaf_hash(raw, n, &vector_leaves[i]);
  }
}

static void test_known_roots(void **state) {
  (void)state;
  load_vector_leaves();
  custos_audit_range r;
  custos__audit_range_init(&r);
  for (int n = 0; n <= 8; n++) {
    custos_audit_hash want = hash_hex(ROOTS_HEX[n]), got, ref;
    custos__audit_range_root(&r, &got);
    ref_mth(vector_leaves, (uint64_t)n, &ref);
    assert_hash_equal(&got, &want);
    assert_hash_equal(&ref, &want);
    if (n < 8) assert_int_equal(custos__audit_range_append(&r, &vector_leaves[n], NULL, NULL), 0);
  }
  /* The domain separation: a leaf is not a node of the same bytes. */
  custos_audit_hash a = hash_of("a"), node, leaf;
  custos_audit_node_hash(&a, &a, &node);
  uint8_t both[64];
  memcpy(both, a.b, 32);
  memcpy(both + 32, a.b, 32);
  custos_audit_leaf_hash(both, 64, &leaf);
  assert_memory_not_equal(node.b, leaf.b, 32);
}

static void test_range_vs_reference(void **state) {
  (void)state;
  enum { N = 1100 };
  custos_audit_hash *h = malloc(N * sizeof *h);
  assert_non_null(h);
  random_leaves(h, N, 42);
  custos_audit_range r;
  custos__audit_range_init(&r);
  for (uint64_t n = 0; n <= N; n++) {
    custos_audit_hash got, ref;
    custos__audit_range_root(&r, &got);
    ref_mth(h, n, &ref);
    assert_hash_equal(&got, &ref);
    assert_int_equal(r.size, n);
    /* The head blob round-trips, and a wrong length is refused. */
    uint8_t blob[CUSTOS_AUDIT_RANGE_BLOB_MAX];
    custos_audit_range back;
    custos_err err;
    size_t bl = custos__audit_range_encode(&r, blob);
    assert_int_equal(bl, 8 + 32 * (size_t)__builtin_popcountll(n));
    assert_int_equal(custos__audit_range_decode(blob, bl, &back, &err), 0);
    assert_int_equal(back.size, n);
    assert_memory_equal(back.h, r.h, bl - 8);
    assert_int_equal(custos__audit_range_decode(blob, bl + 32, &back, &err), CUSTOS_ECORRUPT);
    if (bl > 8) {
      assert_int_equal(custos__audit_range_decode(blob, bl - 1, &back, &err), CUSTOS_ECORRUPT);
    }
    if (n == N) break;
    custos_audit_node done[65];
    size_t nd = 0;
    assert_int_equal(custos__audit_range_append(&r, &h[n], done, &nd), 0);
    /* The completed subtrees are the perfect ones ending at leaf n. */
    assert_int_equal(nd, 1 + (size_t)__builtin_ctzll(~n));
    for (size_t i = 0; i < nd; i++) {
      uint64_t a = done[i].index << done[i].level, b = (done[i].index + 1) << done[i].level;
      assert_int_equal(done[i].level, i);
      assert_int_equal(b, n + 1);
      ref_mth(h + a, b - a, &ref);
      assert_hash_equal(&done[i].hash, &ref);
    }
  }
  free(h);
}

/* ---- proof generation and verification against the reference ------------------ */

static void test_proofs_vs_reference(void **state) {
  (void)state;
  enum { N = 70 };
  custos_audit_hash h[N];
  random_leaves(h, N, 7);
  leaves L = {h, N};
  custos_audit_hash_source with_nodes = {&L, src_leaf, src_node};
  custos_audit_hash_source leaf_only = {&L, src_leaf, NULL};
  custos_err err;
  for (uint64_t n = 1; n <= N; n++) {
    custos_audit_hash root, root2;
    ref_mth(h, n, &root);
    assert_int_equal(custos__audit_root_at(&with_nodes, n, &root2, &err), 0);
    assert_hash_equal(&root, &root2);
    for (uint64_t m = 0; m < n; m++) {
      custos_audit_hash p[CUSTOS_AUDIT_PROOF_MAX], q[CUSTOS_AUDIT_PROOF_MAX],
          ref[CUSTOS_AUDIT_PROOF_MAX];
      size_t np = 0, nq = 0, nr = 0;
      ref_path(m, h, n, ref, &nr);
      assert_int_equal(custos__audit_prove_inclusion(&with_nodes, m, n, p, &np, &err), 0);
      assert_int_equal(custos__audit_prove_inclusion(&leaf_only, m, n, q, &nq, &err), 0);
      assert_int_equal(np, nr);
      assert_int_equal(nq, nr);
      assert_memory_equal(p, ref, nr * sizeof *p);
      assert_memory_equal(q, ref, nr * sizeof *q);
      assert_int_equal(custos_audit_verify_inclusion(m, n, &h[m], p, np, &root, &err), 0);
      /* Wrong leaf, index, size, root; each proof hash flipped; one short. */
      assert_int_equal(custos_audit_verify_inclusion(m, n, &h[(m + 1) % N], p, np, &root, &err),
                       CUSTOS_EVERIFY);
      if (n > 1) {
        assert_int_equal(custos_audit_verify_inclusion((m + 1) % n, n, &h[m], p, np, &root, &err),
                         CUSTOS_EVERIFY);
      }
      /* (A proof for size n can also fit the shape of size n + 1: the root is
       * what binds the size, as in a signed checkpoint.) */
      if (n < N) {
        custos_audit_hash bigger;
        ref_mth(h, n + 1, &bigger);
        assert_int_equal(custos_audit_verify_inclusion(m, n + 1, &h[m], p, np, &bigger, &err),
                         CUSTOS_EVERIFY);
      }
      for (size_t i = 0; i < np; i++) {
        p[i].b[i % 32] ^= 0x10;
        assert_int_equal(custos_audit_verify_inclusion(m, n, &h[m], p, np, &root, &err),
                         CUSTOS_EVERIFY);
        p[i].b[i % 32] ^= 0x10;
      }
      if (np > 0) {
        assert_int_equal(custos_audit_verify_inclusion(m, n, &h[m], p, np - 1, &root, &err),
                         CUSTOS_EVERIFY);
      }
    }
    for (uint64_t m = 1; m <= n; m++) {
      custos_audit_hash p[CUSTOS_AUDIT_CONSISTENCY_MAX], ref[CUSTOS_AUDIT_CONSISTENCY_MAX];
      size_t np = 0, nr = 0;
      custos_audit_hash r1;
      ref_mth(h, m, &r1);
      ref_subproof(m, h, n, true, ref, &nr);
      assert_int_equal(custos__audit_prove_consistency(&with_nodes, m, n, p, &np, &err), 0);
      assert_int_equal(np, nr);
      assert_memory_equal(p, ref, nr * sizeof *p);
      assert_int_equal(custos_audit_verify_consistency(m, n, p, np, &r1, &root, &err), 0);
      assert_int_equal(custos_audit_verify_consistency(m, n, p, np, &root, &r1, &err),
                       m == n ? 0 : CUSTOS_EVERIFY);
      for (size_t i = 0; i < np; i++) {
        p[i].b[3] ^= 1;
        assert_int_equal(custos_audit_verify_consistency(m, n, p, np, &r1, &root, &err),
                         CUSTOS_EVERIFY);
        p[i].b[3] ^= 1;
      }
      if (m < n) {
        assert_int_equal(custos_audit_verify_consistency(m, n, p, np - 1, &r1, &root, &err),
                         CUSTOS_EVERIFY);
        assert_int_equal(custos_audit_verify_consistency(m + 1 == n ? m : m + 1, n, p, np, &r1,
                                                         &root, &err) == 0,
                         m + 1 == n);
      }
    }
  }
  /* Arguments outside the tree. */
  custos_audit_hash p[CUSTOS_AUDIT_CONSISTENCY_MAX];
  size_t np;
  assert_int_equal(custos__audit_prove_inclusion(&with_nodes, 5, 5, p, &np, &err), CUSTOS_EINVAL);
  assert_int_equal(custos__audit_prove_consistency(&with_nodes, 0, 5, p, &np, &err), CUSTOS_EINVAL);
  assert_int_equal(custos__audit_prove_consistency(&with_nodes, 6, 5, p, &np, &err), CUSTOS_EINVAL);
  assert_int_equal(custos__audit_prove_inclusion(&with_nodes, 0, N + 1, p, &np, &err),
                   CUSTOS_ENOENT);
}

/* ---- the vectors of transparency-dev/merkle --------------------------------------- */

/* jansson's integers are signed; the vectors hold unsigned 64-bit values, so
 * every bare integer is quoted before parsing and read back with strtoull. */
static json_t *load_vector(const char *path) {
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  char buf[16384], out[20000];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  size_t o = 0;
  bool in_str = false, esc = false;
  for (size_t i = 0; i < n; i++) {
    char c = buf[i];
    if (in_str) {
      if (esc)
        esc = false;
      else if (c == '\\')
        esc = true;
      else if (c == '"')
        in_str = false;
      out[o++] = c;
    } else if (c == '"') {
      in_str = true;
      out[o++] = c;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      out[o++] = '"';
      while (i < n && (buf[i] == '-' || (buf[i] >= '0' && buf[i] <= '9'))) out[o++] = buf[i++];
      out[o++] = '"';
      i--;
    } else {
      out[o++] = c;
    }
    assert_true(o < sizeof out - 4);
  }
  json_error_t je;
  json_t *v = json_loadb(out, o, 0, &je);
  if (v == NULL) fail_msg("%s: %s", path, je.text);
  return v;
}

static uint64_t vec_u64(const json_t *o, const char *k) {
  const json_t *v = json_object_get(o, k);
  assert_true(json_is_string(v));
  const char *s = json_string_value(v);
  char *end;
  errno = 0;
  unsigned long long x = strtoull(s, &end, 10);
  assert_true(*s != '-' && *end == '\0' && errno == 0);
  return (uint64_t)x;
}

/* A decoded hash of the vector (its length kept: vectors hold malformed ones). */
typedef struct vbytes {
  uint8_t b[64];
  size_t len;
} vbytes;

static vbytes vec_bytes(const json_t *o, const char *k) {
  vbytes x = {{0}, 0};
  const json_t *v = json_object_get(o, k);
  assert_true(json_is_string(v));
  assert_true(custos__audit_b64_decode(json_string_value(v), json_string_length(v), x.b, sizeof x.b,
                                       &x.len));
  return x;
}

static size_t vec_proof(const json_t *o, vbytes *out, custos_audit_bytes *p) {
  const json_t *a = json_object_get(o, "proof");
  if (json_is_null(a)) return 0;
  assert_true(json_is_array(a));
  size_t n = json_array_size(a);
  assert_true(n <= CUSTOS_AUDIT_CONSISTENCY_MAX);
  for (size_t i = 0; i < n; i++) {
    const json_t *s = json_array_get(a, i);
    assert_true(custos__audit_b64_decode(json_string_value(s), json_string_length(s), out[i].b,
                                         sizeof out[i].b, &out[i].len));
    p[i] = (custos_audit_bytes){out[i].b, out[i].len};
  }
  return n;
}

static custos_audit_bytes VB(const vbytes *v) {
  return (custos_audit_bytes){v->b, v->len};
}

typedef struct tally {
  int accepted, rejected; /* as the vectors want */
  int wrong;              /* vectors where we disagree */
  int cross_checked;      /* happy proofs equal to our generated ones */
} tally;

/* Runs one vector file; kind is its top folder. */
static void run_vector(const char *kind, const char *path, tally *t) {
  json_t *o = load_vector(path);
  bool want_err = json_is_true(json_object_get(o, "wantErr"));
  vbytes store[CUSTOS_AUDIT_CONSISTENCY_MAX];
  custos_audit_bytes proof[CUSTOS_AUDIT_CONSISTENCY_MAX];
  size_t n = vec_proof(o, store, proof);
  custos_err err;
  custos_err_clear(&err);
  int rc;
  if (strcmp(kind, "inclusion") == 0) {
    vbytes leaf = vec_bytes(o, "leafHash"), root = vec_bytes(o, "root");
    uint64_t idx = vec_u64(o, "leafIdx"), size = vec_u64(o, "treeSize");
    rc = custos__audit_verify_inclusion_bytes(idx, size, VB(&leaf), proof, n, VB(&root), &err);
    /* A happy proof over the 8-leaf tree must be exactly what we generate. */
    custos_audit_hash ref;
    if (!want_err && size <= 8 && root.len == 32 && (ref_mth(vector_leaves, size, &ref), 1) &&
        memcmp(ref.b, root.b, 32) == 0) {
      leaves L = {vector_leaves, 8};
      custos_audit_hash_source src = {&L, src_leaf, src_node};
      custos_audit_hash gen[CUSTOS_AUDIT_PROOF_MAX];
      size_t ng = 0;
      assert_int_equal(custos__audit_prove_inclusion(&src, idx, size, gen, &ng, &err), 0);
      assert_int_equal(ng, n);
      for (size_t i = 0; i < n; i++) assert_memory_equal(gen[i].b, proof[i].p, 32);
      t->cross_checked++;
    }
  } else if (strcmp(kind, "consistency") == 0) {
    vbytes r1 = vec_bytes(o, "root1"), r2 = vec_bytes(o, "root2");
    uint64_t s1 = vec_u64(o, "size1"), s2 = vec_u64(o, "size2");
    rc = custos__audit_verify_consistency_bytes(s1, s2, proof, n, VB(&r1), VB(&r2), &err);
    custos_audit_hash ref1, ref2;
    if (!want_err && s1 > 0 && s1 <= s2 && s2 <= 8 && r2.len == 32 &&
        (ref_mth(vector_leaves, s1, &ref1), ref_mth(vector_leaves, s2, &ref2), 1) &&
        memcmp(ref2.b, r2.b, 32) == 0) {
      leaves L = {vector_leaves, 8};
      custos_audit_hash_source src = {&L, src_leaf, src_node};
      custos_audit_hash gen[CUSTOS_AUDIT_CONSISTENCY_MAX];
      size_t ng = 0;
      assert_int_equal(custos__audit_prove_consistency(&src, s1, s2, gen, &ng, &err), 0);
      assert_int_equal(ng, n);
      for (size_t i = 0; i < n; i++) assert_memory_equal(gen[i].b, proof[i].p, 32);
      t->cross_checked++;
    }
  } else if (strcmp(kind, "subtreeinclusion") == 0) {
    vbytes leaf = vec_bytes(o, "leafHash"), root = vec_bytes(o, "root");
    rc = custos__audit_verify_subtree_inclusion_bytes(vec_u64(o, "leafIdx"), vec_u64(o, "start"),
                                                      vec_u64(o, "end"), VB(&leaf), proof, n,
                                                      VB(&root), &err);
  } else {
    assert_string_equal(kind, "subtreeconsistency");
    vbytes r1 = vec_bytes(o, "root1"), r2 = vec_bytes(o, "root2");
    rc = custos__audit_verify_subtree_consistency_bytes(vec_u64(o, "start"), vec_u64(o, "end"),
                                                        vec_u64(o, "size"), proof, n, VB(&r1),
                                                        VB(&r2), &err);
  }
  bool ok = (rc == CUSTOS_OK) != want_err;
  if (ok && want_err) t->rejected++;
  if (ok && !want_err) t->accepted++;
  if (!ok) {
    t->wrong++;
    print_error("vector %s: wanted %s, got %s (%s)\n", path, want_err ? "an error" : "success",
                rc ? custos_err_name(rc) : "success", err.message);
  }
  if (rc != CUSTOS_OK) assert_int_equal(rc, CUSTOS_EVERIFY);
  json_decref(o);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every *.json under dir, in name order. */
static void walk(const char *kind, const char *dir, tally *t, int *files) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  char *names[512];
  size_t n = 0;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.') continue;
    assert_true(n < 512);
    names[n++] = strdup(de->d_name);
  }
  closedir(d);
  qsort(names, n, sizeof *names, cmp_str);
  for (size_t i = 0; i < n; i++) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    if (S_ISDIR(st.st_mode)) {
      walk(kind, path, t, files);
    } else if (strlen(names[i]) > 5 && strcmp(names[i] + strlen(names[i]) - 5, ".json") == 0) {
      run_vector(kind, path, t);
      (*files)++;
    }
    free(names[i]);
  }
}

static void test_vectors(void **state) {
  (void)state;
  load_vector_leaves();
  static const char *const KINDS[] = {"inclusion", "consistency", "subtreeinclusion",
                                      "subtreeconsistency"};
  int total = 0, wrong = 0;
  for (size_t k = 0; k < 4; k++) {
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/merkle-vectors/%s", CUSTOS_TEST_DATA, KINDS[k]);
    tally t = {0, 0, 0, 0};
    int files = 0;
    walk(KINDS[k], dir, &t, &files);
    print_message(
        "merkle-vectors/%s: %d files, %d happy paths accepted, %d broken proofs "
        "rejected, %d disagreements; %d happy proofs equal to our generated ones\n",
        KINDS[k], files, t.accepted, t.rejected, t.wrong, t.cross_checked);
    assert_true(files > 0);
    total += files;
    wrong += t.wrong;
  }
  assert_int_equal(wrong, 0);
  assert_true(total >= 500);
}

/* ---- entries (GOV-20, GOV-18) ------------------------------------------------------ */

static const char *const REASONS[] = {"FLAG_IMMIGRATION_AUTHORITY", "ESCALATE_MIXED_OFFENSE"};
static const custos_audit_detail DETAIL[] = {
    {"stage", "manager"}, {"decision", "approve"}, {"immigration_related", "no"}};
static custos_audit_named_hash HASHES[2];

static custos_audit_entry sample_entry(void) {
  HASHES[0] = (custos_audit_named_hash){"probe", hash_of("probe.jpg bytes")};
  HASHES[1] = (custos_audit_named_hash){"order", hash_of("order.pdf bytes")};
  custos_audit_entry e = {
      .seq = 17,
      .time = 1551694933, /* 2019-03-04T10:22:13Z */
      .actor = "mjones",
      .action = "case.review",
      .case_id = "HSI-SE-2019-0042",
      .reasons = REASONS,
      .n_reasons = 2,
      .hashes = HASHES,
      .n_hashes = 2,
      .detail = DETAIL,
      .n_detail = 3,
  };
  return e;
}

static char *sample_encoding(void) {
  static char want[1024];
  char h1[65], h2[65];
  custos_audit_hash a = hash_of("order.pdf bytes"), b = hash_of("probe.jpg bytes");
  custos__audit_hex_encode(a.b, 32, h1);
  custos__audit_hex_encode(b.b, 32, h2);
  snprintf(want, sizeof want,
           "{\"action\":\"case.review\",\"actor\":\"mjones\",\"case\":\"HSI-SE-2019-0042\","
           "\"detail\":{\"decision\":\"approve\",\"immigration_related\":\"no\",\"stage\":"
           "\"manager\"},\"hashes\":{\"order\":\"%s\",\"probe\":\"%s\"},\"reasons\":["
           "\"ESCALATE_MIXED_OFFENSE\",\"FLAG_IMMIGRATION_AUTHORITY\"],\"seq\":17,\"time\":"
           "\"2019-03-04T10:22:13Z\",\"v\":1}",
           h1, h2);
  return want;
}

/* GOV-20: an entry records who, what, when, which case, which reasons and the
 * documents' hashes, in one canonical encoding that decodes back. */
static void test_entry_gov20(void **state) {
  (void)state;
  custos_audit_entry e = sample_entry();
  char out[CUSTOS_AUDIT_ENTRY_MAX + 1];
  size_t len = 0;
  custos_err err;
  assert_int_equal(custos_audit_entry_encode(&e, out, sizeof out, &len, &err), 0);
  assert_string_equal(out, sample_encoding());
  assert_int_equal(len, strlen(out));

  custos_audit_entry *d = NULL;
  assert_int_equal(custos_audit_entry_decode(out, len, &d, &err), 0);
  assert_int_equal(d->seq, 17);
  assert_int_equal(d->time, 1551694933);
  assert_string_equal(d->actor, "mjones");
  assert_string_equal(d->action, "case.review");
  assert_string_equal(d->case_id, "HSI-SE-2019-0042");
  assert_int_equal(d->n_reasons, 2);
  assert_int_equal(d->n_hashes, 2);
  assert_int_equal(d->n_detail, 3);
  char again[CUSTOS_AUDIT_ENTRY_MAX + 1];
  assert_int_equal(custos_audit_entry_encode(d, again, sizeof again, &len, &err), 0);
  assert_string_equal(again, out);
  custos_audit_entry_free(d);
  custos_audit_entry_free(NULL);

  /* The smallest entry: no case, reasons, hashes or detail. */
  custos_audit_entry m = {.seq = 0, .time = 0, .actor = "system", .action = "audit.init"};
  assert_int_equal(custos_audit_entry_encode(&m, out, sizeof out, &len, &err), 0);
  assert_string_equal(out,
                      "{\"action\":\"audit.init\",\"actor\":\"system\",\"seq\":0,"
                      "\"time\":\"1970-01-01T00:00:00Z\",\"v\":1}");
  assert_int_equal(custos_audit_entry_decode(out, len, &d, &err), 0);
  assert_null(d->case_id);
  custos_audit_entry_free(d);

  /* Too small a buffer. */
  assert_int_equal(custos_audit_entry_encode(&e, out, 40, &len, &err), CUSTOS_ETOOBIG);

  /* The detail keys that carry what the rules have the log record, each
   * with a value of its type accepted and one outside it refused: GOV-10
   * (decision, immigration_related, stage), GOV-11 (stage), GOV-13
   * (trained_until), GOV-14 (threshold), GOV-15 (mark, outcome), GOV-17
   * (response), GOV-22 (checkpoint_size), user changes (role, the role
   * names of custos_role) and migrations (schema_version). */
  static const struct {
    const char *key, *good, *bad;
  } kinds[] = {
      {"decision", "approve", "maybe"},
      {"immigration_related", "no", "unknown"},
      {"stage", "governor", "director"},
      {"trained_until", "2031-06-30", "2031-02-30"},
      {"trained_until", "none", "never"},
      {"trained_until", "1970-01-01", "1969-12-31"},
      {"threshold", "0.6", "0.6.1"},
      {"mark", "possible_match", "match"},
      {"outcome", "no_identification", "identified"},
      {"response", "limited_identity", "full_identity"},
      {"checkpoint_size", "1000", "01000"},
      {"role", "intake", "staffer"},
      {"role", "admin", "administrator"},
      {"schema_version", "3", "three"},
  };
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(kinds); i++) {
    custos_audit_detail dg = {kinds[i].key, kinds[i].good}, db = {kinds[i].key, kinds[i].bad};
    custos_audit_entry x = {.time = 1, .actor = "system", .action = "x.y", .n_detail = 1};
    x.detail = &dg;
    if (custos_audit_entry_encode(&x, out, sizeof out, &len, &err) != 0) {
      fail_msg("%s=%s refused: %s", kinds[i].key, kinds[i].good, err.message);
    }
    x.detail = &db;
    if (custos_audit_entry_encode(&x, out, sizeof out, &len, &err) != CUSTOS_EINVAL) {
      fail_msg("%s=%s accepted", kinds[i].key, kinds[i].bad);
    }
    assert_non_null(strstr(err.message, kinds[i].key));
    assert_null(strstr(err.message, kinds[i].bad)); /* the message never quotes a value */
  }
}

/* Decoding refuses every spelling but the canonical one. */
static void test_entry_noncanonical(void **state) {
  (void)state;
  const char *good = sample_encoding();
  static const struct {
    const char *from, *to; /* replace the first `from` of the good encoding */
    int rc;
  } CASES[] = {
      {"\"actor\":", "\"actor\": ", CUSTOS_EINVAL},         /* whitespace */
      {"\"seq\":17", "\"seq\":17.0", CUSTOS_EINVAL},        /* not an integer */
      {"\"seq\":17", "\"seq\":-1", CUSTOS_EINVAL},          /* negative */
      {"\"v\":1", "\"v\":2", CUSTOS_EVERSION},              /* future format */
      {"\"v\":1", "\"v\":1,\"note\":\"x\"", CUSTOS_EINVAL}, /* unknown member */
      {"\"v\":1", "\"v\":1,\"v\":1", CUSTOS_EJSON},         /* duplicate member */
      {"mjones", "mjon\\u0065s", CUSTOS_EINVAL},            /* an escape */
      {"ESCALATE_MIXED_OFFENSE\",\"FLAG_IMMIGRATION_AUTHORITY",
       "FLAG_IMMIGRATION_AUTHORITY\",\"ESCALATE_MIXED_OFFENSE", CUSTOS_EINVAL}, /* unsorted */
      {"2019-03-04T10:22:13Z", "2019-02-29T10:22:13Z", CUSTOS_EINVAL},          /* no such day */
      {"2019-03-04T10:22:13Z", "2019-03-04T10:22:13+00:00", CUSTOS_EINVAL},
      {"\"case\":\"HSI-SE-2019-0042\",", "", CUSTOS_OK}, /* optional: fine */
      {"\"case\":\"HSI-SE-2019-0042\",", "\"case\":\"\",", CUSTOS_EINVAL},
      {"\"time\"", "\"reasons\":[],\"time\"", CUSTOS_EJSON},        /* duplicate reasons */
      {"\"hashes\":{", "\"hashes\":{\"a\":\"00\",", CUSTOS_EINVAL}, /* short hash */
      {"\"action\":\"case.review\",\"actor\":\"mjones\"",
       "\"actor\":\"mjones\",\"action\":\"case.review\"", CUSTOS_EINVAL}, /* key order */
  };
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(CASES); i++) {
    char buf[2048];
    const char *at = strstr(good, CASES[i].from);
    assert_non_null(at);
    snprintf(buf, sizeof buf, "%.*s%s%s", (int)(at - good), good, CASES[i].to,
             at + strlen(CASES[i].from));
    custos_audit_entry *d = NULL;
    custos_err err;
    custos_err_clear(&err);
    int rc = custos_audit_entry_decode(buf, strlen(buf), &d, &err);
    if (rc != CASES[i].rc) fail_msg("case %zu: got %s (%s)", i, custos_err_name(rc), err.message);
    if (rc == CUSTOS_OK) {
      custos_audit_entry_free(d);
    } else {
      assert_null(d);
      assert_true(err.message[0] != '\0');
    }
  }
  /* A trailing newline, an array, garbage. */
  custos_audit_entry *d = NULL;
  custos_err err;
  char nl[2048];
  snprintf(nl, sizeof nl, "%s\n", good);
  assert_int_equal(custos_audit_entry_decode(nl, strlen(nl), &d, &err), CUSTOS_EINVAL);
  assert_int_equal(custos_audit_entry_decode("[]", 2, &d, &err), CUSTOS_EINVAL);
  assert_int_equal(custos_audit_entry_decode("{", 1, &d, &err), CUSTOS_EJSON);
}

/* GOV-18: an entry has nowhere to put a redacted value: no free text, detail
 * keys from a closed table, typed values; errors never echo the value. */
static void test_entry_gov18(void **state) {
  (void)state;
  char out[CUSTOS_AUDIT_ENTRY_MAX + 1];
  size_t len;
  custos_err err;
  static const custos_audit_detail BAD_DETAIL[][1] = {
      {{"ssn", "123-45-6789"}},           /* not a detail key */
      {{"comment", "John Q Smith"}},      /* no free-text key */
      {{"record", "John Smith"}},         /* an id has no spaces */
      {{"stage", "123456789"}},           /* an enumerated key */
      {{"count", "123-45-6789"}},         /* a number is digits */
      {{"threshold", "1e9"}},             /* a decimal is plain */
      {{"field", "Born in Spokane"}},     /* a field's name, never its value */
      {{"model", "a model with spaces"}}, /* versions have no spaces */
  };
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(BAD_DETAIL); i++) {
    custos_audit_entry e = {.time = 1,
                            .actor = "examiner1",
                            .action = "holder.read",
                            .detail = BAD_DETAIL[i],
                            .n_detail = 1};
    custos_err_clear(&err);
    assert_int_equal(custos_audit_entry_encode(&e, out, sizeof out, &len, &err), CUSTOS_EINVAL);
    assert_null(strstr(err.message, BAD_DETAIL[i][0].value)); /* never echoed */
    assert_non_null(strstr(err.message, "detail"));
  }
  /* A hash named after a redacted field (a short value's hash is the value). */
  custos_audit_named_hash h = {"ssn", hash_of("123456789")};
  custos_audit_entry e = {
      .time = 1, .actor = "admin", .action = "import.row", .hashes = &h, .n_hashes = 1};
  assert_int_equal(custos_audit_entry_encode(&e, out, sizeof out, &len, &err), CUSTOS_EINVAL);
  /* Free text in the identifier fields does not fit their alphabets. */
  custos_audit_entry f = {.time = 1, .actor = "John Smith", .action = "holder.read"};
  assert_int_equal(custos_audit_entry_encode(&f, out, sizeof out, &len, &err), CUSTOS_EINVAL);
  assert_null(strstr(err.message, "John"));
  f.actor = "ok";
  f.action = "Read the record of John";
  assert_int_equal(custos_audit_entry_encode(&f, out, sizeof out, &len, &err), CUSTOS_EINVAL);
  f.action = "holder.read";
  f.case_id = "case of John Smith";
  assert_int_equal(custos_audit_entry_encode(&f, out, sizeof out, &len, &err), CUSTOS_EINVAL);
  const char *bad_reason[] = {"born in Mexico"};
  f.case_id = NULL;
  f.reasons = bad_reason;
  f.n_reasons = 1;
  assert_int_equal(custos_audit_entry_encode(&f, out, sizeof out, &len, &err), CUSTOS_EINVAL);
  /* The same through the decoder: a detail key outside the table. */
  const char *smuggled =
      "{\"action\":\"holder.read\",\"actor\":\"x\",\"detail\":{\"ssn\":"
      "\"123456789\"},\"seq\":0,\"time\":\"1970-01-01T00:00:01Z\",\"v\":1}";
  custos_audit_entry *d = NULL;
  assert_int_equal(custos_audit_entry_decode(smuggled, strlen(smuggled), &d, &err), CUSTOS_EINVAL);
  assert_null(strstr(err.message, "123456789"));
  /* Every allowed detail key with a valid value encodes. */
  static const custos_audit_detail OK_DETAIL[] = {
      {"agency_level", "federal"}, {"algorithm", "face-api-1.7.15"},
      {"candidates", "10"},        {"gallery_size", "30000000"},
      {"threshold", "0.6"},        {"record", "H-00042"},
      {"field", "birthplace"},     {"outcome", "no_identification"},
      {"role", "examiner"},        {"target_user", "u17"},
      {"tree_size", "0"},          {"model", "ssd_mobilenetv1"},
  };
  custos_audit_entry g = {.time = 1,
                          .actor = "x",
                          .action = "search.run",
                          .detail = OK_DETAIL,
                          .n_detail = CUSTOS_ARRAY_LEN(OK_DETAIL)};
  assert_int_equal(custos_audit_entry_encode(&g, out, sizeof out, &len, &err), 0);
  /* Duplicates and limits. */
  custos_audit_detail dup[2] = {{"count", "1"}, {"count", "2"}};
  g.detail = dup;
  g.n_detail = 2;
  assert_int_equal(custos_audit_entry_encode(&g, out, sizeof out, &len, &err), CUSTOS_EINVAL);
  g.n_detail = CUSTOS_AUDIT_MAX_DETAIL + 1;
  assert_int_equal(custos_audit_entry_encode(&g, out, sizeof out, &len, &err), CUSTOS_EINVAL);
  char longactor[CUSTOS_AUDIT_ACTOR_MAX + 2];
  memset(longactor, 'a', sizeof longactor - 1);
  longactor[sizeof longactor - 1] = '\0';
  custos_audit_entry l = {.time = 1, .actor = longactor, .action = "x"};
  assert_int_equal(custos_audit_entry_encode(&l, out, sizeof out, &len, &err), CUSTOS_EINVAL);
  longactor[CUSTOS_AUDIT_ACTOR_MAX] = '\0';
  assert_int_equal(custos_audit_entry_encode(&l, out, sizeof out, &len, &err), 0);
}

/* Mutated encodings: whatever decodes must be the canonical encoding of what
 * it decodes to (both decoding paths, the fast one and jansson's). */
static void test_entry_mutations(void **state) {
  (void)state;
  const char *good = sample_encoding();
  size_t n = strlen(good);
  uint64_t seed = 12345;
  int accepted = 0;
  static const char ALPHABET[] = "{}[]\":,.\\ 0123456789aAzZ-_\x7f\x01\xc3";
  for (int iter = 0; iter < 20000; iter++) {
    char buf[2048];
    memcpy(buf, good, n + 1);
    size_t len = n;
    int edits = 1 + (int)(xorshift(&seed) % 3);
    for (int k = 0; k < edits; k++) {
      size_t at = (size_t)(xorshift(&seed) % len);
      switch (xorshift(&seed) % 3) {
        case 0: /* replace */
          buf[at] = ALPHABET[xorshift(&seed) % (sizeof ALPHABET - 1)];
          break;
        case 1: /* delete */
          memmove(buf + at, buf + at + 1, len - at);
          len--;
          break;
        default: /* insert */
          memmove(buf + at + 1, buf + at, len - at + 1);
          buf[at] = ALPHABET[xorshift(&seed) % (sizeof ALPHABET - 1)];
          len++;
      }
    }
    custos_audit_entry *d = NULL;
    custos_err err;
    if (custos_audit_entry_decode(buf, len, &d, &err) == CUSTOS_OK) {
      char again[CUSTOS_AUDIT_ENTRY_MAX + 1];
      size_t alen = 0;
      assert_int_equal(custos_audit_entry_encode(d, again, sizeof again, &alen, &err), 0);
      assert_int_equal(alen, len);
      assert_memory_equal(again, buf, len);
      custos_audit_entry_free(d);
      accepted++;
    }
  }
  assert_true(accepted < 20000 / 4); /* most mutations are refused */
}

static void test_time(void **state) {
  (void)state;
  static const struct {
    const char *s;
    int64_t t;
  } OK[] = {{"1970-01-01T00:00:00Z", 0},
            {"2000-02-29T12:00:00Z", 951825600},
            {"2019-03-04T10:22:13Z", 1551694933},
            {"2038-01-19T03:14:08Z", 2147483648LL},
            {"9999-12-31T23:59:59Z", 253402300799LL}};
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(OK); i++) {
    int64_t t;
    char buf[32];
    assert_int_equal(custos_audit_time_parse(OK[i].s, strlen(OK[i].s), &t), 0);
    assert_int_equal(t, OK[i].t);
    assert_int_equal(custos_audit_time_format(t, buf, sizeof buf), 0);
    assert_string_equal(buf, OK[i].s);
  }
  static const char *const BAD[] = {"1969-12-31T23:59:59Z",   "1900-02-29T00:00:00Z",
                                    "2019-02-29T00:00:00Z",   "2019-04-31T00:00:00Z",
                                    "2019-13-01T00:00:00Z",   "2019-00-01T00:00:00Z",
                                    "2019-01-01T24:00:00Z",   "2019-01-01T00:60:00Z",
                                    "2019-01-01T00:00:60Z",   "2019-01-01 00:00:00Z",
                                    "2019-01-01T00:00:00z",   "2019-1-01T00:00:00Z",
                                    "2019-01-01T00:00:00.5Z", ""};
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(BAD); i++) {
    int64_t t;
    assert_int_equal(custos_audit_time_parse(BAD[i], strlen(BAD[i]), &t), CUSTOS_EINVAL);
  }
  char buf[32];
  assert_int_equal(custos_audit_time_format(-1, buf, sizeof buf), CUSTOS_EINVAL);
  assert_int_equal(custos_audit_time_format(253402300800LL, buf, sizeof buf), CUSTOS_EINVAL);
  assert_int_equal(custos_audit_time_format(0, buf, 20), CUSTOS_EINVAL);
  /* Every day of four years round-trips. */
  for (int64_t t = 946684800; t < 946684800 + 4 * 366 * 86400LL; t += 86400 + 3601) {
    int64_t back;
    assert_int_equal(custos_audit_time_format(t, buf, sizeof buf), 0);
    assert_int_equal(custos_audit_time_parse(buf, strlen(buf), &back), 0);
    assert_int_equal(back, t);
  }
}

/* ---- codecs ------------------------------------------------------------------------- */

static void test_codecs(void **state) {
  (void)state;
  uint8_t out[16];
  size_t n;
  char b[32];
  static const struct {
    const char *raw, *b64;
  } OK[] = {{"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"}, {"foob", "Zm9vYg=="}};
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(OK); i++) {
    custos__audit_b64_encode((const uint8_t *)OK[i].raw, strlen(OK[i].raw), b);
    assert_string_equal(b, OK[i].b64);
    assert_true(custos__audit_b64_decode(OK[i].b64, strlen(OK[i].b64), out, sizeof out, &n));
    assert_int_equal(n, strlen(OK[i].raw));
    assert_memory_equal(out, OK[i].raw, n);
  }
  static const char *const BAD[] = {
      "Zg", "Zg=", "Zh==", "Zm9=", "Z===", "Zg==Zg==", "Zm9v\n", "Zm 9", "Zm9_", "=Zm9"};
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(BAD); i++) {
    assert_false(custos__audit_b64_decode(BAD[i], strlen(BAD[i]), out, sizeof out, &n));
  }
  assert_false(custos__audit_b64_decode("Zm9vYg==", 8, out, 3, &n)); /* too long for out */
  uint8_t h[2];
  assert_true(custos__audit_hex_decode("0aff", 4, h, 2));
  assert_false(custos__audit_hex_decode("0AFF", 4, h, 2));
  assert_false(custos__audit_hex_decode("0af", 3, h, 2));
  assert_false(custos__audit_hex_decode("0afg", 4, h, 2));
}

/* ---- keys and signed notes ---------------------------------------------------------- */

/* The example of golang.org/x/mod/sumdb/note (the reference implementation). */
#define GO_SKEY "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
#define GO_VKEY "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
#define GO_TEXT                                                                              \
  "If you think cryptography is the answer to your problem,\nthen you don't know what your " \
  "problem is.\n"
#define GO_SIG                                                                                 \
  "\xe2\x80\x94 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXg" \
  "KvqfqdngotpRZb6KE6RyyBwJnAM=\n"

static void test_note_reference_example(void **state) {
  (void)state;
  custos_err err;
  custos_audit_signer *s = NULL;
  assert_int_equal(custos__audit_signer_parse(GO_SKEY, strlen(GO_SKEY), &s, &err), 0);
  char *skey = NULL;
  size_t sl = 0;
  assert_int_equal(custos__audit_signer_format(s, &skey, &sl, &err), 0);
  assert_string_equal(skey, GO_SKEY);
  sodium_free(skey);
  custos_audit_verifier v, v2;
  custos__audit_signer_verifier(s, &v);
  char vk[CUSTOS_AUDIT_VERIFIER_KEY_MAX];
  assert_int_equal(custos_audit_verifier_format(&v, vk, sizeof vk, &err), 0);
  assert_string_equal(vk, GO_VKEY);
  assert_int_equal(custos_audit_verifier_parse(GO_VKEY, &v2, &err), 0);
  assert_memory_equal(&v, &v2, sizeof v);
  assert_int_equal(v.key_hash, 0xc74f20a3);
  /* Ed25519 is deterministic: the note must be the reference's, byte for byte. */
  custos_buf b;
  custos__buf_init(&b, 4096);
  assert_int_equal(custos__audit_note_sign(s, GO_TEXT, strlen(GO_TEXT), &b, &err), 0);
  assert_string_equal(b.data, GO_TEXT "\n" GO_SIG);
  size_t tl = 0;
  assert_int_equal(custos__audit_note_verify(b.data, b.len, &v, &tl, &err), 0);
  assert_int_equal(tl, strlen(GO_TEXT));
  custos__buf_free(&b);
  custos__audit_signer_free(s);

  /* The C2SP signed-note specification's example. */
  static const char C2SP_VKEY[] =
      "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k";
  static const char C2SP_NOTE[] =
      "This is an example message.\n\n\xe2\x80\x94 example.com/foo "
      "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72Ineya"
      "QM=\n";
  assert_int_equal(custos_audit_verifier_parse(C2SP_VKEY, &v, &err), 0);
  assert_int_equal(custos__audit_note_verify(C2SP_NOTE, strlen(C2SP_NOTE), &v, &tl, &err), 0);
  assert_int_equal(tl, strlen("This is an example message.\n"));
}

/* As the Go tests do: every proper piece and every one-byte change of a key
 * string is refused. */
static void test_key_manglings(void **state) {
  (void)state;
  custos_err err;
  custos_audit_verifier v;
  char buf[256];
  const char *vk = GO_VKEY;
  size_t n = strlen(vk);
  for (size_t i = 0; i <= n; i++) {
    for (size_t j = i + 1; j <= n; j++) {
      if (i == 0 && j == n) continue;
      snprintf(buf, sizeof buf, "%.*s", (int)(j - i), vk + i);
      if (custos_audit_verifier_parse(buf, &v, &err) == 0) fail_msg("accepted %s", buf);
    }
  }
  for (size_t i = 0; i < n; i++) {
    snprintf(buf, sizeof buf, "%s", vk);
    buf[i]++;
    if (custos_audit_verifier_parse(buf, &v, &err) == 0) fail_msg("accepted %s", buf);
  }
  /* Wrong key length and unknown algorithm, each with a matching key hash. */
  assert_int_equal(
      custos_audit_verifier_parse(
          "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==", &v, &err),
      CUSTOS_EINVAL);
  assert_int_equal(
      custos_audit_verifier_parse(
          "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", &v, &err),
      CUSTOS_EINVAL);
  const char *sk = GO_SKEY;
  n = strlen(sk);
  custos_audit_signer *s = NULL;
  for (size_t i = 0; i <= n; i++) {
    for (size_t j = i + 1; j <= n; j++) {
      if (i == 0 && j == n) continue;
      if (custos__audit_signer_parse(sk + i, j - i, &s, &err) == 0) fail_msg("accepted a piece");
    }
  }
  for (size_t i = 0; i < n; i++) {
    snprintf(buf, sizeof buf, "%s", sk);
    buf[i]++;
    if (custos__audit_signer_parse(buf, n, &s, &err) == 0) fail_msg("accepted %s", buf);
  }
  assert_null(s);
}

static char tmpdir[64];

static void make_tmpdir(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/custos-audit-XXXXXX");
  assert_non_null(mkdtemp(tmpdir));
}

static void rm_tmpdir(void) {
  DIR *d = opendir(tmpdir);
  if (d == NULL) return;
  struct dirent *de;
  while ((de = readdir(d)) != NULL) {
    if (de->d_name[0] == '.') continue;
    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s", tmpdir, de->d_name);
    unlink(p);
  }
  closedir(d);
  rmdir(tmpdir);
  tmpdir[0] = '\0';
}

/* Removes the temporary folder even when a test fails half-way. */
static int teardown_tmpdir(void **state) {
  (void)state;
  rm_tmpdir();
  return 0;
}

static void test_key_files(void **state) {
  (void)state;
  make_tmpdir();
  custos_err err;
  custos_audit_signer *s = NULL, *t = NULL;
  custos_audit_verifier v1, v2;
  assert_int_equal(custos__audit_signer_generate("custos.test/audit", &s, &err), 0);
  custos__audit_signer_verifier(s, &v1);
  char path[PATH_MAX], sealed[PATH_MAX];
  snprintf(path, sizeof path, "%s/audit.key", tmpdir);
  snprintf(sealed, sizeof sealed, "%s/audit.sealed", tmpdir);

  /* Plain: 0600, refuses to overwrite, refuses looser permissions. */
  assert_int_equal(custos__audit_signer_save(s, path, NULL, &err), 0);
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  assert_int_equal(custos__audit_signer_save(s, path, NULL, &err), CUSTOS_ECONFLICT);
  assert_int_equal(custos__audit_signer_load(path, NULL, &t, &err), 0);
  custos__audit_signer_verifier(t, &v2);
  assert_memory_equal(&v1, &v2, sizeof v1);
  custos__audit_signer_free(t);
  chmod(path, 0640);
  assert_int_equal(custos__audit_signer_load(path, NULL, &t, &err), CUSTOS_EPERM);
  assert_non_null(strstr(err.message, "0600"));
  chmod(path, 0600);

  /* Sealed with a key from the environment. */
  uint8_t seal[32], wrong[32];
  bool present = true;
  unsetenv(CUSTOS_AUDIT_SEAL_ENV);
  assert_int_equal(custos__audit_seal_key_from_env(CUSTOS_AUDIT_SEAL_ENV, seal, &present, &err), 0);
  assert_false(present);
  setenv(CUSTOS_AUDIT_SEAL_ENV, "not hex at all", 1);
  assert_int_equal(custos__audit_seal_key_from_env(CUSTOS_AUDIT_SEAL_ENV, seal, &present, &err),
                   CUSTOS_EINVAL);
  assert_null(strstr(err.message, "not hex")); /* a secret is never echoed */
  setenv(CUSTOS_AUDIT_SEAL_ENV, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
         1);
  assert_int_equal(custos__audit_seal_key_from_env(CUSTOS_AUDIT_SEAL_ENV, seal, &present, &err), 0);
  assert_true(present);
  unsetenv(CUSTOS_AUDIT_SEAL_ENV);
  assert_int_equal(custos__audit_signer_save(s, sealed, seal, &err), 0);
  unsigned char *data = NULL;
  size_t len = 0;
  assert_int_equal(custos__read_file(sealed, 4096, &data, &len, &err), 0);
  assert_memory_equal(data, "custos-sealed-audit-key/v1\n", 27);
  assert_null(strstr((char *)data, "PRIVATE"));
  custos__free(data);
  assert_int_equal(custos__audit_signer_load(sealed, NULL, &t, &err), CUSTOS_EAUTH);
  memcpy(wrong, seal, 32);
  wrong[0] ^= 1;
  assert_int_equal(custos__audit_signer_load(sealed, wrong, &t, &err), CUSTOS_EAUTH);
  assert_int_equal(custos__audit_signer_load(path, seal, &t, &err), CUSTOS_EPERM);
  assert_int_equal(custos__audit_signer_load(sealed, seal, &t, &err), 0);
  custos__audit_signer_verifier(t, &v2);
  assert_memory_equal(&v1, &v2, sizeof v1);
  custos__audit_signer_free(t);

  /* A file that is not a key, a missing file, a bad name. */
  char junk[PATH_MAX];
  snprintf(junk, sizeof junk, "%s/junk.key", tmpdir);
  int fd = open(junk, O_WRONLY | O_CREAT | O_EXCL, 0600);
  assert_true(fd >= 0);
  assert_int_equal(write(fd, "PRIVATE+KEY+x+00000000+AAAA\n", 28), 28);
  close(fd);
  assert_int_equal(custos__audit_signer_load(junk, NULL, &t, &err), CUSTOS_EINVAL);
  snprintf(junk, sizeof junk, "%s/missing.key", tmpdir);
  assert_int_equal(custos__audit_signer_load(junk, NULL, &t, &err), CUSTOS_ENOENT);
  assert_int_equal(custos__audit_signer_generate("has space", &t, &err), CUSTOS_EINVAL);
  assert_int_equal(custos__audit_signer_generate("has+plus", &t, &err), CUSTOS_EINVAL);
  assert_int_equal(custos__audit_signer_generate("", &t, &err), CUSTOS_EINVAL);
  custos__audit_signer_free(s);
  rm_tmpdir();
}

/* ---- checkpoints -------------------------------------------------------------------------- */

static void sign_cp(const custos_audit_signer *s, const char *origin, uint64_t size,
                    const custos_audit_hash *root, custos_buf *out) {
  custos_audit_checkpoint cp;
  memset(&cp, 0, sizeof cp);
  snprintf(cp.origin, sizeof cp.origin, "%s", origin);
  cp.size = size;
  cp.root = *root;
  custos__buf_reset(out);
  custos_err err;
  assert_int_equal(custos__audit_checkpoint_sign(s, &cp, out, &err), 0);
}

static void test_checkpoints(void **state) {
  (void)state;
  custos_err err;
  custos_audit_signer *s = NULL, *other = NULL, *namesake = NULL;
  assert_int_equal(custos__audit_signer_generate("custos.test/audit", &s, &err), 0);
  assert_int_equal(custos__audit_signer_generate("someone.else", &other, &err), 0);
  assert_int_equal(custos__audit_signer_generate("custos.test/audit", &namesake, &err), 0);
  custos_audit_verifier v;
  custos__audit_signer_verifier(s, &v);
  custos_audit_hash root = hash_hex(ROOTS_HEX[8]);
  custos_buf b, c;
  custos__buf_init(&b, CUSTOS_AUDIT_NOTE_MAX);
  custos__buf_init(&c, CUSTOS_AUDIT_NOTE_MAX);
  sign_cp(s, "custos.test/audit", 8, &root, &b);
  /* The exact layout: three body lines, a blank line, one signature line. */
  const char *prefix =
      "custos.test/audit\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n\n"
      "\xe2\x80\x94 custos.test/audit ";
  assert_memory_equal(b.data, prefix, strlen(prefix));
  assert_int_equal(b.len, strlen(prefix) + 92 + 1); /* base64 of 4 + 64 bytes */
  assert_int_equal(b.data[b.len - 1], '\n');
  custos_audit_checkpoint cp;
  assert_int_equal(custos_audit_checkpoint_verify(b.data, b.len, &v, &cp, &err), 0);
  assert_string_equal(cp.origin, "custos.test/audit");
  assert_int_equal(cp.size, 8);
  assert_hash_equal(&cp.root, &root);

  /* Signed by another key, or by another key of the same name. */
  sign_cp(other, "custos.test/audit", 8, &root, &c);
  assert_int_equal(custos_audit_checkpoint_verify(c.data, c.len, &v, &cp, &err), CUSTOS_EVERIFY);
  sign_cp(namesake, "custos.test/audit", 8, &root, &c);
  assert_int_equal(custos_audit_checkpoint_verify(c.data, c.len, &v, &cp, &err), CUSTOS_EVERIFY);
  assert_non_null(strstr(err.message, "same name"));

  /* A co-signature by another key beside ours is fine; order does not matter. */
  custos__buf_reset(&c);
  custos__buf_append(&c, b.data, b.len);
  custos_buf t;
  custos__buf_init(&t, CUSTOS_AUDIT_NOTE_MAX);
  custos_audit_checkpoint body = {"custos.test/audit", 8, root};
  custos__audit_checkpoint_format(&body, &t, &err);
  custos_buf o;
  custos__buf_init(&o, CUSTOS_AUDIT_NOTE_MAX);
  custos__audit_note_sign(other, t.data, t.len, &o, &err);
  const char *other_line = strstr(o.data, "\n\n") + 2;
  custos__buf_append(&c, other_line, strlen(other_line));
  assert_int_equal(custos_audit_checkpoint_verify(c.data, c.len, &v, &cp, &err), 0);

  /* Malformed notes and bodies, each refused. */
  const char *good = b.data;
  const char *sig_line = strstr(good, "\n\n") + 2;
  static const struct {
    const char *from, *to; /* first occurrence replaced */
    int rc;
  } CASES[] = {
      {"\n\n", "\n", CUSTOS_EINVAL},                                  /* no blank line */
      {"\n8\n", "\n08\n", CUSTOS_EVERIFY},                            /* signed text changed */
      {"\n8\n", "\n9\n", CUSTOS_EVERIFY},                             /* size changed */
      {"Xcnae", "Ycnae", CUSTOS_EVERIFY},                             /* root changed */
      {"\xe2\x80\x94 ", "- ", CUSTOS_EINVAL},                         /* not an em dash */
      {"\xe2\x80\x94 custos", "\xe2\x80\x94  custos", CUSTOS_EINVAL}, /* two spaces */
      {"\n8\n", "\r\n8\n", CUSTOS_EINVAL},                            /* CR */
      {"\n8\n", "\n8\xff\n", CUSTOS_EINVAL},                          /* not UTF-8 */
      {"\n8\n", "\n8\t\n", CUSTOS_EINVAL},                            /* control character */
  };
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(CASES); i++) {
    char buf[1024];
    const char *at = strstr(good, CASES[i].from);
    assert_non_null(at);
    snprintf(buf, sizeof buf, "%.*s%s%s", (int)(at - good), good, CASES[i].to,
             at + strlen(CASES[i].from));
    int rc = custos_audit_checkpoint_verify(buf, strlen(buf), &v, &cp, &err);
    if (rc != CASES[i].rc) fail_msg("case %zu: %s (%s)", i, custos_err_name(rc), err.message);
  }
  /* No final newline; nothing after the blank line; a signature cut short. */
  assert_int_equal(custos_audit_checkpoint_verify(good, b.len - 1, &v, &cp, &err), CUSTOS_EINVAL);
  assert_int_equal(custos_audit_checkpoint_verify(good, (size_t)(sig_line - good), &v, &cp, &err),
                   CUSTOS_EINVAL);
  char cut[1024];
  snprintf(cut, sizeof cut, "%.*s==\n", (int)(b.len - 5), good);
  assert_int_equal(custos_audit_checkpoint_verify(cut, strlen(cut), &v, &cp, &err), CUSTOS_EINVAL);
  /* More than 100 signature lines. */
  custos__buf_reset(&c);
  custos__buf_append(&c, good, (size_t)(sig_line - good));
  for (int i = 0; i < 101; i++) custos__buf_append(&c, other_line, strlen(other_line));
  assert_int_equal(custos_audit_checkpoint_verify(c.data, c.len, &v, &cp, &err), CUSTOS_EINVAL);

  /* Bodies: what a signer might be tricked into signing is still refused. */
  static const char *const BODIES[] = {
      "o\n08\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n",                   /* leading zero */
      "o\n-8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n",                   /* sign */
      "o\n18446744073709551616\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n", /* 2^64 */
      "o\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQy=\n",                     /* 31 bytes */
      "o\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyh=\n",      /* unused bits set */
      "o\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg\n",       /* no padding */
      "o\n8\n",                                                    /* no root */
      "\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n",       /* no origin */
      "o\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=",        /* no newline */
      "o\n8\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\n\nx\n", /* empty line */
  };
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(BODIES); i++) {
    if (custos_audit_checkpoint_parse(BODIES[i], strlen(BODIES[i]), &cp, &err) != CUSTOS_EINVAL) {
      fail_msg("body %zu accepted", i);
    }
  }
  const char *ext =
      "o\n18446744073709551615\nXcnaeacGWamtVZy3Ad7ZoqudgjqtL0lgz+Nw7/RgQyg=\next 1\n";
  assert_int_equal(custos_audit_checkpoint_parse(ext, strlen(ext), &cp, &err), 0);
  assert_true(cp.size == UINT64_MAX);

  custos__buf_free(&b);
  custos__buf_free(&c);
  custos__buf_free(&t);
  custos__buf_free(&o);
  custos__audit_signer_free(s);
  custos__audit_signer_free(other);
  custos__audit_signer_free(namesake);
}

/* ---- the proof file --------------------------------------------------------------------- */

static void test_proof_file(void **state) {
  (void)state;
  custos_audit_inclusion_proof p, q;
  memset(&p, 0, sizeof p);
  p.leaf_index = 5;
  p.tree_size = 8;
  p.leaf_hash = vector_leaves[5];
  leaves L = {vector_leaves, 8};
  custos_audit_hash_source src = {&L, src_leaf, src_node};
  custos_err err;
  load_vector_leaves();
  p.leaf_hash = vector_leaves[5];
  assert_int_equal(custos__audit_prove_inclusion(&src, 5, 8, p.hashes, &p.n, &err), 0);
  char buf[CUSTOS_AUDIT_PROOF_FILE_MAX];
  size_t len = 0;
  assert_int_equal(custos_audit_proof_encode(&p, buf, sizeof buf, &len, &err), 0);
  assert_int_equal(buf[len - 1], '\n');
  const char *head = "{\"format\":\"custos-inclusion-proof/v1\",\"hashes\":[\"";
  assert_memory_equal(buf, head, strlen(head));
  assert_int_equal(custos_audit_proof_decode(buf, len, &q, &err), 0);
  assert_memory_equal(&p, &q, sizeof p);
  custos_audit_checkpoint cp = {"o", 8, hash_hex(ROOTS_HEX[8])};
  uint8_t raw[8];
  assert_true(custos__audit_hex_decode(LEAVES_HEX[5], 8, raw, 4));
  assert_int_equal(custos_audit_proof_verify(&q, raw, 4, &cp, &err), 0);
  raw[0] ^= 1;
  assert_int_equal(custos_audit_proof_verify(&q, raw, 4, &cp, &err), CUSTOS_EVERIFY);
  raw[0] ^= 1;
  cp.size = 7;
  assert_int_equal(custos_audit_proof_verify(&q, raw, 4, &cp, &err), CUSTOS_EVERIFY);
  assert_int_equal(custos_audit_proof_encode(&p, buf, 20, &len, &err), CUSTOS_ETOOBIG);

  static const char *const BAD[] = {
      "{}",
      "[]",
      "{\"format\":\"custos-inclusion-proof/v2\",\"hashes\":[],\"leaf_hash\":\""
      "0000000000000000000000000000000000000000000000000000000000000000\",\"leaf_index\":0,"
      "\"tree_size\":1}",
      "{\"format\":\"custos-inclusion-proof/v1\",\"hashes\":[],\"leaf_hash\":\"00\","
      "\"leaf_index\":0,\"tree_size\":1}",
      "{\"format\":\"custos-inclusion-proof/v1\",\"hashes\":[\"zz\"],\"leaf_hash\":\""
      "0000000000000000000000000000000000000000000000000000000000000000\",\"leaf_index\":0,"
      "\"tree_size\":1}",
      "{\"format\":\"custos-inclusion-proof/v1\",\"hashes\":[],\"leaf_hash\":\""
      "0000000000000000000000000000000000000000000000000000000000000000\",\"leaf_index\":-1,"
      "\"tree_size\":1}",
      "{\"format\":\"custos-inclusion-proof/v1\",\"hashes\":[],\"leaf_hash\":\""
      "0000000000000000000000000000000000000000000000000000000000000000\",\"leaf_index\":0,"
      "\"tree_size\":1,\"extra\":1}",
  };
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(BAD); i++) {
    assert_int_not_equal(custos_audit_proof_decode(BAD[i], strlen(BAD[i]), &q, &err), 0);
  }
}

/* ---- the log ------------------------------------------------------------------------------ */

#define ORIGIN "custos.test/audit"

typedef struct fixture {
  custos_audit_memstore *mem;
  custos_audit_store st;
  custos_audit_signer *signer;
  custos_audit_verifier v;
  custos_audit_log *log;
  custos_audit_hash *leaves; /* leaf hashes of what was appended */
  uint64_t n;
} fixture;

static const char *const ACTORS[] = {"staffer1",  "manager2",  "governor3",
                                     "examiner4", "examiner5", "admin6"};
static const char *const ACTIONS[] = {"case.register",  "case.review",     "search.run",
                                      "candidate.view", "case.adjudicate", "user.create"};

static custos_audit_entry entry_for(uint64_t i, custos_audit_named_hash *h, custos_audit_detail *d,
                                    char *case_id) {
  snprintf(case_id, 32, "C-2024-%04llu", (unsigned long long)(i / 7));
  *h = (custos_audit_named_hash){"probe", hash_of(case_id)};
  static const char *const COUNTS[] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
  *d = (custos_audit_detail){"count", COUNTS[i % 10]};
  custos_audit_entry e = {.time = 1700000000 + (int64_t)i,
                          .actor = ACTORS[i % 6],
                          .action = ACTIONS[i % 6],
                          .case_id = i % 5 ? case_id : NULL,
                          .hashes = h,
                          .n_hashes = i % 3 ? 1 : 0,
                          .detail = d,
                          .n_detail = 1};
  return e;
}

static void fixture_open(fixture *f, uint64_t n, uint64_t every) {
  memset(f, 0, sizeof *f);
  custos_err err;
  assert_int_equal(custos__audit_memstore_new(&f->mem, &f->st), 0);
  assert_int_equal(custos__audit_signer_generate(ORIGIN, &f->signer, &err), 0);
  custos__audit_signer_verifier(f->signer, &f->v);
  custos_audit_log_config cfg = {ORIGIN, every};
  assert_int_equal(custos__audit_log_open(&f->st, &cfg, f->signer, NULL, &f->log, &err), 0);
  f->leaves = calloc(n + 1, sizeof *f->leaves);
  assert_non_null(f->leaves);
  custos_buf b;
  custos__buf_init(&b, CUSTOS_AUDIT_ENTRY_MAX);
  for (uint64_t i = 0; i < n; i++) {
    custos_audit_named_hash h;
    custos_audit_detail d;
    char case_id[32];
    custos_audit_entry e = entry_for(i, &h, &d, case_id);
    uint64_t idx = 99;
    custos_audit_hash root, ref;
    assert_int_equal(custos__audit_log_append(f->log, &e, &idx, &root, &err), 0);
    assert_int_equal(idx, i);
    assert_int_equal(f->st.read_entry(f->st.ctx, i, &b, &err), 0);
    custos_audit_leaf_hash(b.data, b.len, &f->leaves[i]);
    ref_mth(f->leaves, i + 1, &ref);
    assert_hash_equal(&root, &ref);
  }
  f->n = n;
  custos__buf_free(&b);
}

static void fixture_close(fixture *f) {
  custos__audit_log_close(f->log);
  custos__audit_memstore_free(f->mem);
  custos__audit_signer_free(f->signer);
  free(f->leaves);
}

static int verify_log(fixture *f, custos_audit_verify_report *rep, const char *const *pinned,
                      size_t n_pinned) {
  custos_err err;
  custos_err_clear(&err);
  int rc = custos__audit_log_verify(f->log, pinned, n_pinned, rep, &err);
  if (rc != CUSTOS_OK) assert_string_equal(err.message, rep->first_problem);
  return rc;
}

static void test_log_append_and_prove(void **state) {
  (void)state;
  fixture f;
  fixture_open(&f, 100, 16);
  custos_err err;
  uint64_t n_cps = 0;
  assert_int_equal(f.st.count_checkpoints(f.st.ctx, &n_cps, &err), 0);
  assert_int_equal(n_cps, 6); /* 16, 32, 48, 64, 80, 96 */
  /* Every entry the log stored decodes, with its seq = index. */
  custos_buf b;
  custos__buf_init(&b, CUSTOS_AUDIT_ENTRY_MAX);
  for (uint64_t i = 0; i < f.n; i++) {
    custos_audit_entry *e = NULL;
    assert_int_equal(f.st.read_entry(f.st.ctx, i, &b, &err), 0);
    assert_int_equal(custos_audit_entry_decode(b.data, b.len, &e, &err), 0);
    assert_int_equal(e->seq, i);
    custos_audit_entry_free(e);
  }
  /* On demand: a checkpoint for 100, then none until the log grows. */
  custos_buf note;
  custos__buf_init(&note, CUSTOS_AUDIT_NOTE_MAX);
  bool fresh = false;
  assert_int_equal(custos__audit_log_checkpoint(f.log, &note, &fresh, &err), 0);
  assert_true(fresh);
  assert_int_equal(custos__audit_log_checkpoint(f.log, &note, &fresh, &err), 0);
  assert_false(fresh);
  custos_audit_checkpoint cp;
  assert_int_equal(custos_audit_checkpoint_verify(note.data, note.len, &f.v, &cp, &err), 0);
  assert_int_equal(cp.size, 100);
  custos_audit_hash ref;
  ref_mth(f.leaves, 100, &ref);
  assert_hash_equal(&cp.root, &ref);
  /* An inclusion proof of every entry, through the proof file. */
  for (uint64_t i = 0; i < f.n; i++) {
    custos_audit_inclusion_proof p, q;
    assert_int_equal(custos__audit_log_prove(f.log, i, cp.size, &p, &err), 0);
    char file[CUSTOS_AUDIT_PROOF_FILE_MAX];
    size_t len;
    assert_int_equal(custos_audit_proof_encode(&p, file, sizeof file, &len, &err), 0);
    assert_int_equal(custos_audit_proof_decode(file, len, &q, &err), 0);
    assert_int_equal(f.st.read_entry(f.st.ctx, i, &b, &err), 0);
    assert_int_equal(custos_audit_proof_verify(&q, b.data, b.len, &cp, &err), 0);
  }
  /* Consistency between any two sizes. */
  for (uint64_t a = 1; a <= f.n; a += 9) {
    for (uint64_t c = a; c <= f.n; c += 13) {
      custos_audit_hash proof[CUSTOS_AUDIT_CONSISTENCY_MAX], ra, rc;
      size_t n = 0;
      assert_int_equal(custos__audit_log_prove_consistency(f.log, a, c, proof, &n, &err), 0);
      ref_mth(f.leaves, a, &ra);
      ref_mth(f.leaves, c, &rc);
      assert_int_equal(custos_audit_verify_consistency(a, c, proof, n, &ra, &rc, &err), 0);
    }
  }
  custos_audit_inclusion_proof p;
  assert_int_equal(custos__audit_log_prove(f.log, 100, 100, &p, &err), CUSTOS_ENOENT);
  assert_int_equal(custos__audit_log_prove(f.log, 5, 101, &p, &err), CUSTOS_ENOENT);
  custos_audit_hash proof[CUSTOS_AUDIT_CONSISTENCY_MAX];
  size_t n;
  assert_int_equal(custos__audit_log_prove_consistency(f.log, 5, 101, proof, &n, &err),
                   CUSTOS_ENOENT);
  /* The intact log verifies. */
  custos_audit_verify_report rep;
  assert_int_equal(verify_log(&f, &rep, NULL, 0), 0);
  assert_int_equal(rep.entries, 100);
  assert_int_equal(rep.tree_size, 100);
  assert_int_equal(rep.checkpoints, 7);
  assert_int_equal(rep.consistency_proofs, 6);
  assert_int_equal(rep.problems, 0);
  assert_int_equal(rep.first_bad_entry, UINT64_MAX);
  assert_hash_equal(&rep.root, &ref);
  custos__buf_free(&b);
  custos__buf_free(&note);
  fixture_close(&f);
}

/* Verify finds each kind of tampering, and names where. */
static void test_log_edited_entry(void **state) {
  (void)state;
  fixture f;
  fixture_open(&f, 60, 10);
  custos_err err;
  /* A plausible edit: a valid, canonical entry with the same seq, other actor. */
  custos_audit_named_hash h;
  custos_audit_detail d;
  char case_id[32], enc[CUSTOS_AUDIT_ENTRY_MAX + 1];
  custos_audit_entry e = entry_for(23, &h, &d, case_id);
  e.seq = 23;
  e.actor = "someone_else";
  size_t len;
  assert_int_equal(custos_audit_entry_encode(&e, enc, sizeof enc, &len, &err), 0);
  assert_int_equal(custos__audit_memstore_set_entry(f.mem, 23, enc, len), 0);
  custos_audit_verify_report rep;
  assert_int_equal(verify_log(&f, &rep, NULL, 0), CUSTOS_EVERIFY);
  assert_int_equal(rep.first_bad_entry, 23);
  assert_non_null(strstr(rep.first_problem, "entry 23"));
  /* A proof for the edited entry is refused at the source. */
  custos_audit_inclusion_proof p;
  assert_int_equal(custos__audit_log_prove(f.log, 23, 60, &p, &err), CUSTOS_ECORRUPT);
  fixture_close(&f);
}

static void test_log_deleted_entry(void **state) {
  (void)state;
  fixture f;
  fixture_open(&f, 60, 10);
  assert_int_equal(custos__audit_memstore_delete_entry(f.mem, 31), 0);
  custos_audit_verify_report rep;
  assert_int_equal(verify_log(&f, &rep, NULL, 0), CUSTOS_EVERIFY);
  /* The first entry out of place is named; the count follows. */
  assert_int_equal(rep.first_bad_entry, 31);
  assert_non_null(strstr(rep.first_problem, "entry 31: its seq is 32"));
  assert_true(rep.problems > 2);
  /* Removed at the end: only the count and the checkpoints show it. */
  fixture g;
  fixture_open(&g, 5, 0);
  assert_int_equal(custos__audit_memstore_delete_entry(g.mem, 4), 0);
  assert_int_equal(verify_log(&g, &rep, NULL, 0), CUSTOS_EVERIFY);
  assert_non_null(strstr(rep.first_problem, "5 entries, the store holds 4"));
  fixture_close(&g);
  fixture_close(&f);
}

static void test_log_swapped_entries(void **state) {
  (void)state;
  fixture f;
  fixture_open(&f, 60, 10);
  assert_int_equal(custos__audit_memstore_swap_entries(f.mem, 40, 41), 0);
  custos_audit_verify_report rep;
  assert_int_equal(verify_log(&f, &rep, NULL, 0), CUSTOS_EVERIFY);
  assert_int_equal(rep.first_bad_entry, 40);
  assert_non_null(strstr(rep.first_problem, "seq is 41"));
  fixture_close(&f);
}

static void test_log_inserted_entry(void **state) {
  (void)state;
  fixture f;
  fixture_open(&f, 60, 10);
  custos_audit_entry e = {.seq = 12, .time = 1700000012, .actor = "mallory", .action = "x.y"};
  char enc[CUSTOS_AUDIT_ENTRY_MAX + 1];
  size_t len;
  custos_err err;
  assert_int_equal(custos_audit_entry_encode(&e, enc, sizeof enc, &len, &err), 0);
  assert_int_equal(custos__audit_memstore_insert_entry(f.mem, 12, enc, len), 0);
  custos_audit_verify_report rep;
  assert_int_equal(verify_log(&f, &rep, NULL, 0), CUSTOS_EVERIFY);
  assert_int_equal(rep.first_bad_entry, 12);
  assert_non_null(strstr(rep.first_problem, "entry 12"));
  /* With the head patched too, the entries still disagree with the tree. */
  custos_audit_range head;
  assert_int_equal(f.st.read_head(f.st.ctx, &head, &err), 0);
  head.size = 61;
  assert_int_equal(f.st.write_head(f.st.ctx, &head, &err), 0);
  assert_int_equal(verify_log(&f, &rep, NULL, 0), CUSTOS_EVERIFY);
  assert_int_equal(rep.first_bad_entry, 12);
  fixture_close(&f);
}

static void test_log_truncated(void **state) {
  (void)state;
  fixture f;
  fixture_open(&f, 60, 10);
  custos_err err;
  /* The auditor kept the latest checkpoint. */
  custos_buf note;
  custos__buf_init(&note, CUSTOS_AUDIT_NOTE_MAX);
  custos_audit_checkpoint cp;
  assert_int_equal(custos__audit_log_latest_checkpoint(f.log, &note, &cp, &err), 0);
  assert_int_equal(cp.size, 60);
  const char *pinned[] = {note.data};

  /* Entries cut off: the head and the stored checkpoints show it. */
  assert_int_equal(custos__audit_memstore_truncate(f.mem, 45, false), 0);
  custos_audit_verify_report rep;
  assert_int_equal(verify_log(&f, &rep, NULL, 0), CUSTOS_EVERIFY);
  assert_non_null(strstr(rep.first_problem, "holds only 45 entries (truncated)"));

  /* Cut off with head and checkpoints rewritten: consistent with itself, so
   * only the auditor's pinned checkpoint shows it. */
  assert_int_equal(custos__audit_memstore_truncate(f.mem, 45, true), 0);
  assert_int_equal(verify_log(&f, &rep, NULL, 0), 0);
  assert_int_equal(rep.checkpoints, 4);
  assert_int_equal(verify_log(&f, &rep, pinned, 1), CUSTOS_EVERIFY);
  assert_non_null(strstr(rep.first_problem, "truncated"));
  custos__buf_free(&note);
  fixture_close(&f);
}

static void test_log_foreign_checkpoint(void **state) {
  (void)state;
  fixture f;
  fixture_open(&f, 30, 10);
  custos_err err;
  custos_audit_signer *mallory = NULL;
  assert_int_equal(custos__audit_signer_generate(ORIGIN, &mallory, &err), 0);
  custos_audit_hash root;
  assert_int_equal(custos__audit_log_head(f.log, NULL, &root, &err), 0);
  custos_buf b;
  custos__buf_init(&b, CUSTOS_AUDIT_NOTE_MAX);
  sign_cp(mallory, ORIGIN, 30, &root, &b);
  assert_int_equal(f.st.put_checkpoint(f.st.ctx, 30, b.data, b.len, &err), 0);
  custos_audit_verify_report rep;
  assert_int_equal(verify_log(&f, &rep, NULL, 0), CUSTOS_EVERIFY);
  assert_non_null(strstr(rep.first_problem, "checkpoint 3"));
  assert_non_null(strstr(rep.first_problem, "not signed by"));
  /* The latest checkpoint is then refused for proofs too. */
  custos_audit_checkpoint cp;
  assert_int_equal(custos__audit_log_latest_checkpoint(f.log, NULL, &cp, &err), CUSTOS_ECORRUPT);
  custos__buf_free(&b);
  custos__audit_signer_free(mallory);
  fixture_close(&f);
}

/* An attacker who rewrites the whole history consistently (entries, subtree
 * hashes, head) still cannot sign: the stored checkpoints give them away. */
static void test_log_rewritten_history(void **state) {
  (void)state;
  fixture f, g;
  fixture_open(&f, 40, 10);
  fixture_open(&g, 40, 0); /* same entries, another key, no checkpoints */
  custos_err err;
  custos_audit_named_hash h;
  custos_audit_detail d;
  char case_id[32], enc[CUSTOS_AUDIT_ENTRY_MAX + 1];
  /* g's store: rebuild it with entry 5 changed. */
  custos__audit_log_close(g.log);
  custos__audit_memstore_free(g.mem);
  assert_int_equal(custos__audit_memstore_new(&g.mem, &g.st), 0);
  custos_audit_log_config cfg = {ORIGIN, 0};
  assert_int_equal(custos__audit_log_open(&g.st, &cfg, g.signer, NULL, &g.log, &err), 0);
  for (uint64_t i = 0; i < 40; i++) {
    custos_audit_entry e = entry_for(i, &h, &d, case_id);
    if (i == 5) e.actor = "rewritten";
    assert_int_equal(custos__audit_log_append(g.log, &e, NULL, NULL, &err), 0);
  }
  /* Copy f's genuine checkpoints into g's store, then verify g with f's key. */
  custos_buf b;
  custos__buf_init(&b, CUSTOS_AUDIT_NOTE_MAX);
  for (uint64_t i = 0; i < 4; i++) {
    assert_int_equal(f.st.read_checkpoint(f.st.ctx, i, &b, &err), 0);
    assert_int_equal(g.st.put_checkpoint(g.st.ctx, (i + 1) * 10, b.data, b.len, &err), 0);
  }
  custos_audit_log *as_f = NULL;
  assert_int_equal(custos__audit_log_open(&g.st, &cfg, NULL, &f.v, &as_f, &err), 0);
  custos_audit_verify_report rep;
  assert_int_equal(custos__audit_log_verify(as_f, NULL, 0, &rep, &err), CUSTOS_EVERIFY);
  assert_non_null(strstr(rep.first_problem, "checkpoint 0 (size 10)"));
  (void)enc;
  custos__audit_log_close(as_f);
  custos__buf_free(&b);
  fixture_close(&f);
  fixture_close(&g);
}

static void test_log_stored_hashes(void **state) {
  (void)state;
  fixture f;
  fixture_open(&f, 33, 8);
  custos_audit_hash junk = hash_of("junk");
  /* A subtree hash that proofs are built from. */
  assert_int_equal(custos__audit_memstore_set_node(f.mem, 3, 1, &junk), 0);
  custos_audit_verify_report rep;
  assert_int_equal(verify_log(&f, &rep, NULL, 0), CUSTOS_EVERIFY);
  assert_non_null(strstr(rep.first_problem, "subtree (level 3, index 1)"));
  fixture_close(&f);

  /* The head. */
  fixture_open(&f, 33, 8);
  custos_err err;
  custos_audit_range head;
  assert_int_equal(f.st.read_head(f.st.ctx, &head, &err), 0);
  head.h[0] = junk;
  assert_int_equal(f.st.write_head(f.st.ctx, &head, &err), 0);
  assert_int_equal(verify_log(&f, &rep, NULL, 0), CUSTOS_EVERIFY);
  assert_non_null(strstr(rep.first_problem, "head"));
  fixture_close(&f);
}

static void test_log_errors(void **state) {
  (void)state;
  fixture f;
  fixture_open(&f, 5, 0);
  custos_err err;
  custos_audit_entry e = {.time = 1, .actor = "a", .action = "b"};
  /* A failing store fails the append, whichever write fails.  The memory
   * store has no rollback, so what a transaction would have undone is left,
   * and verify reports it. */
  for (long k = 0; k < 3; k++) {
    fixture h;
    fixture_open(&h, 5, 0);
    custos__audit_memstore_fail_writes_after(h.mem, k);
    assert_int_equal(custos__audit_log_append(h.log, &e, NULL, NULL, &err), CUSTOS_EDB);
    custos__audit_memstore_fail_writes_after(h.mem, -1);
    custos_audit_verify_report r;
    assert_int_equal(custos__audit_log_verify(h.log, NULL, 0, &r, &err),
                     k == 0 ? CUSTOS_OK : CUSTOS_EVERIFY);
    fixture_close(&h);
  }
  /* An invalid entry changes nothing. */
  custos_audit_entry bad = {.time = 1, .actor = "a b", .action = "b"};
  uint64_t size = 0;
  fixture g;
  fixture_open(&g, 5, 0);
  assert_int_equal(custos__audit_log_append(g.log, &bad, NULL, NULL, &err), CUSTOS_EINVAL);
  assert_int_equal(custos__audit_log_head(g.log, &size, NULL, &err), 0);
  assert_int_equal(size, 5);
  /* Read only: no appends, no signing; verifying works. */
  custos_audit_log *ro = NULL;
  custos_audit_log_config cfg = {ORIGIN, 0};
  assert_int_equal(custos__audit_log_open(&g.st, &cfg, NULL, &g.v, &ro, &err), 0);
  assert_int_equal(custos__audit_log_append(ro, &e, NULL, NULL, &err), CUSTOS_EPERM);
  custos_buf note;
  custos__buf_init(&note, CUSTOS_AUDIT_NOTE_MAX);
  bool fresh;
  assert_int_equal(custos__audit_log_checkpoint(ro, &note, &fresh, &err), CUSTOS_EPERM);
  custos_audit_verify_report rep;
  assert_int_equal(custos__audit_log_verify(ro, NULL, 0, &rep, &err), 0);
  custos__audit_log_close(ro);
  /* Opening: a bad origin, no key, mismatched keys. */
  cfg.origin = "has space";
  assert_int_equal(custos__audit_log_open(&g.st, &cfg, g.signer, NULL, &ro, &err), CUSTOS_EINVAL);
  cfg.origin = ORIGIN;
  assert_int_equal(custos__audit_log_open(&g.st, &cfg, NULL, NULL, &ro, &err), CUSTOS_EINVAL);
  assert_int_equal(custos__audit_log_open(&g.st, &cfg, g.signer, &f.v, &ro, &err), CUSTOS_EINVAL);
  /* An empty log has no checkpoint. */
  custos_audit_memstore *m = NULL;
  custos_audit_store st;
  assert_int_equal(custos__audit_memstore_new(&m, &st), 0);
  assert_int_equal(custos__audit_log_open(&st, &cfg, g.signer, NULL, &ro, &err), 0);
  assert_int_equal(custos__audit_log_checkpoint(ro, &note, &fresh, &err), CUSTOS_ENOENT);
  assert_int_equal(custos__audit_log_verify(ro, NULL, 0, &rep, &err), 0);
  custos__audit_log_close(ro);
  custos__audit_memstore_free(m);
  custos__buf_free(&note);
  fixture_close(&f);
  fixture_close(&g);
}

/* Allocation failures anywhere in decoding and verifying fail cleanly. */
static void test_alloc_failures(void **state) {
  (void)state;
  fixture f;
  fixture_open(&f, 20, 5);
  const char *good = sample_encoding();
  for (long k = 0; k < 12; k++) {
    custos_audit_entry *d = NULL;
    custos_err err;
    custos__alloc_fail_after(k);
    int rc = custos_audit_entry_decode(good, strlen(good), &d, &err);
    custos__alloc_fail_after(-1);
    assert_true(rc == CUSTOS_OK || rc == CUSTOS_ENOMEM);
    custos_audit_entry_free(d);
    custos_audit_verify_report rep;
    custos__alloc_fail_after(k);
    rc = custos__audit_log_verify(f.log, NULL, 0, &rep, &err);
    custos__alloc_fail_after(-1);
    assert_true(rc == CUSTOS_OK || rc == CUSTOS_ENOMEM || rc == CUSTOS_EVERIFY);
  }
  fixture_close(&f);
}

/* ---- the log on the SQLite store (src/audit/dbstore.c) --------------------------------------- */

typedef struct dbfix {
  custos_store *s;             /* a database at the latest schema in tmpdir */
  custos_audit_signer *signer; /* the log's key */
  custos_audit_log_config cfg; /* origin, interval */
  char path[PATH_MAX];         /* the database file */
} dbfix;

static void dbfix_open(dbfix *f, uint64_t every) {
  custos_err err;
  memset(f, 0, sizeof *f);
  make_tmpdir();
  snprintf(f->path, sizeof f->path, "%s/custos.db", tmpdir);
  assert_int_equal(custos__store_open(f->path, CUSTOS__STORE_CREATE, &f->s, &err), 0);
  assert_int_equal(custos__store_migrate(f->s, CUSTOS_SCHEMA_VERSION, NULL, NULL, &err), 0);
  assert_int_equal(custos__audit_signer_generate(ORIGIN, &f->signer, &err), 0);
  f->cfg = (custos_audit_log_config){ORIGIN, every};
}

static void dbfix_close(dbfix *f) {
  custos__store_close(f->s);
  custos__audit_signer_free(f->signer);
  rm_tmpdir();
}

/* A transaction and a log over it; the log is closed by db_end. */
static custos_txn *db_begin(dbfix *f, bool write, custos_audit_store *st, custos_audit_log **log) {
  custos_err err;
  custos_txn *t = NULL;
  assert_int_equal(custos__store_begin(f->s, write, &t, &err), 0);
  custos__audit_dbstore(t, st);
  assert_int_equal(custos__audit_log_open(st, &f->cfg, f->signer, NULL, log, &err), 0);
  return t;
}

static void db_end(custos_txn *t, custos_audit_log *log, bool commit) {
  custos_err err;
  custos__audit_log_close(log);
  if (commit) {
    assert_int_equal(custos__store_commit(t, &err), 0);
  } else {
    custos__store_rollback(t);
  }
}

static uint64_t db_size(dbfix *f) {
  custos_audit_store st;
  custos_audit_log *log;
  custos_err err;
  uint64_t size = 0, count = 0;
  custos_txn *t = db_begin(f, false, &st, &log);
  assert_int_equal(custos__audit_log_head(log, &size, NULL, &err), 0);
  assert_int_equal(st.count_entries(st.ctx, &count, &err), 0);
  assert_int_equal(size, count);
  db_end(t, log, false);
  return size;
}

static int db_verify(dbfix *f, custos_audit_verify_report *rep) {
  custos_audit_store st;
  custos_audit_log *log;
  custos_err err;
  custos_txn *t = db_begin(f, false, &st, &log);
  int rc = custos__audit_log_verify(log, NULL, 0, rep, &err);
  db_end(t, log, false);
  return rc;
}

/* Counts scanned entries in seen[0], checking they come in index order from
 * the first one scanned (seen[1]: the next index expected, 0 before any). */
static int scan_count(void *arg, uint64_t index, const void *data, size_t len) {
  uint64_t *seen = arg;
  (void)data;
  if (seen[0] > 0 && index != seen[1]) return -1;
  seen[0]++;
  seen[1] = index + 1;
  return len > 0 ? 0 : -1;
}

/* Each append in its own transaction, as an action makes it: the same roots,
 * proofs and checkpoints as the textbook tree; the intact log verifies. */
static void test_dbstore_log(void **state) {
  (void)state;
  dbfix f;
  dbfix_open(&f, 8);
  custos_err err;
  enum { N = 70 };
  custos_audit_hash lh[N], ref;
  custos_buf b;
  custos__buf_init(&b, CUSTOS_AUDIT_ENTRY_MAX);
  for (uint64_t i = 0; i < N; i++) {
    custos_audit_store st;
    custos_audit_log *log;
    custos_audit_named_hash h;
    custos_audit_detail d;
    char case_id[32];
    custos_audit_entry e = entry_for(i, &h, &d, case_id);
    uint64_t idx = 99;
    custos_audit_hash root;
    custos_txn *t = db_begin(&f, true, &st, &log);
    assert_int_equal(custos__audit_log_append(log, &e, &idx, &root, &err), 0);
    assert_int_equal(idx, i);
    assert_int_equal(st.read_entry(st.ctx, i, &b, &err), 0);
    custos_audit_leaf_hash(b.data, b.len, &lh[i]);
    ref_mth(lh, i + 1, &ref);
    assert_hash_equal(&root, &ref);
    db_end(t, log, true);
  }
  custos_audit_store st;
  custos_audit_log *log;
  custos_txn *t = db_begin(&f, false, &st, &log);
  uint64_t n_cps = 0;
  assert_int_equal(st.count_checkpoints(st.ctx, &n_cps, &err), 0);
  assert_int_equal(n_cps, N / 8);
  /* The stored subtrees are the textbook tree's. */
  for (unsigned level = 0; level < 7; level++) {
    for (uint64_t k = 0; ((k + 1) << level) <= N; k++) {
      custos_audit_hash got;
      assert_int_equal(st.get_node(st.ctx, level, k, &got, &err), 0);
      ref_mth(lh + (k << level), (uint64_t)1 << level, &ref);
      assert_hash_equal(&got, &ref);
    }
  }
  custos_audit_hash got;
  assert_int_equal(st.get_node(st.ctx, 0, N, &got, &err), CUSTOS_ENOENT);
  assert_int_equal(st.get_node(st.ctx, 64, 0, &got, &err), CUSTOS_ENOENT);
  /* Inclusion of every entry, and consistency, at the latest checkpoint. */
  custos_buf note;
  custos__buf_init(&note, CUSTOS_AUDIT_NOTE_MAX);
  custos_audit_checkpoint cp;
  assert_int_equal(custos__audit_log_latest_checkpoint(log, &note, &cp, &err), 0);
  assert_int_equal(cp.size, 64);
  for (uint64_t i = 0; i < cp.size; i++) {
    custos_audit_inclusion_proof p;
    assert_int_equal(custos__audit_log_prove(log, i, cp.size, &p, &err), 0);
    assert_int_equal(st.read_entry(st.ctx, i, &b, &err), 0);
    assert_int_equal(custos_audit_proof_verify(&p, b.data, b.len, &cp, &err), 0);
  }
  /* A scan from the middle sees the rest, in order. */
  uint64_t seen[2] = {0, 0};
  assert_int_equal(st.scan_entries(st.ctx, 60, scan_count, seen, &err), 0);
  assert_int_equal(seen[0], N - 60);
  db_end(t, log, false);
  custos_audit_verify_report rep;
  assert_int_equal(db_verify(&f, &rep), 0);
  assert_int_equal(rep.entries, N);
  assert_int_equal(rep.checkpoints, N / 8);
  assert_int_equal(rep.consistency_proofs, N / 8 - 1);
  custos__buf_free(&b);
  custos__buf_free(&note);
  dbfix_close(&f);
}

/* GOV-20, invariant 4: an entry and the change it records are one
 * transaction.  Committed, both are there; rolled back, neither is, and the
 * next append takes the same seq. */
static void test_dbstore_same_transaction(void **state) {
  (void)state;
  dbfix f;
  dbfix_open(&f, 2);
  custos_err err;
  custos_audit_store st;
  custos_audit_log *log;
  custos_audit_detail d[] = {{"record", "H1"}};
  custos_audit_entry e = {
      .time = 1700000000, .actor = "admin1", .action = "holder.add", .detail = d, .n_detail = 1};
  custos__holder h = {
      .license_no = "WDL0001", .first_name = "Ann", .last_name = "Lee", .dob = "1980-01-02"};
  int64_t id = 0;
  uint64_t idx = 0;

  /* Rolled back: no holder, no entry, no head, no checkpoint. */
  custos_txn *t = db_begin(&f, true, &st, &log);
  assert_int_equal(custos__store_holder_add(t, &h, &id, &err), 0);
  assert_int_equal(custos__audit_log_append(log, &e, &idx, NULL, &err), 0);
  assert_int_equal(custos__audit_log_append(log, &e, &idx, NULL, &err), 0); /* signs at 2 */
  db_end(t, log, false);
  assert_int_equal(db_size(&f), 0);
  t = db_begin(&f, false, &st, &log);
  custos__holder got;
  assert_int_equal(custos__store_holder_find(t, "WDL0001", &got, &err), CUSTOS_ENOENT);
  uint64_t n = 9;
  assert_int_equal(st.count_checkpoints(st.ctx, &n, &err), 0);
  assert_int_equal(n, 0);
  custos_audit_range head;
  assert_int_equal(st.read_head(st.ctx, &head, &err), 0);
  assert_int_equal(head.size, 0);
  db_end(t, log, false);

  /* Committed: both, and the entry is number 0 again. */
  t = db_begin(&f, true, &st, &log);
  assert_int_equal(custos__store_holder_add(t, &h, &id, &err), 0);
  assert_int_equal(custos__audit_log_append(log, &e, &idx, NULL, &err), 0);
  assert_int_equal(idx, 0);
  db_end(t, log, true);
  assert_int_equal(db_size(&f), 1);
  t = db_begin(&f, false, &st, &log);
  assert_int_equal(custos__store_holder_find(t, "WDL0001", &got, &err), 0);
  /* Appending needs a write transaction. */
  assert_int_equal(custos__audit_log_append(log, &e, &idx, NULL, &err), CUSTOS_EINTERNAL);
  db_end(t, log, false);
  custos_audit_verify_report rep;
  assert_int_equal(db_verify(&f, &rep), 0);
  dbfix_close(&f);
}

/* Runs SQL on the database file behind the store, as a tamperer (or a test
 * injecting a failure) would. */
static void raw_sql(dbfix *f, const char *sql) {
  char cmd[PATH_MAX + 4200];
  snprintf(cmd, sizeof cmd, "sqlite3 '%s' \"%s\"", f->path, sql);
  assert_int_equal(system(cmd), 0);
}

/* If the append fails, the change fails: each of the append's writes made to
 * fail in turn (an injected database failure), and a conflicting entry. */
static void test_dbstore_append_failure(void **state) {
  (void)state;
  static const char *const triggers[] = {
      "CREATE TRIGGER f BEFORE INSERT ON audit_entry BEGIN SELECT RAISE(ABORT, 'injected'); END;",
      "CREATE TRIGGER f BEFORE INSERT ON audit_node BEGIN SELECT RAISE(ABORT, 'injected'); END;",
      "CREATE TRIGGER f BEFORE INSERT ON audit_head BEGIN SELECT RAISE(ABORT, 'injected'); END;",
      "CREATE TRIGGER f BEFORE UPDATE ON audit_head BEGIN SELECT RAISE(ABORT, 'injected'); END;",
      "CREATE TRIGGER f BEFORE INSERT ON audit_checkpoint BEGIN SELECT RAISE(ABORT, 'injected'); "
      "END;",
  };
  for (size_t k = 0; k < CUSTOS_ARRAY_LEN(triggers); k++) {
    dbfix f;
    dbfix_open(&f, 2);
    custos_err err;
    custos_audit_store st;
    custos_audit_log *log;
    custos_audit_entry e = {.time = 1700000000, .actor = "admin1", .action = "holder.add"};
    custos__holder h = {
        .license_no = "WDL0001", .first_name = "Ann", .last_name = "Lee", .dob = "1980-01-02"};
    int64_t id;
    /* One entry first, so that the second append writes nodes, updates the
     * head and signs a checkpoint. */
    custos_txn *t = db_begin(&f, true, &st, &log);
    assert_int_equal(custos__audit_log_append(log, &e, NULL, NULL, &err), 0);
    db_end(t, log, true);
    raw_sql(&f, triggers[k]);
    /* The action: a change and its entry; the append fails, so the action
     * does — the caller rolls back, as core's actions do. */
    t = db_begin(&f, true, &st, &log);
    assert_int_equal(custos__store_holder_add(t, &h, &id, &err), 0);
    int rc = custos__audit_log_append(log, &e, NULL, NULL, &err);
    assert_int_not_equal(rc, CUSTOS_OK);
    assert_non_null(strstr(err.message, "injected"));
    db_end(t, log, false);
    t = db_begin(&f, false, &st, &log);
    custos__holder got;
    assert_int_equal(custos__store_holder_find(t, "WDL0001", &got, &err), CUSTOS_ENOENT);
    db_end(t, log, false);
    assert_int_equal(db_size(&f), 1);
    raw_sql(&f, "DROP TRIGGER f;");
    custos_audit_verify_report rep;
    assert_int_equal(db_verify(&f, &rep), 0);
    dbfix_close(&f);
  }

  /* An entry already stored under the next index (another writer that did
   * not serialise): refused, not overwritten. */
  dbfix f;
  dbfix_open(&f, 0);
  custos_err err;
  custos_audit_store st;
  custos_audit_log *log;
  custos_audit_entry e = {.time = 1700000000, .actor = "admin1", .action = "x.y"};
  custos_txn *t = db_begin(&f, true, &st, &log);
  uint8_t zero[32] = {0};
  assert_int_equal(custos__store_audit_entry_add(t, 0, "{}", 2, zero, &err), 0);
  assert_int_equal(custos__audit_log_append(log, &e, NULL, NULL, &err), CUSTOS_ECONFLICT);
  db_end(t, log, false);
  dbfix_close(&f);
}

/* The adapter's own rules: nodes are write-once (the same hash again is
 * fine), a leaf hash is its entry's, a removed checkpoint is a gap that
 * verify names, and the store's argument checks. */
static void test_dbstore_rules(void **state) {
  (void)state;
  dbfix f;
  dbfix_open(&f, 1);
  custos_err err;
  custos_audit_store st;
  custos_audit_log *log;
  custos_txn *t = db_begin(&f, true, &st, &log);
  for (int i = 0; i < 4; i++) {
    custos_audit_entry e = {.time = 1700000000, .actor = "a", .action = "x.y"};
    assert_int_equal(custos__audit_log_append(log, &e, NULL, NULL, &err), 0);
  }
  custos_audit_node nd = {.level = 1, .index = 0};
  assert_int_equal(st.get_node(st.ctx, 1, 0, &nd.hash, &err), 0);
  assert_int_equal(st.put_nodes(st.ctx, &nd, 1, &err), 0); /* same hash: fine */
  nd.hash.b[0] ^= 1;
  assert_int_equal(st.put_nodes(st.ctx, &nd, 1, &err), CUSTOS_ECONFLICT);
  nd.level = 0;
  assert_int_equal(st.put_nodes(st.ctx, &nd, 1, &err), CUSTOS_ECONFLICT); /* not entry 0's */
  nd.index = 7;
  assert_int_equal(st.put_nodes(st.ctx, &nd, 1, &err), CUSTOS_ECONFLICT); /* no entry 7 */
  nd.level = 64;
  assert_int_equal(st.put_nodes(st.ctx, &nd, 1, &err), CUSTOS_EINVAL);
  nd = (custos_audit_node){.level = 1, .index = (uint64_t)INT64_MAX + 1};
  assert_int_equal(st.put_nodes(st.ctx, &nd, 1, &err), CUSTOS_ETOOBIG);
  assert_int_equal(st.append_entry(st.ctx, (uint64_t)INT64_MAX + 1, "{}", 2, &err), CUSTOS_ETOOBIG);
  custos_buf b;
  custos__buf_init(&b, CUSTOS_AUDIT_ENTRY_MAX);
  assert_int_equal(st.read_entry(st.ctx, UINT64_MAX, &b, &err), CUSTOS_ENOENT);
  assert_int_equal(st.read_entry(st.ctx, 4, &b, &err), CUSTOS_ENOENT);
  assert_int_equal(st.read_checkpoint(st.ctx, UINT64_MAX, &b, &err), CUSTOS_ENOENT);
  /* The store refuses what no log writes. */
  uint8_t h[32] = {0};
  assert_int_equal(custos__store_audit_entry_add(t, -1, "{}", 2, h, &err), CUSTOS_EINVAL);
  assert_int_equal(custos__store_audit_entry_add(t, 9, "", 0, h, &err), CUSTOS_EINVAL);
  assert_int_equal(custos__store_audit_node_put(t, 0, 0, h, &err), CUSTOS_EINVAL);
  assert_int_equal(custos__store_audit_head_put(t, h, 3, &err), CUSTOS_EINVAL);
  assert_int_equal(custos__store_audit_checkpoint_add(t, 1, "", 0, &err), CUSTOS_EINVAL);
  db_end(t, log, true);
  custos__buf_free(&b);

  custos_audit_verify_report rep;
  assert_int_equal(db_verify(&f, &rep), 0);
  assert_int_equal(rep.checkpoints, 4);
  /* A checkpoint deleted from the middle leaves a gap: named, not skipped. */
  raw_sql(&f, "DELETE FROM audit_checkpoint WHERE seq = 1;");
  assert_int_equal(db_verify(&f, &rep), CUSTOS_EVERIFY);
  assert_non_null(strstr(rep.first_problem, "checkpoint 1: missing"));
  /* An edited entry, its leaf hash left alone. */
  raw_sql(&f,
          "DELETE FROM audit_checkpoint; UPDATE audit_entry SET entry = "
          "replace(entry, 'x.y', 'x.z') WHERE idx = 2;");
  assert_int_equal(db_verify(&f, &rep), CUSTOS_EVERIFY);
  assert_int_equal(rep.first_bad_entry, 2);
  dbfix_close(&f);
}

/* ---- tools/verify-proof --------------------------------------------------------------------- */

static char tool_path[PATH_MAX];

static bool find_tool(void) {
  if (tool_path[0]) return access(tool_path, X_OK) == 0;
  const char *env = getenv("CUSTOS_VERIFY_PROOF");
  if (env && *env) {
    snprintf(tool_path, sizeof tool_path, "%s", env);
    return access(tool_path, X_OK) == 0;
  }
  char exe[PATH_MAX - 64];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (n <= 0) return false;
  exe[n] = '\0';
  char *slash = strrchr(exe, '/');
  if (slash == NULL) return false;
  *slash = '\0';
  snprintf(tool_path, sizeof tool_path, "%s/../tools/verify-proof/verify-proof", exe);
  return access(tool_path, X_OK) == 0;
}

static void write_text(const char *name, const void *data, size_t len) {
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s/%s", tmpdir, name);
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(data, 1, len, f), len);
  fclose(f);
}

/* Runs verify-proof on the files of tmpdir; returns its exit status and
 * leaves its first output line in out. */
static int run_tool(const char *key, const char *cp, const char *entry, const char *proof,
                    char *out, size_t cap) {
  char k[PATH_MAX], c[PATH_MAX], e[PATH_MAX], p[PATH_MAX], o[PATH_MAX];
  snprintf(k, sizeof k, "@%s/%s", tmpdir, key);
  snprintf(c, sizeof c, "%s/%s", tmpdir, cp);
  snprintf(e, sizeof e, "%s/%s", tmpdir, entry);
  snprintf(p, sizeof p, "%s/%s", tmpdir, proof);
  snprintf(o, sizeof o, "%s/out.txt", tmpdir);
  char *argv[] = {tool_path, "--key", k, "--checkpoint", c, "--entry", e, "--proof", p, NULL};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, o, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid;
  assert_int_equal(posix_spawn(&pid, tool_path, &fa, NULL, argv, environ), 0);
  posix_spawn_file_actions_destroy(&fa);
  int status = 0;
  assert_int_equal(waitpid(pid, &status, 0), pid);
  assert_true(WIFEXITED(status));
  FILE *f = fopen(o, "r");
  assert_non_null(f);
  if (fgets(out, (int)cap, f) == NULL) out[0] = '\0';
  fclose(f);
  return WEXITSTATUS(status);
}

static void test_verify_proof_tool(void **state) {
  (void)state;
  if (!find_tool()) {
    print_message("verify-proof not built; skipped (set CUSTOS_VERIFY_PROOF)\n");
    skip();
  }
  make_tmpdir();
  fixture f;
  fixture_open(&f, 37, 0);
  custos_err err;
  custos_buf note, entry;
  custos__buf_init(&note, CUSTOS_AUDIT_NOTE_MAX);
  custos__buf_init(&entry, CUSTOS_AUDIT_ENTRY_MAX);
  bool fresh;
  assert_int_equal(custos__audit_log_checkpoint(f.log, &note, &fresh, &err), 0);
  char vkey[CUSTOS_AUDIT_VERIFIER_KEY_MAX], out[512], file[CUSTOS_AUDIT_PROOF_FILE_MAX];
  assert_int_equal(custos_audit_verifier_format(&f.v, vkey, sizeof vkey, &err), 0);
  write_text("key", vkey, strlen(vkey));
  write_text("cp", note.data, note.len);
  size_t len;
  /* Every entry of the log, as an auditor would check it. */
  for (uint64_t i = 0; i < f.n; i++) {
    custos_audit_inclusion_proof p;
    assert_int_equal(custos__audit_log_prove(f.log, i, 37, &p, &err), 0);
    assert_int_equal(custos_audit_proof_encode(&p, file, sizeof file, &len, &err), 0);
    write_text("proof", file, len);
    assert_int_equal(f.st.read_entry(f.st.ctx, i, &entry, &err), 0);
    write_text("entry", entry.data, entry.len);
    int rc = run_tool("key", "cp", "entry", "proof", out, sizeof out);
    if (rc != 0) fail_msg("entry %llu: exit %d: %s", (unsigned long long)i, rc, out);
    assert_memory_equal(out, "OK", 2);
  }
  /* Entry 36 (the last) is in the files now.  Tampered inputs, each refused. */
  custos_audit_inclusion_proof p;
  assert_int_equal(custos__audit_log_prove(f.log, 20, 37, &p, &err), 0);
  assert_int_equal(custos_audit_proof_encode(&p, file, sizeof file, &len, &err), 0);
  write_text("proof", file, len);
  assert_int_equal(f.st.read_entry(f.st.ctx, 20, &entry, &err), 0);
  write_text("entry", entry.data, entry.len);
  assert_int_equal(run_tool("key", "cp", "entry", "proof", out, sizeof out), 0);

  /* The entry altered (same length, one character). */
  char *alt = strstr(entry.data, "\"actor\":\"") + 9;
  char saved = *alt;
  *alt = saved == 'x' ? 'y' : 'x';
  write_text("entry.bad", entry.data, entry.len);
  *alt = saved;
  assert_int_equal(run_tool("key", "cp", "entry.bad", "proof", out, sizeof out), 1);
  assert_non_null(strstr(out, "FAILED"));
  /* The entry with a newline added: malformed, with a hint. */
  write_text("entry.nl", entry.data, entry.len);
  char nlpath[PATH_MAX];
  snprintf(nlpath, sizeof nlpath, "%s/entry.nl", tmpdir);
  FILE *fp = fopen(nlpath, "ab");
  fputc('\n', fp);
  fclose(fp);
  assert_int_equal(run_tool("key", "cp", "entry.nl", "proof", out, sizeof out), 2);
  assert_non_null(strstr(out, "newline"));
  /* Another entry with this entry's proof. */
  custos_buf other;
  custos__buf_init(&other, CUSTOS_AUDIT_ENTRY_MAX);
  assert_int_equal(f.st.read_entry(f.st.ctx, 21, &other, &err), 0);
  write_text("entry.other", other.data, other.len);
  assert_int_equal(run_tool("key", "cp", "entry.other", "proof", out, sizeof out), 1);
  custos__buf_free(&other);
  /* A proof hash altered. */
  custos_audit_inclusion_proof q = p;
  q.hashes[2].b[7] ^= 4;
  assert_int_equal(custos_audit_proof_encode(&q, file, sizeof file, &len, &err), 0);
  write_text("proof.bad", file, len);
  assert_int_equal(run_tool("key", "cp", "entry", "proof.bad", out, sizeof out), 1);
  /* A proof hash dropped. */
  q = p;
  q.n--;
  assert_int_equal(custos_audit_proof_encode(&q, file, sizeof file, &len, &err), 0);
  write_text("proof.short", file, len);
  assert_int_equal(run_tool("key", "cp", "entry", "proof.short", out, sizeof out), 1);
  /* The proof's tree size not the checkpoint's. */
  q = p;
  q.tree_size = 36;
  assert_int_equal(custos_audit_proof_encode(&q, file, sizeof file, &len, &err), 0);
  write_text("proof.size", file, len);
  assert_int_equal(run_tool("key", "cp", "entry", "proof.size", out, sizeof out), 1);
  /* The proof's leaf index not the entry's seq. */
  q = p;
  q.leaf_index = 21;
  assert_int_equal(custos_audit_proof_encode(&q, file, sizeof file, &len, &err), 0);
  write_text("proof.index", file, len);
  assert_int_equal(run_tool("key", "cp", "entry", "proof.index", out, sizeof out), 1);
  /* Malformed proof files. */
  write_text("proof.junk", "{\"format\":\"custos-inclusion-proof/v1\"", 38);
  assert_int_equal(run_tool("key", "cp", "entry", "proof.junk", out, sizeof out), 2);
  write_text("proof.upper", "{}", 2);
  assert_int_equal(run_tool("key", "cp", "entry", "proof.upper", out, sizeof out), 2);
  /* The checkpoint: altered, signed by another key, or a key that is not the log's. */
  custos_buf bad;
  custos__buf_init(&bad, CUSTOS_AUDIT_NOTE_MAX);
  custos__buf_append(&bad, note.data, note.len);
  char *sz = strstr(bad.data, "\n37\n");
  sz[2] = '6'; /* "36" */
  write_text("cp.bad", bad.data, bad.len);
  assert_int_equal(run_tool("key", "cp.bad", "entry", "proof", out, sizeof out), 1);
  custos_audit_signer *mallory = NULL;
  assert_int_equal(custos__audit_signer_generate(ORIGIN, &mallory, &err), 0);
  custos_audit_hash root;
  assert_int_equal(custos__audit_log_head(f.log, NULL, &root, &err), 0);
  sign_cp(mallory, ORIGIN, 37, &root, &bad);
  write_text("cp.mallory", bad.data, bad.len);
  assert_int_equal(run_tool("key", "cp.mallory", "entry", "proof", out, sizeof out), 1);
  assert_non_null(strstr(out, "not signed"));
  custos_audit_verifier mv;
  custos__audit_signer_verifier(mallory, &mv);
  assert_int_equal(custos_audit_verifier_format(&mv, vkey, sizeof vkey, &err), 0);
  write_text("key.mallory", vkey, strlen(vkey));
  assert_int_equal(run_tool("key.mallory", "cp", "entry", "proof", out, sizeof out), 1);
  write_text("key.junk", "not a key", 9);
  assert_int_equal(run_tool("key.junk", "cp", "entry", "proof", out, sizeof out), 2);
  assert_int_equal(run_tool("key", "missing", "entry", "proof", out, sizeof out), 2);
  custos__audit_signer_free(mallory);
  custos__buf_free(&bad);

  /* A log of one entry: the empty proof. */
  fixture g;
  fixture_open(&g, 1, 1);
  custos_audit_checkpoint cp1;
  assert_int_equal(custos__audit_log_latest_checkpoint(g.log, &note, &cp1, &err), 0);
  assert_int_equal(cp1.size, 1);
  assert_int_equal(custos_audit_verifier_format(&g.v, vkey, sizeof vkey, &err), 0);
  write_text("key1", vkey, strlen(vkey));
  write_text("cp1", note.data, note.len);
  assert_int_equal(custos__audit_log_prove(g.log, 0, 1, &p, &err), 0);
  assert_int_equal(p.n, 0);
  assert_int_equal(custos_audit_proof_encode(&p, file, sizeof file, &len, &err), 0);
  write_text("proof1", file, len);
  assert_int_equal(g.st.read_entry(g.st.ctx, 0, &entry, &err), 0);
  write_text("entry1", entry.data, entry.len);
  assert_int_equal(run_tool("key1", "cp1", "entry1", "proof1", out, sizeof out), 0);
  fixture_close(&g);

  custos__buf_free(&note);
  custos__buf_free(&entry);
  fixture_close(&f);
  rm_tmpdir();
}

int main(int argc, char **argv) {
  if (sodium_init() < 0) return 1;
  const struct CMUnitTest tool_tests[] = {
      cmocka_unit_test_teardown(test_verify_proof_tool, teardown_tmpdir)};
  if (argc == 3 && strcmp(argv[1], "--verify-proof") == 0) {
    snprintf(tool_path, sizeof tool_path, "%s", argv[2]);
    return cmocka_run_group_tests_name("verify-proof", tool_tests, NULL, NULL);
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_known_roots),
      cmocka_unit_test(test_range_vs_reference),
      cmocka_unit_test(test_proofs_vs_reference),
      cmocka_unit_test(test_vectors),
      cmocka_unit_test(test_entry_gov20),
      cmocka_unit_test(test_entry_noncanonical),
      cmocka_unit_test(test_entry_gov18),
      cmocka_unit_test(test_entry_mutations),
      cmocka_unit_test(test_time),
      cmocka_unit_test(test_codecs),
      cmocka_unit_test(test_note_reference_example),
      cmocka_unit_test(test_key_manglings),
      cmocka_unit_test_teardown(test_key_files, teardown_tmpdir),
      cmocka_unit_test(test_checkpoints),
      cmocka_unit_test(test_proof_file),
      cmocka_unit_test(test_log_append_and_prove),
      cmocka_unit_test(test_log_edited_entry),
      cmocka_unit_test(test_log_deleted_entry),
      cmocka_unit_test(test_log_swapped_entries),
      cmocka_unit_test(test_log_inserted_entry),
      cmocka_unit_test(test_log_truncated),
      cmocka_unit_test(test_log_foreign_checkpoint),
      cmocka_unit_test(test_log_rewritten_history),
      cmocka_unit_test(test_log_stored_hashes),
      cmocka_unit_test(test_log_errors),
      cmocka_unit_test(test_alloc_failures),
      cmocka_unit_test_teardown(test_dbstore_log, teardown_tmpdir),
      cmocka_unit_test_teardown(test_dbstore_same_transaction, teardown_tmpdir),
      cmocka_unit_test_teardown(test_dbstore_append_failure, teardown_tmpdir),
      cmocka_unit_test_teardown(test_dbstore_rules, teardown_tmpdir),
      cmocka_unit_test_teardown(test_verify_proof_tool, teardown_tmpdir),
  };
  return cmocka_run_group_tests_name("audit", tests, NULL, NULL);
}
