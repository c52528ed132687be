/*
 * audit: the module's interface to the rest of libcustos — the incremental
 * Merkle tree, proof generation, signing keys, and the log object over an
 * abstract store.  The public half (entry format, verifiers, checkpoints) is
 * include/custos/audit.h.
 *
 * The tree is kept as its "compact range": the roots of the perfect subtrees
 * that a tree of n leaves splits into, one per set bit of n, largest (leftmost)
 * first.  Appending a leaf pushes it and merges equal-sized neighbours, like
 * incrementing a binary counter, so an append costs O(log n) hashes and the
 * root is the right-to-left fold of the range.  Every perfect subtree that an
 * append completes is handed to the store, which keeps them (2 hashes per
 * entry, amortised) so that any proof at any past size takes O(log n) reads.
 *
 * Proofs are generated from a custos_audit_hash_source: a leaf-hash callback
 * and an optional perfect-subtree callback (the store implements both; tests
 * and the reference use leaves only).
 *
 * The log object (custos__audit_log_*) owns no entries: it drives a
 * custos_audit_store, a table of function pointers that dbstore.c implements
 * on the custos database's open transaction (through store.h, so SQLite and
 * PostgreSQL alike) and memstore.c in memory.
 * The log keeps no state between calls that the store could contradict: each
 * append reads the head (the compact range) from the store and writes the new
 * one, so a rolled-back transaction leaves nothing stale behind.
 */
#ifndef CUSTOS_AUDIT_AUDIT_H
#define CUSTOS_AUDIT_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "custos/audit.h"
#include "util/util.h"

/* ---- the compact range ---------------------------------------------------- */

/* A perfect subtree: leaves [index << level, (index + 1) << level). */
typedef struct custos_audit_node {
  unsigned level;         /* height: 0 for a leaf */
  uint64_t index;         /* position among the subtrees of that height */
  custos_audit_hash hash; /* MTH of its leaves */
} custos_audit_node;

/* The roots of the perfect subtrees of a tree of `size` leaves. */
typedef struct custos_audit_range {
  uint64_t size;           /* leaves */
  custos_audit_hash h[64]; /* h[0..popcount(size)): largest subtree first */
} custos_audit_range;

/* Number of hashes a range of that size holds (popcount). */
unsigned custos__audit_range_count(uint64_t size);

/* Empty range. */
void custos__audit_range_init(custos_audit_range *r);

/* Appends a leaf hash.  The perfect subtrees this completes (the leaf itself,
 * then each merge; at most 64) go to done[0..*n_done) when done is non-NULL.
 * CUSTOS_ETOOBIG when the tree holds 2^64 - 1 leaves already. */
int custos__audit_range_append(custos_audit_range *r, const custos_audit_hash *leaf,
                               custos_audit_node *done, size_t *n_done);

/* Root of the tree the range describes (the empty-tree hash for size 0). */
void custos__audit_range_root(const custos_audit_range *r, custos_audit_hash *out);

/* The head as a store keeps it, one blob:
 *   offset  size                  meaning
 *   0       8                     tree size, big-endian
 *   8       32 * popcount(size)   the range's hashes, largest subtree first
 * CUSTOS_AUDIT_RANGE_BLOB_MAX bytes at most. */
#define CUSTOS_AUDIT_RANGE_BLOB_MAX (8 + 64 * CUSTOS_AUDIT_HASH_SIZE)
size_t custos__audit_range_encode(const custos_audit_range *r, uint8_t *out);
/* CUSTOS_ECORRUPT when len does not fit the size it states. */
int custos__audit_range_decode(const uint8_t *blob, size_t len, custos_audit_range *out,
                               custos_err *err);

/* ---- proofs ---------------------------------------------------------------- */

/* Where proof generation gets hashes from. */
typedef struct custos_audit_hash_source {
  void *ctx; /* passed to the callbacks */
  /* Leaf hash number `index`.  Required. */
  int (*leaf)(void *ctx, uint64_t index, custos_audit_hash *out, custos_err *err);
  /* Hash of the perfect subtree (level, index), level >= 1.  Optional: when
   * NULL, it is computed from the 2^level leaves below it. */
  int (*node)(void *ctx, unsigned level, uint64_t index, custos_audit_hash *out, custos_err *err);
} custos_audit_hash_source;

/* MTH of leaves [start, end), start < end, read from src in O(log n) perfect
 * subtrees. */
