/*
 * The image module's front: format detection, decoding limits, the image
 * object and PPM output.
 *
 * Only JPEG (starts FF D8) and PNG (the 8-byte signature) are decoded; any
 * other input is refused with CUSTOS_EIMAGE_FORMAT and a message naming what
 * it looks like, so that an operator who uploads a HEIC or a PDF learns why.
 * Limits are checked by the decoders from the file's header, before any pixel
 * memory is allocated.
 */
#include <stdio.h>
#include <string.h>

#include "img/img.h"
#include "util/util.h"

static const uint8_t png_signature[8] = {0x89, 'P', 'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a};

static const custos_image_limits default_limits = {
    .max_pixels = CUSTOS_IMAGE_DEFAULT_MAX_PIXELS,
    .max_side = CUSTOS_IMAGE_DEFAULT_MAX_SIDE,
};

/* Which decoder takes `data`.  A JPEG needs only its SOI marker; a PNG at
 * least 4 bytes of its signature (a shorter prefix of it is "unrecognised",
 * a longer broken one is reported corrupt by the PNG decoder). */
static custos_image_format sniff(const uint8_t *d, size_t len) {
  if (len >= 2 && d[0] == 0xff && d[1] == 0xd8) return CUSTOS_IMAGE_JPEG;
  if (len >= 4 && memcmp(d, png_signature, len < 8 ? len : 8) == 0) return CUSTOS_IMAGE_PNG;
  return CUSTOS_IMAGE_UNKNOWN;
}

static bool starts(const uint8_t *d, size_t len, const void *prefix, size_t n) {
  return len >= n && memcmp(d, prefix, n) == 0;
}

/* True when the first bytes look like text: printable ASCII, common
 * whitespace and well-formed UTF-8 sequences only. */
static bool looks_like_text(const uint8_t *d, size_t len) {
  const size_t n = len < 512 ? len : 512; /* a window is enough */
  for (size_t i = 0; i < n;) {
    const uint8_t c = d[i];
    if (c < 0x80) {
      if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f') || c == 0x7f) {
        return false;
      }
      i++;
      continue;
    }
    const size_t follow = (c & 0xe0) == 0xc0   ? 1
                          : (c & 0xf0) == 0xe0 ? 2
                          : (c & 0xf8) == 0xf0 ? 3
                                               : 0;
    if (follow == 0 || c == 0xc0 || c == 0xc1 || c > 0xf4) return false;
    for (size_t k = 1; k <= follow; k++) {
      if (i + k >= len || (d[i + k] & 0xc0) != 0x80) return false;
    }
    i += follow + 1;
  }
  return true;
}

/* Formats recognised by their first bytes, for naming what a file holds. */
static const struct {
  const char *magic; /* leading bytes */
  size_t len;        /* how many of them */
  const char *name;
} signatures[] = {
    {"GIF87a", 6, "GIF image"},
    {"GIF89a", 6, "GIF image"},
    {"II*\0", 4, "TIFF image"},
    {"MM\0*", 4, "TIFF image"},
    {"II+\0", 4, "BigTIFF image"},
    {"MM\0+", 4, "BigTIFF image"},
    {"%PDF-", 5, "PDF document"},
    {"PK\3\4", 4, "ZIP archive"},
    {"PK\5\6", 4, "ZIP archive"},
    {"PK\7\10", 4, "ZIP archive"},
    {"\0\0\0\14jP  \r\n\207\n", 12, "JPEG 2000 image"},
    {"\377\117\377\121", 4, "JPEG 2000 image"},
    {"\377\012", 2, "JPEG XL image"},
    {"\0\0\0\14JXL \r\n\207\n", 12, "JPEG XL image"},
    {"8BPS", 4, "Photoshop document"},
    {"\037\213", 2, "gzip data"},
};

