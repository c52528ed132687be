/*
 * Affine warp with bilinear sampling, and the inverse of an affine matrix.
 *
 * Convention (see custos/image.h): m maps a destination point to the source
 * in continuous coordinates, where pixel (x, y) covers [x, x+1) x [y, y+1)
 * and has its centre at (x + 0.5, y + 0.5).  Destination pixel (x, y) takes
 *     sx = m0 (x + 0.5) + m1 (y + 0.5) + m2 - 0.5
 *     sy = m3 (x + 0.5) + m4 (y + 0.5) + m5 - 0.5
 * which are source pixel indices: integer (sx, sy) is exactly the source
 * pixel (sx, sy).  With x0 = floor(sx), y0 = floor(sy), fx = sx - x0,
 * fy = sy - y0, the value is the bilinear blend of the four neighbours
 * (x0, y0), (x0+1, y0), (x0, y0+1), (x0+1, y0+1); a neighbour outside the
 * source counts as `fill`.  So the identity matrix reproduces the image
 * exactly, and a destination pixel whose sample point lies a whole pixel or
 * more outside the source is exactly `fill`.  The 8-bit result rounds half up.
 */
#include <math.h>
#include <string.h>

#include "img/img.h"
#include "util/util.h"

/* The sample at source index (sx, sy) into v[3]. */
static void sample(const custos_image *src, double sx, double sy, const float fill[3], float v[3]) {
  const int w = src->width, h = src->height;
  /* Also false for NaN; keeps the int conversions below in range. */
  if (!(sx > -1.0 && sx < (double)w && sy > -1.0 && sy < (double)h)) {
    memcpy(v, fill, 3 * sizeof(float));
    return;
  }
  /* floor without a libm call: sx, sy are in (-1, w), (-1, h) here. */
  int x0 = (int)sx, y0 = (int)sy;
  if ((double)x0 > sx) x0--;
  if ((double)y0 > sy) y0--; /* now -1 .. w-1 and -1 .. h-1 */
  const float fx = (float)(sx - (double)x0), fy = (float)(sy - (double)y0);
  const size_t stride = (size_t)w * 3;
  if (x0 >= 0 && y0 >= 0 && x0 + 1 < w && y0 + 1 < h) { /* the common case */
    const uint8_t *p = src->rgb + (size_t)y0 * stride + (size_t)x0 * 3, *q = p + stride;
    for (int c = 0; c < 3; c++) {
      float top = (float)p[c] + (float)(p[c + 3] - p[c]) * fx;
      float bottom = (float)q[c] + (float)(q[c + 3] - q[c]) * fx;
      v[c] = top + (bottom - top) * fy;
    }
    return;
  }
  const bool xin0 = x0 >= 0, xin1 = x0 + 1 < w, yin0 = y0 >= 0, yin1 = y0 + 1 < h;
  const uint8_t *row0 = yin0 ? src->rgb + (size_t)y0 * stride : NULL;
  const uint8_t *row1 = yin1 ? src->rgb + (size_t)(y0 + 1) * stride : NULL;
  for (int c = 0; c < 3; c++) {
    float p00 = row0 && xin0 ? (float)row0[(size_t)x0 * 3 + (size_t)c] : fill[c];
    float p10 = row0 && xin1 ? (float)row0[(size_t)(x0 + 1) * 3 + (size_t)c] : fill[c];
    float p01 = row1 && xin0 ? (float)row1[(size_t)x0 * 3 + (size_t)c] : fill[c];
    float p11 = row1 && xin1 ? (float)row1[(size_t)(x0 + 1) * 3 + (size_t)c] : fill[c];
    float top = p00 + (p10 - p00) * fx;
    float bottom = p01 + (p11 - p01) * fx;
    v[c] = top + (bottom - top) * fy;
  }
}

static uint8_t to_u8(float v) {
  if (!(v > 0.0f)) return 0;
  if (v >= 255.0f) return 255;
  return (uint8_t)(v + 0.5f);
}

static bool finite6(const double m[6]) {
  for (int i = 0; i < 6; i++) {
    if (!isfinite(m[i])) return false;
  }
  return true;
}

