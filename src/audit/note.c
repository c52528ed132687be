/*
 * Signing keys, signed notes and checkpoints: C2SP signed-note and
 * tlog-checkpoint with Ed25519 (libsodium), byte-compatible with
 * golang.org/x/mod/sumdb/note.
 *
 * A signed note is a text, an empty line, and signature lines:
 *
 *   <text, ending in "\n">
 *   "\n"
 *   "— " <key name> " " base64(key hash [4] || Ed25519 signature of text [64]) "\n"
 *
 * where "—" is U+2014 (E2 80 94) and key hash = the first 4 bytes of
 * SHA-256(key name || "\n" || 0x01 || public key [32]).  The checkpoint text is
 *
 *   line  content
 *   1     origin: the log's identity (here also the key name)
 *   2     tree size, decimal, no leading zeros
 *   3     root hash, standard base64 with padding (44 characters)
 *   4..   optional extension lines (none written; skipped when read)
 *
 * Key strings:
 *   verifier  "<name>+<8 hex key hash>+<base64(0x01 || public key)>"
 *   signer    "PRIVATE+KEY+<name>+<8 hex key hash>+<base64(0x01 || 32-byte seed)>"
 *
 * Parsing is strict everywhere: a malformed note, checkpoint or key is
 * refused with a message that names the part at fault, never accepted "as
 * probably meant".  Secret key bytes live in sodium_malloc memory (guarded,
 * locked, wiped on free).
 */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "audit/audit.h"
#include "store/store.h" /* custos__utf8_next */

#define MOD "audit"
#define DASH "\xe2\x80\x94" /* U+2014 EM DASH */
#define SIGNER_PREFIX "PRIVATE+KEY+"
#define SEALED_MAGIC "custos-sealed-audit-key/v1\n"
#define KEY_FILE_MAX 4096 /* bytes of a key file, at most */
#define ALG_ED25519 0x01

struct custos_audit_signer {
  char name[CUSTOS_AUDIT_KEY_NAME_MAX + 1]; /* key name */
  uint32_t key_hash;                        /* see the file comment */
  uint8_t pk[crypto_sign_PUBLICKEYBYTES];   /* public key */
  uint8_t sk[crypto_sign_SECRETKEYBYTES];   /* seed || public key */
};

static int sodium_ready(custos_err *err) {
  if (sodium_init() < 0)
    return custos__err(err, CUSTOS_EINTERNAL, MOD, "libsodium failed to start");
  return CUSTOS_OK;
}

/* bad(err, fmt, ...): CUSTOS_EINVAL with a message naming the part at fault. */
#define bad(err, ...) custos__err((err), CUSTOS_EINVAL, MOD, __VA_ARGS__)

/* ---- names and key hashes ---------------------------------------------------- */

bool custos__audit_name_valid(const char *s, size_t len) {
  if (len == 0 || len > CUSTOS_AUDIT_KEY_NAME_MAX) return false;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c <= 0x20 || c >= 0x7f || c == '+') return false;
  }
  return true;
}