int custos__audit_range_hash(const custos_audit_hash_source *src, uint64_t start, uint64_t end,
                             custos_audit_hash *out, custos_err *err);

/* Root of the tree of the first `size` leaves (empty-tree hash for 0). */
int custos__audit_root_at(const custos_audit_hash_source *src, uint64_t size,
                          custos_audit_hash *out, custos_err *err);

/* Inclusion proof of leaf `index` in the tree of `size` leaves (RFC 9162
 * 2.1.3.1) into proof[0..*n), *n <= CUSTOS_AUDIT_PROOF_MAX. */
int custos__audit_prove_inclusion(const custos_audit_hash_source *src, uint64_t index,
                                  uint64_t size, custos_audit_hash *proof, size_t *n,
                                  custos_err *err);

/* Consistency proof between sizes 0 < size1 <= size2 (RFC 9162 2.1.4.1) into
 * proof[0..*n), *n <= CUSTOS_AUDIT_CONSISTENCY_MAX. */
int custos__audit_prove_consistency(const custos_audit_hash_source *src, uint64_t size1,
                                    uint64_t size2, custos_audit_hash *proof, size_t *n,
                                    custos_err *err);

/*
 * The verifiers on byte strings, as the test vectors state them: a root or
 * leaf hash may have any length up to 32 (a hash of another length never
 * equals a computed one, but two such inputs may equal each other where a
 * proof just compares them); proof elements must be 32 bytes.  The public
 * custos_audit_verify_* are these with 32-byte inputs.
 */
typedef struct custos_audit_bytes {
  const uint8_t *p; /* bytes (may be NULL when len is 0) */
  size_t len;       /* length */
} custos_audit_bytes;

int custos__audit_verify_inclusion_bytes(uint64_t index, uint64_t size, custos_audit_bytes leaf,
                                         const custos_audit_bytes *proof, size_t n,
                                         custos_audit_bytes root, custos_err *err);
int custos__audit_verify_consistency_bytes(uint64_t size1, uint64_t size2,
                                           const custos_audit_bytes *proof, size_t n,
                                           custos_audit_bytes root1, custos_audit_bytes root2,
                                           custos_err *err);

/*
 * Subtrees (draft-ietf-plants-merkle-tree-certs, the "subtree" vectors of
 * transparency-dev/merkle): [start, end) is valid when start < end and either
 * start == 0 or end - start <= the largest power of two dividing start (no
 * ragged left edge).
 */
bool custos__audit_subtree_valid(uint64_t start, uint64_t end);

/* Inclusion of leaf `index` in the subtree [start, end) whose hash is `root`. */
int custos__audit_verify_subtree_inclusion_bytes(uint64_t index, uint64_t start, uint64_t end,
                                                 custos_audit_bytes leaf,
                                                 const custos_audit_bytes *proof, size_t n,
                                                 custos_audit_bytes root, custos_err *err);

/* Consistency of the subtree [start, end) with hash `node` and the tree of
 * `size` leaves with root `root`.  An empty subtree (start == end <= size) is
 * consistent with any tree when its hash is the empty-tree hash and the proof
 * is empty. */
int custos__audit_verify_subtree_consistency_bytes(uint64_t start, uint64_t end, uint64_t size,
                                                   const custos_audit_bytes *proof, size_t n,
                                                   custos_audit_bytes node, custos_audit_bytes root,
                                                   custos_err *err);

/* ---- encodings shared by the module --------------------------------------- */

/* Standard base64 with padding (RFC 4648 section 4). */
size_t custos__audit_b64_len(size_t n); /* encoded length, without NUL */
void custos__audit_b64_encode(const uint8_t *in, size_t n, char *out); /* NUL-terminates */
/* Strict decoding: padding required, no whitespace, unused bits zero.
 * Returns false when malformed or longer than cap. */
bool custos__audit_b64_decode(const char *in, size_t n, uint8_t *out, size_t cap, size_t *len);

void custos__audit_hex_encode(const uint8_t *in, size_t n, char *out); /* lowercase, NUL */
/* Exactly 2 * n lowercase hex digits into out[0..n). */
bool custos__audit_hex_decode(const char *in, size_t len, uint8_t *out, size_t n);

/* ---- signing keys -------------------------------------------------------- */

/* An Ed25519 signing key with its name; secret bytes in guarded memory. */
typedef struct custos_audit_signer custos_audit_signer;