void custos__img_describe(const uint8_t *d, size_t len, char *buf, size_t size) {
  static const char *const heif_brands[] = {"heic", "heix", "heim", "heis", "hevc",
                                            "hevx", "hevm", "hevs", "mif1", "msf1"};
  if (size == 0) return;
  if (len == 0) {
    snprintf(buf, size, "empty file");
    return;
  }
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(signatures); i++) {
    if (starts(d, len, signatures[i].magic, signatures[i].len)) {
      snprintf(buf, size, "%s", signatures[i].name);
      return;
    }
  }
  if (len >= 12 && starts(d, len, "RIFF", 4) && memcmp(d + 8, "WEBP", 4) == 0) {
    snprintf(buf, size, "WebP image");
    return;
  }
  if (len >= 12 && memcmp(d + 4, "ftyp", 4) == 0) {
    char brand[5];
    for (int i = 0; i < 4; i++)
      brand[i] = (d[8 + i] >= 0x20 && d[8 + i] < 0x7f) ? (char)d[8 + i] : '?';
    brand[4] = '\0';
    if (strcmp(brand, "avif") == 0 || strcmp(brand, "avis") == 0) {
      snprintf(buf, size, "AVIF image");
      return;
    }
    for (size_t i = 0; i < CUSTOS_ARRAY_LEN(heif_brands); i++) {
      if (strcmp(brand, heif_brands[i]) == 0) {
        snprintf(buf, size, "HEIF image (brand '%s')", brand);
        return;
      }
    }
    snprintf(buf, size, "ISO media file (brand '%s')", brand);
    return;
  }
  /* BMP last among the binary formats: "BM" alone is too weak, so also
   * require a known DIB header size at offset 14. */
  if (len >= 18 && d[0] == 'B' && d[1] == 'M') {
    uint32_t dib =
        (uint32_t)d[14] | (uint32_t)d[15] << 8 | (uint32_t)d[16] << 16 | (uint32_t)d[17] << 24;
    if (dib == 12 || dib == 40 || dib == 52 || dib == 56 || dib == 64 || dib == 108 || dib == 124) {
      snprintf(buf, size, "BMP image");
      return;
    }
  }
  if (looks_like_text(d, len)) {
    snprintf(buf, size, "text");
    return;
  }
  size_t n = len < 8 ? len : 8;
  int used = snprintf(buf, size, "unrecognised data (first bytes");
  for (size_t i = 0; i < n && used > 0 && (size_t)used < size; i++) {
    used += snprintf(buf + used, size - (size_t)used, " %02x", d[i]);
  }
  if (used > 0 && (size_t)used < size) {
    snprintf(buf + used, size - (size_t)used, "%s)", len > n ? " ..." : "");
  }
}

static int unknown_format(const uint8_t *d, size_t len, custos_err *err) {
  char what[128];
  custos__img_describe(d, len, what, sizeof what);
  return custos__err(err, CUSTOS_EIMAGE_FORMAT, CUSTOS__IMG_MODULE,
                     "%s: only JPEG and PNG images are accepted", what);
}

int custos__img_check_limits(uint64_t width, uint64_t height, const custos_image_limits *limits,
                             custos_err *err) {
  if (width > (uint64_t)limits->max_side || height > (uint64_t)limits->max_side) {
    return custos__err(err, CUSTOS_EIMAGE_TOO_LARGE, CUSTOS__IMG_MODULE,
                       "image is %llux%llu pixels; the limit is %d pixels per side",
                       (unsigned long long)width, (unsigned long long)height, limits->max_side);
  }
  /* Both sides are at most max_side (an int), so the product fits. */
  if (width * height > limits->max_pixels) {
    return custos__err(err, CUSTOS_EIMAGE_TOO_LARGE, CUSTOS__IMG_MODULE,
                       "image is %llux%llu = %llu pixels; the limit is %llu pixels",
                       (unsigned long long)width, (unsigned long long)height,
                       (unsigned long long)(width * height),
                       (unsigned long long)limits->max_pixels);
  }
  return CUSTOS_OK;
}

int custos__img_check_src(const custos_image *img, const char *what, custos_err *err) {
  if (img == NULL || img->rgb == NULL || img->width <= 0 || img->height <= 0) {
    return custos__err(err, CUSTOS_EINVAL, CUSTOS__IMG_MODULE, "%s: no image (NULL or empty)",
                       what);
  }
  return CUSTOS_OK;
}

int custos__img_check_size(int width, int height, const char *what, custos_err *err) {
  if (width <= 0 || height <= 0 || width > CUSTOS_IMAGE_DEFAULT_MAX_SIDE ||
      height > CUSTOS_IMAGE_DEFAULT_MAX_SIDE ||
      (uint64_t)width * (uint64_t)height > CUSTOS_IMAGE_DEFAULT_MAX_PIXELS) {
    return custos__err(err, CUSTOS_EINVAL, CUSTOS__IMG_MODULE,
                       "%s: size %dx%d outside 1..%d per side and %u pixels", what, width, height,
                       CUSTOS_IMAGE_DEFAULT_MAX_SIDE, CUSTOS_IMAGE_DEFAULT_MAX_PIXELS);
  }
  return CUSTOS_OK;
}

int custos__img_alloc(int width, int height, bool zero, custos_image **out, custos_err *err) {
  *out = NULL;
  size_t pixels, bytes;
  if (width <= 0 || height <= 0 || !custos__mul_size((size_t)width, (size_t)height, &pixels) ||
      !custos__mul_size(pixels, 3, &bytes)) {
    return custos__err(err, CUSTOS_EINVAL, CUSTOS__IMG_MODULE, "bad image size %dx%d", width,
                       height);
  }
  custos_image *img = custos__malloc(sizeof *img);
  if (img == NULL) goto nomem;
  img->width = width;
  img->height = height;
  img->rgb = zero ? custos__calloc(bytes, 1) : custos__malloc(bytes);
  if (img->rgb == NULL) {
    custos__free(img);
    goto nomem;
  }
  *out = img;
  return CUSTOS_OK;
nomem:
  return custos__err(err, CUSTOS_ENOMEM, CUSTOS__IMG_MODULE,
                     "out of memory for a %dx%d image (%zu bytes)", width, height, bytes);
}

