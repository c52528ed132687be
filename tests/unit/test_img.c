/*
 * Tests of the image module (src/img).
 *
 * Every test image is generated at run time with the same libraries the
 * decoders use: JPEGs with libjpeg's compressor, PNGs with libpng's writer,
 * both into memory.  Decoded JPEG pixels are checked against a plain libjpeg
 * decode with default settings (the reference that `djpeg -ppm` also is), PNG
 * pixels against values computed here from the samples written, resize and
 * warp against hand-computed values and a simple double-precision reference.
 * The broken corpus (every truncation, random bytes, bit flips, bombs) must
 * give errors or sane images, never a crash or a leak (the ASan build runs
 * the same tests).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jpeglib.h>
#include <png.h>

#include "custos/image.h"
#include "img/img.h"
#include "util/util.h"

/* ---- small helpers ------------------------------------------------------ */

typedef struct blob {
  uint8_t *data; /* malloc'd */
  size_t len;
} blob;

static void blob_free(blob *b) {
  free(b->data);
  b->data = NULL;
  b->len = 0;
}

static blob blob_copy(const uint8_t *d, size_t len) {
  blob b = {malloc(len ? len : 1), len};
  assert_non_null(b.data);
  if (len) memcpy(b.data, d, len);
  return b;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static void rng_seed(uint64_t s) {
  rng_state = s ? s : 1;
}

static uint32_t rng(void) { /* xorshift64* */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return (uint32_t)((rng_state * 0x2545f4914f6cdd1dull) >> 32);
}

static bool contains(const char *hay, const char *needle) {
  return strstr(hay, needle) != NULL;
}

/* Decodes with default limits and asserts success. */
static custos_image *decode_ok(const blob *b, custos_image_info *info) {
  custos_image *img = NULL;
  custos_err err;
  custos_err_clear(&err);
  int rc = custos_image_decode(b->data, b->len, NULL, &img, info, &err);
  if (rc != CUSTOS_OK) fail_msg("decode failed: %s: %s", custos_err_name(rc), err.message);
  assert_non_null(img);
  return img;
}

/* Decodes and asserts failure with `code` (0: any error); returns the err. */
static custos_err decode_fails(const void *d, size_t len, const custos_image_limits *lim,
                               int code) {
  custos_image *img = (custos_image *)1;
  custos_err err;
  custos_err_clear(&err);
  int rc = custos_image_decode(d, len, lim, &img, NULL, &err);
  if (rc == CUSTOS_OK) fail_msg("decode of %zu bytes succeeded, expected an error", len);
  assert_null(img);
  assert_int_equal(err.code, rc);
  assert_string_equal(err.module, "img");
  assert_true(err.message[0] != '\0');
  if (code != 0 && rc != code) {
    fail_msg("expected %s, got %s: %s", custos_err_name(code), custos_err_name(rc), err.message);
  }
  return err;
}

static uint8_t clamp_u8(int v) {
  return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* A smooth RGB (comps 3), gray (1) or CMYK (4) test pattern. */
static uint8_t *pattern(int w, int h, int comps) {
  uint8_t *p = malloc((size_t)w * (size_t)h * (size_t)comps);
  assert_non_null(p);
  for (int y = 0; y < h; y++) {
    for (int x = 0; x < w; x++) {
      uint8_t *q = p + ((size_t)y * (size_t)w + (size_t)x) * (size_t)comps;
      int a = w > 1 ? x * 255 / (w - 1) : 0, b = h > 1 ? y * 255 / (h - 1) : 0;
      int vals[4] = {a, b, (a + b) / 2, 255 - (a + b) / 2};
      for (int c = 0; c < comps; c++) q[c] = clamp_u8(comps == 1 ? (a + b) / 2 : vals[c]);
    }
  }
  return p;
}

/* ---- JPEG generation ---------------------------------------------------- */

typedef struct jpeg_spec {
  int quality;              /* 1..100; 0 means 95 */
  int h_samp, v_samp;       /* luma sampling factors; 0 means 2x2 (4:2:0) */
  bool progressive;         /* jpeg_simple_progression */
  bool arith;               /* arithmetic coding */
  int restart_rows;         /* restart interval in MCU rows, 0 none */
  J_COLOR_SPACE in_space;   /* JCS_RGB (0 means RGB), JCS_GRAYSCALE, JCS_CMYK */
  J_COLOR_SPACE jpeg_space; /* 0: the default for in_space */
  bool no_adobe;            /* suppress the Adobe APP14 marker */
  const uint8_t *app1;      /* an APP1 payload to write, or NULL */
  size_t app1_len;
  const jpeg_scan_info *scans; /* custom scan script */
  int nscans;
} jpeg_spec;

static int comps_of(J_COLOR_SPACE cs) {
  return cs == JCS_GRAYSCALE ? 1 : cs == JCS_CMYK ? 4 : 3;
}

static blob encode_jpeg(const uint8_t *pix, int w, int h, const jpeg_spec *s) {
  struct jpeg_compress_struct ci;
  struct jpeg_error_mgr je;
  unsigned char *out = NULL;
  unsigned long outlen = 0;
  J_COLOR_SPACE in = s->in_space ? s->in_space : JCS_RGB;
  ci.err = jpeg_std_error(&je);
  jpeg_create_compress(&ci);
  jpeg_mem_dest(&ci, &out, &outlen);
  ci.image_width = (JDIMENSION)w;
  ci.image_height = (JDIMENSION)h;
  ci.input_components = comps_of(in);
  ci.in_color_space = in;
  jpeg_set_defaults(&ci);
  if (s->jpeg_space) jpeg_set_colorspace(&ci, s->jpeg_space);
  if (s->no_adobe) ci.write_Adobe_marker = FALSE;
  jpeg_set_quality(&ci, s->quality ? s->quality : 95, TRUE);
  if (ci.num_components >= 3) {
    ci.comp_info[0].h_samp_factor = s->h_samp ? s->h_samp : 2;
    ci.comp_info[0].v_samp_factor = s->v_samp ? s->v_samp : 2;
  }
  if (s->progressive) jpeg_simple_progression(&ci);
  if (s->scans) {
    ci.scan_info = s->scans;
    ci.num_scans = s->nscans;
  }
  if (s->arith) ci.arith_code = TRUE;
  ci.restart_in_rows = s->restart_rows;
  jpeg_start_compress(&ci, TRUE);
  if (s->app1) jpeg_write_marker(&ci, JPEG_APP0 + 1, s->app1, (unsigned)s->app1_len);
  const size_t stride = (size_t)w * (size_t)comps_of(in);
  while (ci.next_scanline < ci.image_height) {
    JSAMPROW row = (JSAMPROW)(pix + ci.next_scanline * stride);
    jpeg_write_scanlines(&ci, &row, 1);
  }
  jpeg_finish_compress(&ci);
  jpeg_destroy_compress(&ci);
  blob b = {out, outlen};
  return b;
}

static blob jpeg_rgb(int w, int h, const jpeg_spec *s) {
  uint8_t *p = pattern(w, h, 3);
  blob b = encode_jpeg(p, w, h, s);
  free(p);
  return b;
}

/* Plain libjpeg decode to RGB with every default: the reference. */
static uint8_t *ref_jpeg(const blob *b, int *w, int *h) {
  struct jpeg_decompress_struct ci;
  struct jpeg_error_mgr je;
  ci.err = jpeg_std_error(&je);
  jpeg_create_decompress(&ci);
  jpeg_mem_src(&ci, b->data, (unsigned long)b->len);
  jpeg_read_header(&ci, TRUE);
  ci.out_color_space = JCS_RGB;
  jpeg_start_decompress(&ci);
  *w = (int)ci.output_width;
  *h = (int)ci.output_height;
  uint8_t *p = malloc((size_t)*w * (size_t)*h * 3);
  assert_non_null(p);
  while (ci.output_scanline < ci.output_height) {
    JSAMPROW row = p + (size_t)ci.output_scanline * (size_t)*w * 3;
    jpeg_read_scanlines(&ci, &row, 1);
  }
  jpeg_finish_decompress(&ci);
  jpeg_destroy_decompress(&ci);
  return p;
}

/* Offset of the first marker FF <m> in a JPEG (after SOI), or 0. */
static size_t find_marker(const blob *b, uint8_t m) {
  for (size_t i = 2; i + 1 < b->len; i++) {
    if (b->data[i] == 0xff && b->data[i + 1] == m) return i;
  }
  return 0;
}

/* Sets the frame size in a JPEG's SOF0/SOF2 segment. */
static void patch_sof(blob *b, unsigned w, unsigned h) {
  size_t at = find_marker(b, 0xc0);
  if (at == 0) at = find_marker(b, 0xc2);
  assert_true(at > 0);
  b->data[at + 5] = (uint8_t)(h >> 8);
  b->data[at + 6] = (uint8_t)h;
  b->data[at + 7] = (uint8_t)(w >> 8);
  b->data[at + 8] = (uint8_t)w;
}

/* ---- EXIF generation ---------------------------------------------------- */

static void put16(uint8_t *p, unsigned v, bool le) {
  p[le ? 0 : 1] = (uint8_t)v;
  p[le ? 1 : 0] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v, bool le) {
  for (int i = 0; i < 4; i++) p[le ? i : 3 - i] = (uint8_t)(v >> (8 * i));
}

/* An APP1 payload "Exif\0\0" + TIFF with IFD0 = {Make "ABC", Orientation}. */
static size_t make_exif(uint8_t *buf, bool le, unsigned orientation) {
  memcpy(buf, "Exif\0\0", 6);
  uint8_t *t = buf + 6;
  t[0] = t[1] = le ? 'I' : 'M';
  put16(t + 2, 42, le);
  put32(t + 4, 8, le);
  put16(t + 8, 2, le); /* two entries */
  uint8_t *e = t + 10;
  put16(e, 0x010f, le); /* Make, ASCII, 4 bytes inline */
  put16(e + 2, 2, le);
  put32(e + 4, 4, le);
  memcpy(e + 8, "ABC", 4);
  e += 12;
  put16(e, 0x0112, le); /* Orientation, SHORT, 1 */
  put16(e + 2, 3, le);
  put32(e + 4, 1, le);
  put32(e + 8, 0, le);
  put16(e + 8, orientation, le);
  e += 12;
  put32(e, 0, le); /* no next IFD */
  return (size_t)(e + 4 - buf);
}

/* ---- PNG generation ----------------------------------------------------- */

typedef struct png_spec {
  int color;                /* PNG_COLOR_TYPE_... */
  int depth;                /* bits per sample */
  bool interlace;           /* Adam7 */
  const png_color *palette; /* for PNG_COLOR_TYPE_PALETTE */
  int npalette;
  const uint8_t *trans; /* palette alphas (tRNS), or NULL */
  int ntrans;
  const png_color_16 *trans_color; /* gray/RGB tRNS, or NULL */
  int level;                       /* zlib level; 0 means the default */
} png_spec;

static void png_write_cb(png_structp png, png_bytep data, size_t n) {
  blob *b = png_get_io_ptr(png);
  uint8_t *p = realloc(b->data, b->len + n);
  if (p == NULL) png_error(png, "out of memory");
  memcpy(p + b->len, data, n);
  b->data = p;
  b->len += n;
}

static void png_flush_cb(png_structp png) {
  (void)png;
}

static int png_channels(int color) {
  switch (color) {
    case PNG_COLOR_TYPE_GRAY:
      return 1;
    case PNG_COLOR_TYPE_GRAY_ALPHA:
      return 2;
    case PNG_COLOR_TYPE_RGB:
      return 3;
    case PNG_COLOR_TYPE_RGB_ALPHA:
      return 4;
    default:
      return 1; /* palette */
  }
}

static blob encode_png_rows(uint8_t *const *rows, int w, int h, const png_spec *s) {
  blob b = {NULL, 0};
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  assert_non_null(png);
  png_infop info = png_create_info_struct(png);
  assert_non_null(info);
  if (setjmp(png_jmpbuf(png))) fail_msg("libpng write failed");
  png_set_write_fn(png, &b, png_write_cb, png_flush_cb);
  if (s->level) png_set_compression_level(png, s->level);
  png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, s->depth, s->color,
               s->interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE,
               PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
  if (s->palette) png_set_PLTE(png, info, s->palette, s->npalette);
  if (s->trans || s->trans_color) {
    png_set_tRNS(png, info, s->trans, s->ntrans, s->trans_color);
  }
  png_write_info(png, info);
  png_write_image(png, (png_bytepp)rows);
  png_write_end(png, info);
  png_destroy_write_struct(&png, &info);
  return b;
}

/* Encodes samples (one uint16 per channel per pixel, each < 2^depth). */
static blob encode_png(const uint16_t *samples, int w, int h, const png_spec *s) {
  const int ch = png_channels(s->color);
  const size_t rowbytes = ((size_t)w * (size_t)ch * (size_t)s->depth + 7) / 8;
  uint8_t *packed = calloc((size_t)h, rowbytes);
  uint8_t **rows = malloc((size_t)h * sizeof *rows);
  assert_non_null(packed);
  assert_non_null(rows);
  for (int y = 0; y < h; y++) {
    uint8_t *r = packed + (size_t)y * rowbytes;
    rows[y] = r;
    for (int i = 0; i < w * ch; i++) {
      unsigned v = samples[(size_t)y * (size_t)w * (size_t)ch + (size_t)i];
      if (s->depth == 16) {
        r[2 * i] = (uint8_t)(v >> 8);
        r[2 * i + 1] = (uint8_t)v;
      } else if (s->depth == 8) {
        r[i] = (uint8_t)v;
      } else {
        int per = 8 / s->depth;
        int shift = 8 - s->depth * (i % per + 1);
        r[i / per] |= (uint8_t)(v << shift);
      }
    }
  }
  blob b = encode_png_rows(rows, w, h, s);
  free(rows);
  free(packed);
  return b;
}

static uint8_t scale8(unsigned v, int depth) {
  if (depth == 16) return (uint8_t)((v * 255u + 32767u) / 65535u);
  return (uint8_t)(v * 255u / ((1u << depth) - 1u));
}

static uint8_t over_white(unsigned c, unsigned a) {
  return (uint8_t)((c * a + 255u * (255u - a) + 127u) / 255u);
}

/* The RGB the decoder must produce for samples written with spec s. */
static void png_expected(const uint16_t *smp, int w, int h, const png_spec *s, uint8_t *out) {
  const int ch = png_channels(s->color);
  for (size_t i = 0; i < (size_t)w * (size_t)h; i++, out += 3) {
    const uint16_t *p = smp + i * (size_t)ch;
    unsigned r, g, b, a = 255;
    switch (s->color) {
      case PNG_COLOR_TYPE_GRAY:
        r = g = b = scale8(p[0], s->depth);
        if (s->trans_color && p[0] == s->trans_color->gray) a = 0;
        break;
      case PNG_COLOR_TYPE_GRAY_ALPHA:
        r = g = b = scale8(p[0], s->depth);
        a = scale8(p[1], s->depth);
        break;
      case PNG_COLOR_TYPE_RGB:
        r = scale8(p[0], s->depth);
        g = scale8(p[1], s->depth);
        b = scale8(p[2], s->depth);
        if (s->trans_color && p[0] == s->trans_color->red && p[1] == s->trans_color->green &&
            p[2] == s->trans_color->blue) {
          a = 0;
        }
        break;
      case PNG_COLOR_TYPE_RGB_ALPHA:
        r = scale8(p[0], s->depth);
        g = scale8(p[1], s->depth);
        b = scale8(p[2], s->depth);
        a = scale8(p[3], s->depth);
        break;
      default: /* palette */
        r = s->palette[p[0]].red;
        g = s->palette[p[0]].green;
        b = s->palette[p[0]].blue;
        if (s->trans && p[0] < s->ntrans) a = s->trans[p[0]];
        break;
    }
    out[0] = over_white(r, a);
    out[1] = over_white(g, a);
    out[2] = over_white(b, a);
  }
}

/* Random samples for spec s (palette indices below npalette). */
static uint16_t *png_samples(int w, int h, const png_spec *s) {
  const int ch = png_channels(s->color);
  size_t n = (size_t)w * (size_t)h * (size_t)ch;
  uint16_t *smp = malloc(n * sizeof *smp);
  assert_non_null(smp);
  unsigned max = s->color == PNG_COLOR_TYPE_PALETTE ? (unsigned)s->npalette : (1u << s->depth);
  for (size_t i = 0; i < n; i++) smp[i] = (uint16_t)(rng() % max);
  /* Make sure the tRNS colour occurs. */
  if (s->trans_color && n >= (size_t)ch) {
    if (s->color == PNG_COLOR_TYPE_GRAY) smp[0] = s->trans_color->gray;
    if (s->color == PNG_COLOR_TYPE_RGB) {
      smp[0] = s->trans_color->red;
      smp[1] = s->trans_color->green;
      smp[2] = s->trans_color->blue;
    }
  }
  return smp;
}

/* Encodes random samples with spec s at w x h, decodes, compares. */
static void check_png(int w, int h, const png_spec *s) {
  uint16_t *smp = png_samples(w, h, s);
  blob b = encode_png(smp, w, h, s);
  uint8_t *want = malloc((size_t)w * (size_t)h * 3);
  assert_non_null(want);
  png_expected(smp, w, h, s, want);
  custos_image_info info;
  custos_image *img = decode_ok(&b, &info);
  assert_int_equal(img->width, w);
  assert_int_equal(img->height, h);
  assert_int_equal(info.format, CUSTOS_IMAGE_PNG);
  assert_int_equal(info.bit_depth, s->depth);
  assert_int_equal(info.channels, png_channels(s->color));
  assert_int_equal(info.orientation, 1);
  for (size_t i = 0; i < (size_t)w * (size_t)h * 3; i++) {
    if (img->rgb[i] != want[i]) {
      fail_msg("PNG colour %d depth %d%s %dx%d: byte %zu is %d, expected %d", s->color, s->depth,
               s->interlace ? " interlaced" : "", w, h, i, img->rgb[i], want[i]);
    }
  }
  custos_image_free(img);
  free(want);
  blob_free(&b);
  free(smp);
}

static blob png_rgb(int w, int h, bool interlace) {
  png_spec s = {.color = PNG_COLOR_TYPE_RGB, .depth = 8, .interlace = interlace};
  uint16_t *smp = png_samples(w, h, &s);
  blob b = encode_png(smp, w, h, &s);
  free(smp);
  return b;
}

static uint32_t crc32_ref(const uint8_t *p, size_t n) {
  uint32_t c = 0xffffffffu;
  for (size_t i = 0; i < n; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0xedb88320u : c >> 1;
  }
  return ~c;
}

static void put_be32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

/* Appends a chunk to a PNG under construction. */
static void png_chunk(blob *b, const char *type, const uint8_t *data, uint32_t n) {
  uint8_t *p = realloc(b->data, b->len + 12 + n);
  assert_non_null(p);
  b->data = p;
  p += b->len;
  put_be32(p, n);
  memcpy(p + 4, type, 4);
  if (n) memcpy(p + 8, data, n);
  put_be32(p + 8 + n, crc32_ref(p + 4, 4 + (size_t)n));
  b->len += 12 + n;
}

/* A PNG made of a signature, an IHDR for w x h RGB 8-bit, and IEND. */
static blob png_header_only(uint32_t w, uint32_t h) {
  static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a};
  blob b = blob_copy(sig, 8);
  uint8_t ihdr[13] = {0};
  put_be32(ihdr, w);
  put_be32(ihdr + 4, h);
  ihdr[8] = 8;
  ihdr[9] = 2;
  png_chunk(&b, "IHDR", ihdr, 13);
  png_chunk(&b, "IEND", NULL, 0);
  return b;
}

/* Recomputes every chunk CRC of a (possibly damaged) PNG that still parses. */
static void png_fix_crcs(blob *b) {
  size_t at = 8;
  while (at + 12 <= b->len) {
    uint32_t n = (uint32_t)b->data[at] << 24 | (uint32_t)b->data[at + 1] << 16 |
                 (uint32_t)b->data[at + 2] << 8 | b->data[at + 3];
    if (n > b->len - at - 12) return;
    put_be32(b->data + at + 8 + n, crc32_ref(b->data + at + 4, 4 + (size_t)n));
    at += 12 + (size_t)n;
  }
}

/* ---- format detection and probing -------------------------------------- */

static void check_format(const void *d, size_t len, const char *name) {
  custos_err err = decode_fails(d, len, NULL, CUSTOS_EIMAGE_FORMAT);
  if (!contains(err.message, name)) fail_msg("'%s' does not name '%s'", err.message, name);
  custos_image_info info;
  custos_err_clear(&err);
  assert_int_equal(custos_image_probe(d, len, &info, &err), CUSTOS_EIMAGE_FORMAT);
  assert_true(contains(err.message, name));
}

static void test_unknown_formats(void **state) {
  (void)state;
  check_format("GIF89a\x01\x00\x01\x00\x80\x00\x00", 13, "GIF");
  uint8_t bmp[54] = {'B', 'M'};
  bmp[14] = 40;
  check_format(bmp, sizeof bmp, "BMP");
  check_format("II*\0\x08\0\0\0\0\0", 10, "TIFF");
  check_format("MM\0*\0\0\0\x08\0\0", 10, "TIFF");
  check_format("RIFF\x24\0\0\0WEBPVP8 ", 16, "WebP");
  check_format(
      "\0\0\0\x18"
      "ftypheic\0\0\0\0mif1heic",
      24, "HEIF");
  check_format(
      "\0\0\0\x1c"
      "ftypavif\0\0\0\0avifmif1miaf",
      28, "AVIF");
  check_format("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", 15, "PDF");
  check_format("PK\3\4\x14\0\0\0\x08\0", 10, "ZIP");
  check_format("", 0, "empty file");
  check_format(NULL, 0, "empty file");
  const char *txt = "hello, this is a plain text file\n";
  check_format(txt, strlen(txt), "text");
  txt = "caf\xc3\xa9 na\xc3\xafve\n";
  check_format(txt, strlen(txt), "text");
  check_format("\x4a\x46\x00\x01\x02\x03\x04\x05\x06\x07", 10,
               "unrecognised data (first bytes 4a 46 00 01 02 03 04 05 ...)");
  check_format("\x89P", 2, "first bytes 89 50)");
  check_format("\xff", 1, "first bytes ff)");
  /* "BM" with a nonsense DIB size is not called BMP. */
  uint8_t notbmp[20] = {'B', 'M', 0x01};
  notbmp[14] = 0xee;
  custos_err err = decode_fails(notbmp, sizeof notbmp, NULL, CUSTOS_EIMAGE_FORMAT);
  assert_false(contains(err.message, "BMP"));
}

static void test_format_names_and_objects(void **state) {
  (void)state;
  assert_string_equal(custos_image_format_name(CUSTOS_IMAGE_JPEG), "jpeg");
  assert_string_equal(custos_image_format_name(CUSTOS_IMAGE_PNG), "png");
  assert_string_equal(custos_image_format_name(CUSTOS_IMAGE_UNKNOWN), "unknown");
  assert_string_equal(custos_image_format_name((custos_image_format)42), "unknown");
  custos_image_free(NULL);
  custos_image *img = NULL;
  custos_err err;
  assert_int_equal(custos_image_new(3, 2, &img, &err), CUSTOS_OK);
  assert_int_equal(img->width, 3);
  assert_int_equal(img->height, 2);
  for (int i = 0; i < 18; i++) assert_int_equal(img->rgb[i], 0);
  custos_image_free(img);
  assert_int_equal(custos_image_new(0, 2, &img, &err), CUSTOS_EINVAL);
  assert_null(img);
  assert_int_equal(custos_image_new(2, -1, &img, &err), CUSTOS_EINVAL);
  assert_int_equal(custos_image_new(20001, 1, &img, &err), CUSTOS_EINVAL);
  assert_int_equal(custos_image_new(10000, 10000, &img, &err), CUSTOS_EINVAL);
  assert_int_equal(custos_image_new(2, 2, NULL, &err), CUSTOS_EINVAL);
  /* Bad arguments to decode and probe. */
  assert_int_equal(custos_image_decode("x", 1, NULL, NULL, NULL, &err), CUSTOS_EINVAL);
  assert_int_equal(custos_image_decode(NULL, 5, NULL, &img, NULL, &err), CUSTOS_EINVAL);
  custos_image_limits bad = {.max_pixels = 0, .max_side = 10};
  assert_int_equal(custos_image_decode("x", 1, &bad, &img, NULL, &err), CUSTOS_EINVAL);
  bad = (custos_image_limits){.max_pixels = 10, .max_side = 0};
  assert_int_equal(custos_image_decode("x", 1, &bad, &img, NULL, &err), CUSTOS_EINVAL);
  assert_int_equal(custos_image_probe("x", 1, NULL, &err), CUSTOS_EINVAL);
  /* A NULL err is allowed everywhere. */
  assert_int_equal(custos_image_decode("x", 1, NULL, &img, NULL, NULL), CUSTOS_EIMAGE_FORMAT);
}

static void test_probe(void **state) {
  (void)state;
  custos_image_info info;
  custos_err err;
  jpeg_spec js = {0};
  blob j = jpeg_rgb(40, 30, &js);
  assert_int_equal(custos_image_probe(j.data, j.len, &info, &err), CUSTOS_OK);
  assert_int_equal(info.format, CUSTOS_IMAGE_JPEG);
  assert_int_equal(info.width, 40);
  assert_int_equal(info.height, 30);
  assert_int_equal(info.channels, 3);
  assert_int_equal(info.bit_depth, 8);
  assert_int_equal(info.orientation, 1);
  assert_string_equal(info.color, "ycbcr");
  /* Probing needs only the header: the file cut after its first scan header. */
  size_t sos = find_marker(&j, 0xda);
  assert_true(sos > 0);
  assert_int_equal(custos_image_probe(j.data, sos + 14, &info, &err), CUSTOS_OK);
  assert_int_equal(info.width, 40);
  blob_free(&j);

  uint8_t exif[64];
  uint8_t *gray = pattern(20, 10, 1);
  js = (jpeg_spec){.in_space = JCS_GRAYSCALE, .app1 = exif, .app1_len = make_exif(exif, true, 6)};
  j = encode_jpeg(gray, 20, 10, &js);
  free(gray);
  assert_int_equal(custos_image_probe(j.data, j.len, &info, &err), CUSTOS_OK);
  assert_int_equal(info.width, 10); /* oriented */
  assert_int_equal(info.height, 20);
  assert_int_equal(info.orientation, 6);
  assert_int_equal(info.channels, 1);
  assert_string_equal(info.color, "gray");
  blob_free(&j);

  uint8_t *cmyk = pattern(16, 16, 4);
  js = (jpeg_spec){.in_space = JCS_CMYK, .jpeg_space = JCS_YCCK};
  j = encode_jpeg(cmyk, 16, 16, &js);
  assert_int_equal(custos_image_probe(j.data, j.len, &info, &err), CUSTOS_OK);
  assert_int_equal(info.channels, 4);
  assert_string_equal(info.color, "ycck");
  blob_free(&j);
  js = (jpeg_spec){.in_space = JCS_CMYK};
  j = encode_jpeg(cmyk, 16, 16, &js);
  free(cmyk);
  assert_int_equal(custos_image_probe(j.data, j.len, &info, &err), CUSTOS_OK);
  assert_string_equal(info.color, "cmyk");
  blob_free(&j);

  static const png_color pal[2] = {{0, 0, 0}, {255, 255, 255}};
  const struct {
    png_spec s;
    int channels;
    const char *color;
  } cases[] = {
      {{.color = PNG_COLOR_TYPE_GRAY, .depth = 4}, 1, "gray"},
      {{.color = PNG_COLOR_TYPE_GRAY_ALPHA, .depth = 16}, 2, "gray+alpha"},
      {{.color = PNG_COLOR_TYPE_RGB, .depth = 8, .interlace = true}, 3, "rgb"},
      {{.color = PNG_COLOR_TYPE_RGB_ALPHA, .depth = 16}, 4, "rgba"},
      {{.color = PNG_COLOR_TYPE_PALETTE, .depth = 1, .palette = pal, .npalette = 2}, 1, "palette"},
  };
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(cases); i++) {
    uint16_t *smp = png_samples(7, 5, &cases[i].s);
    blob p = encode_png(smp, 7, 5, &cases[i].s);
    free(smp);
    assert_int_equal(custos_image_probe(p.data, p.len, &info, &err), CUSTOS_OK);
    assert_int_equal(info.format, CUSTOS_IMAGE_PNG);
    assert_int_equal(info.width, 7);
    assert_int_equal(info.height, 5);
    assert_int_equal(info.channels, cases[i].channels);
    assert_int_equal(info.bit_depth, cases[i].s.depth);
    assert_int_equal(info.orientation, 1);
    assert_string_equal(info.color, cases[i].color);
    /* The header alone (33 bytes) is enough to probe; less is corrupt. */
    assert_int_equal(custos_image_probe(p.data, 33, &info, &err), CUSTOS_OK);
    assert_int_equal(custos_image_probe(p.data, 32, &info, &err), CUSTOS_EIMAGE_CORRUPT);
    blob_free(&p);
  }
  /* A broken IHDR: bad CRC, zero width, bad depth for the colour type. */
  blob p = png_header_only(10, 10);
  p.data[20] ^= 1;
  assert_int_equal(custos_image_probe(p.data, p.len, &info, &err), CUSTOS_EIMAGE_CORRUPT);
  assert_true(contains(err.message, "CRC"));
  blob_free(&p);
  p = png_header_only(0, 10);
  assert_int_equal(custos_image_probe(p.data, p.len, &info, &err), CUSTOS_EIMAGE_CORRUPT);
  blob_free(&p);
  p = png_header_only(10, 10);
  p.data[24] = 4; /* RGB at 4 bits */
  put_be32(p.data + 29, crc32_ref(p.data + 12, 17));
  assert_int_equal(custos_image_probe(p.data, p.len, &info, &err), CUSTOS_EIMAGE_CORRUPT);
  blob_free(&p);
  /* Truncated signatures. */
  assert_int_equal(custos_image_probe("\x89PNG\r\n", 6, &info, &err), CUSTOS_EIMAGE_CORRUPT);
  assert_int_equal(custos_image_probe("\xff\xd8", 2, &info, &err), CUSTOS_EIMAGE_CORRUPT);
}

