/*
 * PNG decoding with libpng's classic API.
 *
 * The IHDR chunk is parsed and checked here first (signature, length, CRC,
 * field values), so limits are enforced before libpng is even created, and a
 * file too small to hold its claimed pixels is refused before the output is
 * allocated: deflate expands at most 1032:1, so a 200-byte file cannot hold a
 * 30000 x 30000 image.
 *
 *   offset  size  meaning
 *   0       8     signature 89 50 4e 47 0d 0a 1a 0a
 *   8       4     IHDR length, 13 (big-endian, as all PNG integers)
 *   12      4     "IHDR"
 *   16      4     width, 1 .. 2^31-1
 *   20      4     height, 1 .. 2^31-1
 *   24      1     bit depth: 1, 2, 4, 8, 16 (allowed ones depend on colour type)
 *   25      1     colour type: 0 gray, 2 RGB, 3 palette, 4 gray+alpha, 6 RGBA
 *   26      1     compression method, 0
 *   27      1     filter method, 0
 *   28      1     interlace method: 0 none, 1 Adam7
 *   29      4     CRC-32 of bytes 12 .. 28
 *
 * libpng then converts every colour type to 8-bit RGB or RGBA: palettes and
 * gray are expanded, tRNS becomes alpha, 16-bit samples are scaled with
 * rounding (v * 255 / 65535, png_set_scale_16).  Alpha is composited onto
 * white here, in the file's own encoding (no gamma):
 *     out = (c * a + 255 * (255 - a) + 127) / 255   (integer division)
 * Every ancillary chunk except tRNS is discarded unread (gAMA, iCCP, text,
 * ...), which also removes the compressed-text bombs.  Rows are read one at
 * a time straight into the output; an interlaced image is read pass by pass
 * and each pass's pixels are placed at their Adam7 positions, so no buffer
 * larger than one row is needed besides the output.
 *
 * A PNG must be intact up to and including its IEND chunk; a CRC error in a
 * critical chunk, bad zlib data or missing rows are CUSTOS_EIMAGE_CORRUPT.
 */
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <png.h>

#include "img/img.h"
#include "util/util.h"

/* Largest memory libpng may allocate for one ancillary chunk's data. */
#define PNG_CHUNK_MALLOC_MAX ((png_alloc_size_t)8 << 20)

/* Largest number of ancillary chunks libpng keeps. */
#define PNG_CHUNK_CACHE_MAX 256u

/* Greatest expansion of deflate: two bits for each 258-byte match. */
#define DEFLATE_MAX_RATIO 1032u

typedef struct png_header {
  uint32_t width;  /* pixels */
  uint32_t height; /* pixels */
  int depth;       /* bits per sample: 1, 2, 4, 8, 16 */
  int color;       /* PNG colour type 0, 2, 3, 4, 6 */
  int interlace;   /* 0 none, 1 Adam7 */
} png_header;

typedef struct png_ctx {
  const uint8_t *data; /* the encoded file */
  size_t len;          /* its length */
  size_t pos;          /* read position of the libpng read callback */
  jmp_buf jmp;         /* where libpng errors return to */
  bool jumped;         /* libpng failed: see code and msg */
  int code;            /* CUSTOS_E... code of a libpng failure */
  char msg[160];       /* libpng's message */
  png_structp png;     /* libpng's reader, NULL until created */
  png_infop pinfo;     /* its info struct */
  png_header hdr;      /* the checked IHDR */
  custos_image *img;   /* the output */
  uint8_t *row;        /* one transformed row (RGB or RGBA, full width) */
  custos_err *err;     /* where detail goes */
} png_ctx;

static uint32_t be32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* CRC-32 as PNG defines it (bitwise; only used on the 17 IHDR bytes). */
static uint32_t crc32_bytes(const uint8_t *p, size_t n) {
  uint32_t crc = 0xffffffffu;
  for (size_t i = 0; i < n; i++) {
    crc ^= p[i];
    for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
  }
  return crc ^ 0xffffffffu;
}

