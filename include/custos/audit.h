/*
 * The audit log, as a front end or an outside verifier sees it: the entry
 * format, Merkle proofs, signed checkpoints and the inclusion-proof file.
 *
 * custos records every action in an append-only log (GOV-20).  The entries are
 * the leaves of an RFC 6962 / RFC 9162 Merkle tree over SHA-256:
 *
 *   leaf hash = SHA-256(0x00 || entry bytes)
 *   node hash = SHA-256(0x01 || left || right)
 *
 * The log signs checkpoints (C2SP tlog-checkpoint inside a C2SP signed note,
 * Ed25519) that commit to the tree's size and root.  Anyone holding the log's
 * public key, a checkpoint, an entry and an inclusion proof can check that the
 * entry is in the log without trusting custos; anyone holding two checkpoints
 * and a consistency proof can check that the later tree extends the earlier
 * one, so nothing was removed or rewritten.
 *
 * Entries are canonical JSON (docs/audit.md has the grammar): keys sorted, no
 * whitespace, strings from restricted alphabets that never need escaping.  An
 * entry has no free-text field: the only open-ended part is `detail`, whose
 * keys come from a fixed table and whose values are short and typed, so the
 * values of redacted fields (GOV-18) have nowhere to go.
 *
 * Everything here works on caller-provided memory except the decoded entry
 * (custos_audit_entry_decode), which the caller frees with
 * custos_audit_entry_free.
 */
#ifndef CUSTOS_AUDIT_H
#define CUSTOS_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "custos/error.h"

/* ---- hashes and Merkle proofs ------------------------------------------ */

#define CUSTOS_AUDIT_HASH_SIZE 32 /* bytes of a SHA-256 hash */

/* A SHA-256 hash: a leaf, a node, a root or a document's digest. */
typedef struct custos_audit_hash {
  uint8_t b[CUSTOS_AUDIT_HASH_SIZE]; /* the digest, big-endian as SHA-256 writes it */
} custos_audit_hash;

/* Most hashes an inclusion proof can hold (a tree of 2^64 leaves is 64 deep). */
#define CUSTOS_AUDIT_PROOF_MAX 64
/* Most hashes a consistency proof can hold. */
#define CUSTOS_AUDIT_CONSISTENCY_MAX 128

/* leaf = SHA-256(0x00 || data[0..len)). */
CUSTOS_API void custos_audit_leaf_hash(const void *data, size_t len, custos_audit_hash *out);

/* node = SHA-256(0x01 || left || right).  out may alias left or right. */
CUSTOS_API void custos_audit_node_hash(const custos_audit_hash *left,
                                       const custos_audit_hash *right, custos_audit_hash *out);

/* The root of the empty tree: SHA-256 of nothing. */
CUSTOS_API void custos_audit_empty_root(custos_audit_hash *out);

/*
 * Verifies that `leaf` is leaf number `index` (from 0) of the tree of `size`
 * leaves whose root is `root`, given the inclusion proof proof[0..n) (RFC 9162
 * section 2.1.3.2: siblings from the leaf upwards).
 * Returns CUSTOS_OK, or CUSTOS_EVERIFY with the reason in *err.
 */
CUSTOS_API int custos_audit_verify_inclusion(uint64_t index, uint64_t size,
                                             const custos_audit_hash *leaf,
                                             const custos_audit_hash *proof, size_t n,
                                             const custos_audit_hash *root, custos_err *err);

/*
 * Verifies that the tree of size2 leaves with root2 extends the tree of size1
 * leaves with root1, given the consistency proof proof[0..n) (RFC 9162
 * section 2.1.4.2).  Equal sizes need an empty proof and equal roots; size1 of
 * 0 is refused (the RFC defines the proof for 0 < size1).
 * Returns CUSTOS_OK, or CUSTOS_EVERIFY with the reason in *err.
 */
CUSTOS_API int custos_audit_verify_consistency(uint64_t size1, uint64_t size2,
                                               const custos_audit_hash *proof, size_t n,
                                               const custos_audit_hash *root1,
                                               const custos_audit_hash *root2, custos_err *err);

/* ---- entries (GOV-20) ---------------------------------------------------- */

#define CUSTOS_AUDIT_ENTRY_MAX 8192  /* bytes of an encoded entry, at most */
#define CUSTOS_AUDIT_ACTOR_MAX 64    /* bytes of an actor */
#define CUSTOS_AUDIT_ACTION_MAX 48   /* bytes of an action */
#define CUSTOS_AUDIT_CASE_MAX 64     /* bytes of a case id */
#define CUSTOS_AUDIT_REASON_MAX 48   /* bytes of a reason code */
#define CUSTOS_AUDIT_NAME_MAX 32     /* bytes of a hash name or a detail key */
#define CUSTOS_AUDIT_VALUE_MAX 64    /* bytes of a detail value */
#define CUSTOS_AUDIT_MAX_REASONS 16  /* reason codes per entry */
#define CUSTOS_AUDIT_MAX_HASHES 16   /* named hashes per entry */
#define CUSTOS_AUDIT_MAX_DETAIL 16   /* detail pairs per entry */
#define CUSTOS_AUDIT_TIME_LEN 20     /* "YYYY-MM-DDTHH:MM:SSZ" */
#define CUSTOS_AUDIT_ENTRY_VERSION 1 /* the "v" member of every entry */