/* ---- JPEG decoding -------------------------------------------------------- */

/* Decodes b and compares with the plain libjpeg reference, byte for byte. */
static void check_jpeg_matches_reference(const blob *b, int w, int h, const char *what) {
  custos_image_info info;
  custos_image *img = decode_ok(b, &info);
  int rw, rh;
  uint8_t *ref = ref_jpeg(b, &rw, &rh);
  assert_int_equal(img->width, w);
  assert_int_equal(img->height, h);
  assert_int_equal(rw, w);
  assert_int_equal(rh, h);
  assert_int_equal(info.format, CUSTOS_IMAGE_JPEG);
  assert_int_equal(info.width, w);
  assert_int_equal(info.height, h);
  if (memcmp(img->rgb, ref, (size_t)w * (size_t)h * 3) != 0) {
    fail_msg("%s: differs from the libjpeg reference", what);
  }
  free(ref);
  custos_image_free(img);
}

/* Mean absolute difference between a decode and the pattern it encoded. */
static double mean_error(const custos_image *img, const uint8_t *rgb) {
  double sum = 0;
  size_t n = (size_t)img->width * (size_t)img->height * 3;
  for (size_t i = 0; i < n; i++) sum += fabs((double)img->rgb[i] - (double)rgb[i]);
  return sum / (double)n;
}

