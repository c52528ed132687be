/*
 * The inclusion-proof file: what `custos audit prove` hands to a third party,
 * beside the entry and a signed checkpoint, for tools/verify-proof.
 *
 * One JSON object on one line, members sorted, hashes in lowercase hex:
 *
 *   member      type               meaning
 *   format      string             "custos-inclusion-proof/v1"
 *   hashes      array of strings   sibling hashes from the leaf upwards (RFC 9162 2.1.3)
 *   leaf_hash   string             SHA-256(0x00 || entry bytes)
 *   leaf_index  integer            the entry's seq
 *   tree_size   integer            size of the checkpoint the proof is for
 */
#include <stdio.h>
#include <string.h>

#include "audit/audit.h"
#include "util/json.h"

#define MOD "audit"

int custos_audit_proof_encode(const custos_audit_inclusion_proof *p, char *out, size_t cap,
                              size_t *len, custos_err *err) {
  custos_buf b;
  custos__buf_init(&b, CUSTOS_AUDIT_PROOF_FILE_MAX);
  char hex[2 * CUSTOS_AUDIT_HASH_SIZE + 1];
  int rc = CUSTOS_OK;
  if (p->n > CUSTOS_AUDIT_PROOF_MAX) {
    return custos__err(err, CUSTOS_EINVAL, MOD, "proof: %zu hashes, more than %d", p->n,
                       CUSTOS_AUDIT_PROOF_MAX);
  }
  rc = custos__buf_appendf(&b, "{\"format\":\"%s\",\"hashes\":[", CUSTOS_AUDIT_PROOF_FORMAT);
  for (size_t i = 0; rc == CUSTOS_OK && i < p->n; i++) {
    custos__audit_hex_encode(p->hashes[i].b, CUSTOS_AUDIT_HASH_SIZE, hex);
    rc = custos__buf_appendf(&b, "%s\"%s\"", i ? "," : "", hex);
  }
  custos__audit_hex_encode(p->leaf_hash.b, CUSTOS_AUDIT_HASH_SIZE, hex);
  if (rc == CUSTOS_OK) {
    rc = custos__buf_appendf(&b, "],\"leaf_hash\":\"%s\",\"leaf_index\":%llu,\"tree_size\":%llu}\n",
                             hex, (unsigned long long)p->leaf_index,
                             (unsigned long long)p->tree_size);
  }
  if (rc != CUSTOS_OK) {
    rc = custos__err(err, rc, MOD, "proof: %s", custos_strerror(rc));
  } else if (b.len + 1 > cap) {
    rc = custos__err(err, CUSTOS_ETOOBIG, MOD, "proof: needs %zu bytes, buffer has %zu", b.len + 1,
                     cap);
  } else {
    memcpy(out, b.data, b.len + 1);
    if (len) *len = b.len;
  }
  custos__buf_free(&b);
  return rc;
}

static int hash_from(const json_t *s, const char *field, custos_audit_hash *out, custos_err *err) {
  if (!json_is_string(s) || !custos__audit_hex_decode(json_string_value(s), json_string_length(s),
                                                      out->b, CUSTOS_AUDIT_HASH_SIZE)) {
    return custos__err(err, CUSTOS_EINVAL, MOD, "%s: expected 64 lowercase hex digits", field);
  }
  return CUSTOS_OK;
}

int custos_audit_proof_decode(const char *text, size_t len, custos_audit_inclusion_proof *out,
                              custos_err *err) {
  static const char *const KEYS[] = {"format", "hashes", "leaf_hash", "leaf_index", "tree_size"};
  json_t *root = NULL;
  memset(out, 0, sizeof *out);
  custos_json_limits lim = {CUSTOS_AUDIT_PROOF_FILE_MAX, 2};
  int rc = custos__json_parse(text, len, &lim, &root, err);
  if (rc != CUSTOS_OK) return rc;
  const char *format = NULL;
  const json_t *arr = NULL;
  long long idx = 0, size = 0;
  if (!json_is_object(root)) {
    rc = custos__err(err, CUSTOS_EINVAL, MOD, "proof: expected a JSON object");
    goto out;
  }
  if ((rc = custos__json_check_keys(root, "proof", KEYS, CUSTOS_ARRAY_LEN(KEYS), err)) ||
      (rc = custos__json_get_string(root, "proof", "format", true, 64, &format, err)) ||
      (rc = custos__json_get_int(root, "proof", "leaf_index", true, 0, INT64_MAX, &idx, err)) ||
      (rc = custos__json_get_int(root, "proof", "tree_size", true, 1, INT64_MAX, &size, err)) ||
      (rc = custos__json_get_array(root, "proof", "hashes", true, CUSTOS_AUDIT_PROOF_MAX, &arr,
                                   err)) ||
      (rc = hash_from(json_object_get(root, "leaf_hash"), "proof.leaf_hash", &out->leaf_hash,
                      err))) {
    goto out;
  }
  if (strcmp(format, CUSTOS_AUDIT_PROOF_FORMAT) != 0) {
    rc = custos__err(err, CUSTOS_EVERSION, MOD, "proof.format: expected %s",
                     CUSTOS_AUDIT_PROOF_FORMAT);
    goto out;
  }
  for (size_t i = 0; i < json_array_size(arr); i++) {
    char field[48];
    snprintf(field, sizeof field, "proof.hashes[%zu]", i);
    rc = hash_from(json_array_get(arr, i), field, &out->hashes[i], err);
    if (rc != CUSTOS_OK) goto out;
  }
  out->n = json_array_size(arr);
  out->leaf_index = (uint64_t)idx;
  out->tree_size = (uint64_t)size;
out:
  json_decref(root);
  return rc;
}

int custos_audit_proof_verify(const custos_audit_inclusion_proof *p, const void *entry, size_t len,
                              const custos_audit_checkpoint *cp, custos_err *err) {
  if (p->tree_size != cp->size) {
    return custos__err(err, CUSTOS_EVERIFY, MOD,
                       "proof is for tree size %llu, the checkpoint for size %llu",
                       (unsigned long long)p->tree_size, (unsigned long long)cp->size);
  }
  custos_audit_hash leaf;
  custos_audit_leaf_hash(entry, len, &leaf);
  if (memcmp(leaf.b, p->leaf_hash.b, CUSTOS_AUDIT_HASH_SIZE) != 0) {
    return custos__err(err, CUSTOS_EVERIFY, MOD,
                       "the entry's leaf hash is not the proof's (entry altered?)");
  }
  return custos_audit_verify_inclusion(p->leaf_index, p->tree_size, &leaf, p->hashes, p->n,
                                       &cp->root, err);
}