#define CUSTOS_AUDIT_SEAL_KEY_SIZE 32                 /* bytes of the key that seals a key file */
#define CUSTOS_AUDIT_SEAL_ENV "CUSTOS_AUDIT_SEAL_KEY" /* environment variable, 64 hex digits */

/* Generates a key named `name` (a key name: printable ASCII, no space or '+').
 * *out is owned by the caller: custos__audit_signer_free. */
int custos__audit_signer_generate(const char *name, custos_audit_signer **out, custos_err *err);

/* Parses "PRIVATE+KEY+<name>+<hex key hash>+<base64(0x01 || 32-byte seed)>"
 * (the golang.org/x/mod/sumdb/note signer key format). */
int custos__audit_signer_parse(const char *text, size_t len, custos_audit_signer **out,
                               custos_err *err);

/* Writes the signer key string (secret!) into a buffer from sodium_malloc;
 * the caller frees it with sodium_free. */
int custos__audit_signer_format(const custos_audit_signer *s, char **out, size_t *len,
                                custos_err *err);

/*
 * Writes the key to a new file `path` (refused if it exists), mode 0600.
 * With seal_key (CUSTOS_AUDIT_SEAL_KEY_SIZE bytes) the file holds the key
 * sealed with it (XSalsa20-Poly1305, libsodium crypto_secretbox); with NULL it
 * holds the signer key string.  docs/audit.md describes both forms.
 */
int custos__audit_signer_save(const custos_audit_signer *s, const char *path,
                              const uint8_t *seal_key, custos_err *err);

/* Reads a key file written by custos__audit_signer_save.  Refuses a file that
 * is not a regular file owned by this user with no group or other permission
 * bits, a sealed file without seal_key (or with the wrong one), and a plain
 * file when seal_key is given (a sealed deployment must not run on a plain
 * key). */
int custos__audit_signer_load(const char *path, const uint8_t *seal_key, custos_audit_signer **out,
                              custos_err *err);

/* Reads the seal key from the environment variable `var` (64 hex digits).
 * *present is false, and CUSTOS_OK returned, when the variable is unset. */
int custos__audit_seal_key_from_env(const char *var, uint8_t out[CUSTOS_AUDIT_SEAL_KEY_SIZE],
                                    bool *present, custos_err *err);

void custos__audit_signer_free(custos_audit_signer *s); /* NULL-safe; wipes the secret */

/* The public half. */
void custos__audit_signer_verifier(const custos_audit_signer *s, custos_audit_verifier *out);

/* Signs text[0..len) (a note text: non-empty, ends in '\n') as a C2SP signed
 * note: appends "text\n— name base64(key hash || signature)\n" to *out. */
int custos__audit_note_sign(const custos_audit_signer *s, const char *text, size_t len,
                            custos_buf *out, custos_err *err);

/* Verifies a C2SP signed note: parses it strictly and checks the signature
 * by v (others are ignored).  On success *text_len is the length of the
 * signed text, note[0..*text_len), which ends in '\n'.  CUSTOS_EINVAL when
 * malformed, CUSTOS_EVERIFY when v did not sign it. */
int custos__audit_note_verify(const char *note, size_t len, const custos_audit_verifier *v,
                              size_t *text_len, custos_err *err);

/* Formats checkpoint *cp and signs it into *out (appended). */
int custos__audit_checkpoint_sign(const custos_audit_signer *s, const custos_audit_checkpoint *cp,
                                  custos_buf *out, custos_err *err);

/* Formats the checkpoint body "origin\nsize\nbase64(root)\n" into *out. */
int custos__audit_checkpoint_format(const custos_audit_checkpoint *cp, custos_buf *out,
                                    custos_err *err);

/* Checks that s is a valid key name or origin (printable ASCII without space
 * or '+', 1..CUSTOS_AUDIT_KEY_NAME_MAX bytes). */
bool custos__audit_name_valid(const char *s, size_t len);

/* ---- the store interface --------------------------------------------------- */

/*
 * What the log needs from persistence.  Every call happens inside the
 * caller's transaction (the one that makes the change an entry records,
 * GOV-20): the store neither begins nor commits.  An implementation must
 * return CUSTOS_OK or a negative code with *err filled; CUSTOS_ENOENT for
 * something that does not exist.
 */