static void test_jpeg_variants(void **state) {
  (void)state;
  const struct {
    jpeg_spec s;
    const char *what;
  } cases[] = {
      {{.h_samp = 2, .v_samp = 2}, "4:2:0"},
      {{.h_samp = 1, .v_samp = 1}, "4:4:4"},
      {{.h_samp = 2, .v_samp = 1}, "4:2:2"},
      {{.h_samp = 2, .v_samp = 2, .progressive = true}, "progressive 4:2:0"},
      {{.h_samp = 1, .v_samp = 1, .progressive = true}, "progressive 4:4:4"},
      {{.arith = true}, "arithmetic"},
      {{.restart_rows = 1}, "restart intervals"},
      {{.quality = 50}, "quality 50"},
      {{.jpeg_space = JCS_RGB, .h_samp = 1, .v_samp = 1}, "stored as RGB"},
  };
  const int sizes[][2] = {{64, 48}, {33, 17}, {1, 1}, {17, 1}, {1, 9}};
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(cases); i++) {
    for (size_t k = 0; k < CUSTOS_ARRAY_LEN(sizes); k++) {
      int w = sizes[k][0], h = sizes[k][1];
      uint8_t *p = pattern(w, h, 3);
      blob b = encode_jpeg(p, w, h, &cases[i].s);
      check_jpeg_matches_reference(&b, w, h, cases[i].what);
      if (w >= 32) {
        custos_image *img = decode_ok(&b, NULL);
        double e = mean_error(img, p);
        if (e > (cases[i].s.quality == 50 ? 6.0 : 3.0)) {
          fail_msg("%s: mean error %.2f", cases[i].what, e);
        }
        custos_image_free(img);
      }
      free(p);
      blob_free(&b);
    }
  }
}

static void test_jpeg_gray(void **state) {
  (void)state;
  uint8_t *p = pattern(40, 24, 1);
  jpeg_spec s = {.in_space = JCS_GRAYSCALE};
  blob b = encode_jpeg(p, 40, 24, &s);
  custos_image_info info;
  custos_image *img = decode_ok(&b, &info);
  assert_int_equal(info.channels, 1);
  assert_string_equal(info.color, "gray");
  int rw, rh;
  uint8_t *ref = ref_jpeg(&b, &rw, &rh);
  assert_memory_equal(img->rgb, ref, 40 * 24 * 3);
  double err = 0;
  for (int i = 0; i < 40 * 24; i++) {
    assert_int_equal(img->rgb[3 * i], img->rgb[3 * i + 1]);
    assert_int_equal(img->rgb[3 * i], img->rgb[3 * i + 2]);
    err += fabs((double)img->rgb[3 * i] - (double)p[i]);
  }
  assert_true(err / (40 * 24) < 2.0);
  free(ref);
  custos_image_free(img);
  blob_free(&b);
  free(p);
}

/* A flat CMYK image decodes to the documented RGB within JPEG's error. */
static void check_cmyk(const jpeg_spec *s, const uint8_t cmyk[4], bool inverted) {
  uint8_t p[16 * 16 * 4];
  for (int i = 0; i < 16 * 16; i++) memcpy(p + 4 * i, cmyk, 4);
  blob b = encode_jpeg(p, 16, 16, s);
  custos_image *img = decode_ok(&b, NULL);
  for (int c = 0; c < 3; c++) {
    unsigned v = cmyk[c], k = cmyk[3];
    if (!inverted) {
      v = 255 - v;
      k = 255 - k;
    }
    int want = (int)((v * k + 127) / 255);
    for (int i = 0; i < 16 * 16; i++) {
      int got = img->rgb[3 * i + c];
      if (abs(got - want) > 2) fail_msg("CMYK channel %d: got %d, expected %d", c, got, want);
    }
  }
  custos_image_free(img);
  blob_free(&b);
}