static uint32_t key_hash(const char *name, const uint8_t pk[32]) {
  crypto_hash_sha256_state st;
  uint8_t h[32], sep[2] = {'\n', ALG_ED25519};
  crypto_hash_sha256_init(&st);
  crypto_hash_sha256_update(&st, (const unsigned char *)name, strlen(name));
  crypto_hash_sha256_update(&st, sep, 2);
  crypto_hash_sha256_update(&st, pk, 32);
  crypto_hash_sha256_final(&st, h);
  return (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
}

/* Parses exactly 8 lowercase hex digits. */
static bool parse_hash8(const char *s, size_t n, uint32_t *out) {
  uint8_t b[4];
  if (!custos__audit_hex_decode(s, n, b, 4)) return false;
  *out = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
  return true;
}

/* Splits "name+hash+key" (after any prefix) at its first two '+': the name
 * cannot hold one, the base64 key can. */
static bool split3(const char *s, size_t n, const char **p, size_t *pl) {
  const char *a = memchr(s, '+', n);
  const char *b = a ? memchr(a + 1, '+', n - (size_t)(a + 1 - s)) : NULL;
  if (b == NULL) return false;
  p[0] = s;
  pl[0] = (size_t)(a - s);
  p[1] = a + 1;
  pl[1] = (size_t)(b - a - 1);
  p[2] = b + 1;
  pl[2] = n - (size_t)(b + 1 - s);
  return true;
}

/* Decodes base64(0x01 || 32 bytes). */
static bool decode_key32(const char *s, size_t n, uint8_t out[32]) {
  uint8_t buf[33];
  size_t len = 0;
  bool ok =
      custos__audit_b64_decode(s, n, buf, sizeof buf, &len) && len == 33 && buf[0] == ALG_ED25519;
  if (ok) memcpy(out, buf + 1, 32);
  sodium_memzero(buf, sizeof buf);
  return ok;
}

/* ---- verifiers ------------------------------------------------------------- */

int custos_audit_verifier_parse(const char *text, custos_audit_verifier *out, custos_err *err) {
  if (text == NULL || out == NULL) return bad(err, "verifier key: missing");
  memset(out, 0, sizeof *out);
  size_t n = strnlen(text, CUSTOS_AUDIT_VERIFIER_KEY_MAX);
  if (n >= CUSTOS_AUDIT_VERIFIER_KEY_MAX) return bad(err, "verifier key: too long");
  const char *p[3];
  size_t pl[3];
  if (!split3(text, n, p, pl)) {
    return bad(err, "verifier key: expected <name>+<key hash>+<base64 key>");
  }
  if (!custos__audit_name_valid(p[0], pl[0])) {
    return bad(err, "verifier key: name must be 1..%d printable characters without space or '+'",
               CUSTOS_AUDIT_KEY_NAME_MAX);
  }
  uint32_t h;
  if (!parse_hash8(p[1], pl[1], &h)) {
    return bad(err, "verifier key: key hash must be 8 lowercase hex digits");
  }
  uint8_t pk[32];
  if (!decode_key32(p[2], pl[2], pk)) {
    return bad(err, "verifier key: key must be base64 of 0x01 (Ed25519) and 32 bytes");
  }
  memcpy(out->name, p[0], pl[0]);
  out->name[pl[0]] = '\0';
  if (key_hash(out->name, pk) != h) {
    memset(out, 0, sizeof *out);
    return bad(err, "verifier key: key hash does not match the name and key");
  }
  out->key_hash = h;
  memcpy(out->public_key, pk, 32);
  return CUSTOS_OK;
}

int custos_audit_verifier_format(const custos_audit_verifier *v, char *out, size_t cap,
                                 custos_err *err) {
  uint8_t raw[33];
  char b64[48];
  raw[0] = ALG_ED25519;
  memcpy(raw + 1, v->public_key, 32);
  custos__audit_b64_encode(raw, sizeof raw, b64);
  int n = snprintf(out, cap, "%s+%08x+%s", v->name, (unsigned)v->key_hash, b64);
  if (n < 0 || (size_t)n >= cap) {
    return custos__err(err, CUSTOS_ETOOBIG, MOD, "verifier key: buffer too small");
  }
  return CUSTOS_OK;
}

/* ---- signers -------------------------------------------------------------- */

static custos_audit_signer *signer_alloc(void) {
  custos_audit_signer *s = sodium_malloc(sizeof *s);
  if (s) memset(s, 0, sizeof *s);
  return s;
}

void custos__audit_signer_free(custos_audit_signer *s) {
  if (s) sodium_free(s); /* wipes */
}

int custos__audit_signer_generate(const char *name, custos_audit_signer **out, custos_err *err) {
  *out = NULL;
  int rc = sodium_ready(err);
  if (rc != CUSTOS_OK) return rc;
  if (name == NULL || !custos__audit_name_valid(name, strlen(name))) {
    return bad(err, "key name must be 1..%d printable characters without space or '+'",
               CUSTOS_AUDIT_KEY_NAME_MAX);
  }
  custos_audit_signer *s = signer_alloc();
  if (s == NULL) return custos__err(err, CUSTOS_ENOMEM, MOD, "signing key: out of memory");
  snprintf(s->name, sizeof s->name, "%s", name);
  crypto_sign_keypair(s->pk, s->sk);
  s->key_hash = key_hash(s->name, s->pk);
  *out = s;
  return CUSTOS_OK;
}

int custos__audit_signer_parse(const char *text, size_t len, custos_audit_signer **out,
                               custos_err *err) {
  *out = NULL;
  int rc = sodium_ready(err);
  if (rc != CUSTOS_OK) return rc;
  size_t plen = strlen(SIGNER_PREFIX);
  if (len < plen || memcmp(text, SIGNER_PREFIX, plen) != 0) {
    return bad(err, "signing key: expected PRIVATE+KEY+<name>+<key hash>+<base64 key>");
  }
  const char *p[3];
  size_t pl[3];
  if (!split3(text + plen, len - plen, p, pl)) {
    return bad(err, "signing key: expected PRIVATE+KEY+<name>+<key hash>+<base64 key>");
  }
  if (!custos__audit_name_valid(p[0], pl[0])) return bad(err, "signing key: bad name");
  uint32_t h;
  if (!parse_hash8(p[1], pl[1], &h)) return bad(err, "signing key: bad key hash");
  custos_audit_signer *s = signer_alloc();
  if (s == NULL) return custos__err(err, CUSTOS_ENOMEM, MOD, "signing key: out of memory");
  uint8_t *seed = s->sk; /* decode straight into guarded memory */
  if (!decode_key32(p[2], pl[2], seed)) {
    custos__audit_signer_free(s);
    return bad(err, "signing key: key must be base64 of 0x01 (Ed25519) and a 32-byte seed");
  }
  memcpy(s->name, p[0], pl[0]);
  s->name[pl[0]] = '\0';
  uint8_t seed_copy[32];
  memcpy(seed_copy, seed, 32);
  crypto_sign_seed_keypair(s->pk, s->sk, seed_copy);
  sodium_memzero(seed_copy, sizeof seed_copy);
  s->key_hash = key_hash(s->name, s->pk);
  if (s->key_hash != h) {
    custos__audit_signer_free(s);
    return bad(err, "signing key: key hash does not match the name and key");
  }
  *out = s;
  return CUSTOS_OK;
}

int custos__audit_signer_format(const custos_audit_signer *s, char **out, size_t *len,
                                custos_err *err) {
  size_t cap = strlen(SIGNER_PREFIX) + strlen(s->name) + 1 + 8 + 1 + 44 + 1;
  char *buf = sodium_malloc(cap);
  if (buf == NULL) return custos__err(err, CUSTOS_ENOMEM, MOD, "signing key: out of memory");
  uint8_t raw[33];
  char b64[48];
  raw[0] = ALG_ED25519;
  memcpy(raw + 1, s->sk, 32); /* the seed */
  custos__audit_b64_encode(raw, sizeof raw, b64);
  int n = snprintf(buf, cap, SIGNER_PREFIX "%s+%08x+%s", s->name, (unsigned)s->key_hash, b64);
  sodium_memzero(raw, sizeof raw);
  sodium_memzero(b64, sizeof b64);
  assert(n > 0 && (size_t)n < cap);
  *out = buf;
  *len = (size_t)n;
  return CUSTOS_OK;
}

void custos__audit_signer_verifier(const custos_audit_signer *s, custos_audit_verifier *out) {
  memset(out, 0, sizeof *out);
  snprintf(out->name, sizeof out->name, "%s", s->name);
  out->key_hash = s->key_hash;
  memcpy(out->public_key, s->pk, 32);
}

/* ---- key files --------------------------------------------------------------- */

static int write_all(int fd, const void *data, size_t len) {
  const uint8_t *p = data;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -1;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

int custos__audit_signer_save(const custos_audit_signer *s, const char *path,
                              const uint8_t *seal_key, custos_err *err) {
  int rc = CUSTOS_OK, fd = -1;
  char *text = NULL, *file = NULL;
  size_t tlen = 0, flen = 0;
  bool created = false;
  rc = custos__audit_signer_format(s, &text, &tlen, err);
  if (rc != CUSTOS_OK) goto out;
  if (seal_key == NULL) {
    file = sodium_malloc(tlen + 2);
    if (file == NULL) goto nomem;
    memcpy(file, text, tlen);
    file[tlen] = '\n';
    flen = tlen + 1;
  } else {
    /* magic, base64(nonce || secretbox(text)), newline */
    size_t blen = crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES + tlen;
    uint8_t *box = sodium_malloc(blen);
    if (box == NULL) goto nomem;
    randombytes_buf(box, crypto_secretbox_NONCEBYTES);
    crypto_secretbox_easy(box + crypto_secretbox_NONCEBYTES, (const uint8_t *)text, tlen, box,
                          seal_key);
    size_t mlen = strlen(SEALED_MAGIC);
    flen = mlen + custos__audit_b64_len(blen) + 1;
    file = sodium_malloc(flen + 1);
    if (file == NULL) {
      sodium_free(box);
      goto nomem;
    }
    memcpy(file, SEALED_MAGIC, mlen);
    custos__audit_b64_encode(box, blen, file + mlen);
    file[flen - 1] = '\n';
    sodium_free(box);
  }
  fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    int e = errno;
    rc =
        custos__err(err, e == EEXIST ? CUSTOS_ECONFLICT : CUSTOS_EIO, MOD, "key file %s: %s", path,
                    e == EEXIST ? "exists already (refusing to overwrite a log key)" : strerror(e));
    goto out;
  }
  created = true;
  if (fchmod(fd, 0600) != 0 || write_all(fd, file, flen) != 0 || fsync(fd) != 0) {
    rc = custos__err(err, CUSTOS_EIO, MOD, "key file %s: %s", path, strerror(errno));
    goto out;
  }
  if (close(fd) != 0) {
    fd = -1;
    rc = custos__err(err, CUSTOS_EIO, MOD, "key file %s: %s", path, strerror(errno));
    goto out;
  }
  fd = -1;
  goto out;
nomem:
  rc = custos__err(err, CUSTOS_ENOMEM, MOD, "key file: out of memory");
out:
  if (fd >= 0) close(fd);
  if (rc != CUSTOS_OK && created) unlink(path);
  if (text) sodium_free(text);
  if (file) sodium_free(file);
  return rc;
}

int custos__audit_signer_load(const char *path, const uint8_t *seal_key, custos_audit_signer **out,
                              custos_err *err) {
  int rc = CUSTOS_OK;
  uint8_t *buf = NULL, *plain = NULL, *box = NULL;
  size_t len = 0;
  *out = NULL;
  if ((rc = sodium_ready(err)) != CUSTOS_OK) return rc; /* sodium_malloc needs it */
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    return custos__err(err, e == ENOENT ? CUSTOS_ENOENT : CUSTOS_EIO, MOD, "key file %s: %s", path,
                       strerror(e));
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    rc = custos__err(err, CUSTOS_EIO, MOD, "key file %s: %s", path, strerror(errno));
    goto out;
  }
  if (!S_ISREG(st.st_mode)) {
    rc = custos__err(err, CUSTOS_EINVAL, MOD, "key file %s: not a regular file", path);
    goto out;
  }
  if (st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
    rc = custos__err(err, CUSTOS_EPERM, MOD,
                     "key file %s: must be owned by this user with mode 0600 (is %03o); "
                     "chmod 600 it",
                     path, (unsigned)(st.st_mode & 0777));
    goto out;
  }
  if (st.st_size > KEY_FILE_MAX) {
    rc = custos__err(err, CUSTOS_ETOOBIG, MOD, "key file %s: larger than %d bytes", path,
                     KEY_FILE_MAX);
    goto out;
  }
  buf = sodium_malloc(KEY_FILE_MAX + 1);
  if (buf == NULL) goto nomem;
  for (;;) {
    ssize_t n = read(fd, buf + len, KEY_FILE_MAX + 1 - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      rc = custos__err(err, CUSTOS_EIO, MOD, "key file %s: %s", path, strerror(errno));
      goto out;
    }
    if (n == 0) break;
    len += (size_t)n;
    if (len > KEY_FILE_MAX) {
      rc = custos__err(err, CUSTOS_ETOOBIG, MOD, "key file %s: larger than %d bytes", path,
                       KEY_FILE_MAX);
      goto out;
    }
  }
  if (len == 0 || buf[len - 1] != '\n') {
    rc = bad(err, "key file %s: expected one line ending in a newline", path);
    goto out;
  }
  len--;
  size_t mlen = strlen(SEALED_MAGIC);
  bool sealed = len >= mlen && memcmp(buf, SEALED_MAGIC, mlen) == 0;
  if (sealed && seal_key == NULL) {
    rc = custos__err(err, CUSTOS_EAUTH, MOD, "key file %s: sealed; set %s to open it", path,
                     CUSTOS_AUDIT_SEAL_ENV);
    goto out;
  }
  if (!sealed && seal_key != NULL) {
    rc = custos__err(err, CUSTOS_EPERM, MOD,
                     "key file %s: not sealed, but a seal key is set; refusing a plain key "
                     "where a sealed one is expected",
                     path);
    goto out;
  }
  if (!sealed) {
    rc = custos__audit_signer_parse((const char *)buf, len, out, err);
    if (rc != CUSTOS_OK) custos__err(err, rc, MOD, "key file %s: not a signing key", path);
    goto out;
  }
  size_t blen = 0, cap = len; /* the decoded box is shorter than its base64 */
  box = sodium_malloc(cap + 1);
  if (box == NULL) goto nomem;
  if (!custos__audit_b64_decode((const char *)buf + mlen, len - mlen, box, cap, &blen) ||
      blen < crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES) {
    rc = bad(err, "key file %s: sealed key is not valid base64", path);
    goto out;
  }
  size_t plen = blen - crypto_secretbox_NONCEBYTES - crypto_secretbox_MACBYTES;
  plain = sodium_malloc(plen + 1);
  if (plain == NULL) goto nomem;
  if (crypto_secretbox_open_easy(plain, box + crypto_secretbox_NONCEBYTES,
                                 blen - crypto_secretbox_NONCEBYTES, box, seal_key) != 0) {
    rc = custos__err(err, CUSTOS_EAUTH, MOD,
                     "key file %s: cannot unseal it (wrong %s, or the file was altered)", path,
                     CUSTOS_AUDIT_SEAL_ENV);
    goto out;
  }
  rc = custos__audit_signer_parse((const char *)plain, plen, out, err);
  if (rc != CUSTOS_OK) custos__err(err, rc, MOD, "key file %s: not a signing key", path);
  goto out;
nomem:
  rc = custos__err(err, CUSTOS_ENOMEM, MOD, "key file: out of memory");
out:
  close(fd);
  if (buf) sodium_free(buf);
  if (box) sodium_free(box);
  if (plain) sodium_free(plain);
  return rc;
}