static int check_args(const custos_image *src, const double m[6], int width, int height,
                      const uint8_t fill[3], const void *out, custos_err *err) {
  int rc = custos__img_check_src(src, "warp source", err);
  if (rc != CUSTOS_OK) return rc;
  rc = custos__img_check_size(width, height, "warp", err);
  if (rc != CUSTOS_OK) return rc;
  if (m == NULL || fill == NULL || out == NULL) {
    return custos__err(err, CUSTOS_EINVAL, CUSTOS__IMG_MODULE, "warp: NULL argument");
  }
  if (!finite6(m)) {
    return custos__err(err, CUSTOS_EINVAL, CUSTOS__IMG_MODULE, "warp: matrix is not finite");
  }
  return CUSTOS_OK;
}

/* The warp proper; exactly one of out8, out32 is non-NULL. */
static void warp_core(const custos_image *src, const double m[6], int width, int height,
                      const uint8_t fill8[3], uint8_t *out8, float *out32) {
  const float fill[3] = {(float)fill8[0], (float)fill8[1], (float)fill8[2]};
  for (int y = 0; y < height; y++) {
    const double cy = (double)y + 0.5;
    const double bx = m[1] * cy + m[2] - 0.5, by = m[4] * cy + m[5] - 0.5;
    const size_t row = (size_t)y * (size_t)width * 3;
    for (int x = 0; x < width; x++) {
      const double cx = (double)x + 0.5;
      float v[3];
      sample(src, m[0] * cx + bx, m[3] * cx + by, fill, v);
      const size_t o = row + (size_t)x * 3;
      if (out32 != NULL) {
        out32[o] = v[0];
        out32[o + 1] = v[1];
        out32[o + 2] = v[2];
      } else {
        out8[o] = to_u8(v[0]);
        out8[o + 1] = to_u8(v[1]);
        out8[o + 2] = to_u8(v[2]);
      }
    }
  }
}

int custos_image_warp(const custos_image *src, const double m[6], int width, int height,
                      const uint8_t fill[3], custos_image **out, custos_err *err) {
  if (out != NULL) *out = NULL;
  int rc = check_args(src, m, width, height, fill, out, err);
  if (rc != CUSTOS_OK) return rc;
  custos_image *img = NULL;
  rc = custos__img_alloc(width, height, false, &img, err);
  if (rc != CUSTOS_OK) return rc;
  warp_core(src, m, width, height, fill, img->rgb, NULL);
  *out = img;
  return CUSTOS_OK;
}

int custos_image_warp_f32(const custos_image *src, const double m[6], int width, int height,
                          const uint8_t fill[3], float *out, custos_err *err) {
  int rc = check_args(src, m, width, height, fill, out, err);
  if (rc != CUSTOS_OK) return rc;
  warp_core(src, m, width, height, fill, NULL, out);
  return CUSTOS_OK;
}

int custos_image_affine_invert(const double m[6], double inv[6], custos_err *err) {
  if (m == NULL || inv == NULL) {
    return custos__err(err, CUSTOS_EINVAL, CUSTOS__IMG_MODULE, "affine_invert: NULL argument");
  }
  if (!finite6(m)) {
    return custos__err(err, CUSTOS_EINVAL, CUSTOS__IMG_MODULE,
                       "affine_invert: matrix is not finite");
  }
  const double a = m[0], b = m[1], c = m[2], d = m[3], e = m[4], f = m[5];
  const double det = a * e - b * d;
  double scale = fmax(fmax(fabs(a), fabs(b)), fmax(fabs(d), fabs(e)));
  /* Singular, or so nearly that the inverse is meaningless. */
  if (scale == 0.0 || !isfinite(det) || fabs(det) <= 1e-12 * scale * scale) {
    return custos__err(err, CUSTOS_EINVAL, CUSTOS__IMG_MODULE,
                       "affine_invert: matrix is singular (determinant %g)", det);
  }
  double r[6] = {e / det,  -b / det, (b * f - c * e) / det,
                 -d / det, a / det,  (c * d - a * f) / det};
  if (!finite6(r)) {
    return custos__err(err, CUSTOS_EINVAL, CUSTOS__IMG_MODULE,
                       "affine_invert: inverse is not finite");
  }
  memcpy(inv, r, sizeof r);
  return CUSTOS_OK;
}