static void test_jpeg_cmyk(void **state) {
  (void)state;
  const uint8_t colours[][4] = {
      {200, 100, 30, 180}, {255, 255, 255, 255}, {0, 0, 0, 0}, {10, 240, 128, 60}};
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(colours); i++) {
    /* libjpeg writes an Adobe marker for CMYK: values are inverted CMYK. */
    jpeg_spec s = {.in_space = JCS_CMYK, .quality = 100};
    check_cmyk(&s, colours[i], true);
    s.jpeg_space = JCS_YCCK;
    check_cmyk(&s, colours[i], true);
    /* Without the Adobe marker, plain CMYK (ink amounts). */
    s = (jpeg_spec){.in_space = JCS_CMYK, .quality = 100, .no_adobe = true};
    check_cmyk(&s, colours[i], false);
  }
  /* Progressive CMYK too. */
  jpeg_spec s = {.in_space = JCS_CMYK, .quality = 100, .progressive = true};
  check_cmyk(&s, colours[0], true);
}

/* Where the stored pixel (sx, sy) of a W x H image lands after orientation o,
 * written out case by case from the EXIF specification's row/column words. */
static void oriented_pos(int o, int W, int H, int sx, int sy, int *x, int *y) {
  switch (o) {
    case 1:
      *x = sx;
      *y = sy;
      break; /* row 0 top, col 0 left */
    case 2:
      *x = W - 1 - sx;
      *y = sy;
      break; /* row 0 top, col 0 right */
    case 3:
      *x = W - 1 - sx;
      *y = H - 1 - sy;
      break; /* row 0 bottom, col 0 right */
    case 4:
      *x = sx;
      *y = H - 1 - sy;
      break; /* row 0 bottom, col 0 left */
    case 5:
      *x = sy;
      *y = sx;
      break; /* row 0 left, col 0 top */
    case 6:
      *x = H - 1 - sy;
      *y = sx;
      break; /* row 0 right, col 0 top */
    case 7:
      *x = H - 1 - sy;
      *y = W - 1 - sx;
      break; /* row 0 right, col 0 bottom */
    default:
      *x = sy;
      *y = W - 1 - sx;
      break; /* 8: row 0 left, col 0 bottom */
  }
}

static void test_jpeg_orientation(void **state) {
  (void)state;
  /* 24x16 stored: 8x8 blocks, red at block (0,0), green at (1,0), blue elsewhere. */
  enum { W = 24, H = 16 };
  uint8_t p[W * H * 3];
  for (int y = 0; y < H; y++) {
    for (int x = 0; x < W; x++) {
      uint8_t *q = p + (y * W + x) * 3;
      int bx = x / 8, by = y / 8;
      q[0] = (bx == 0 && by == 0) ? 255 : 0;
      q[1] = (bx == 1 && by == 0) ? 255 : 0;
      q[2] = (by != 0 || bx == 2) ? 255 : 0;
    }
  }
  /* Upright block positions (column, row) of red and green, by orientation. */
  static const int red_at[9][2] = {{0, 0}, {0, 0}, {2, 0}, {2, 1}, {0, 1},
                                   {0, 0}, {1, 0}, {1, 2}, {0, 2}};
  static const int green_at[9][2] = {{0, 0}, {1, 0}, {1, 0}, {1, 1}, {1, 1},
                                     {0, 1}, {1, 1}, {1, 1}, {0, 1}};
  jpeg_spec plain = {.h_samp = 1, .v_samp = 1, .quality = 100};
  blob b1 = encode_jpeg(p, W, H, &plain);
  custos_image *stored = decode_ok(&b1, NULL);
  blob_free(&b1);
  for (int le = 0; le <= 1; le++) {
    for (int o = 1; o <= 8; o++) {
      uint8_t exif[64];
      jpeg_spec s = plain;
      s.app1 = exif;
      s.app1_len = make_exif(exif, le, (unsigned)o);
      blob b = encode_jpeg(p, W, H, &s);
      custos_image_info info;
      custos_image *img = decode_ok(&b, &info);
      int ow = o >= 5 ? H : W, oh = o >= 5 ? W : H;
      assert_int_equal(info.orientation, o);
      assert_int_equal(img->width, ow);
      assert_int_equal(img->height, oh);
      assert_int_equal(info.width, ow);
      assert_int_equal(info.height, oh);
      /* The marker blocks, by hand-made table, at their centres. */
      const uint8_t *red = img->rgb + ((red_at[o][1] * 8 + 4) * ow + red_at[o][0] * 8 + 4) * 3;
      const uint8_t *green =
          img->rgb + ((green_at[o][1] * 8 + 4) * ow + green_at[o][0] * 8 + 4) * 3;
      if (!(red[0] > 200 && red[1] < 60 && red[2] < 60)) {
        fail_msg("orientation %d (%s): red block not at (%d,%d)", o, le ? "II" : "MM", red_at[o][0],
                 red_at[o][1]);
      }
      if (!(green[1] > 200 && green[0] < 60 && green[2] < 60)) {
        fail_msg("orientation %d (%s): green block not at (%d,%d)", o, le ? "II" : "MM",
                 green_at[o][0], green_at[o][1]);
      }
      /* Every pixel where the specification puts it. */
      for (int sy = 0; sy < H; sy++) {
        for (int sx = 0; sx < W; sx++) {
          int x, y;
          oriented_pos(o, W, H, sx, sy, &x, &y);
          if (memcmp(img->rgb + (y * ow + x) * 3, stored->rgb + (sy * W + sx) * 3, 3) != 0) {
            fail_msg("orientation %d: stored (%d,%d) is not at (%d,%d)", o, sx, sy, x, y);
          }
        }
      }
      custos_image_free(img);
      blob_free(&b);
    }
  }
  custos_image_free(stored);
}

static void test_exif_parser(void **state) {
  (void)state;
  uint8_t e[128];
  for (int le = 0; le <= 1; le++) {
    for (unsigned o = 0; o <= 10; o++) {
      size_t n = make_exif(e, le, o);
      assert_int_equal(custos__img_exif_orientation(e, n), o >= 1 && o <= 8 ? (int)o : 1);
      /* Every truncation is safe and reads 1 unless the tag survived. */
      for (size_t cut = 0; cut < n; cut++) {
        int got = custos__img_exif_orientation(e, cut);
        assert_true(got >= 1 && got <= 8);
      }
    }
  }
  size_t n = make_exif(e, true, 6);
  /* Not EXIF, wrong byte order mark, wrong magic, IFD offset out of range. */
  assert_int_equal(custos__img_exif_orientation(NULL, 0), 1);
  uint8_t bad[128];
  memcpy(bad, e, n);
  bad[0] = 'X';
  assert_int_equal(custos__img_exif_orientation(bad, n), 1);
  memcpy(bad, e, n);
  bad[6] = 'I';
  bad[7] = 'M';
  assert_int_equal(custos__img_exif_orientation(bad, n), 1);
  memcpy(bad, e, n);
  bad[8] = 43;
  assert_int_equal(custos__img_exif_orientation(bad, n), 1);
  memcpy(bad, e, n);
  put32(bad + 10, 0xfffffff0u, true);
  assert_int_equal(custos__img_exif_orientation(bad, n), 1);
  memcpy(bad, e, n);
  put32(bad + 10, (uint32_t)(n - 6 - 1), true); /* IFD at the last byte */
  assert_int_equal(custos__img_exif_orientation(bad, n), 1);
  memcpy(bad, e, n);
  put16(bad + 14, 0xffff, true); /* entry count far beyond the data */
  assert_int_equal(custos__img_exif_orientation(bad, n), 6);
  put16(bad + 14 + 2 + 12 + 2, 7, true); /* orientation of type UNDEFINED */
  assert_int_equal(custos__img_exif_orientation(bad, n), 1);
  memcpy(bad, e, n);
  put16(bad + 14 + 2 + 12 + 2, 4, true); /* LONG is tolerated */
  put32(bad + 14 + 2 + 12 + 8, 3, true);
  assert_int_equal(custos__img_exif_orientation(bad, n), 3);
  /* Random payloads after a valid header never read out of bounds. */
  rng_seed(7);
  for (int i = 0; i < 2000; i++) {
    uint8_t r[96];
    memcpy(r, e, 14);
    for (size_t k = 14; k < sizeof r; k++) r[k] = (uint8_t)rng();
    if (i % 2) put32(r + 10, rng() % 100, true);
    int got = custos__img_exif_orientation(r, 14 + rng() % 82);
    assert_true(got >= 1 && got <= 8);
  }
}

static void test_orient_function(void **state) {
  (void)state;
  custos_image *img = NULL;
  custos_err err;
  assert_int_equal(custos__img_alloc(3, 2, false, &img, &err), CUSTOS_OK);
  for (int i = 0; i < 18; i++) img->rgb[i] = (uint8_t)i;
  assert_int_equal(custos__img_orient(img, 0, &err), CUSTOS_EINVAL);
  assert_int_equal(custos__img_orient(img, 9, &err), CUSTOS_EINVAL);
  assert_int_equal(custos__img_orient(NULL, 2, &err), CUSTOS_EINVAL);
  assert_int_equal(custos__img_orient(img, 6, &err), CUSTOS_OK);
  /* Stored   0 1 2        rotated clockwise:  3 0
   *          3 4 5                            4 1
   *                                           5 2   (pixel numbers) */
  static const int want[6] = {3, 0, 4, 1, 5, 2};
  assert_int_equal(img->width, 2);
  assert_int_equal(img->height, 3);
  for (int i = 0; i < 6; i++) assert_int_equal(img->rgb[3 * i], 3 * want[i]);
  custos_image_free(img);
}

static void test_jpeg_trailing_and_extraneous(void **state) {
  (void)state;
  jpeg_spec s = {0};
  blob b = jpeg_rgb(32, 32, &s);
  /* Bytes after EOI are ignored. */
  blob t = {malloc(b.len + 100), b.len + 100};
  assert_non_null(t.data);
  memcpy(t.data, b.data, b.len);
  memset(t.data + b.len, 0x55, 100);
  custos_image *img = decode_ok(&t, NULL);
  custos_image_free(img);
  blob_free(&t);
  /* Garbage before EOI ("extraneous bytes") is corruption.  More than the
   * Huffman decoder's 8-byte read-ahead, so that some is left to skip. */
  t.len = b.len + 64;
  t.data = malloc(t.len);
  assert_non_null(t.data);
  memcpy(t.data, b.data, b.len - 2);
  memset(t.data + b.len - 2, 0x12, 64);
  memcpy(t.data + t.len - 2, "\xff\xd9", 2);
  custos_err err = decode_fails(t.data, t.len, NULL, CUSTOS_EIMAGE_CORRUPT);
  assert_true(contains(err.message, "extraneous"));
  blob_free(&t);
  /* Missing EOI is a truncation. */
  decode_fails(b.data, b.len - 2, NULL, CUSTOS_EIMAGE_CORRUPT);
  /* 12-bit precision is refused as a format libjpeg-turbo here cannot read. */
  t = blob_copy(b.data, b.len);
  size_t sof = find_marker(&t, 0xc0);
  t.data[sof + 4] = 12;
  err = decode_fails(t.data, t.len, NULL, CUSTOS_EIMAGE_FORMAT);
  assert_true(contains(err.message, "precision"));
  blob_free(&t);
  blob_free(&b);
}

static void test_jpeg_scan_bomb(void **state) {
  (void)state;
  /* A valid progressive script with 3 x 704 scans: every coefficient of every
   * component sent bit by bit (successive approximation from bit 10). */
  enum { MAX_AL = 10, PER_COMP = (1 + 63) * (MAX_AL + 1) };
  jpeg_scan_info *scans = calloc(3 * PER_COMP, sizeof *scans);
  assert_non_null(scans);
  int n = 0;
  for (int c = 0; c < 3; c++) {
    for (int k = 0; k < 64; k++) {
      for (int al = MAX_AL; al >= 0; al--) {
        jpeg_scan_info *si = &scans[n++];
        si->comps_in_scan = 1;
        si->component_index[0] = c;
        si->Ss = k;
        si->Se = k;
        si->Ah = al == MAX_AL ? 0 : al + 1;
        si->Al = al;
      }
    }
  }
  jpeg_spec s = {.scans = scans, .nscans = n, .h_samp = 1, .v_samp = 1};
  blob b = jpeg_rgb(16, 16, &s);
  free(scans);
  custos_err err = decode_fails(b.data, b.len, NULL, CUSTOS_EIMAGE_CORRUPT);
  assert_true(contains(err.message, "scans"));
  /* The header alone is fine. */
  custos_image_info info;
  assert_int_equal(custos_image_probe(b.data, b.len, &info, &err), CUSTOS_OK);
  blob_free(&b);
}