/* The SHA-256 of a document or image an action concerned, under a name. */
typedef struct custos_audit_named_hash {
  const char *name;         /* [a-z][a-z0-9_]*, at most CUSTOS_AUDIT_NAME_MAX bytes: "probe" */
  custos_audit_hash sha256; /* SHA-256 of the document's bytes */
} custos_audit_named_hash;

/* One detail pair: a key from the fixed table (docs/audit.md) and its value. */
typedef struct custos_audit_detail {
  const char *key;   /* a key of the table, e.g. "stage" */
  const char *value; /* typed by the key: an enumerated word, a decimal, a version */
} custos_audit_detail;

/*
 * An audit entry.  Building one, the caller owns every string and array; the
 * log sets `seq`.  A decoded entry owns them itself (custos_audit_entry_free).
 * The order of reasons, hashes and detail does not matter: the encoding sorts
 * them; duplicates are refused.
 */
typedef struct custos_audit_entry {
  uint64_t seq;                          /* sequence number = leaf index, from 0 */
  int64_t time;                          /* seconds since 1970-01-01T00:00:00Z, years 1970..9999 */
  const char *actor;                     /* user name or "system", [A-Za-z0-9._@:-]+ */
  const char *action;                    /* dotted lowercase words: "case.review" */
  const char *case_id;                   /* [A-Za-z0-9._:-]+, or NULL when no case */
  const char *const *reasons;            /* reason codes [A-Z][A-Z0-9_]* */
  size_t n_reasons;                      /* 0..CUSTOS_AUDIT_MAX_REASONS */
  const custos_audit_named_hash *hashes; /* named document hashes */
  size_t n_hashes;                       /* 0..CUSTOS_AUDIT_MAX_HASHES */
  const custos_audit_detail *detail;     /* detail pairs */
  size_t n_detail;                       /* 0..CUSTOS_AUDIT_MAX_DETAIL */
} custos_audit_entry;

/*
 * Writes the canonical encoding of *e into out[0..cap) (NUL-terminated) and
 * its length, without the NUL, into *len.  Every field is checked first:
 * CUSTOS_EINVAL names the field at fault, CUSTOS_ETOOBIG if cap is too small
 * (CUSTOS_AUDIT_ENTRY_MAX + 1 is always enough).
 */
CUSTOS_API int custos_audit_entry_encode(const custos_audit_entry *e, char *out, size_t cap,
                                         size_t *len, custos_err *err);

/*
 * Decodes an entry, refusing anything that is not exactly the canonical
 * encoding of a valid entry (CUSTOS_EJSON for bad JSON, CUSTOS_EINVAL naming the
 * field otherwise).  *out is owned by the caller: custos_audit_entry_free.
 */
CUSTOS_API int custos_audit_entry_decode(const char *data, size_t len, custos_audit_entry **out,
                                         custos_err *err);

/* Frees a decoded entry.  NULL-safe. */
CUSTOS_API void custos_audit_entry_free(custos_audit_entry *e);

/* Writes t as "YYYY-MM-DDTHH:MM:SSZ" into out (at least CUSTOS_AUDIT_TIME_LEN + 1
 * bytes).  CUSTOS_EINVAL outside the years 1970..9999. */
CUSTOS_API int custos_audit_time_format(int64_t t, char *out, size_t cap);

/* Parses exactly "YYYY-MM-DDTHH:MM:SSZ" (a real calendar date, no leap
 * second) into *t.  CUSTOS_EINVAL otherwise. */
CUSTOS_API int custos_audit_time_parse(const char *s, size_t len, int64_t *t);

/* ---- keys and checkpoints (C2SP signed-note, tlog-checkpoint) ------------ */

#define CUSTOS_AUDIT_KEY_NAME_MAX 128     /* bytes of a key name or a checkpoint origin */
#define CUSTOS_AUDIT_VERIFIER_KEY_MAX 256 /* bytes of a verifier key string, with NUL */
#define CUSTOS_AUDIT_NOTE_MAX 16384       /* bytes of a signed checkpoint, at most */
#define CUSTOS_AUDIT_NOTE_MAX_SIGS 100    /* signature lines of a note, at most */

/*
 * A public key that verifies the log's signatures; its text form is
 * "<name>+<8 hex digits of key hash>+<base64(0x01 || 32-byte Ed25519 key)>",
 * where key hash = the first 4 bytes of SHA-256(name || 0x0A || 0x01 || key).
 */
typedef struct custos_audit_verifier {
  char name[CUSTOS_AUDIT_KEY_NAME_MAX + 1]; /* key name, NUL-terminated */
  uint32_t key_hash;                        /* the 4-byte key hash, big-endian as a number */
  uint8_t public_key[32];                   /* Ed25519 public key */
} custos_audit_verifier;

