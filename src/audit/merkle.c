/*
 * The Merkle tree of RFC 6962 / RFC 9162: hashing, the compact range (the
 * incremental tree), proof generation and proof verification.
 *
 * Hashing (RFC 9162 section 2.1.1), SHA-256 from libsodium:
 *
 *   MTH({})      = SHA-256()
 *   MTH({d})     = SHA-256(0x00 || d)
 *   MTH(D[0:n])  = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n])),
 *                  k = the largest power of two smaller than n
 *
 * A "perfect subtree" (level, index) covers leaves [index << level,
 * (index + 1) << level); the hash of any subtree [a, b) that the recursion
 * above produces is the right-to-left fold of the perfect subtrees that b - a
 * splits into from a, one per set bit, largest first.  Proof generation is the
 * RFC's recursion (PATH and SUBPROOF) with every MTH computed that way, so a
 * proof costs O(log n) subtree reads when the store keeps perfect subtrees.
 *
 * Verification follows RFC 9162 sections 2.1.3.2 and 2.1.4.2 literally, and
 * for subtrees the procedure of draft-ietf-plants-merkle-tree-certs (the
 * paths to the subtree's first and last leaf and to the tree's last leaf,
 * fn/sn/tn, consumed bit by bit from the bottom).  The verifiers work on byte
 * strings (struct hv below) so that they treat the test vectors' malformed
 * hashes exactly as the reference implementation does.
 */
#include <assert.h>
#include <string.h>

#include <sodium.h>

#include "audit/audit.h"

#define MOD "audit"

/* ---- hashing --------------------------------------------------------------- */

void custos_audit_leaf_hash(const void *data, size_t len, custos_audit_hash *out) {
  static const uint8_t prefix = 0x00;
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  crypto_hash_sha256_update(&st, &prefix, 1);
  if (len) crypto_hash_sha256_update(&st, data, len);
  crypto_hash_sha256_final(&st, out->b);
}

/* SHA-256(0x01 || a || b) over byte strings of any length. */
static void node_hash_bytes(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
                            uint8_t out[32]) {
  static const uint8_t prefix = 0x01;
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  crypto_hash_sha256_update(&st, &prefix, 1);
  if (alen) crypto_hash_sha256_update(&st, a, alen);
  if (blen) crypto_hash_sha256_update(&st, b, blen);
  crypto_hash_sha256_final(&st, out);
}

void custos_audit_node_hash(const custos_audit_hash *left, const custos_audit_hash *right,
                            custos_audit_hash *out) {
  uint8_t tmp[32];
  node_hash_bytes(left->b, 32, right->b, 32, tmp);
  memcpy(out->b, tmp, 32);
}

void custos_audit_empty_root(custos_audit_hash *out) {
  crypto_hash_sha256(out->b, (const unsigned char *)"", 0);
}

/* ---- bit helpers ------------------------------------------------------------ */

static unsigned popcount64(uint64_t x) {
  return (unsigned)__builtin_popcountll(x);
}

/* Largest power of two strictly smaller than n; n >= 2. */
static uint64_t split_point(uint64_t n) {
  uint64_t k = (uint64_t)1 << (63 - __builtin_clzll(n - 1));
  return k;
}

/* ---- the compact range ------------------------------------------------------ */

unsigned custos__audit_range_count(uint64_t size) {
  return popcount64(size);
}

void custos__audit_range_init(custos_audit_range *r) {
  memset(r, 0, sizeof *r);
}

int custos__audit_range_append(custos_audit_range *r, const custos_audit_hash *leaf,
                               custos_audit_node *done, size_t *n_done) {
  if (n_done) *n_done = 0;
  if (r->size == UINT64_MAX) return CUSTOS_ETOOBIG;
  uint64_t index = r->size;
  unsigned count = popcount64(r->size);
  r->h[count++] = *leaf;
  size_t nd = 0;
  if (done) done[nd++] = (custos_audit_node){0, index, *leaf};
  /* Merge while the bit being carried is set, as in binary increment. */
  unsigned level = 0;
  for (uint64_t s = r->size; s & 1; s >>= 1) {
    custos_audit_node_hash(&r->h[count - 2], &r->h[count - 1], &r->h[count - 2]);
    count--;
    level++;
    if (done) done[nd++] = (custos_audit_node){level, index >> level, r->h[count - 1]};
  }
  r->size++;
  assert(count == popcount64(r->size));
  if (n_done) *n_done = nd;
  return CUSTOS_OK;
}