/* ---- PNG decoding -------------------------------------------------------- */

static void test_png_variants(void **state) {
  (void)state;
  static const png_color pal[5] = {
      {255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {10, 20, 30}, {200, 150, 100}};
  static const uint8_t pal_alpha[4] = {0, 128, 255, 77};
  png_color_16 gray_key = {.gray = 3};
  png_color_16 gray16_key = {.gray = 1000};
  png_color_16 rgb_key = {.red = 1, .green = 2, .blue = 3};
  const png_spec specs[] = {
      {.color = PNG_COLOR_TYPE_GRAY, .depth = 1},
      {.color = PNG_COLOR_TYPE_GRAY, .depth = 2},
      {.color = PNG_COLOR_TYPE_GRAY, .depth = 4},
      {.color = PNG_COLOR_TYPE_GRAY, .depth = 8},
      {.color = PNG_COLOR_TYPE_GRAY, .depth = 16},
      {.color = PNG_COLOR_TYPE_GRAY, .depth = 4, .trans_color = &gray_key},
      {.color = PNG_COLOR_TYPE_GRAY, .depth = 16, .trans_color = &gray16_key},
      {.color = PNG_COLOR_TYPE_GRAY_ALPHA, .depth = 8},
      {.color = PNG_COLOR_TYPE_GRAY_ALPHA, .depth = 16},
      {.color = PNG_COLOR_TYPE_RGB, .depth = 8},
      {.color = PNG_COLOR_TYPE_RGB, .depth = 16},
      {.color = PNG_COLOR_TYPE_RGB, .depth = 8, .trans_color = &rgb_key},
      {.color = PNG_COLOR_TYPE_RGB_ALPHA, .depth = 8},
      {.color = PNG_COLOR_TYPE_RGB_ALPHA, .depth = 16},
      {.color = PNG_COLOR_TYPE_PALETTE, .depth = 1, .palette = pal, .npalette = 2},
      {.color = PNG_COLOR_TYPE_PALETTE, .depth = 2, .palette = pal, .npalette = 4},
      {.color = PNG_COLOR_TYPE_PALETTE, .depth = 4, .palette = pal, .npalette = 5},
      {.color = PNG_COLOR_TYPE_PALETTE, .depth = 8, .palette = pal, .npalette = 5},
      {.color = PNG_COLOR_TYPE_PALETTE,
       .depth = 8,
       .palette = pal,
       .npalette = 5,
       .trans = pal_alpha,
       .ntrans = 4},
      {.color = PNG_COLOR_TYPE_PALETTE,
       .depth = 2,
       .palette = pal,
       .npalette = 4,
       .trans = pal_alpha,
       .ntrans = 2},
  };
  const int sizes[][2] = {{13, 11}, {1, 1}, {1, 9}, {9, 1}, {3, 2}, {8, 8}, {33, 17}};
  rng_seed(42);
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(specs); i++) {
    for (size_t k = 0; k < CUSTOS_ARRAY_LEN(sizes); k++) {
      png_spec s = specs[i];
      check_png(sizes[k][0], sizes[k][1], &s);
      s.interlace = true;
      check_png(sizes[k][0], sizes[k][1], &s);
    }
  }
}

static void test_png_16bit_scaling(void **state) {
  (void)state;
  /* Hand-picked 16-bit samples: 0x8080 is exactly 128, 0xffff 255. */
  const uint16_t smp[6] = {0, 0xffff, 0x8080, 0x1234, 0x00ff, 0xff7e};
  const uint8_t want[6] = {0, 255, 128, 18, 1, 254};
  png_spec s = {.color = PNG_COLOR_TYPE_GRAY, .depth = 16};
  blob b = encode_png(smp, 6, 1, &s);
  custos_image *img = decode_ok(&b, NULL);
  for (int i = 0; i < 6; i++) assert_int_equal(img->rgb[3 * i], want[i]);
  custos_image_free(img);
  blob_free(&b);
  /* Alpha onto white by hand: (c*a + 255*(255-a) + 127) / 255. */
  const uint16_t ga[8] = {0, 0, 0, 128, 100, 255, 200, 51};
  const uint8_t gwant[4] = {255, 127, 100, 244};
  s = (png_spec){.color = PNG_COLOR_TYPE_GRAY_ALPHA, .depth = 8};
  b = encode_png(ga, 4, 1, &s);
  img = decode_ok(&b, NULL);
  for (int i = 0; i < 4; i++) assert_int_equal(img->rgb[3 * i], gwant[i]);
  custos_image_free(img);
  blob_free(&b);
}

/* ---- limits --------------------------------------------------------------- */

static void test_limits_jpeg(void **state) {
  (void)state;
  jpeg_spec s = {0};
  blob b = jpeg_rgb(16, 16, &s);
  size_t sos = find_marker(&b, 0xda);
  size_t sos_end = sos + 2 + ((size_t)b.data[sos + 2] << 8 | b.data[sos + 3]);
  size_t sof = find_marker(&b, 0xc0);
  size_t sof_end = sof + 2 + ((size_t)b.data[sof + 2] << 8 | b.data[sof + 3]);
  /* 30000 x 30000 claimed: whole file, cut after the scan header, cut after SOF. */
  blob t = blob_copy(b.data, b.len);
  patch_sof(&t, 30000, 30000);
  const size_t cuts[3] = {t.len, sos_end, sof_end};
  for (int i = 0; i < 3; i++) {
    custos_err err = decode_fails(t.data, cuts[i], NULL, CUSTOS_EIMAGE_TOO_LARGE);
    if (!contains(err.message, "30000x30000")) fail_msg("message: %s", err.message);
  }
  /* Just over 40 MP (6325 x 6325 = 40,005,625) is too large; exactly 40 MP
   * (8000 x 5000) passes the limits and fails for want of data. */
  patch_sof(&t, 6325, 6325);
  custos_err err = decode_fails(t.data, sos_end, NULL, CUSTOS_EIMAGE_TOO_LARGE);
  assert_true(contains(err.message, "6325x6325"));
  patch_sof(&t, 8000, 5000);
  decode_fails(t.data, sof_end, NULL, CUSTOS_EIMAGE_CORRUPT);
  decode_fails(t.data, t.len, NULL, CUSTOS_EIMAGE_CORRUPT);
  /* Over 20000 on one side. */
  patch_sof(&t, 20001, 16);
  err = decode_fails(t.data, t.len, NULL, CUSTOS_EIMAGE_TOO_LARGE);
  assert_true(contains(err.message, "20001x16"));
  blob_free(&t);
  blob_free(&b);

  /* Custom limits, with the oriented size in the message. */
  uint8_t exif[64];
  s = (jpeg_spec){.app1 = exif, .app1_len = make_exif(exif, false, 8)};
  b = jpeg_rgb(20, 10, &s);
  custos_image_limits lim = {.max_pixels = 1000, .max_side = 19};
  err = decode_fails(b.data, b.len, &lim, CUSTOS_EIMAGE_TOO_LARGE);
  assert_true(contains(err.message, "10x20"));
  lim = (custos_image_limits){.max_pixels = 199, .max_side = 20};
  decode_fails(b.data, b.len, &lim, CUSTOS_EIMAGE_TOO_LARGE);
  lim = (custos_image_limits){.max_pixels = 200, .max_side = 20};
  custos_image *img = NULL;
  assert_int_equal(custos_image_decode(b.data, b.len, &lim, &img, NULL, &err), CUSTOS_OK);
  assert_int_equal(img->width, 10);
  custos_image_free(img);
  blob_free(&b);
}

static void test_limits_png(void **state) {
  (void)state;
  blob b = png_header_only(30000, 30000);
  custos_err err = decode_fails(b.data, b.len, NULL, CUSTOS_EIMAGE_TOO_LARGE);
  assert_true(contains(err.message, "30000x30000"));
  /* The limits come before the broken rest: the IHDR alone is enough. */
  err = decode_fails(b.data, 33, NULL, CUSTOS_EIMAGE_TOO_LARGE);
  /* Allowed by custom limits, but 45 bytes cannot inflate to 2.7 GB: refused
   * before the output is allocated. */
  custos_image_limits big = {.max_pixels = 1000000000, .max_side = 30000};
  err = decode_fails(b.data, b.len, &big, CUSTOS_EIMAGE_CORRUPT);
  assert_true(contains(err.message, "cannot hold"));
  blob_free(&b);
  b = png_header_only(6325, 6325);
  err = decode_fails(b.data, b.len, NULL, CUSTOS_EIMAGE_TOO_LARGE);
  assert_true(contains(err.message, "6325x6325"));
  blob_free(&b);
  b = png_header_only(8000, 5000);
  decode_fails(b.data, b.len, NULL, CUSTOS_EIMAGE_CORRUPT);
  blob_free(&b);
  b = png_header_only(16, 20001);
  err = decode_fails(b.data, b.len, NULL, CUSTOS_EIMAGE_TOO_LARGE);
  assert_true(contains(err.message, "16x20001"));
  blob_free(&b);
  /* Custom limits on a real image. */
  b = png_rgb(100, 10, false);
  custos_image_limits lim = {.max_pixels = 1000, .max_side = 99};
  decode_fails(b.data, b.len, &lim, CUSTOS_EIMAGE_TOO_LARGE);
  lim = (custos_image_limits){.max_pixels = 999, .max_side = 100};
  decode_fails(b.data, b.len, &lim, CUSTOS_EIMAGE_TOO_LARGE);
  lim = (custos_image_limits){.max_pixels = 1000, .max_side = 100};
  custos_image *img = NULL;
  assert_int_equal(custos_image_decode(b.data, b.len, &lim, &img, NULL, &err), CUSTOS_OK);
  custos_image_free(img);
  blob_free(&b);
}

static void test_png_bomb(void **state) {
  (void)state;
  /* 6000 x 6000 gray zeros: 36 MB of pixels in a few tens of KB; within the
   * limits, so it decodes (into exactly the 108 MB output). */
  enum { N = 6000 };
  uint8_t *zero = calloc(N, 1);
  uint8_t **rows = malloc(N * sizeof *rows);
  assert_non_null(zero);
  assert_non_null(rows);
  for (int i = 0; i < N; i++) rows[i] = zero;
  png_spec s = {.color = PNG_COLOR_TYPE_GRAY, .depth = 8, .level = 9};
  blob b = encode_png_rows(rows, N, N, &s);
  free(rows);
  free(zero);
  assert_true(b.len < 200000);
  custos_image *img = decode_ok(&b, NULL);
  assert_int_equal(img->width, N);
  assert_int_equal(img->height, N);
  for (size_t i = 0; i < (size_t)N * N * 3; i += 4099) assert_int_equal(img->rgb[i], 0);
  assert_int_equal(img->rgb[(size_t)N * N * 3 - 1], 0);
  custos_image_free(img);
  /* Cut short, it is corrupt and nothing leaks. */
  decode_fails(b.data, b.len / 2, NULL, CUSTOS_EIMAGE_CORRUPT);
  blob_free(&b);
}

/* ---- the broken corpus ----------------------------------------------------- */

/* Every proper prefix of b must fail cleanly. */
static void check_all_truncations(const blob *b, const char *what) {
  for (size_t cut = 0; cut < b->len; cut++) {
    custos_image *img = (custos_image *)1;
    custos_err err;
    int rc = custos_image_decode(b->data, cut, NULL, &img, NULL, &err);
    if (rc == CUSTOS_OK) fail_msg("%s cut at %zu of %zu decoded", what, cut, b->len);
    assert_null(img);
    custos_image_info info;
    (void)custos_image_probe(b->data, cut, &info, &err);
  }
}

