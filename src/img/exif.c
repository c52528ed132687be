/*
 * EXIF orientation: reading tag 0x0112 from a JPEG's APP1 segment and
 * turning the decoded pixels upright.
 *
 * The APP1 payload is "Exif\0\0" followed by a TIFF structure; only IFD0 is
 * read.  Every offset comes from the file, so each is checked against the
 * payload length before use; anything malformed means "orientation 1".
 *
 *   offset (from TIFF start)  size  meaning
 *   0                         2     byte order: "II" little-endian, "MM" big-endian
 *   2                         2     42
 *   4                         4     offset of IFD0
 *   IFD0                      2     number of entries n
 *   IFD0 + 2 + 12 i           2     tag (0x0112 = orientation)
 *                  + 2        2     type (3 = SHORT; 4 = LONG tolerated)
 *                  + 4        4     count
 *                  + 8        4     value (a SHORT sits in the first 2 bytes)
 *
 * Orientation values (the transform that makes the stored image upright),
 * with (sx, sy) the stored pixel shown at upright (x, y), stored size W x H:
 *   1 as stored              sx = x          sy = y
 *   2 mirror horizontally    sx = W-1-x      sy = y
 *   3 rotate 180             sx = W-1-x      sy = H-1-y
 *   4 mirror vertically      sx = x          sy = H-1-y
 *   5 transpose              sx = y          sy = x
 *   6 rotate 90 clockwise    sx = y          sy = H-1-x
 *   7 transverse             sx = W-1-y      sy = H-1-x
 *   8 rotate 90 anticlockw.  sx = W-1-y      sy = x
 */
#include <string.h>

#include "img/img.h"
#include "util/util.h"

static uint32_t rd16(const uint8_t *p, bool le) {
  return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 : (uint32_t)p[0] << 8 | (uint32_t)p[1];
}

static uint32_t rd32(const uint8_t *p, bool le) {
  return le ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
            : (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

int custos__img_exif_orientation(const uint8_t *data, size_t len) {
  if (data == NULL || len < 6 || memcmp(data, "Exif\0", 5) != 0) return 1;
  const uint8_t *t = data + 6; /* TIFF header */
  size_t n = len - 6;
  if (n < 8) return 1;
  bool le;
  if (t[0] == 'I' && t[1] == 'I') {
    le = true;
  } else if (t[0] == 'M' && t[1] == 'M') {
    le = false;
  } else {
    return 1;
  }
  if (rd16(t + 2, le) != 42) return 1;
  size_t ifd = rd32(t + 4, le);
  if (ifd > n || n - ifd < 2) return 1;
  uint32_t count = rd16(t + ifd, le);
  size_t p = ifd + 2;
  for (uint32_t i = 0; i < count; i++, p += 12) {
    if (n - p < 12) return 1; /* p <= n holds: it grows by 12 only after this check */
    if (rd16(t + p, le) != 0x0112) continue;
    uint32_t type = rd16(t + p + 2, le);
    uint32_t cnt = rd32(t + p + 4, le);
    uint32_t v;
    if (type == 3 && cnt >= 1) {
      v = rd16(t + p + 8, le);
    } else if (type == 4 && cnt >= 1) {
      v = rd32(t + p + 8, le);
    } else {
      return 1;
    }
    return v >= 1 && v <= 8 ? (int)v : 1;
  }
  return 1;
}

void custos__img_oriented_size(int orientation, int width, int height, int *owidth, int *oheight) {
  bool swap = orientation >= 5 && orientation <= 8;
  *owidth = swap ? height : width;
  *oheight = swap ? width : height;
}

int custos__img_orient(custos_image *img, int orientation, custos_err *err) {
  int rc = custos__img_check_src(img, "orient", err);
  if (rc != CUSTOS_OK) return rc;
  if (orientation < 1 || orientation > 8) {
    return custos__err(err, CUSTOS_EINVAL, CUSTOS__IMG_MODULE, "bad EXIF orientation %d",
                       orientation);
  }
  if (orientation == 1) return CUSTOS_OK;
  const ptrdiff_t w = img->width, h = img->height;
  int ow, oh;
  custos__img_oriented_size(orientation, img->width, img->height, &ow, &oh);
  /* Source position of upright (x, y): sx = ax*x + bx*y + cx, sy = ay*x + by*y + cy,
   * where a negative coefficient starts from the far edge (cx = w - 1, cy = h - 1). */
  static const signed char coef[9][4] = {
      /* ax, bx, ay, by */
      {0, 0, 0, 0},  {1, 0, 0, 1},  {-1, 0, 0, 1}, {-1, 0, 0, -1}, {1, 0, 0, -1},
      {0, 1, 1, 0},  {0, 1, -1, 0}, {0, -1, -1, 0}, {0, -1, 1, 0},
  };
  const ptrdiff_t ax = coef[orientation][0], bx = coef[orientation][1];
  const ptrdiff_t ay = coef[orientation][2], by = coef[orientation][3];
  const ptrdiff_t cx = (ax < 0 || bx < 0) ? w - 1 : 0;
  const ptrdiff_t cy = (ay < 0 || by < 0) ? h - 1 : 0;
  uint8_t *dst = custos__mallocarray((size_t)w * (size_t)h, 3);
  if (dst == NULL) {
    return custos__err(err, CUSTOS_ENOMEM, CUSTOS__IMG_MODULE,
                       "out of memory orienting a %dx%d image", img->width, img->height);
  }
  const uint8_t *src = img->rgb;
  const ptrdiff_t step_x = (ay * w + ax) * 3; /* source step per upright column */
  const ptrdiff_t step_y = (by * w + bx) * 3; /* source step per upright row */
  ptrdiff_t row_start = (cy * w + cx) * 3;
  uint8_t *d = dst;
  for (int y = 0; y < oh; y++, row_start += step_y) {
    ptrdiff_t s = row_start;
    for (int x = 0; x < ow; x++, s += step_x, d += 3) {
      d[0] = src[s];
      d[1] = src[s + 1];
      d[2] = src[s + 2];
    }
  }
  custos__free(img->rgb);
  img->rgb = dst;
  img->width = ow;
  img->height = oh;
  return CUSTOS_OK;
}