typedef struct custos_audit_store {
  void *ctx; /* the implementation's state, passed to every call */

  /* Reads the log's head: the compact range at the current size.  A store
   * that never had a head written returns an empty range (size 0). */
  int (*read_head)(void *ctx, custos_audit_range *out, custos_err *err);

  /* Replaces the head.  Called once per append, after append_entry and
   * put_nodes. */
  int (*write_head)(void *ctx, const custos_audit_range *head, custos_err *err);

  /* Stores entry number `index` (equal to the current number of entries);
   * CUSTOS_ECONFLICT when an entry with that index exists. */
  int (*append_entry)(void *ctx, uint64_t index, const void *data, size_t len, custos_err *err);

  /* Reads entry number `index` into *out (reset first).  CUSTOS_ENOENT past the
   * end. */
  int (*read_entry)(void *ctx, uint64_t index, custos_buf *out, custos_err *err);

  /* Calls fn for every stored entry from `first` on, in index order, with the
   * index the store holds it under; stops early when fn returns non-zero and
   * returns that value. */
  int (*scan_entries)(void *ctx, uint64_t first,
                      int (*fn)(void *arg, uint64_t index, const void *data, size_t len), void *arg,
                      custos_err *err);

  /* Number of stored entries (counted, independently of the head). */
  int (*count_entries)(void *ctx, uint64_t *out, custos_err *err);

  /* Stores perfect-subtree hashes (level 0: leaf hashes) that an append
   * completed.  A node is written once; CUSTOS_ECONFLICT if it exists with a
   * different hash. */
  int (*put_nodes)(void *ctx, const custos_audit_node *nodes, size_t n, custos_err *err);

  /* Reads the hash of perfect subtree (level, index).  CUSTOS_ENOENT if not
   * stored. */
  int (*get_node)(void *ctx, unsigned level, uint64_t index, custos_audit_hash *out,
                  custos_err *err);

  /* Stores a signed checkpoint (the note's text) for tree size `size`. */
  int (*put_checkpoint)(void *ctx, uint64_t size, const char *note, size_t len, custos_err *err);

  /* Number of checkpoints: one more than the number of the newest stored.
   * Checkpoints are numbered from 0 in the order they were stored. */
  int (*count_checkpoints)(void *ctx, uint64_t *out, custos_err *err);

  /* Reads checkpoint number i (0 = the oldest) into *out (reset first).
   * CUSTOS_ENOENT when none has that number (one was deleted). */
  int (*read_checkpoint)(void *ctx, uint64_t i, custos_buf *out, custos_err *err);
} custos_audit_store;

/* ---- the store in the custos database ------------------------------------- */

struct custos_txn; /* store/store.h */

/* Fills *out with a custos_audit_store whose every call runs inside t, the
 * caller's open transaction (src/audit/dbstore.c): an entry then commits or
 * rolls back with the change it records.  Appending needs a write
 * transaction.  Nothing is allocated; *out is valid while t is open. */
void custos__audit_dbstore(struct custos_txn *t, custos_audit_store *out);

/* ---- the in-memory store (tests, benchmarks) ------------------------------ */

typedef struct custos_audit_memstore custos_audit_memstore;

/* A new empty in-memory store; *vt is filled with its function table. */
int custos__audit_memstore_new(custos_audit_memstore **out, custos_audit_store *vt);
void custos__audit_memstore_free(custos_audit_memstore *m); /* NULL-safe */

/* Test hooks that tamper with the stored log, as an attacker with write access
 * to the database could. */
int custos__audit_memstore_set_entry(custos_audit_memstore *m, uint64_t i, const void *data,
                                     size_t len);
int custos__audit_memstore_delete_entry(custos_audit_memstore *m, uint64_t i); /* shifts down */
int custos__audit_memstore_insert_entry(custos_audit_memstore *m, uint64_t i, const void *data,
                                        size_t len); /* shifts up */
int custos__audit_memstore_swap_entries(custos_audit_memstore *m, uint64_t i, uint64_t j);
/* Drops entries and nodes at or after `size`; with rewrite_head, also drops
 * checkpoints past `size` and writes the head of the shorter tree, so the log
 * is consistent with itself and only an outside checkpoint shows the cut. */
int custos__audit_memstore_truncate(custos_audit_memstore *m, uint64_t size, bool rewrite_head);
int custos__audit_memstore_set_node(custos_audit_memstore *m, unsigned level, uint64_t index,
                                    const custos_audit_hash *h);
