/*
 * verify-proof: checks, without custos, that an audit entry is in a custos
 * log.  It needs four things an auditor can hold independently of custos:
 *
 *   --key         the log's verifier key "<name>+<key hash>+<base64 key>"
 *                 (or @FILE to read it from a file)
 *   --checkpoint  a signed checkpoint (C2SP tlog-checkpoint in a signed note)
 *   --entry       the entry's exact bytes (canonical JSON, no trailing newline)
 *   --proof       the inclusion proof file (JSON, see README.md)
 *
 * It checks the checkpoint's Ed25519 signature with the key, hashes the entry
 * as an RFC 6962 leaf, and verifies the inclusion proof (RFC 9162 section
 * 2.1.3.2) against the checkpoint's root.  It prints "OK: ..." and exits 0
 * when all holds; otherwise it prints the reason and exits 1 (the proof,
 * entry or signature does not verify) or 2 (usage, unreadable or malformed
 * input).
 *
 * Everything is in this one file on purpose: an auditor can read it whole.
 * Only libsodium is used (SHA-256, Ed25519); JSON, base64 and the note format
 * are parsed here, strictly.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define EXIT_OK 0
#define EXIT_FAILED 1 /* does not verify */
#define EXIT_USAGE 2  /* usage, unreadable or malformed input */

#define FILE_MAX 65536      /* bytes of any input file */
#define NAME_MAX_ 128       /* bytes of a key name or origin */
#define PROOF_MAX 64        /* hashes in an inclusion proof */
#define MAX_SIGS 100        /* signature lines in a note */
#define DASH "\xe2\x80\x94" /* U+2014 EM DASH */

static const char *const USAGE =
    "usage: verify-proof --key VERIFIER_KEY|@FILE --checkpoint FILE --entry FILE --proof FILE\n";

/* ---- reporting -------------------------------------------------------------------- */