void custos__audit_range_root(const custos_audit_range *r, custos_audit_hash *out) {
  unsigned count = popcount64(r->size);
  if (count == 0) {
    custos_audit_empty_root(out);
    return;
  }
  custos_audit_hash acc = r->h[count - 1];
  for (unsigned i = count - 1; i-- > 0;) custos_audit_node_hash(&r->h[i], &acc, &acc);
  *out = acc;
}

size_t custos__audit_range_encode(const custos_audit_range *r, uint8_t *out) {
  for (int i = 0; i < 8; i++) out[i] = (uint8_t)(r->size >> (56 - 8 * i));
  size_t n = popcount64(r->size);
  memcpy(out + 8, r->h, n * CUSTOS_AUDIT_HASH_SIZE);
  return 8 + n * CUSTOS_AUDIT_HASH_SIZE;
}

int custos__audit_range_decode(const uint8_t *blob, size_t len, custos_audit_range *out,
                               custos_err *err) {
  custos__audit_range_init(out);
  if (len < 8) return custos__err(err, CUSTOS_ECORRUPT, MOD, "log head: %zu bytes", len);
  uint64_t size = 0;
  for (int i = 0; i < 8; i++) size = size << 8 | blob[i];
  size_t n = popcount64(size);
  if (len != 8 + n * CUSTOS_AUDIT_HASH_SIZE) {
    return custos__err(err, CUSTOS_ECORRUPT, MOD, "log head: %zu bytes for a tree of %llu", len,
                       (unsigned long long)size);
  }
  out->size = size;
  memcpy(out->h, blob + 8, n * CUSTOS_AUDIT_HASH_SIZE);
  return CUSTOS_OK;
}

/* ---- reading hashes from a source ------------------------------------------ */

static int perfect_hash(const custos_audit_hash_source *src, unsigned level, uint64_t index,
                        custos_audit_hash *out, custos_err *err) {
  if (level == 0) return src->leaf(src->ctx, index, out, err);
  if (src->node) return src->node(src->ctx, level, index, out, err);
  custos_audit_hash l, r;
  int rc = perfect_hash(src, level - 1, index << 1, &l, err);
  if (rc == CUSTOS_OK) rc = perfect_hash(src, level - 1, (index << 1) | 1, &r, err);
  if (rc == CUSTOS_OK) custos_audit_node_hash(&l, &r, out);
  return rc;
}

bool custos__audit_subtree_valid(uint64_t start, uint64_t end) {
  if (start >= end) return false;
  if (start == 0) return true;
  uint64_t lowbit = start & (~start + 1);
  return end - start <= lowbit;
}

int custos__audit_range_hash(const custos_audit_hash_source *src, uint64_t start, uint64_t end,
                             custos_audit_hash *out, custos_err *err) {
  if (!custos__audit_subtree_valid(start, end)) {
    return custos__err(err, CUSTOS_EINVAL, MOD, "[%llu, %llu) is not a subtree",
                       (unsigned long long)start, (unsigned long long)end);
  }
  custos_audit_hash piece[64];
  unsigned n = 0;
  uint64_t pos = start, len = end - start;
  for (int j = 63; j >= 0; j--) {
    uint64_t w = (uint64_t)1 << j;
    if (!(len & w)) continue;
    int rc = perfect_hash(src, (unsigned)j, pos >> j, &piece[n++], err);
    if (rc != CUSTOS_OK) return rc;
    pos += w;
  }
  custos_audit_hash acc = piece[n - 1];
  for (unsigned i = n - 1; i-- > 0;) custos_audit_node_hash(&piece[i], &acc, &acc);
  *out = acc;
  return CUSTOS_OK;
}