static int channels_of(int color) {
  switch (color) {
    case 0:
      return 1;
    case 2:
      return 3;
    case 3:
      return 1;
    case 4:
      return 2;
    case 6:
      return 4;
    default:
      return 0;
  }
}

static const char *color_name(int color) {
  switch (color) {
    case 0:
      return "gray";
    case 2:
      return "rgb";
    case 3:
      return "palette";
    case 4:
      return "gray+alpha";
    case 6:
      return "rgba";
    default:
      return "unknown";
  }
}

static bool depth_allowed(int color, int depth) {
  switch (color) {
    case 0:
      return depth == 1 || depth == 2 || depth == 4 || depth == 8 || depth == 16;
    case 3:
      return depth == 1 || depth == 2 || depth == 4 || depth == 8;
    case 2:
    case 4:
    case 6:
      return depth == 8 || depth == 16;
    default:
      return false;
  }
}

static int corrupt(custos_err *err, const char *msg) {
  return custos__err(err, CUSTOS_EIMAGE_CORRUPT, CUSTOS__IMG_MODULE, "PNG: %s", msg);
}

static int parse_header(const uint8_t *d, size_t len, png_header *h, custos_err *err) {
  static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a};
  if (len < 8 || memcmp(d, sig, 8) != 0) return corrupt(err, "truncated or damaged signature");
  if (len < 33) return corrupt(err, "truncated before the end of the IHDR chunk");
  if (be32(d + 8) != 13 || memcmp(d + 12, "IHDR", 4) != 0) {
    return corrupt(err, "the first chunk is not a 13-byte IHDR");
  }
  if (be32(d + 29) != crc32_bytes(d + 12, 17)) return corrupt(err, "IHDR CRC mismatch");
  h->width = be32(d + 16);
  h->height = be32(d + 20);
  h->depth = d[24];
  h->color = d[25];
  h->interlace = d[28];
  if (h->width == 0 || h->height == 0 || h->width > 0x7fffffffu || h->height > 0x7fffffffu) {
    return custos__err(err, CUSTOS_EIMAGE_CORRUPT, CUSTOS__IMG_MODULE,
                       "PNG: IHDR size %ux%u is invalid", h->width, h->height);
  }
  if (!depth_allowed(h->color, h->depth)) {
    return custos__err(err, CUSTOS_EIMAGE_CORRUPT, CUSTOS__IMG_MODULE,
                       "PNG: IHDR colour type %d with bit depth %d is invalid", h->color, h->depth);
  }
  if (d[26] != 0 || d[27] != 0 || h->interlace > 1) {
    return custos__err(err, CUSTOS_EIMAGE_CORRUPT, CUSTOS__IMG_MODULE,
                       "PNG: IHDR compression %d, filter %d or interlace %d is invalid", d[26],
                       d[27], h->interlace);
  }
  return CUSTOS_OK;
}

static void header_info(const png_header *h, custos_image_info *info) {
  info->format = CUSTOS_IMAGE_PNG;
  info->width = (int)h->width;
  info->height = (int)h->height;
  info->channels = channels_of(h->color);
  info->bit_depth = h->depth;
  info->orientation = 1;
  info->color = color_name(h->color);
}

int custos__img_png_probe(const uint8_t *data, size_t len, custos_image_info *info,
                          custos_err *err) {
  png_header h;
  int rc = parse_header(data, len, &h, err);
  if (rc == CUSTOS_OK) header_info(&h, info);
  return rc;
}

static void on_error(png_structp png, png_const_charp msg) {
  png_ctx *c = png_get_error_ptr(png);
  snprintf(c->msg, sizeof c->msg, "%s", msg);
  c->code = strstr(msg, "memory") != NULL ? CUSTOS_ENOMEM : CUSTOS_EIMAGE_CORRUPT;
  longjmp(c->jmp, 1);
}