int custos__audit_seal_key_from_env(const char *var, uint8_t out[CUSTOS_AUDIT_SEAL_KEY_SIZE],
                                    bool *present, custos_err *err) {
  *present = false;
  const char *v = getenv(var);
  if (v == NULL) return CUSTOS_OK;
  /* Never echo the value: it is a secret. */
  if (!custos__audit_hex_decode(v, strlen(v), out, CUSTOS_AUDIT_SEAL_KEY_SIZE)) {
    return bad(err, "%s: expected %d lowercase hex digits", var, 2 * CUSTOS_AUDIT_SEAL_KEY_SIZE);
  }
  *present = true;
  return CUSTOS_OK;
}

/* ---- signing -------------------------------------------------------------------- */

int custos__audit_note_sign(const custos_audit_signer *s, const char *text, size_t len,
                            custos_buf *out, custos_err *err) {
  if (len == 0 || text[len - 1] != '\n') return bad(err, "note text must end in a newline");
  if (len > CUSTOS_AUDIT_NOTE_MAX / 2) return bad(err, "note text too long");
  uint8_t sig[4 + crypto_sign_BYTES];
  sig[0] = (uint8_t)(s->key_hash >> 24);
  sig[1] = (uint8_t)(s->key_hash >> 16);
  sig[2] = (uint8_t)(s->key_hash >> 8);
  sig[3] = (uint8_t)s->key_hash;
  crypto_sign_detached(sig + 4, NULL, (const uint8_t *)text, len, s->sk);
  char b64[96];
  custos__audit_b64_encode(sig, sizeof sig, b64);
  size_t before = out->len;
  int rc = custos__buf_append(out, text, len);
  if (rc == CUSTOS_OK) rc = custos__buf_appendf(out, "\n" DASH " %s %s\n", s->name, b64);
  if (rc != CUSTOS_OK) {
    out->len = before;
    if (out->data) out->data[before] = '\0';
    return custos__err(err, rc, MOD, "signed note: %s", custos_strerror(rc));
  }
  return CUSTOS_OK;
}