/* After `n` more successful writes (append_entry, put_nodes, write_head,
 * put_checkpoint), every write fails with CUSTOS_EDB; negative turns it off. */
void custos__audit_memstore_fail_writes_after(custos_audit_memstore *m, long n);

/* ---- the log -------------------------------------------------------------- */

/* A log object is used by one thread at a time (it has a scratch buffer);
 * appends from several threads or processes are serialised by the store's
 * transactions. */
typedef struct custos_audit_log custos_audit_log;

typedef struct custos_audit_log_config {
  const char *origin;        /* checkpoint origin line, a key name: "custos.example.gov/audit" */
  uint64_t checkpoint_every; /* sign a checkpoint each time size is a multiple; 0: never */
} custos_audit_log_config;

/*
 * Opens a log over `store` (copied; its ctx must outlive the log).  signer
 * may be NULL for a log that only reads, proves and verifies; verifier is the
 * public key checkpoints are checked with (from the signer when NULL; one of
 * the two is required).  *out is owned by the caller: custos__audit_log_close.
 */
int custos__audit_log_open(const custos_audit_store *store, const custos_audit_log_config *cfg,
                           const custos_audit_signer *signer, const custos_audit_verifier *verifier,
                           custos_audit_log **out, custos_err *err);
void custos__audit_log_close(custos_audit_log *log); /* NULL-safe */

/*
 * Appends an entry: sets its seq to the current size, encodes it, stores it
 * with the subtrees it completes and the new head, and signs a checkpoint when
 * the new size is a multiple of checkpoint_every.  On success *index (the seq)
 * and *root (the new root) are set when non-NULL; the root costs
 * popcount(size) - 1 more hashes, so pass NULL when it is not needed.  On
 * failure the caller's
 * transaction must roll back: the store may hold part of the append.
 */
int custos__audit_log_append(custos_audit_log *log, const custos_audit_entry *e, uint64_t *index,
                             custos_audit_hash *root, custos_err *err);

/* Current size and root, from the store's head. */
int custos__audit_log_head(custos_audit_log *log, uint64_t *size, custos_audit_hash *root,
                           custos_err *err);

/*
 * Signs a checkpoint for the current tree when it is larger than the latest
 * stored one (or none is stored), then writes the latest checkpoint's note
 * into *note (reset first).  *signed_new tells whether one was signed.  An
 * empty log has no checkpoint: CUSTOS_ENOENT.
 */
int custos__audit_log_checkpoint(custos_audit_log *log, custos_buf *note, bool *signed_new,
                                 custos_err *err);

/* The latest stored checkpoint, verified with the log's key: its note into
 * *note (reset first, may be NULL) and its content into *cp.  CUSTOS_ENOENT
 * when none is stored. */
int custos__audit_log_latest_checkpoint(custos_audit_log *log, custos_buf *note,
                                        custos_audit_checkpoint *cp, custos_err *err);

/* Inclusion proof of entry `index` in the tree of `size` entries, with the
 * leaf hash, ready for custos_audit_proof_encode. */
int custos__audit_log_prove(custos_audit_log *log, uint64_t index, uint64_t size,
                            custos_audit_inclusion_proof *out, custos_err *err);

/* Consistency proof between sizes 0 < size1 <= size2 <= current size. */
int custos__audit_log_prove_consistency(custos_audit_log *log, uint64_t size1, uint64_t size2,
                                        custos_audit_hash *proof, size_t *n, custos_err *err);

/*
 * Recomputes the tree from the stored entries and checks: every entry decodes
 * as a canonical entry whose seq is its index; every stored subtree hash
 * equals the recomputed one; the head equals the recomputed tree; every
 * stored checkpoint is signed by the log's key, names the log's origin, does
 * not exceed the entries and has the recomputed root at its size; sizes of
 * consecutive checkpoints do not decrease and a consistency proof built from
 * the stored subtrees verifies between them.  pinned[0..n_pinned) are signed
 * checkpoints the auditor kept from earlier (may be NULL/0): each must verify
 * and match the recomputed tree too, which shows a log truncated together
 * with its checkpoints.
 * Returns CUSTOS_OK for an intact log, CUSTOS_EVERIFY with the first problem
 * in *err and *rep otherwise, or the store's error when it fails to read.
 */
int custos__audit_log_verify(custos_audit_log *log, const char *const *pinned, size_t n_pinned,
                             custos_audit_verify_report *rep, custos_err *err);

#endif