static void on_warning(png_structp png, png_const_charp msg) {
  (void)png;
  (void)msg; /* benign: a damaged ancillary chunk, extra compressed data */
}

static void on_read(png_structp png, png_bytep out, size_t n) {
  png_ctx *c = png_get_io_ptr(png);
  if (c->len - c->pos < n) png_error(png, "file truncated");
  memcpy(out, c->data + c->pos, n);
  c->pos += n;
}

/* Copies `cols` transformed pixels (3 or 4 bytes each) to every `step`-th
 * pixel of dst, compositing alpha onto white. */
static void put_pixels(const uint8_t *src, int channels, uint8_t *dst, size_t cols, size_t step) {
  const size_t dstep = step * 3;
  if (channels == 3) {
    for (size_t i = 0; i < cols; i++, src += 3, dst += dstep) memcpy(dst, src, 3);
    return;
  }
  for (size_t i = 0; i < cols; i++, src += 4, dst += dstep) {
    unsigned a = src[3];
    if (a == 255) {
      memcpy(dst, src, 3);
    } else {
      unsigned bg = 255 * (255 - a) + 127;
      dst[0] = (uint8_t)((src[0] * a + bg) / 255);
      dst[1] = (uint8_t)((src[1] * a + bg) / 255);
      dst[2] = (uint8_t)((src[2] * a + bg) / 255);
    }
  }
}