int custos__audit_root_at(const custos_audit_hash_source *src, uint64_t size,
                          custos_audit_hash *out, custos_err *err) {
  if (size == 0) {
    custos_audit_empty_root(out);
    return CUSTOS_OK;
  }
  return custos__audit_range_hash(src, 0, size, out, err);
}

/* ---- proof generation ------------------------------------------------------- */

/* PATH(m, D[a:b]) of RFC 9162 2.1.3.1, appended to proof[*n]. */
static int path(const custos_audit_hash_source *src, uint64_t m, uint64_t a, uint64_t b,
                custos_audit_hash *proof, size_t *n, size_t max, custos_err *err) {
  if (b - a <= 1) return CUSTOS_OK;
  uint64_t k = split_point(b - a);
  int rc;
  custos_audit_hash h;
  if (m < a + k) {
    rc = path(src, m, a, a + k, proof, n, max, err);
    if (rc == CUSTOS_OK) rc = custos__audit_range_hash(src, a + k, b, &h, err);
  } else {
    rc = path(src, m, a + k, b, proof, n, max, err);
    if (rc == CUSTOS_OK) rc = custos__audit_range_hash(src, a, a + k, &h, err);
  }
  if (rc != CUSTOS_OK) return rc;
  assert(*n < max);
  proof[(*n)++] = h;
  return CUSTOS_OK;
}

int custos__audit_prove_inclusion(const custos_audit_hash_source *src, uint64_t index,
                                  uint64_t size, custos_audit_hash *proof, size_t *n,
                                  custos_err *err) {
  *n = 0;
  if (index >= size) {
    return custos__err(err, CUSTOS_EINVAL, MOD, "entry %llu is not in a tree of %llu entries",
                       (unsigned long long)index, (unsigned long long)size);
  }
  return path(src, index, 0, size, proof, n, CUSTOS_AUDIT_PROOF_MAX, err);
}

/* SUBPROOF(m, D[a:b], b) of RFC 9162 2.1.4.1, m an absolute size a < m <= b. */
static int subproof(const custos_audit_hash_source *src, uint64_t m, uint64_t a, uint64_t b,
                    bool complete, custos_audit_hash *proof, size_t *n, size_t max,
                    custos_err *err) {
  int rc;
  custos_audit_hash h;
  if (m == b) {
    if (complete) return CUSTOS_OK;
    rc = custos__audit_range_hash(src, a, b, &h, err);
  } else {
    uint64_t k = split_point(b - a);
    if (m <= a + k) {
      rc = subproof(src, m, a, a + k, complete, proof, n, max, err);
      if (rc == CUSTOS_OK) rc = custos__audit_range_hash(src, a + k, b, &h, err);
    } else {
      rc = subproof(src, m, a + k, b, false, proof, n, max, err);
      if (rc == CUSTOS_OK) rc = custos__audit_range_hash(src, a, a + k, &h, err);
    }
  }
  if (rc != CUSTOS_OK) return rc;
  assert(*n < max);
  proof[(*n)++] = h;
  return CUSTOS_OK;
}

int custos__audit_prove_consistency(const custos_audit_hash_source *src, uint64_t size1,
                                    uint64_t size2, custos_audit_hash *proof, size_t *n,
                                    custos_err *err) {
  *n = 0;
  if (size1 == 0 || size1 > size2) {
    return custos__err(err, CUSTOS_EINVAL, MOD,
                       "no consistency proof from size %llu to size %llu (need 0 < size1 <= size2)",
                       (unsigned long long)size1, (unsigned long long)size2);
  }
  return subproof(src, size1, 0, size2, true, proof, n, CUSTOS_AUDIT_CONSISTENCY_MAX, err);
}

/* ---- verification ----------------------------------------------------------- */

/* A hash value as the verifiers carry it: computed ones are 32 bytes, inputs
 * keep the length they came with. */
