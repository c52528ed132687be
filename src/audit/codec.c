/*
 * Base64 and hex, strictly: the encodings in checkpoints, keys and proof
 * files have exactly one spelling per value, so a decoder that accepted a
 * second spelling (missing padding, non-zero unused bits, upper-case hex)
 * would let two different texts stand for one signed value.
 */
#include <string.h>

#include "audit/audit.h"

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t custos__audit_b64_len(size_t n) {
  return (n + 2) / 3 * 4;
}

void custos__audit_b64_encode(const uint8_t *in, size_t n, char *out) {
  size_t o = 0;
  for (size_t i = 0; i < n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16;
    if (i + 1 < n) v |= (uint32_t)in[i + 1] << 8;
    if (i + 2 < n) v |= in[i + 2];
    out[o++] = B64[(v >> 18) & 63];
    out[o++] = B64[(v >> 12) & 63];
    out[o++] = i + 1 < n ? B64[(v >> 6) & 63] : '=';
    out[o++] = i + 2 < n ? B64[v & 63] : '=';
  }
  out[o] = '\0';
}

static int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

bool custos__audit_b64_decode(const char *in, size_t n, uint8_t *out, size_t cap, size_t *len) {
  *len = 0;
  if (n % 4 != 0) return false;
  size_t o = 0;
  for (size_t i = 0; i < n; i += 4) {
    bool last = i + 4 == n;
    int v[4];
    int pad = 0;
    for (int j = 0; j < 4; j++) {
      char c = in[i + (size_t)j];
      if (c == '=' && last && j >= 2) {
        v[j] = 0;
        pad++;
        continue;
      }
      if (pad > 0) return false; /* data after padding */
      v[j] = b64_value(c);
      if (v[j] < 0) return false;
    }
    uint32_t x = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
    size_t bytes = (size_t)(3 - pad);
    /* Unused bits must be zero, or two texts would decode to one value. */
    if (pad == 1 && (x & 0xff) != 0) return false;
    if (pad == 2 && (x & 0xffff) != 0) return false;
    if (o + bytes > cap) return false;
    out[o++] = (uint8_t)(x >> 16);
    if (bytes > 1) out[o++] = (uint8_t)(x >> 8);
    if (bytes > 2) out[o++] = (uint8_t)x;
  }
  *len = o;
  return true;
}

void custos__audit_hex_encode(const uint8_t *in, size_t n, char *out) {
  static const char H[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = H[in[i] >> 4];
    out[2 * i + 1] = H[in[i] & 15];
  }
  out[2 * n] = '\0';
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

bool custos__audit_hex_decode(const char *in, size_t len, uint8_t *out, size_t n) {
  if (len != 2 * n) return false;
  for (size_t i = 0; i < n; i++) {
    int hi = hex_value(in[2 * i]), lo = hex_value(in[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = (uint8_t)(hi << 4 | lo);
  }
  return true;
}