int custos__audit_checkpoint_format(const custos_audit_checkpoint *cp, custos_buf *out,
                                    custos_err *err) {
  if (!custos__audit_name_valid(cp->origin, strlen(cp->origin))) {
    return bad(err, "checkpoint origin must be 1..%d printable characters without space or '+'",
               CUSTOS_AUDIT_KEY_NAME_MAX);
  }
  char b64[48];
  custos__audit_b64_encode(cp->root.b, CUSTOS_AUDIT_HASH_SIZE, b64);
  int rc =
      custos__buf_appendf(out, "%s\n%llu\n%s\n", cp->origin, (unsigned long long)cp->size, b64);
  if (rc != CUSTOS_OK) return custos__err(err, rc, MOD, "checkpoint: %s", custos_strerror(rc));
  return CUSTOS_OK;
}

int custos__audit_checkpoint_sign(const custos_audit_signer *s, const custos_audit_checkpoint *cp,
                                  custos_buf *out, custos_err *err) {
  custos_buf body;
  custos__buf_init(&body, CUSTOS_AUDIT_NOTE_MAX);
  int rc = custos__audit_checkpoint_format(cp, &body, err);
  if (rc == CUSTOS_OK) rc = custos__audit_note_sign(s, body.data, body.len, out, err);
  custos__buf_free(&body);
  return rc;
}