int custos_image_new(int width, int height, custos_image **out, custos_err *err) {
  if (out == NULL) return custos__err(err, CUSTOS_EINVAL, CUSTOS__IMG_MODULE, "out is NULL");
  *out = NULL;
  int rc = custos__img_check_size(width, height, "new image", err);
  if (rc != CUSTOS_OK) return rc;
  return custos__img_alloc(width, height, true, out, err);
}

void custos_image_free(custos_image *img) {
  if (img == NULL) return;
  custos__free(img->rgb);
  custos__free(img);
}

const char *custos_image_format_name(custos_image_format f) {
  switch (f) {
    case CUSTOS_IMAGE_JPEG:
      return "jpeg";
    case CUSTOS_IMAGE_PNG:
      return "png";
    case CUSTOS_IMAGE_UNKNOWN:
    default:
      return "unknown";
  }
}

int custos_image_probe(const void *data, size_t len, custos_image_info *info, custos_err *err) {
  if (info == NULL || (data == NULL && len > 0)) {
    return custos__err(err, CUSTOS_EINVAL, CUSTOS__IMG_MODULE, "probe: NULL argument");
  }
  memset(info, 0, sizeof *info);
  const uint8_t *d = data;
  switch (sniff(d, len)) {
    case CUSTOS_IMAGE_JPEG:
      return custos__img_jpeg_probe(d, len, info, err);
    case CUSTOS_IMAGE_PNG:
      return custos__img_png_probe(d, len, info, err);
    case CUSTOS_IMAGE_UNKNOWN:
    default:
      return unknown_format(d, len, err);
  }
}

int custos_image_decode(const void *data, size_t len, const custos_image_limits *limits,
                        custos_image **out, custos_image_info *info, custos_err *err) {
  if (out == NULL) return custos__err(err, CUSTOS_EINVAL, CUSTOS__IMG_MODULE, "out is NULL");
  *out = NULL;
  if (data == NULL && len > 0) {
    return custos__err(err, CUSTOS_EINVAL, CUSTOS__IMG_MODULE, "decode: data is NULL");
  }
  if (limits == NULL) limits = &default_limits;
  if (limits->max_side <= 0 || limits->max_pixels == 0) {
    return custos__err(err, CUSTOS_EINVAL, CUSTOS__IMG_MODULE,
                       "decode limits: max_side and max_pixels must be positive");
  }
  custos_image_info scratch;
  if (info == NULL) info = &scratch;
  memset(info, 0, sizeof *info);
  const uint8_t *d = data;
  switch (sniff(d, len)) {
    case CUSTOS_IMAGE_JPEG:
      return custos__img_jpeg_decode(d, len, limits, out, info, err);
    case CUSTOS_IMAGE_PNG:
      return custos__img_png_decode(d, len, limits, out, info, err);
    case CUSTOS_IMAGE_UNKNOWN:
    default:
      return unknown_format(d, len, err);
  }
}

int custos_image_decode_file(const char *path, const custos_image_limits *limits,
                             custos_image **out, custos_image_info *info, custos_err *err) {
  if (out == NULL) return custos__err(err, CUSTOS_EINVAL, CUSTOS__IMG_MODULE, "out is NULL");
  *out = NULL;
  if (path == NULL) return custos__err(err, CUSTOS_EINVAL, CUSTOS__IMG_MODULE, "path is NULL");
  unsigned char *data = NULL;
  size_t len = 0;
  int rc = custos__read_file(path, CUSTOS_IMAGE_MAX_FILE_BYTES, &data, &len, err);
  if (rc != CUSTOS_OK) return rc;
  rc = custos_image_decode(data, len, limits, out, info, err);
  if (rc != CUSTOS_OK && err != NULL && err->message[0] != '\0') {
    /* Name the file: "photo.heic: HEIF image: only JPEG and PNG ...". */
    char msg[CUSTOS_ERR_MESSAGE_MAX];
    snprintf(msg, sizeof msg, "%s", err->message);
    custos__err(err, rc, CUSTOS__IMG_MODULE, "%s: %s", path, msg);
  }
  custos__free(data);
  return rc;
}

int custos_image_write_ppm(const custos_image *img, const char *path, custos_err *err) {
  int rc = custos__img_check_src(img, "write_ppm", err);
  if (rc != CUSTOS_OK) return rc;
  if (path == NULL) return custos__err(err, CUSTOS_EINVAL, CUSTOS__IMG_MODULE, "path is NULL");
  char header[64];
  int hlen = snprintf(header, sizeof header, "P6\n%d %d\n255\n", img->width, img->height);
  size_t pixels = (size_t)img->width * (size_t)img->height * 3; /* fits: the image exists */
  size_t total = (size_t)hlen + pixels;
  unsigned char *buf = custos__malloc(total);
  if (buf == NULL) {
    return custos__err(err, CUSTOS_ENOMEM, CUSTOS__IMG_MODULE, "out of memory writing %s", path);
  }
  memcpy(buf, header, (size_t)hlen);
  memcpy(buf + hlen, img->rgb, pixels);
  rc = custos__write_file_atomic(path, buf, total, err);
  custos__free(buf);
  return rc;
}