static int failed(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int failed(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs(code == EXIT_FAILED ? "FAILED: " : "error: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  return code;
}

/* ---- files -------------------------------------------------------------------------- */

typedef struct text {
  char *p;    /* NUL-terminated contents (owned) */
  size_t len; /* bytes, without the NUL */
} text;

static int read_file(const char *what, const char *path, text *out) {
  out->p = NULL;
  out->len = 0;
  FILE *f = fopen(path, "rb");
  if (f == NULL) return failed(EXIT_USAGE, "%s %s: %s", what, path, strerror(errno));
  char *buf = malloc(FILE_MAX + 1);
  if (buf == NULL) {
    fclose(f);
    return failed(EXIT_USAGE, "out of memory");
  }
  size_t n = fread(buf, 1, FILE_MAX + 1, f);
  bool err = ferror(f) != 0;
  fclose(f);
  if (err) {
    free(buf);
    return failed(EXIT_USAGE, "%s %s: read error", what, path);
  }
  if (n > FILE_MAX) {
    free(buf);
    return failed(EXIT_USAGE, "%s %s: larger than %d bytes", what, path, FILE_MAX);
  }
  buf[n] = '\0';
  out->p = buf;
  out->len = n;
  return EXIT_OK;
}

/* ---- base64 and hex (strict: one spelling per value) ------------------------------- */

static int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

/* Standard base64 with padding; unused bits must be zero. */
static bool b64_decode(const char *in, size_t n, uint8_t *out, size_t cap, size_t *len) {
  *len = 0;
  if (n % 4 != 0) return false;
  size_t o = 0;
  for (size_t i = 0; i < n; i += 4) {
    int v[4], pad = 0;
    for (int j = 0; j < 4; j++) {
      char c = in[i + (size_t)j];
      if (c == '=' && i + 4 == n && j >= 2) {
        v[j] = 0;
        pad++;
        continue;
      }
      if (pad > 0 || (v[j] = b64_value(c)) < 0) return false;
    }
    uint32_t x = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
    if ((pad == 1 && (x & 0xff)) || (pad == 2 && (x & 0xffff))) return false;
    size_t bytes = (size_t)(3 - pad);
    if (o + bytes > cap) return false;
    out[o++] = (uint8_t)(x >> 16);
    if (bytes > 1) out[o++] = (uint8_t)(x >> 8);
    if (bytes > 2) out[o++] = (uint8_t)x;
  }
  *len = o;
  return true;
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

/* Exactly 2 * n lowercase hex digits. */
static bool hex_decode(const char *in, size_t len, uint8_t *out, size_t n) {
  if (len != 2 * n) return false;
  for (size_t i = 0; i < n; i++) {
    int hi = hex_value(in[2 * i]), lo = hex_value(in[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = (uint8_t)(hi << 4 | lo);
  }
  return true;
}

static void hex_encode(const uint8_t *in, size_t n, char *out) {
  static const char H[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = H[in[i] >> 4];
    out[2 * i + 1] = H[in[i] & 15];
  }
  out[2 * n] = '\0';
}

/* ---- the verifier key ------------------------------------------------------------------ */

typedef struct key {
  char name[NAME_MAX_ + 1]; /* key name */
  uint32_t hash;            /* key hash */
  uint8_t pk[32];           /* Ed25519 public key */
} key;

/* 1..128 printable ASCII characters, no space, no '+'. */
static bool name_valid(const char *s, size_t n) {
  if (n == 0 || n > NAME_MAX_) return false;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c <= 0x20 || c >= 0x7f || c == '+') return false;
  }
  return true;
}

/* First 4 bytes of SHA-256(name || "\n" || 0x01 || key), big-endian. */
static uint32_t key_hash(const char *name, const uint8_t pk[32]) {
  crypto_hash_sha256_state st;
  uint8_t h[32], sep[2] = {'\n', 0x01};
  crypto_hash_sha256_init(&st);
  crypto_hash_sha256_update(&st, (const uint8_t *)name, strlen(name));
  crypto_hash_sha256_update(&st, sep, 2);
  crypto_hash_sha256_update(&st, pk, 32);
  crypto_hash_sha256_final(&st, h);
  return (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
}

/* "<name>+<8 hex>+<base64(0x01 || key)>" */
static int parse_key(const char *s, size_t n, key *k) {
  const char *p1 = memchr(s, '+', n);
  const char *p2 = p1 ? memchr(p1 + 1, '+', n - (size_t)(p1 + 1 - s)) : NULL;
  if (p2 == NULL) { /* the name and hash hold no '+'; the base64 key may */
    return failed(EXIT_USAGE, "key: expected <name>+<key hash>+<base64 key>");
  }
  size_t nl = (size_t)(p1 - s);
  if (!name_valid(s, nl)) return failed(EXIT_USAGE, "key: malformed name");
  uint8_t h4[4], raw[40];
  size_t rl = 0;
  if (!hex_decode(p1 + 1, (size_t)(p2 - p1 - 1), h4, 4)) {
    return failed(EXIT_USAGE, "key: key hash must be 8 lowercase hex digits");
  }
  if (!b64_decode(p2 + 1, n - (size_t)(p2 + 1 - s), raw, sizeof raw, &rl) || rl != 33 ||
      raw[0] != 0x01) {
    return failed(EXIT_USAGE, "key: expected base64 of 0x01 (Ed25519) and a 32-byte key");
  }
  memcpy(k->name, s, nl);
  k->name[nl] = '\0';
  memcpy(k->pk, raw + 1, 32);
  k->hash = (uint32_t)h4[0] << 24 | (uint32_t)h4[1] << 16 | (uint32_t)h4[2] << 8 | h4[3];
  if (key_hash(k->name, k->pk) != k->hash) {
    return failed(EXIT_USAGE, "key: key hash does not match the name and key");
  }
  return EXIT_OK;
}

/* ---- the signed checkpoint ------------------------------------------------------------ */

typedef struct checkpoint {
  char origin[NAME_MAX_ + 1]; /* first line */
  uint64_t size;              /* tree size */
  uint8_t root[32];           /* root hash */
} checkpoint;

/* UTF-8 without control characters other than '\n'. */
static bool text_ok(const uint8_t *s, size_t n) {
  for (size_t i = 0; i < n;) {
    uint8_t c = s[i];
    if (c < 0x80) {
      if ((c < 0x20 && c != '\n') || c == 0x7f) return false;
      i++;
      continue;
    }
    size_t need;
    uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
      need = 1;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      need = 2;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      need = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + need >= n) return false;
    for (size_t j = 1; j <= need; j++) {
      if ((s[i + j] & 0xc0) != 0x80) return false;
      cp = cp << 6 | (s[i + j] & 0x3f);
    }
    if ((need == 2 && cp < 0x800) || (need == 3 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f)) {
      return false;
    }
    i += need + 1;
  }
  return true;
}

static int parse_body(const char *t, size_t len, checkpoint *cp) {
  const char *line[3] = {0};
  size_t ll[3] = {0}, nl = 0, start = 0;
  for (size_t i = 0; i < len; i++) {
    if (t[i] != '\n') continue;
    if (i == start) return failed(EXIT_USAGE, "checkpoint: line %zu is empty", nl + 1);
    if (nl < 3) {
      line[nl] = t + start;
      ll[nl] = i - start;
    }
    nl++;
    start = i + 1;
  }
  if (nl < 3) return failed(EXIT_USAGE, "checkpoint: expected origin, size and root lines");
  if (ll[0] > NAME_MAX_) return failed(EXIT_USAGE, "checkpoint: origin too long");
  for (size_t i = 0; i < ll[0]; i++) {
    if ((unsigned char)line[0][i] < 0x20 || (unsigned char)line[0][i] >= 0x7f) {
      return failed(EXIT_USAGE, "checkpoint: origin must be printable ASCII");
    }
  }
  if (ll[1] > 20 || (line[1][0] == '0' && ll[1] > 1)) {
    return failed(EXIT_USAGE, "checkpoint: tree size must be decimal without leading zeros");
  }
  uint64_t size = 0;
  for (size_t i = 0; i < ll[1]; i++) {
    char c = line[1][i];
    if (c < '0' || c > '9') return failed(EXIT_USAGE, "checkpoint: tree size must be decimal");
    unsigned d = (unsigned)(c - '0');
    if (size > (UINT64_MAX - d) / 10) return failed(EXIT_USAGE, "checkpoint: tree size too large");
    size = size * 10 + d;
  }
  size_t rl = 0;
  if (!b64_decode(line[2], ll[2], cp->root, 32, &rl) || rl != 32) {
    return failed(EXIT_USAGE, "checkpoint: root must be base64 of 32 bytes");
  }
  memcpy(cp->origin, line[0], ll[0]);
  cp->origin[ll[0]] = '\0';
  cp->size = size;
  return EXIT_OK;
}

/* Verifies the signed note with k, then parses its text as a checkpoint. */
static int open_checkpoint(const text *note, const key *k, checkpoint *cp) {
  const char *s = note->p;
  size_t len = note->len;
  if (!text_ok((const uint8_t *)s, len)) {
    return failed(EXIT_USAGE, "checkpoint: not UTF-8 text, or holds a control character");
  }
  size_t split = len;
  for (size_t i = len; i-- > 1;) {
    if (s[i] == '\n' && s[i - 1] == '\n') {
      split = i;
      break;
    }
  }
  if (split == len) return failed(EXIT_USAGE, "checkpoint: no blank line before signatures");
  const char *sigs = s + split + 1;
  size_t slen = len - split - 1;
  if (slen == 0 || sigs[slen - 1] != '\n') {
    return failed(EXIT_USAGE, "checkpoint: signature lines must end in a newline");
  }
  uint8_t *sig = malloc(slen);
  if (sig == NULL) return failed(EXIT_USAGE, "out of memory");
  int rc = EXIT_OK, count = 0;
  bool found = false;
  size_t dl = strlen(DASH " ");
  for (size_t pos = 0; pos < slen && rc == EXIT_OK;) {
    const char *l = sigs + pos;
    size_t ll = (size_t)((const char *)memchr(l, '\n', slen - pos) - l);
    pos += ll + 1;
    if (++count > MAX_SIGS) {
      rc = failed(EXIT_USAGE, "checkpoint: more than %d signatures", MAX_SIGS);
      break;
    }
    const char *name = l + dl;
    const char *sp = ll > dl ? memchr(name, ' ', ll - dl) : NULL;
    size_t nlen = sp ? (size_t)(sp - name) : 0;
    size_t siglen = 0;
    if (ll < dl || memcmp(l, DASH " ", dl) != 0 || sp == NULL || !name_valid(name, nlen) ||
        !b64_decode(sp + 1, ll - dl - nlen - 1, sig, slen, &siglen) || siglen < 5) {
      rc = failed(EXIT_USAGE, "checkpoint: signature line %d is malformed", count);
      break;
    }
    uint32_t h = (uint32_t)sig[0] << 24 | (uint32_t)sig[1] << 16 | (uint32_t)sig[2] << 8 | sig[3];
    if (nlen != strlen(k->name) || memcmp(name, k->name, nlen) != 0 || h != k->hash) continue;
    if (siglen != 4 + crypto_sign_BYTES ||
        crypto_sign_verify_detached(sig + 4, (const uint8_t *)s, split, k->pk) != 0) {
      rc = failed(EXIT_FAILED, "checkpoint: the signature by %s does not verify", k->name);
      break;
    }
    found = true;
  }
  free(sig);
  if (rc != EXIT_OK) return rc;
  if (!found) {
    return failed(EXIT_FAILED, "checkpoint: not signed by the key %s+%08x", k->name,
                  (unsigned)k->hash);
  }
  return parse_body(s, split, cp);
}

/* ---- a small strict JSON reader (objects, arrays, strings without escapes,
 *      non-negative integers, true, false, null) ------------------------------------- */

typedef struct json {
  const char *p, *end; /* cursor and end of input */
  int depth;           /* current nesting */
} json;

static void ws(json *j) {
  while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) {
    j->p++;
  }
}

static bool lit(json *j, char c) {
  ws(j);
  if (j->p < j->end && *j->p == c) {
    j->p++;
    return true;
  }
  return false;
}

/* A string of printable ASCII without escapes: what every field here holds. */
static bool jstring(json *j, const char **s, size_t *n) {
  if (!lit(j, '"')) return false;
  const char *start = j->p;
  while (j->p < j->end && *j->p != '"') {
    unsigned char c = (unsigned char)*j->p;
    if (c == '\\' || c < 0x20 || c >= 0x7f) return false;
    j->p++;
  }
  if (j->p >= j->end) return false;
  *s = start;
  *n = (size_t)(j->p - start);
  j->p++;
  return true;
}

static bool juint(json *j, uint64_t *out) {
  ws(j);
  const char *start = j->p;
  uint64_t v = 0;
  while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
    unsigned d = (unsigned)(*j->p - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
    j->p++;
  }
  size_t n = (size_t)(j->p - start);
  if (n == 0 || (n > 1 && *start == '0')) return false;
  if (j->p < j->end && (*j->p == '.' || *j->p == 'e' || *j->p == 'E')) return false;
  *out = v;
  return true;
}

static bool jskip(json *j) {
  ws(j);
  if (j->p >= j->end || ++j->depth > 8) return false;
  bool ok = true;
  const char *s;
  size_t n;
  uint64_t u;
  char c = *j->p;
  if (c == '{') {
    j->p++;
    if (!lit(j, '}')) {
      do {
        ok = jstring(j, &s, &n) && lit(j, ':') && jskip(j);
      } while (ok && lit(j, ','));
      ok = ok && lit(j, '}');
    }
  } else if (c == '[') {
    j->p++;
    if (!lit(j, ']')) {
      do {
        ok = jskip(j);
      } while (ok && lit(j, ','));
      ok = ok && lit(j, ']');
    }
  } else if (c == '"') {
    ok = jstring(j, &s, &n);
  } else if (c >= '0' && c <= '9') {
    ok = juint(j, &u);
  } else {
    static const char *const words[] = {"true", "false", "null"};
    ok = false;
    for (size_t i = 0; i < 3 && !ok; i++) {
      size_t wl = strlen(words[i]);
      if ((size_t)(j->end - j->p) >= wl && memcmp(j->p, words[i], wl) == 0) {
        j->p += wl;
        ok = true;
      }
    }
  }
  j->depth--;
  return ok;
}

static bool key_is(const char *s, size_t n, const char *k) {
  return n == strlen(k) && memcmp(s, k, n) == 0;
}

/* ---- the proof file ---------------------------------------------------------------- */

typedef struct proof {
  uint64_t leaf_index, tree_size; /* the leaf and the tree it is proven in */
  uint8_t leaf_hash[32];          /* SHA-256(0x00 || entry) */
  uint8_t hashes[PROOF_MAX][32];  /* siblings from the leaf upwards */
  size_t n;                       /* hashes used */
} proof;

static int parse_proof(const text *t, proof *pr) {
  json j = {t->p, t->p + t->len, 0};
  enum { F_FORMAT = 1, F_HASHES = 2, F_LEAF = 4, F_INDEX = 8, F_SIZE = 16 };
  unsigned seen = 0;
  const char *s;
  size_t n;
  if (!lit(&j, '{')) return failed(EXIT_USAGE, "proof: expected a JSON object");
  do {
    if (!jstring(&j, &s, &n) || !lit(&j, ':')) return failed(EXIT_USAGE, "proof: malformed JSON");
    unsigned f = key_is(s, n, "format")       ? F_FORMAT
                 : key_is(s, n, "hashes")     ? F_HASHES
                 : key_is(s, n, "leaf_hash")  ? F_LEAF
                 : key_is(s, n, "leaf_index") ? F_INDEX
                 : key_is(s, n, "tree_size")  ? F_SIZE
                                              : 0;
    if (f == 0)
      return failed(EXIT_USAGE, "proof: unknown member \"%.*s\"", (int)(n > 40 ? 40 : n), s);
    if (seen & f) return failed(EXIT_USAGE, "proof: member \"%.*s\" twice", (int)n, s);
    seen |= f;
    const char *v;
    size_t vn;
    switch (f) {
      case F_FORMAT:
        if (!jstring(&j, &v, &vn) || !key_is(v, vn, "custos-inclusion-proof/v1")) {
          return failed(EXIT_USAGE, "proof.format: expected \"custos-inclusion-proof/v1\"");
        }
        break;
      case F_LEAF:
        if (!jstring(&j, &v, &vn) || !hex_decode(v, vn, pr->leaf_hash, 32)) {
          return failed(EXIT_USAGE, "proof.leaf_hash: expected 64 lowercase hex digits");
        }
        break;
      case F_INDEX:
        if (!juint(&j, &pr->leaf_index))
          return failed(EXIT_USAGE, "proof.leaf_index: expected an integer");
        break;
      case F_SIZE:
        if (!juint(&j, &pr->tree_size))
          return failed(EXIT_USAGE, "proof.tree_size: expected an integer");
        break;
      case F_HASHES:
        if (!lit(&j, '[')) return failed(EXIT_USAGE, "proof.hashes: expected an array");
        if (!lit(&j, ']')) {
          do {
            if (pr->n == PROOF_MAX)
              return failed(EXIT_USAGE, "proof.hashes: more than %d", PROOF_MAX);
            if (!jstring(&j, &v, &vn) || !hex_decode(v, vn, pr->hashes[pr->n], 32)) {
              return failed(EXIT_USAGE, "proof.hashes[%zu]: expected 64 lowercase hex digits",
                            pr->n);
            }
            pr->n++;
          } while (lit(&j, ','));
          if (!lit(&j, ']')) return failed(EXIT_USAGE, "proof.hashes: malformed array");
        }
        break;
    }
  } while (lit(&j, ','));
  if (!lit(&j, '}')) return failed(EXIT_USAGE, "proof: malformed JSON");
  ws(&j);
  if (j.p != j.end) return failed(EXIT_USAGE, "proof: text after the JSON object");
  if (seen != (F_FORMAT | F_HASHES | F_LEAF | F_INDEX | F_SIZE)) {
    return failed(EXIT_USAGE, "proof: needs format, hashes, leaf_hash, leaf_index and tree_size");
  }
  return EXIT_OK;
}

/* The entry's "seq" member (entries are JSON objects; seq is their leaf index). */
static int entry_seq(const text *t, uint64_t *seq) {
  json j = {t->p, t->p + t->len, 0};
  const char *s;
  size_t n;
  bool found = false;
  if (!lit(&j, '{')) return failed(EXIT_USAGE, "entry: expected a JSON object");
  if (!lit(&j, '}')) {
    do {
      if (!jstring(&j, &s, &n) || !lit(&j, ':')) return failed(EXIT_USAGE, "entry: malformed JSON");
      if (key_is(s, n, "seq")) {
        if (found || !juint(&j, seq)) return failed(EXIT_USAGE, "entry.seq: expected one integer");
        found = true;
      } else if (!jskip(&j)) {
        return failed(EXIT_USAGE, "entry: malformed JSON");
      }
    } while (lit(&j, ','));
    if (!lit(&j, '}')) return failed(EXIT_USAGE, "entry: malformed JSON");
  }
  if (j.p != j.end) {
    if (j.end - j.p == 1 && *j.p == '\n') {
      return failed(EXIT_USAGE,
                    "entry: ends in a newline; the entry file must hold the exact "
                    "entry bytes");
    }
    return failed(EXIT_USAGE, "entry: text after the JSON object");
  }
  if (!found) return failed(EXIT_USAGE, "entry: no seq member");
  return EXIT_OK;
}

/* ---- RFC 9162 inclusion ------------------------------------------------------------------ */

static void node_hash(const uint8_t l[32], const uint8_t r[32], uint8_t out[32]) {
  crypto_hash_sha256_state st;
  uint8_t prefix = 0x01, tmp[32];
  crypto_hash_sha256_init(&st);
  crypto_hash_sha256_update(&st, &prefix, 1);
  crypto_hash_sha256_update(&st, l, 32);
  crypto_hash_sha256_update(&st, r, 32);
  crypto_hash_sha256_final(&st, tmp);
  memcpy(out, tmp, 32);
}

/* RFC 9162 section 2.1.3.2. */
static bool verify_inclusion(uint64_t index, uint64_t size, const uint8_t leaf[32],
                             const uint8_t (*path)[32], size_t n, const uint8_t root[32]) {
  if (index >= size) return false;
  uint64_t fn = index, sn = size - 1;
  uint8_t r[32];
  memcpy(r, leaf, 32);
  for (size_t i = 0; i < n; i++) {
    if (sn == 0) return false;
    if ((fn & 1) || fn == sn) {
      node_hash(path[i], r, r);
      while (!(fn & 1) && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      node_hash(r, path[i], r);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && sodium_memcmp(r, root, 32) == 0;
}

/* ---- main ------------------------------------------------------------------------------ */

int main(int argc, char **argv) {
  const char *key_arg = NULL, *cp_path = NULL, *entry_path = NULL, *proof_path = NULL;
  for (int i = 1; i < argc; i++) {
    const char **dst = strcmp(argv[i], "--key") == 0          ? &key_arg
                       : strcmp(argv[i], "--checkpoint") == 0 ? &cp_path
                       : strcmp(argv[i], "--entry") == 0      ? &entry_path
                       : strcmp(argv[i], "--proof") == 0      ? &proof_path
                                                              : NULL;
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      fputs(USAGE, stdout);
      return EXIT_OK;
    }
    if (dst == NULL || i + 1 >= argc || *dst != NULL) {
      fputs(USAGE, stderr);
      return EXIT_USAGE;
    }
    *dst = argv[++i];
  }
  if (!key_arg || !cp_path || !entry_path || !proof_path) {
    fputs(USAGE, stderr);
    return EXIT_USAGE;
  }
  if (sodium_init() < 0) return failed(EXIT_USAGE, "libsodium failed to start");

  int rc;
  text keyt = {NULL, 0}, cpt = {NULL, 0}, entry = {NULL, 0}, prooft = {NULL, 0};
  key k;
  checkpoint cp;
  proof pr;
  memset(&pr, 0, sizeof pr);
  uint64_t seq = 0;
  if (key_arg[0] == '@') {
    if ((rc = read_file("key", key_arg + 1, &keyt)) != EXIT_OK) goto out;
    if (keyt.len > 0 && keyt.p[keyt.len - 1] == '\n') keyt.p[--keyt.len] = '\0';
    rc = parse_key(keyt.p, keyt.len, &k);
  } else {
    rc = parse_key(key_arg, strlen(key_arg), &k);
  }
  if (rc != EXIT_OK) goto out;
  if ((rc = read_file("checkpoint", cp_path, &cpt)) != EXIT_OK ||
      (rc = read_file("entry", entry_path, &entry)) != EXIT_OK ||
      (rc = read_file("proof", proof_path, &prooft)) != EXIT_OK ||
      (rc = open_checkpoint(&cpt, &k, &cp)) != EXIT_OK ||
      (rc = parse_proof(&prooft, &pr)) != EXIT_OK || (rc = entry_seq(&entry, &seq)) != EXIT_OK) {
    goto out;
  }
  if (pr.tree_size != cp.size) {
    rc = failed(EXIT_FAILED, "the proof is for tree size %llu, the checkpoint for %llu",
                (unsigned long long)pr.tree_size, (unsigned long long)cp.size);
    goto out;
  }
  if (seq != pr.leaf_index) {
    rc = failed(EXIT_FAILED, "the entry's seq is %llu, the proof is for leaf %llu",
                (unsigned long long)seq, (unsigned long long)pr.leaf_index);
    goto out;
  }
  uint8_t leaf[32], prefix = 0;
  crypto_hash_sha256_state st;
  crypto_hash_sha256_init(&st);
  crypto_hash_sha256_update(&st, &prefix, 1);
  crypto_hash_sha256_update(&st, (const uint8_t *)entry.p, entry.len);
  crypto_hash_sha256_final(&st, leaf);
  if (sodium_memcmp(leaf, pr.leaf_hash, 32) != 0) {
    rc = failed(EXIT_FAILED, "the entry's leaf hash is not the proof's (entry altered?)");
    goto out;
  }
  if (!verify_inclusion(pr.leaf_index, pr.tree_size, leaf, (const uint8_t(*)[32])pr.hashes, pr.n,
                        cp.root)) {
    rc = failed(EXIT_FAILED, "the proof does not lead to the checkpoint's root");
    goto out;
  }
  char hex[65];
  hex_encode(cp.root, 32, hex);
  printf("OK: entry %llu is in the log %s of %llu entries (root %s), signed by %s+%08x\n",
         (unsigned long long)pr.leaf_index, cp.origin, (unsigned long long)cp.size, hex, k.name,
         (unsigned)k.hash);
  rc = EXIT_OK;
out:
  free(keyt.p);
  free(cpt.p);
  free(entry.p);
  free(prooft.p);
  return rc;
}