/* Everything that calls into libpng. */
static int png_run(png_ctx *c) {
  /* Adam7: first column, first row, column step, row step of each pass. */
  static const uint8_t adam7[7][4] = {{0, 0, 8, 8}, {4, 0, 8, 8}, {0, 4, 4, 8}, {2, 0, 4, 4},
                                      {0, 2, 2, 4}, {1, 0, 2, 2}, {0, 1, 1, 2}};
  static const uint8_t no_interlace[1][4] = {{0, 0, 1, 1}};
  if (setjmp(c->jmp)) {
    c->jumped = true;
    return c->code;
  }
  c->png = png_create_read_struct(PNG_LIBPNG_VER_STRING, c, on_error, on_warning);
  if (c->png == NULL) goto nomem;
  c->pinfo = png_create_info_struct(c->png);
  if (c->pinfo == NULL) goto nomem;
  png_set_read_fn(c->png, c, on_read);
  png_set_user_limits(c->png, c->hdr.width, c->hdr.height);
  png_set_chunk_cache_max(c->png, PNG_CHUNK_CACHE_MAX);
  png_set_chunk_malloc_max(c->png, PNG_CHUNK_MALLOC_MAX);
  /* Discard every ancillary chunk except tRNS (IHDR, PLTE, IDAT, IEND stay). */
  png_set_keep_unknown_chunks(c->png, PNG_HANDLE_CHUNK_NEVER, NULL, -1);
  png_read_info(c->png, c->pinfo);

  const png_header *h = &c->hdr;
  if (png_get_image_width(c->png, c->pinfo) != h->width ||
      png_get_image_height(c->png, c->pinfo) != h->height) {
    return corrupt(c->err, "libpng read a different IHDR"); /* cannot happen */
  }
  if (h->color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(c->png);
  if (h->color == PNG_COLOR_TYPE_GRAY && h->depth < 8) png_set_expand_gray_1_2_4_to_8(c->png);
  if (png_get_valid(c->png, c->pinfo, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(c->png);
  if (h->depth == 16) png_set_scale_16(c->png);
  if (h->color == PNG_COLOR_TYPE_GRAY || h->color == PNG_COLOR_TYPE_GRAY_ALPHA) {
    png_set_gray_to_rgb(c->png);
  }
  png_read_update_info(c->png, c->pinfo);
  const int channels = png_get_channels(c->png, c->pinfo);
  const size_t width = h->width, height = h->height;
  if (png_get_bit_depth(c->png, c->pinfo) != 8 || (channels != 3 && channels != 4) ||
      png_get_rowbytes(c->png, c->pinfo) != width * (size_t)channels) {
    return corrupt(c->err, "unexpected libpng output layout"); /* cannot happen */
  }
  int rc = custos__img_alloc((int)h->width, (int)h->height, false, &c->img, c->err);
  if (rc != CUSTOS_OK) return rc;
  const bool direct = h->interlace == 0 && channels == 3;
  if (!direct) {
    c->row = custos__mallocarray(width, (size_t)channels);
    if (c->row == NULL) goto nomem;
  }
  const uint8_t(*passes)[4] = h->interlace ? adam7 : no_interlace;
  const int npasses = h->interlace ? 7 : 1;
  const size_t stride = width * 3;
  for (int p = 0; p < npasses; p++) {
    const size_t x0 = passes[p][0], y0 = passes[p][1], dx = passes[p][2], dy = passes[p][3];
    const size_t cols = width > x0 ? (width - x0 + dx - 1) / dx : 0;
    const size_t rows = height > y0 ? (height - y0 + dy - 1) / dy : 0;
    if (cols == 0 || rows == 0) continue; /* libpng skips empty passes too */
    for (size_t r = 0; r < rows; r++) {
      uint8_t *dst = c->img->rgb + (y0 + r * dy) * stride;
      if (direct) {
        png_read_row(c->png, dst, NULL);
      } else {
        png_read_row(c->png, c->row, NULL);
        put_pixels(c->row, channels, dst + x0 * 3, cols, dx);
      }
    }
  }
  png_read_end(c->png, NULL);
  return CUSTOS_OK;
nomem:
  return custos__err(c->err, CUSTOS_ENOMEM, CUSTOS__IMG_MODULE, "PNG: out of memory");
}

int custos__img_png_decode(const uint8_t *data, size_t len, const custos_image_limits *limits,
                           custos_image **out, custos_image_info *info, custos_err *err) {
  png_ctx c;
  memset(&c, 0, sizeof c);
  int rc = parse_header(data, len, &c.hdr, err);
  if (rc != CUSTOS_OK) return rc;
  header_info(&c.hdr, info);
  rc = custos__img_check_limits(c.hdr.width, c.hdr.height, limits, err);
  if (rc != CUSTOS_OK) return rc;
  /* The packed pixel bytes alone are a lower bound of the inflated size, and
   * deflate cannot expand len bytes beyond DEFLATE_MAX_RATIO * len.  Divide
   * rather than multiply: the caller's limits may allow any size. */
  uint64_t row_bits = (uint64_t)c.hdr.width * (uint64_t)(channels_of(c.hdr.color) * c.hdr.depth);
  uint64_t row_bytes = row_bits / 8;
  uint64_t can_hold = (uint64_t)len > (UINT64_MAX - 65536) / DEFLATE_MAX_RATIO
                          ? UINT64_MAX
                          : (uint64_t)len * DEFLATE_MAX_RATIO + 65536;
  if (row_bytes > 0 && can_hold / row_bytes < c.hdr.height) {
    return custos__err(err, CUSTOS_EIMAGE_CORRUPT, CUSTOS__IMG_MODULE,
                       "PNG: %zu bytes cannot hold the %ux%u image its header claims", len,
                       c.hdr.width, c.hdr.height);
  }
  c.data = data;
  c.len = len;
  c.err = err;
  rc = png_run(&c);
  if (c.jumped) {
    rc = custos__err(err, c.code, CUSTOS__IMG_MODULE, "PNG: %s", c.msg);
  }
  if (c.png != NULL) png_destroy_read_struct(&c.png, c.pinfo ? &c.pinfo : NULL, NULL);
  custos__free(c.row);
  if (rc == CUSTOS_OK) {
    *out = c.img;
  } else {
    custos_image_free(c.img);
  }
  return rc;
}