typedef struct hv {
  uint8_t b[32];
  size_t len;
} hv;

static bool hv_from(hv *h, custos_audit_bytes in) {
  if (in.len > 32) return false;
  h->len = in.len;
  if (in.len) memcpy(h->b, in.p, in.len);
  return true;
}

static bool hv_equal(const hv *h, custos_audit_bytes x) {
  return h->len == x.len && (x.len == 0 || sodium_memcmp(h->b, x.p, x.len) == 0);
}

static bool bytes_equal(custos_audit_bytes a, custos_audit_bytes b) {
  return a.len == b.len && (a.len == 0 || sodium_memcmp(a.p, b.p, a.len) == 0);
}

/* h = HASH(0x01 || l || r), where one side is h itself. */
static void hv_node(hv *h, const uint8_t *l, size_t llen, const uint8_t *r, size_t rlen) {
  uint8_t out[32];
  node_hash_bytes(l, llen, r, rlen, out);
  memcpy(h->b, out, 32);
  h->len = 32;
}

/* fail(err, fmt, ...): CUSTOS_EVERIFY (a proof that does not verify) and why. */
#define fail(err, ...) custos__err((err), CUSTOS_EVERIFY, MOD, __VA_ARGS__)

#define U(x) ((unsigned long long)(x))

/* Every proof element must be a 32-byte hash. */
static int check_elements(const custos_audit_bytes *proof, size_t n, size_t max, custos_err *err) {
  if (n > max) return fail(err, "proof of %llu hashes is longer than %llu", U(n), U(max));
  for (size_t i = 0; i < n; i++) {
    if (proof[i].len != 32) {
      return fail(err, "proof hash %llu has %llu bytes, not 32", U(i), U(proof[i].len));
    }
  }
  return CUSTOS_OK;
}