/* Parses a verifier key string, checking name, key hash, algorithm and
 * length.  CUSTOS_EINVAL naming the part at fault. */
CUSTOS_API int custos_audit_verifier_parse(const char *text, custos_audit_verifier *out,
                                           custos_err *err);

/* Writes the verifier key string of *v into out[0..cap).  CUSTOS_ETOOBIG if
 * cap is too small (CUSTOS_AUDIT_VERIFIER_KEY_MAX is enough). */
CUSTOS_API int custos_audit_verifier_format(const custos_audit_verifier *v, char *out, size_t cap,
                                            custos_err *err);

/* A checkpoint: what a signed note commits to. */
typedef struct custos_audit_checkpoint {
  char origin[CUSTOS_AUDIT_KEY_NAME_MAX + 1]; /* the log's identity, NUL-terminated */
  uint64_t size;                              /* tree size (entries) */
  custos_audit_hash root;                     /* tree root at that size */
} custos_audit_checkpoint;

/*
 * Parses a checkpoint body ("origin\nsize\nbase64 root\n", then optional
 * extension lines, which are skipped), strictly: decimal without leading
 * zeros, canonical base64 of exactly 32 bytes, no CR or control characters.
 */
CUSTOS_API int custos_audit_checkpoint_parse(const char *text, size_t len,
                                             custos_audit_checkpoint *out, custos_err *err);

/*
 * Opens a signed checkpoint: parses the signed note strictly, checks that a
 * signature line by v's name and key hash exists and that its Ed25519
 * signature over the note's text is valid, then parses the text as a
 * checkpoint into *out.  Signature lines by other keys are ignored; a bad
 * signature by v's key fails.  CUSTOS_EINVAL for a malformed note,
 * CUSTOS_EVERIFY when v did not sign it.
 */
CUSTOS_API int custos_audit_checkpoint_verify(const char *note, size_t len,
                                              const custos_audit_verifier *v,
                                              custos_audit_checkpoint *out, custos_err *err);

/* ---- inclusion-proof file ------------------------------------------------ */

#define CUSTOS_AUDIT_PROOF_FORMAT "custos-inclusion-proof/v1"
#define CUSTOS_AUDIT_PROOF_FILE_MAX 8192 /* bytes of an encoded proof file, at most */

/*
 * An inclusion proof as it travels to a third party (docs/audit.md):
 *   {"format":"custos-inclusion-proof/v1","hashes":["<hex>",...],
 *    "leaf_hash":"<hex>","leaf_index":N,"tree_size":M}
 */
typedef struct custos_audit_inclusion_proof {
  uint64_t leaf_index;                              /* the entry's seq */
  uint64_t tree_size;                               /* size of the checkpoint it proves against */
  custos_audit_hash leaf_hash;                      /* SHA-256(0x00 || entry) */
  size_t n;                                         /* hashes used, 0..CUSTOS_AUDIT_PROOF_MAX */
  custos_audit_hash hashes[CUSTOS_AUDIT_PROOF_MAX]; /* siblings from the leaf upwards */
} custos_audit_inclusion_proof;

/* Writes the proof file's JSON (one line, with a final newline) into
 * out[0..cap); CUSTOS_ETOOBIG if cap is too small
 * (CUSTOS_AUDIT_PROOF_FILE_MAX is enough). */
CUSTOS_API int custos_audit_proof_encode(const custos_audit_inclusion_proof *p, char *out,
                                         size_t cap, size_t *len, custos_err *err);

/* Parses a proof file strictly (unknown members, wrong types, bad hex refused). */
CUSTOS_API int custos_audit_proof_decode(const char *text, size_t len,
                                         custos_audit_inclusion_proof *out, custos_err *err);

/*
 * What an auditor runs: checks that entry[0..len) is leaf p->leaf_index of
 * the tree that checkpoint *cp (already verified) commits to.  The proof must
 * be for cp's tree size; its leaf hash must be the entry's.
 */
CUSTOS_API int custos_audit_proof_verify(const custos_audit_inclusion_proof *p, const void *entry,
                                         size_t len, const custos_audit_checkpoint *cp,
                                         custos_err *err);

/* ---- verification report ------------------------------------------------- */

/* What `custos audit verify` found; filled even when it fails. */
typedef struct custos_audit_verify_report {
  uint64_t entries;            /* entries read from the store */
  uint64_t tree_size;          /* size the log's head records */
  custos_audit_hash root;      /* root recomputed from the entries read */
  uint64_t checkpoints;        /* stored checkpoints checked */
  uint64_t consistency_proofs; /* consistency proofs between consecutive checkpoints verified */
  uint64_t problems;           /* problems found; 0 for an intact log */
  uint64_t first_bad_entry;    /* index of the first entry found wrong; UINT64_MAX if none */
  char first_problem[CUSTOS_ERR_MESSAGE_MAX]; /* one line; "" if none */
} custos_audit_verify_report;

#endif