/* ---- parsing and verifying ---------------------------------------------------- */

/* Valid UTF-8 with no control character (C0, DEL, C1) but '\n', so no CR,
 * NUL or tab. */
static bool text_ok(const uint8_t *s, size_t n) {
  size_t i = 0;
  uint32_t cp;
  while (i < n) {
    if (!custos__utf8_next((const char *)s, n, &i, &cp)) return false;
    if ((cp < 0x20 && cp != '\n') || (cp >= 0x7f && cp <= 0x9f)) return false;
  }
  return true;
}

int custos_audit_checkpoint_parse(const char *text, size_t len, custos_audit_checkpoint *out,
                                  custos_err *err) {
  if (text == NULL || out == NULL) return bad(err, "checkpoint: missing");
  memset(out, 0, sizeof *out);
  if (len > CUSTOS_AUDIT_NOTE_MAX)
    return bad(err, "checkpoint: longer than %d bytes", CUSTOS_AUDIT_NOTE_MAX);
  if (!text_ok((const uint8_t *)text, len)) {
    return bad(err, "checkpoint: not UTF-8 text, or holds a control character");
  }
  if (len == 0 || text[len - 1] != '\n') return bad(err, "checkpoint: must end in a newline");
  const char *line[3];
  size_t ll[3], nl = 0, start = 0;
  for (size_t i = 0; i < len; i++) {
    if (text[i] != '\n') continue;
    if (i == start) return bad(err, "checkpoint: line %zu is empty", nl + 1);
    if (nl < 3) {
      line[nl] = text + start;
      ll[nl] = i - start;
    }
    nl++; /* lines after the third are extension lines, skipped */
    start = i + 1;
  }
  if (nl < 3) return bad(err, "checkpoint: expected origin, tree size and root hash lines");
  for (size_t i = 0; i < ll[0]; i++) {
    if ((unsigned char)line[0][i] < 0x20 || (unsigned char)line[0][i] >= 0x7f) {
      return bad(err, "checkpoint: origin must be printable ASCII");
    }
  }
  if (ll[0] > CUSTOS_AUDIT_KEY_NAME_MAX) {
    return bad(err, "checkpoint: origin longer than %d bytes", CUSTOS_AUDIT_KEY_NAME_MAX);
  }
  uint64_t size = 0;
  if (ll[1] > 20 || (line[1][0] == '0' && ll[1] > 1)) {
    return bad(err, "checkpoint: tree size must be decimal without leading zeros");
  }
  for (size_t i = 0; i < ll[1]; i++) {
    char c = line[1][i];
    if (c < '0' || c > '9') return bad(err, "checkpoint: tree size must be decimal");
    unsigned d = (unsigned)(c - '0');
    if (size > (UINT64_MAX - d) / 10) return bad(err, "checkpoint: tree size too large");
    size = size * 10 + d;
  }
  size_t rl = 0;
  if (!custos__audit_b64_decode(line[2], ll[2], out->root.b, CUSTOS_AUDIT_HASH_SIZE, &rl) ||
      rl != CUSTOS_AUDIT_HASH_SIZE) {
    memset(out, 0, sizeof *out);
    return bad(err, "checkpoint: root hash must be base64 of 32 bytes");
  }
  memcpy(out->origin, line[0], ll[0]);
  out->origin[ll[0]] = '\0';
  out->size = size;
  return CUSTOS_OK;
}