int custos__audit_verify_inclusion_bytes(uint64_t index, uint64_t size, custos_audit_bytes leaf,
                                         const custos_audit_bytes *proof, size_t n,
                                         custos_audit_bytes root, custos_err *err) {
  if (index >= size) {
    return fail(err, "leaf index %llu is not below tree size %llu", U(index), U(size));
  }
  int rc = check_elements(proof, n, CUSTOS_AUDIT_PROOF_MAX, err);
  if (rc != CUSTOS_OK) return rc;
  hv r;
  if (leaf.len != 32 || !hv_from(&r, leaf)) {
    return fail(err, "leaf hash has %llu bytes, not 32", U(leaf.len));
  }
  uint64_t fn = index, sn = size - 1;
  for (size_t i = 0; i < n; i++) {
    if (sn == 0) return fail(err, "proof has %llu hashes, more than the tree needs", U(n));
    if ((fn & 1) || fn == sn) {
      hv_node(&r, proof[i].p, 32, r.b, r.len);
      while (!(fn & 1) && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      hv_node(&r, r.b, r.len, proof[i].p, 32);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return fail(err, "proof has %llu hashes, fewer than the tree needs", U(n));
  if (!hv_equal(&r, root)) {
    return fail(err, "proof leads to another root: leaf %llu is not in this tree of size %llu",
                U(index), U(size));
  }
  return CUSTOS_OK;
}

int custos__audit_verify_consistency_bytes(uint64_t size1, uint64_t size2,
                                           const custos_audit_bytes *proof, size_t n,
                                           custos_audit_bytes root1, custos_audit_bytes root2,
                                           custos_err *err) {
  if (size1 > size2) return fail(err, "size1 %llu is larger than size2 %llu", U(size1), U(size2));
  if (size1 == 0) {
    return fail(err, "no consistency proof from an empty tree (sizes %llu, %llu)", U(size1),
                U(size2));
  }
  if (size1 == size2) {
    if (n != 0) return fail(err, "equal sizes need an empty proof, got %llu hashes", U(n));
    if (!bytes_equal(root1, root2)) {
      return fail(err, "equal sizes %llu but different roots", U(size1));
    }
    return CUSTOS_OK;
  }
  if (n == 0) return fail(err, "empty proof for sizes %llu and %llu", U(size1), U(size2));
  int rc = check_elements(proof, n, CUSTOS_AUDIT_CONSISTENCY_MAX, err);
  if (rc != CUSTOS_OK) return rc;
  if (root1.len > 32 || root2.len > 32) return fail(err, "root has more than 32 bytes");

  /* Step 2: a size1 that is a power of two starts from root1 itself. */
  size_t i = 0;
  hv fr, sr;
  if ((size1 & (size1 - 1)) == 0) {
    hv_from(&fr, root1);
  } else {
    hv_from(&fr, proof[i++]);
  }
  sr = fr;
  uint64_t fn = size1 - 1, sn = size2 - 1;
  while (fn & 1) {
    fn >>= 1;
    sn >>= 1;
  }
  for (; i < n; i++) {
    const uint8_t *c = proof[i].p;
    if (sn == 0) return fail(err, "proof has %llu hashes, more than the trees need", U(n));
    if ((fn & 1) || fn == sn) {
      hv_node(&fr, c, 32, fr.b, fr.len);
      hv_node(&sr, c, 32, sr.b, sr.len);
      while (!(fn & 1) && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      hv_node(&sr, sr.b, sr.len, c, 32);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return fail(err, "proof has %llu hashes, fewer than the trees need", U(n));
  if (!hv_equal(&fr, root1)) {
    return fail(err, "proof does not lead to the root of size %llu", U(size1));
  }
  if (!hv_equal(&sr, root2)) {
    return fail(err, "proof does not lead to the root of size %llu", U(size2));
  }
  return CUSTOS_OK;
}

int custos__audit_verify_subtree_consistency_bytes(uint64_t start, uint64_t end, uint64_t size,
                                                   const custos_audit_bytes *proof, size_t n,
                                                   custos_audit_bytes node, custos_audit_bytes root,
                                                   custos_err *err) {
  if (start == end) {
    /* The empty subtree: its hash must be that of the empty tree. */
    custos_audit_hash empty;
    custos_audit_empty_root(&empty);
    if (end > size)
      return fail(err, "empty subtree at %llu lies past tree size %llu", U(end), U(size));
    if (n != 0) return fail(err, "an empty subtree needs an empty proof, got %llu hashes", U(n));
    if (!bytes_equal(node, (custos_audit_bytes){empty.b, 32})) {
      return fail(err, "empty subtree at %llu: hash is not the empty-tree hash", U(start));
    }
    return CUSTOS_OK;
  }
  if (!custos__audit_subtree_valid(start, end)) {
    return fail(err, "[%llu, %llu) is not a subtree", U(start), U(end));
  }
  if (end > size) return fail(err, "subtree ends at %llu, past tree size %llu", U(end), U(size));
  int rc = check_elements(proof, n, CUSTOS_AUDIT_CONSISTENCY_MAX, err);
  if (rc != CUSTOS_OK) return rc;
  if (node.len > 32 || root.len > 32) return fail(err, "hash has more than 32 bytes");

  uint64_t fn = start, sn = end - 1, tn = size - 1;
  if (sn == tn) {
    /* The subtree's right edge is the tree's: start at the subtree's top. */
    while (fn != sn) {
      fn >>= 1;
      sn >>= 1;
      tn >>= 1;
    }
  } else {
    /* Start at the highest perfect subtree ending at the subtree's last leaf. */
    while (fn != sn && (sn & 1)) {
      fn >>= 1;
      sn >>= 1;
      tn >>= 1;
    }
  }
  size_t i = 0;
  hv fr, sr;
  if (fn == sn) {
    hv_from(&fr, node); /* the subtree itself is a node of the tree */
  } else {
    if (n == 0) return fail(err, "empty proof for subtree [%llu, %llu)", U(start), U(end));
    hv_from(&fr, proof[i++]);
  }
  sr = fr;
  for (; i < n; i++) {
    const uint8_t *p = proof[i].p;
    if (tn == 0) return fail(err, "proof has %llu hashes, more than the tree needs", U(n));
    if ((sn & 1) || sn == tn) {
      if (fn < sn) hv_node(&fr, p, 32, fr.b, fr.len);
      hv_node(&sr, p, 32, sr.b, sr.len);
      while (!(sn & 1)) { /* sn != 0 here: sn == tn and tn != 0 */
        fn >>= 1;
        sn >>= 1;
        tn >>= 1;
      }
    } else {
      hv_node(&sr, sr.b, sr.len, p, 32);
    }
    fn >>= 1;
    sn >>= 1;
    tn >>= 1;
  }
  if (tn != 0) return fail(err, "proof has %llu hashes, fewer than the tree needs", U(n));
  if (!hv_equal(&fr, node)) {
    return fail(err, "proof does not lead to the hash of subtree [%llu, %llu)", U(start), U(end));
  }
  if (!hv_equal(&sr, root)) {
    return fail(err, "proof does not lead to the root of size %llu", U(size));
  }
  return CUSTOS_OK;
}

int custos__audit_verify_subtree_inclusion_bytes(uint64_t index, uint64_t start, uint64_t end,
                                                 custos_audit_bytes leaf,
                                                 const custos_audit_bytes *proof, size_t n,
                                                 custos_audit_bytes root, custos_err *err) {
  if (!custos__audit_subtree_valid(start, end)) {
    return fail(err, "[%llu, %llu) is not a subtree", U(start), U(end));
  }
  if (index < start || index >= end) {
    return fail(err, "leaf %llu is outside the subtree starting at %llu", U(index), U(start));
  }
  /* A subtree is a tree of its own: re-root the leaf's index. */
  return custos__audit_verify_inclusion_bytes(index - start, end - start, leaf, proof, n, root,
                                              err);
}

/* ---- the public verifiers --------------------------------------------------- */

static custos_audit_bytes B(const custos_audit_hash *h) {
  return (custos_audit_bytes){h->b, CUSTOS_AUDIT_HASH_SIZE};
}

int custos_audit_verify_inclusion(uint64_t index, uint64_t size, const custos_audit_hash *leaf,
                                  const custos_audit_hash *proof, size_t n,
                                  const custos_audit_hash *root, custos_err *err) {
  if (leaf == NULL || root == NULL || (n > 0 && proof == NULL)) {
    return custos__err(err, CUSTOS_EINVAL, MOD, "missing leaf, root or proof");
  }
  if (n > CUSTOS_AUDIT_PROOF_MAX) {
    return fail(err, "proof of %llu hashes is longer than %llu", U(n), U(CUSTOS_AUDIT_PROOF_MAX));
  }
  custos_audit_bytes p[CUSTOS_AUDIT_PROOF_MAX];
  for (size_t i = 0; i < n; i++) p[i] = B(&proof[i]);
  return custos__audit_verify_inclusion_bytes(index, size, B(leaf), p, n, B(root), err);
}

int custos_audit_verify_consistency(uint64_t size1, uint64_t size2, const custos_audit_hash *proof,
                                    size_t n, const custos_audit_hash *root1,
                                    const custos_audit_hash *root2, custos_err *err) {
  if (root1 == NULL || root2 == NULL || (n > 0 && proof == NULL)) {
    return custos__err(err, CUSTOS_EINVAL, MOD, "missing root or proof");
  }
  if (n > CUSTOS_AUDIT_CONSISTENCY_MAX) {
    return fail(err, "proof of %llu hashes is longer than %llu", U(n),
                U(CUSTOS_AUDIT_CONSISTENCY_MAX));
  }
  custos_audit_bytes p[CUSTOS_AUDIT_CONSISTENCY_MAX];
  for (size_t i = 0; i < n; i++) p[i] = B(&proof[i]);
  return custos__audit_verify_consistency_bytes(size1, size2, p, n, B(root1), B(root2), err);
}