static void test_truncations(void **state) {
  (void)state;
  jpeg_spec s = {.quality = 80};
  blob b = jpeg_rgb(24, 16, &s);
  check_all_truncations(&b, "baseline JPEG");
  blob_free(&b);
  s.progressive = true;
  b = jpeg_rgb(24, 16, &s);
  check_all_truncations(&b, "progressive JPEG");
  blob_free(&b);
  s = (jpeg_spec){.quality = 80, .arith = true, .restart_rows = 1};
  b = jpeg_rgb(24, 16, &s);
  check_all_truncations(&b, "arithmetic JPEG");
  blob_free(&b);
  uint8_t *cmyk = pattern(16, 16, 4);
  s = (jpeg_spec){.in_space = JCS_CMYK, .quality = 80};
  b = encode_jpeg(cmyk, 16, 16, &s);
  free(cmyk);
  check_all_truncations(&b, "CMYK JPEG");
  blob_free(&b);
  rng_seed(3);
  b = png_rgb(16, 12, false);
  check_all_truncations(&b, "PNG");
  blob_free(&b);
  b = png_rgb(16, 12, true);
  check_all_truncations(&b, "interlaced PNG");
  blob_free(&b);
  static const png_color pal[3] = {{1, 2, 3}, {4, 5, 6}, {7, 8, 9}};
  static const uint8_t alpha[2] = {0, 99};
  png_spec ps = {.color = PNG_COLOR_TYPE_PALETTE,
                 .depth = 2,
                 .palette = pal,
                 .npalette = 3,
                 .trans = alpha,
                 .ntrans = 2};
  uint16_t *smp = png_samples(9, 9, &ps);
  b = encode_png(smp, 9, 9, &ps);
  free(smp);
  check_all_truncations(&b, "palette PNG");
  blob_free(&b);
}

/* A decode of damaged data either fails or gives a consistent image. */
static void decode_any(const uint8_t *d, size_t len) {
  custos_image *img = NULL;
  custos_image_info info;
  custos_err err;
  int rc = custos_image_decode(d, len, NULL, &img, &info, &err);
  if (rc == CUSTOS_OK) {
    assert_non_null(img);
    assert_int_equal(img->width, info.width);
    assert_int_equal(img->height, info.height);
    /* Touch every byte, so ASan sees any short buffer. */
    unsigned sum = 0;
    for (size_t i = 0; i < (size_t)img->width * (size_t)img->height * 3; i++) sum += img->rgb[i];
    (void)sum;
    custos_image_free(img);
  } else {
    assert_null(img);
    assert_int_equal(err.code, rc);
  }
  (void)custos_image_probe(d, len, &info, &err);
}

static void test_random_bytes(void **state) {
  (void)state;
  static const uint8_t png_sig[8] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a};
  blob hdr = png_header_only(64, 64);
  rng_seed(12345);
  uint8_t *buf = malloc(4096);
  assert_non_null(buf);
  for (int i = 0; i < 3000; i++) {
    size_t len = 1 + rng() % 4096;
    for (size_t k = 0; k < len; k++) buf[k] = (uint8_t)rng();
    switch (i % 4) {
      case 1: /* a JPEG SOI, then noise */
        buf[0] = 0xff;
        if (len > 1) buf[1] = 0xd8;
        break;
      case 2: /* a PNG signature, then noise */
        memcpy(buf, png_sig, len < 8 ? len : 8);
        break;
      case 3: /* a valid PNG header, then noise */
        memcpy(buf, hdr.data, len < 33 ? len : 33);
        break;
      default:
        break;
    }
    decode_any(buf, len);
  }
  free(buf);
  blob_free(&hdr);
}

static void flip_bits(blob *b, const blob *orig, int flips, size_t from) {
  memcpy(b->data, orig->data, orig->len);
  for (int f = 0; f < flips; f++) {
    size_t at = from + rng() % (orig->len - from);
    b->data[at] ^= (uint8_t)(1u << (rng() % 8));
  }
}

static void test_bit_flips(void **state) {
  (void)state;
  rng_seed(99);
  jpeg_spec s = {.quality = 85};
  blob jpegs[3];
  jpegs[0] = jpeg_rgb(32, 24, &s);
  s.progressive = true;
  jpegs[1] = jpeg_rgb(32, 24, &s);
  s = (jpeg_spec){.quality = 85, .arith = true};
  jpegs[2] = jpeg_rgb(32, 24, &s);
  for (int j = 0; j < 3; j++) {
    blob t = blob_copy(jpegs[j].data, jpegs[j].len);
    for (int i = 0; i < 600; i++) {
      flip_bits(&t, &jpegs[j], 1 + i % 4, 2);
      decode_any(t.data, t.len);
    }
    blob_free(&t);
    blob_free(&jpegs[j]);
  }
  /* PNG: raw flips (mostly caught by CRCs), and flips with the CRCs fixed
   * afterwards so that the damage reaches zlib and the row filters. */
  blob pngs[2] = {png_rgb(20, 15, false), png_rgb(20, 15, true)};
  for (int j = 0; j < 2; j++) {
    blob t = blob_copy(pngs[j].data, pngs[j].len);
    for (int i = 0; i < 600; i++) {
      flip_bits(&t, &pngs[j], 1 + i % 3, 8);
      if (i % 2) png_fix_crcs(&t);
      decode_any(t.data, t.len);
    }
    blob_free(&t);
    blob_free(&pngs[j]);
  }
}

/* Makes the n-th allocation inside custos fail, for every n until one call
 * succeeds: each failure is ENOMEM, leaks nothing (LeakSanitizer) and leaves
 * *out NULL. */
static void test_allocation_failures(void **state) {
  (void)state;
  uint8_t exif[64];
  jpeg_spec s = {.app1 = exif, .app1_len = make_exif(exif, true, 6)};
  blob jpeg = jpeg_rgb(20, 12, &s);
  uint8_t *cmyk = pattern(8, 8, 4);
  s = (jpeg_spec){.in_space = JCS_CMYK};
  blob jcmyk = encode_jpeg(cmyk, 8, 8, &s);
  free(cmyk);
  png_spec ps = {.color = PNG_COLOR_TYPE_RGB_ALPHA, .depth = 8, .interlace = true};
  uint16_t *smp = png_samples(9, 7, &ps);
  blob png = encode_png(smp, 9, 7, &ps);
  free(smp);
  const blob *inputs[3] = {&jpeg, &jcmyk, &png};
  for (int k = 0; k < 3; k++) {
    for (long n = 0;; n++) {
      custos_image *img = (custos_image *)1;
      custos_err err;
      custos__alloc_fail_after(n);
      int rc = custos_image_decode(inputs[k]->data, inputs[k]->len, NULL, &img, NULL, &err);
      custos__alloc_fail_after(-1);
      if (rc == CUSTOS_OK) {
        custos_image_free(img);
        break;
      }
      assert_int_equal(rc, CUSTOS_ENOMEM);
      assert_null(img);
      assert_true(n < 20);
    }
  }
  custos_image *src = decode_ok(&jpeg, NULL);
  const double m[6] = {0.5, 0.1, 2, -0.1, 0.5, 3};
  const uint8_t fill[3] = {1, 2, 3};
  for (long n = 0; n < 10; n++) {
    custos_image *out = (custos_image *)1;
    custos_err err;
    custos__alloc_fail_after(n);
    int rc1 = custos_image_resize(src, 7, 5, CUSTOS_RESIZE_HALF_PIXEL, &out, &err);
    custos__alloc_fail_after(-1);
    if (rc1 == CUSTOS_OK)
      custos_image_free(out);
    else
      assert_null(out);
    custos__alloc_fail_after(n);
    int rc2 = custos_image_warp(src, m, 7, 5, fill, &out, &err);
    custos__alloc_fail_after(-1);
    if (rc2 == CUSTOS_OK)
      custos_image_free(out);
    else
      assert_null(out);
    assert_true(rc1 == CUSTOS_OK || rc1 == CUSTOS_ENOMEM);
    assert_true(rc2 == CUSTOS_OK || rc2 == CUSTOS_ENOMEM);
  }
  custos_image_free(src);
  blob_free(&jpeg);
  blob_free(&jcmyk);
  blob_free(&png);
}

/* ---- resize ----------------------------------------------------------------- */

static custos_image *image_from(int w, int h, const uint8_t *gray) {
  custos_image *img = NULL;
  custos_err err;
  assert_int_equal(custos_image_new(w, h, &img, &err), CUSTOS_OK);
  for (int i = 0; i < w * h; i++) {
    img->rgb[3 * i] = gray[i];
    img->rgb[3 * i + 1] = (uint8_t)(255 - gray[i]);
    img->rgb[3 * i + 2] = gray[i] / 2;
  }
  return img;
}

/* Checks channel 0 of a resize of src against want (and the other channels
 * against their formulas), in both the float and the 8-bit outputs. */
static void check_resize(const custos_image *src, int w, int h, custos_resize_mode mode,
                         const float *want) {
  custos_err err;
  float *f = malloc((size_t)w * (size_t)h * 3 * sizeof *f);
  assert_non_null(f);
  assert_int_equal(custos_image_resize_f32(src, w, h, mode, f, &err), CUSTOS_OK);
  custos_image *img = NULL;
  assert_int_equal(custos_image_resize(src, w, h, mode, &img, &err), CUSTOS_OK);
  assert_int_equal(img->width, w);
  assert_int_equal(img->height, h);
  for (int i = 0; i < w * h; i++) {
    if (fabsf(f[3 * i] - want[i]) > 1e-4f) {
      fail_msg("mode %d %dx%d pixel %d: %f, expected %f", (int)mode, w, h, i, (double)f[3 * i],
               (double)want[i]);
    }
    assert_true(fabsf(f[3 * i + 1] - (255.0f - want[i])) < 1e-4f);
    assert_int_equal(img->rgb[3 * i], (int)floorf(want[i] + 0.5f));
  }
  custos_image_free(img);
  free(f);
}

static void test_resize_hand_values(void **state) {
  (void)state;
  const uint8_t g2[4] = {0, 100, 200, 40};
  custos_image *src = image_from(2, 2, g2);
  const float half[16] = {0,   25,      75,     100, /* */
                          50,  58.75f,  76.25f, 85,  /* */
                          150, 126.25f, 78.75f, 55,  /* */
                          200, 160,     80,     40};
  check_resize(src, 4, 4, CUSTOS_RESIZE_HALF_PIXEL, half);
  const float asym[16] = {0,   50,  100, 100, /* */
                          100, 85,  70,  70,  /* */
                          200, 120, 40,  40,  /* */
                          200, 120, 40,  40};
  check_resize(src, 4, 4, CUSTOS_RESIZE_ASYMMETRIC, asym);
  /* Same size: an exact copy in both modes. */
  const float same[4] = {0, 100, 200, 40};
  check_resize(src, 2, 2, CUSTOS_RESIZE_HALF_PIXEL, same);
  check_resize(src, 2, 2, CUSTOS_RESIZE_ASYMMETRIC, same);
  custos_image_free(src);

  const uint8_t g4[4] = {10, 20, 30, 40};
  src = image_from(4, 1, g4);
  const float down_half[2] = {15, 35};
  check_resize(src, 2, 1, CUSTOS_RESIZE_HALF_PIXEL, down_half);
  const float down_asym[2] = {10, 30};
  check_resize(src, 2, 1, CUSTOS_RESIZE_ASYMMETRIC, down_asym);
  /* To one pixel: the centre (half pixel) or the first pixel (asymmetric). */
  const float one_half[1] = {25};
  check_resize(src, 1, 1, CUSTOS_RESIZE_HALF_PIXEL, one_half);
  const float one_asym[1] = {10};
  check_resize(src, 1, 1, CUSTOS_RESIZE_ASYMMETRIC, one_asym);
  /* 1 x 1 up to 3 x 2: constant. */
  custos_image_free(src);
  const uint8_t g1[1] = {77};
  src = image_from(1, 1, g1);
  const float flat[6] = {77, 77, 77, 77, 77, 77};
  check_resize(src, 3, 2, CUSTOS_RESIZE_HALF_PIXEL, flat);
  check_resize(src, 3, 2, CUSTOS_RESIZE_ASYMMETRIC, flat);
  custos_image_free(src);
}