int custos__audit_note_verify(const char *note, size_t len, const custos_audit_verifier *v,
                              size_t *text_len, custos_err *err) {
  if (note == NULL || v == NULL) return bad(err, "signed note: missing");
  *text_len = 0;
  int rc = sodium_ready(err);
  if (rc != CUSTOS_OK) return rc;
  if (len > CUSTOS_AUDIT_NOTE_MAX) {
    return bad(err, "signed note: longer than %d bytes", CUSTOS_AUDIT_NOTE_MAX);
  }
  if (!text_ok((const uint8_t *)note, len)) {
    return bad(err, "signed note: not UTF-8 text, or holds a control character");
  }
  /* The text ends at the last blank line; signatures follow it. */
  size_t split = len;
  for (size_t i = len; i-- > 1;) {
    if (note[i] == '\n' && note[i - 1] == '\n') {
      split = i;
      break;
    }
  }
  if (split == len) return bad(err, "signed note: no blank line before the signatures");
  size_t tlen = split; /* text = note[0..split), ends in '\n' */
  const char *sigs = note + split + 1;
  size_t slen = len - split - 1;
  if (slen == 0 || sigs[slen - 1] != '\n') {
    return bad(err,
               "signed note: signature lines must follow the blank line, each ending in a "
               "newline");
  }
  /* Signatures by other keys may be of any algorithm and length. */
  uint8_t *sig = custos__malloc(slen);
  if (sig == NULL) return custos__err(err, CUSTOS_ENOMEM, MOD, "signed note: out of memory");
  size_t dl = strlen(DASH " ");
  int n_sigs = 0;
  bool found = false, other_same_name = false;
  for (size_t pos = 0; pos < slen;) {
    const char *l = sigs + pos;
    const char *nlp = memchr(l, '\n', slen - pos);
    size_t ll = (size_t)(nlp - l);
    pos += ll + 1;
    if (++n_sigs > CUSTOS_AUDIT_NOTE_MAX_SIGS) {
      rc = bad(err, "signed note: more than %d signatures", CUSTOS_AUDIT_NOTE_MAX_SIGS);
      goto out;
    }
    if (ll < dl || memcmp(l, DASH " ", dl) != 0) {
      rc =
          bad(err, "signed note: signature line %d must start with an em dash and a space", n_sigs);
      goto out;
    }
    const char *name = l + dl;
    const char *sp = memchr(name, ' ', ll - dl);
    size_t nlen = sp ? (size_t)(sp - name) : 0;
    if (sp == NULL || !custos__audit_name_valid(name, nlen)) {
      rc = bad(err, "signed note: signature line %d must be: em dash, key name, signature", n_sigs);
      goto out;
    }
    size_t siglen = 0;
    if (!custos__audit_b64_decode(sp + 1, ll - dl - nlen - 1, sig, slen, &siglen) || siglen < 5) {
      rc = bad(err, "signed note: signature line %d is not base64 of a key hash and a signature",
               n_sigs);
      goto out;
    }
    uint32_t h = (uint32_t)sig[0] << 24 | (uint32_t)sig[1] << 16 | (uint32_t)sig[2] << 8 | sig[3];
    bool same_name = nlen == strlen(v->name) && memcmp(name, v->name, nlen) == 0;
    if (!same_name) continue; /* another party's signature: not ours to judge */
    if (h != v->key_hash) {
      other_same_name = true;
      continue;
    }
    if (siglen != 4 + crypto_sign_BYTES ||
        crypto_sign_verify_detached(sig + 4, (const uint8_t *)note, tlen, v->public_key) != 0) {
      rc = custos__err(err, CUSTOS_EVERIFY, MOD,
                       "signed note: the signature by %s+%08x does not verify", v->name,
                       (unsigned)v->key_hash);
      goto out;
    }
    found = true;
  }
  if (!found) {
    rc = custos__err(err, CUSTOS_EVERIFY, MOD, "signed note: not signed by %s+%08x%s", v->name,
                     (unsigned)v->key_hash,
                     other_same_name ? " (signed by another key of the same name)" : "");
    goto out;
  }
  *text_len = tlen;
out:
  custos__free(sig);
  return rc;
}

int custos_audit_checkpoint_verify(const char *note, size_t len, const custos_audit_verifier *v,
                                   custos_audit_checkpoint *out, custos_err *err) {
  if (out == NULL) return bad(err, "checkpoint: no output");
  memset(out, 0, sizeof *out);
  size_t tlen = 0;
  int rc = custos__audit_note_verify(note, len, v, &tlen, err);
  if (rc == CUSTOS_OK) rc = custos_audit_checkpoint_parse(note, tlen, out, err);
  return rc;
}