/* The textbook formula, per pixel, in double. */
static double ref_resize(const custos_image *src, int w, int h, custos_resize_mode mode, int x,
                         int y, int c) {
  double sx = mode == CUSTOS_RESIZE_HALF_PIXEL ? (x + 0.5) * src->width / w - 0.5
                                               : (double)x * src->width / w;
  double sy = mode == CUSTOS_RESIZE_HALF_PIXEL ? (y + 0.5) * src->height / h - 0.5
                                               : (double)y * src->height / h;
  sx = fmin(fmax(sx, 0), src->width - 1);
  sy = fmin(fmax(sy, 0), src->height - 1);
  int x0 = (int)floor(sx), y0 = (int)floor(sy);
  int x1 = x0 + 1 < src->width ? x0 + 1 : x0, y1 = y0 + 1 < src->height ? y0 + 1 : y0;
  double fx = sx - x0, fy = sy - y0;
#define P(xx, yy) \
  ((double)src->rgb[((size_t)(yy) * (size_t)src->width + (size_t)(xx)) * 3 + (size_t)c])
  double top = P(x0, y0) * (1 - fx) + P(x1, y0) * fx;
  double bot = P(x0, y1) * (1 - fx) + P(x1, y1) * fx;
#undef P
  return top * (1 - fy) + bot * fy;
}

static void test_resize_against_reference(void **state) {
  (void)state;
  rng_seed(5);
  const int sizes[][4] = {{37, 23, 11, 7}, {37, 23, 80, 51},     {16, 16, 16, 16}, {100, 3, 7, 9},
                          {5, 40, 64, 3},  {640, 480, 160, 120}, {1, 7, 4, 4},     {7, 1, 3, 9}};
  for (size_t k = 0; k < CUSTOS_ARRAY_LEN(sizes); k++) {
    custos_image *src = NULL;
    custos_err err;
    assert_int_equal(custos_image_new(sizes[k][0], sizes[k][1], &src, &err), CUSTOS_OK);
    for (size_t i = 0; i < (size_t)sizes[k][0] * (size_t)sizes[k][1] * 3; i++) {
      src->rgb[i] = (uint8_t)rng();
    }
    const int w = sizes[k][2], h = sizes[k][3];
    for (int mode = 0; mode <= 1; mode++) {
      float *f = malloc((size_t)w * (size_t)h * 3 * sizeof *f);
      assert_non_null(f);
      custos_image *img = NULL;
      assert_int_equal(custos_image_resize_f32(src, w, h, (custos_resize_mode)mode, f, &err),
                       CUSTOS_OK);
      assert_int_equal(custos_image_resize(src, w, h, (custos_resize_mode)mode, &img, &err),
                       CUSTOS_OK);
      for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
          for (int c = 0; c < 3; c++) {
            double r = ref_resize(src, w, h, (custos_resize_mode)mode, x, y, c);
            size_t i = ((size_t)y * (size_t)w + (size_t)x) * 3 + (size_t)c;
            if (fabs((double)f[i] - r) > 1e-3) {
              fail_msg("resize %dx%d->%dx%d mode %d at (%d,%d,%d): %f vs %f", sizes[k][0],
                       sizes[k][1], w, h, mode, x, y, c, (double)f[i], r);
            }
            assert_true(fabs((double)img->rgb[i] - r) <= 0.5 + 1e-3);
          }
        }
      }
      custos_image_free(img);
      free(f);
    }
    custos_image_free(src);
  }
}

static void test_resize_bad_args(void **state) {
  (void)state;
  const uint8_t g[4] = {1, 2, 3, 4};
  custos_image *src = image_from(2, 2, g);
  custos_image *out = (custos_image *)1;
  float f[12];
  custos_err err;
  assert_int_equal(custos_image_resize(NULL, 2, 2, CUSTOS_RESIZE_HALF_PIXEL, &out, &err),
                   CUSTOS_EINVAL);
  assert_null(out);
  assert_int_equal(custos_image_resize(src, 0, 2, CUSTOS_RESIZE_HALF_PIXEL, &out, &err),
                   CUSTOS_EINVAL);
  assert_int_equal(custos_image_resize(src, 2, -3, CUSTOS_RESIZE_HALF_PIXEL, &out, &err),
                   CUSTOS_EINVAL);
  assert_int_equal(custos_image_resize(src, 20001, 1, CUSTOS_RESIZE_HALF_PIXEL, &out, &err),
                   CUSTOS_EINVAL);
  assert_int_equal(custos_image_resize(src, 2, 2, (custos_resize_mode)7, &out, &err),
                   CUSTOS_EINVAL);
  assert_int_equal(custos_image_resize(src, 2, 2, CUSTOS_RESIZE_HALF_PIXEL, NULL, &err),
                   CUSTOS_EINVAL);
  assert_int_equal(custos_image_resize_f32(src, 2, 2, CUSTOS_RESIZE_HALF_PIXEL, NULL, &err),
                   CUSTOS_EINVAL);
  assert_int_equal(custos_image_resize_f32(src, 2, 2, CUSTOS_RESIZE_HALF_PIXEL, f, &err),
                   CUSTOS_OK);
  custos_image empty = {0, 0, NULL};
  assert_int_equal(custos_image_resize_f32(&empty, 2, 2, CUSTOS_RESIZE_HALF_PIXEL, f, &err),
                   CUSTOS_EINVAL);
  custos_image_free(src);
}

/* ---- warp --------------------------------------------------------------------- */

static custos_image *random_image(int w, int h) {
  custos_image *img = NULL;
  custos_err err;
  assert_int_equal(custos_image_new(w, h, &img, &err), CUSTOS_OK);
  for (size_t i = 0; i < (size_t)w * (size_t)h * 3; i++) img->rgb[i] = (uint8_t)rng();
  return img;
}

static void test_warp_identity_and_translation(void **state) {
  (void)state;
  rng_seed(11);
  custos_image *src = random_image(13, 9);
  custos_err err;
  const uint8_t fill[3] = {7, 8, 9};
  const double id[6] = {1, 0, 0, 0, 1, 0};
  custos_image *out = NULL;
  assert_int_equal(custos_image_warp(src, id, 13, 9, fill, &out, &err), CUSTOS_OK);
  assert_memory_equal(out->rgb, src->rgb, 13 * 9 * 3);
  custos_image_free(out);
  float f[13 * 9 * 3];
  assert_int_equal(custos_image_warp_f32(src, id, 13, 9, fill, f, &err), CUSTOS_OK);
  for (int i = 0; i < 13 * 9 * 3; i++) assert_true(f[i] == (float)src->rgb[i]);

  /* dst(x, y) = src(x + 1, y): the last column has no source: fill. */
  const double right[6] = {1, 0, 1, 0, 1, 0};
  assert_int_equal(custos_image_warp(src, right, 13, 9, fill, &out, &err), CUSTOS_OK);
  for (int y = 0; y < 9; y++) {
    for (int x = 0; x < 13; x++) {
      const uint8_t *d = out->rgb + (y * 13 + x) * 3;
      if (x < 12) {
        assert_memory_equal(d, src->rgb + (y * 13 + x + 1) * 3, 3);
      } else {
        assert_memory_equal(d, fill, 3);
      }
    }
  }
  custos_image_free(out);
  /* dst(x, y) = src(x, y - 1): the first row is fill. */
  const double down[6] = {1, 0, 0, 0, 1, -1};
  assert_int_equal(custos_image_warp(src, down, 13, 9, fill, &out, &err), CUSTOS_OK);
  for (int y = 0; y < 9; y++) {
    for (int x = 0; x < 13; x++) {
      const uint8_t *d = out->rgb + (y * 13 + x) * 3;
      assert_memory_equal(d, y == 0 ? fill : src->rgb + ((y - 1) * 13 + x) * 3, 3);
    }
  }
  custos_image_free(out);
  /* Half a pixel right: the mean of neighbours; at the edge, with fill. */
  const double half[6] = {1, 0, 0.5, 0, 1, 0};
  assert_int_equal(custos_image_warp_f32(src, half, 13, 9, fill, f, &err), CUSTOS_OK);
  for (int y = 0; y < 9; y++) {
    for (int x = 0; x < 13; x++) {
      for (int c = 0; c < 3; c++) {
        float a = src->rgb[(y * 13 + x) * 3 + c];
        float b = x < 12 ? src->rgb[(y * 13 + x + 1) * 3 + c] : fill[c];
        assert_true(fabsf(f[(y * 13 + x) * 3 + c] - (a + b) / 2) < 1e-4f);
      }
    }
  }
  /* Entirely outside: all fill. */
  const double away[6] = {1, 0, 1000, 0, 1, -1000};
  assert_int_equal(custos_image_warp(src, away, 4, 3, fill, &out, &err), CUSTOS_OK);
  for (int i = 0; i < 12; i++) assert_memory_equal(out->rgb + 3 * i, fill, 3);
  custos_image_free(out);
  /* A huge but finite matrix is outside too, not undefined behaviour. */
  const double huge[6] = {1e300, 0, 0, 0, 1e300, 0};
  assert_int_equal(custos_image_warp(src, huge, 4, 3, fill, &out, &err), CUSTOS_OK);
  assert_memory_equal(out->rgb + 3 * 5, fill, 3);
  custos_image_free(out);
  custos_image_free(src);
}

static void test_warp_rotation_and_scale(void **state) {
  (void)state;
  rng_seed(13);
  enum { W = 7, H = 5 };
  custos_image *src = random_image(W, H);
  custos_err err;
  const uint8_t fill[3] = {0, 0, 0};
  /* A 90-degree clockwise rotation into H x W: upright (x, y) shows source
   * (y, H-1-x); in continuous coordinates sx = y, sy = H - x. */
  const double rot[6] = {0, 1, 0, -1, 0, H};
  custos_image *out = NULL;
  assert_int_equal(custos_image_warp(src, rot, H, W, fill, &out, &err), CUSTOS_OK);
  for (int y = 0; y < W; y++) {
    for (int x = 0; x < H; x++) {
      assert_memory_equal(out->rgb + (y * H + x) * 3, src->rgb + ((H - 1 - x) * W + y) * 3, 3);
    }
  }
  custos_image_free(out);
  /* A 2x downscale by matrix samples at source (2x + 0.5, 2y + 0.5): the
   * mean of a 2x2 block, like a half-pixel resize. */
  const double scale[6] = {2, 0, 0, 0, 2, 0};
  float f[3 * 2 * 3];
  assert_int_equal(custos_image_warp_f32(src, scale, 3, 2, fill, f, &err), CUSTOS_OK);
  for (int y = 0; y < 2; y++) {
    for (int x = 0; x < 3; x++) {
      for (int c = 0; c < 3; c++) {
        float m = 0;
        for (int k = 0; k < 4; k++) {
          m += src->rgb[((2 * y + k / 2) * W + 2 * x + k % 2) * 3 + c];
        }
        assert_true(fabsf(f[(y * 3 + x) * 3 + c] - m / 4) < 1e-3f);
      }
    }
  }
  custos_image_free(src);
}

static void test_warp_bad_args(void **state) {
  (void)state;
  rng_seed(17);
  custos_image *src = random_image(4, 4);
  custos_image *out = (custos_image *)1;
  custos_err err;
  const uint8_t fill[3] = {0, 0, 0};
  const double id[6] = {1, 0, 0, 0, 1, 0};
  double nan6[6] = {1, 0, 0, 0, 1, 0};
  nan6[2] = NAN;
  float f[48];
  assert_int_equal(custos_image_warp(NULL, id, 4, 4, fill, &out, &err), CUSTOS_EINVAL);
  assert_null(out);
  assert_int_equal(custos_image_warp(src, NULL, 4, 4, fill, &out, &err), CUSTOS_EINVAL);
  assert_int_equal(custos_image_warp(src, id, 0, 4, fill, &out, &err), CUSTOS_EINVAL);
  assert_int_equal(custos_image_warp(src, id, 4, 30000, fill, &out, &err), CUSTOS_EINVAL);
  assert_int_equal(custos_image_warp(src, id, 4, 4, NULL, &out, &err), CUSTOS_EINVAL);
  assert_int_equal(custos_image_warp(src, nan6, 4, 4, fill, &out, &err), CUSTOS_EINVAL);
  assert_int_equal(custos_image_warp(src, id, 4, 4, fill, NULL, &err), CUSTOS_EINVAL);
  assert_int_equal(custos_image_warp_f32(src, id, 4, 4, fill, NULL, &err), CUSTOS_EINVAL);
  assert_int_equal(custos_image_warp_f32(src, nan6, 4, 4, fill, f, &err), CUSTOS_EINVAL);
  custos_image_free(src);
}

static void test_affine_invert(void **state) {
  (void)state;
  custos_err err;
  double inv[6];
  const double m[6] = {2, 0, 3, 0, 4, 5};
  assert_int_equal(custos_image_affine_invert(m, inv, &err), CUSTOS_OK);
  const double want[6] = {0.5, 0, -1.5, 0, 0.25, -1.25};
  for (int i = 0; i < 6; i++) assert_true(fabs(inv[i] - want[i]) < 1e-12);
  /* Rotation + scale + shift: m then inv is the identity on points. */
  const double t = 0.7, s = 1.3;
  const double r[6] = {s * cos(t), -s * sin(t), 10, s * sin(t), s * cos(t), -4};
  assert_int_equal(custos_image_affine_invert(r, inv, &err), CUSTOS_OK);
  for (int k = 0; k < 5; k++) {
    double x = k * 3.5 - 2, y = 7 - k;
    double u = r[0] * x + r[1] * y + r[2], v = r[3] * x + r[4] * y + r[5];
    assert_true(fabs(inv[0] * u + inv[1] * v + inv[2] - x) < 1e-9);
    assert_true(fabs(inv[3] * u + inv[4] * v + inv[5] - y) < 1e-9);
  }
  /* Inverting twice gives the matrix back. */
  double back[6];
  assert_int_equal(custos_image_affine_invert(inv, back, &err), CUSTOS_OK);
  for (int i = 0; i < 6; i++) assert_true(fabs(back[i] - r[i]) < 1e-9);
  /* Singular, zero, not finite, NULL. */
  const double sing[6] = {1, 2, 3, 2, 4, 6};
  assert_int_equal(custos_image_affine_invert(sing, inv, &err), CUSTOS_EINVAL);
  assert_true(contains(err.message, "singular"));
  const double zero[6] = {0, 0, 1, 0, 0, 1};
  assert_int_equal(custos_image_affine_invert(zero, inv, &err), CUSTOS_EINVAL);
  const double inf6[6] = {INFINITY, 0, 0, 0, 1, 0};
  assert_int_equal(custos_image_affine_invert(inf6, inv, &err), CUSTOS_EINVAL);
  assert_int_equal(custos_image_affine_invert(NULL, inv, &err), CUSTOS_EINVAL);
  assert_int_equal(custos_image_affine_invert(m, NULL, &err), CUSTOS_EINVAL);
  /* The warp by a matrix and by its inverse's inverse agree. */
  rng_seed(19);
  custos_image *src = random_image(9, 9);
  const double a[6] = {0.9, 0.2, 0.3, -0.1, 1.1, -0.4};
  double ai[6], aii[6];
  assert_int_equal(custos_image_affine_invert(a, ai, &err), CUSTOS_OK);
  assert_int_equal(custos_image_affine_invert(ai, aii, &err), CUSTOS_OK);
  float f1[8 * 8 * 3], f2[8 * 8 * 3];
  const uint8_t fill[3] = {50, 60, 70};
  assert_int_equal(custos_image_warp_f32(src, a, 8, 8, fill, f1, &err), CUSTOS_OK);
  assert_int_equal(custos_image_warp_f32(src, aii, 8, 8, fill, f2, &err), CUSTOS_OK);
  for (int i = 0; i < 8 * 8 * 3; i++) assert_true(fabsf(f1[i] - f2[i]) < 1e-3f);
  custos_image_free(src);
}

/* ---- files --------------------------------------------------------------------- */

static blob read_all(const char *path) {
  blob b = {NULL, 0};
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  uint8_t tmp[65536];
  size_t n;
  while ((n = fread(tmp, 1, sizeof tmp, f)) > 0) {
    uint8_t *p = realloc(b.data, b.len + n);
    assert_non_null(p);
    memcpy(p + b.len, tmp, n);
    b.data = p;
    b.len += n;
  }
  fclose(f);
  return b;
}

static void write_all(const char *path, const blob *b) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(b->data, 1, b->len, f), b->len);
  assert_int_equal(fclose(f), 0);
}

static void test_files(void **state) {
  (void)state;
  char dir[] = "/tmp/custos-img-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char path[256];
  custos_err err;
  rng_seed(23);
  custos_image *img = random_image(5, 3);
  snprintf(path, sizeof path, "%s/out.ppm", dir);
  assert_int_equal(custos_image_write_ppm(img, path, &err), CUSTOS_OK);
  blob b = read_all(path);
  const char *hdr = "P6\n5 3\n255\n";
  assert_int_equal(b.len, strlen(hdr) + 45);
  assert_memory_equal(b.data, hdr, strlen(hdr));
  assert_memory_equal(b.data + strlen(hdr), img->rgb, 45);
  blob_free(&b);
  unlink(path);
  assert_int_equal(custos_image_write_ppm(NULL, path, &err), CUSTOS_EINVAL);
  assert_int_equal(custos_image_write_ppm(img, NULL, &err), CUSTOS_EINVAL);
  snprintf(path, sizeof path, "%s/missing-dir/out.ppm", dir);
  assert_int_equal(custos_image_write_ppm(img, path, &err), CUSTOS_EIO);
  custos_image_free(img);

  /* decode_file: a PNG, a JPEG, a GIF (message names the file), nothing. */
  b = png_rgb(6, 4, false);
  snprintf(path, sizeof path, "%s/a.png", dir);
  write_all(path, &b);
  custos_image_info info;
  assert_int_equal(custos_image_decode_file(path, NULL, &img, &info, &err), CUSTOS_OK);
  assert_int_equal(info.format, CUSTOS_IMAGE_PNG);
  assert_int_equal(img->width, 6);
  custos_image_free(img);
  unlink(path);
  blob_free(&b);
  jpeg_spec s = {0};
  b = jpeg_rgb(8, 8, &s);
  snprintf(path, sizeof path, "%s/a.jpg", dir);
  write_all(path, &b);
  assert_int_equal(custos_image_decode_file(path, NULL, &img, &info, &err), CUSTOS_OK);
  assert_int_equal(info.format, CUSTOS_IMAGE_JPEG);
  custos_image_free(img);
  unlink(path);
  blob_free(&b);
  b = blob_copy((const uint8_t *)"GIF89a\1\0\1\0", 10);
  snprintf(path, sizeof path, "%s/a.gif", dir);
  write_all(path, &b);
  img = (custos_image *)1;
  assert_int_equal(custos_image_decode_file(path, NULL, &img, &info, &err), CUSTOS_EIMAGE_FORMAT);
  assert_null(img);
  assert_true(contains(err.message, "a.gif"));
  assert_true(contains(err.message, "GIF"));
  unlink(path);
  blob_free(&b);
  snprintf(path, sizeof path, "%s/none.jpg", dir);
  assert_int_equal(custos_image_decode_file(path, NULL, &img, &info, &err), CUSTOS_ENOENT);
  assert_int_equal(custos_image_decode_file(NULL, NULL, &img, &info, &err), CUSTOS_EINVAL);
  assert_int_equal(custos_image_decode_file(dir, NULL, &img, &info, &err), CUSTOS_EINVAL);
  assert_int_equal(rmdir(dir), 0);
}

/* The demo photos decode to exactly what djpeg makes of them. */
static void test_demo_photos_match_djpeg(void **state) {
  (void)state;
  if (system("command -v djpeg >/dev/null 2>&1") != 0) {
    skip();
  }
  int checked = 0;
  for (int i = 1; i <= 9; i++) {
    char path[1024];
    snprintf(path, sizeof path, "%s/demo/sample%d.jpg", CUSTOS_MODELS_DIR, i);
    if (access(path, R_OK) != 0 || strchr(path, '\'') != NULL) continue;
    custos_image *img = NULL;
    custos_image_info info;
    custos_err err;
    int rc = custos_image_decode_file(path, NULL, &img, &info, &err);
    if (rc != CUSTOS_OK) fail_msg("%s: %s", path, err.message);
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "djpeg -ppm '%s'", path);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    blob ppm = {NULL, 0};
    uint8_t tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, p)) > 0) {
      uint8_t *q = realloc(ppm.data, ppm.len + n);
      assert_non_null(q);
      memcpy(q + ppm.len, tmp, n);
      ppm.data = q;
      ppm.len += n;
    }
    assert_int_equal(pclose(p), 0);
    /* djpeg ignores EXIF orientation: turn its pixels like ours. */
    int sw, sh;
    custos__img_oriented_size(info.orientation, img->width, img->height, &sw, &sh);
    char hdr[64];
    int hl = snprintf(hdr, sizeof hdr, "P6\n%d %d\n255\n", sw, sh);
    size_t bytes = (size_t)sw * (size_t)sh * 3;
    assert_int_equal(ppm.len, (size_t)hl + bytes);
    assert_memory_equal(ppm.data, hdr, (size_t)hl);
    custos_image *djpeg = NULL;
    assert_int_equal(custos__img_alloc(sw, sh, false, &djpeg, &err), CUSTOS_OK);
    memcpy(djpeg->rgb, ppm.data + hl, bytes);
    assert_int_equal(custos__img_orient(djpeg, info.orientation, &err), CUSTOS_OK);
    if (memcmp(djpeg->rgb, img->rgb, bytes) != 0) fail_msg("%s differs from djpeg", path);
    custos_image_free(djpeg);
    blob_free(&ppm);
    custos_image_free(img);
    checked++;
  }
  if (checked == 0) skip();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_unknown_formats),
      cmocka_unit_test(test_format_names_and_objects),
      cmocka_unit_test(test_probe),
      cmocka_unit_test(test_jpeg_variants),
      cmocka_unit_test(test_jpeg_gray),
      cmocka_unit_test(test_jpeg_cmyk),
      cmocka_unit_test(test_jpeg_orientation),
      cmocka_unit_test(test_exif_parser),
      cmocka_unit_test(test_orient_function),
      cmocka_unit_test(test_jpeg_trailing_and_extraneous),
      cmocka_unit_test(test_jpeg_scan_bomb),
      cmocka_unit_test(test_png_variants),
      cmocka_unit_test(test_png_16bit_scaling),
      cmocka_unit_test(test_limits_jpeg),
      cmocka_unit_test(test_limits_png),
      cmocka_unit_test(test_png_bomb),
      cmocka_unit_test(test_truncations),
      cmocka_unit_test(test_random_bytes),
      cmocka_unit_test(test_bit_flips),
      cmocka_unit_test(test_allocation_failures),
      cmocka_unit_test(test_resize_hand_values),
      cmocka_unit_test(test_resize_against_reference),
      cmocka_unit_test(test_resize_bad_args),
      cmocka_unit_test(test_warp_identity_and_translation),
      cmocka_unit_test(test_warp_rotation_and_scale),
      cmocka_unit_test(test_warp_bad_args),
      cmocka_unit_test(test_affine_invert),
      cmocka_unit_test(test_files),
      cmocka_unit_test(test_demo_photos_match_djpeg),
  };
  return cmocka_run_group_tests_name("img", tests, NULL, NULL);
}
