/*
 * Bilinear resize, separable: each output column and row gets its two source
 * indices and weight once (a "tap"), each needed source row is interpolated
 * horizontally once into a float row, and output rows blend two such rows.
 * Work is O(output pixels + output width x source rows touched); the only
 * allocations are the taps and two float rows.
 *
 * For output index i along an axis of source size n and output size m:
 *     HALF_PIXEL:  s = (i + 0.5) * n / m - 0.5
 *     ASYMMETRIC:  s = i * n / m
 * s is clamped to [0, n - 1]; i0 = floor(s), i1 = min(i0 + 1, n - 1),
 * w = s - i0, and the value is v[i0] + (v[i1] - v[i0]) * w.  Coordinates are
 * computed in double, pixel arithmetic in float.  A downscale samples
 * without averaging (like OpenCV's INTER_LINEAR and tf.image.resize), which
 * is what the networks were trained with.  The 8-bit result rounds half up.
 */
#include <math.h>
#include <string.h>

#include "img/img.h"
#include "util/util.h"

typedef struct tap {
  int i0;  /* first source index */
  int i1;  /* second source index, i0 or i0 + 1 */
  float w; /* weight of i1, in [0, 1) */
} tap;

static void make_taps(int n, int m, custos_resize_mode mode, tap *t) {
  const double scale = (double)n / (double)m;
  for (int i = 0; i < m; i++) {
    double s =
        mode == CUSTOS_RESIZE_HALF_PIXEL ? ((double)i + 0.5) * scale - 0.5 : (double)i * scale;
    if (s < 0.0) s = 0.0;
    if (s > (double)(n - 1)) s = (double)(n - 1);
    int i0 = (int)s; /* s >= 0: truncation is floor */
    if (i0 > n - 1) i0 = n - 1;
    t[i].i0 = i0;
    t[i].i1 = i0 + 1 < n ? i0 + 1 : i0;
    t[i].w = (float)(s - (double)i0);
  }
}

/* Interpolates source row y horizontally into out[width * 3]. */
static void hrow(const custos_image *src, int y, const tap *xt, int width, float *out) {
  const uint8_t *row = src->rgb + (size_t)y * (size_t)src->width * 3;
  for (int x = 0; x < width; x++, out += 3) {
    const uint8_t *a = row + (size_t)xt[x].i0 * 3;
    const uint8_t *b = row + (size_t)xt[x].i1 * 3;
    const float w = xt[x].w;
    out[0] = (float)a[0] + (float)(b[0] - a[0]) * w;
    out[1] = (float)a[1] + (float)(b[1] - a[1]) * w;
    out[2] = (float)a[2] + (float)(b[2] - a[2]) * w;
  }
}

static uint8_t to_u8(float v) {
  if (!(v > 0.0f)) return 0;
  if (v >= 255.0f) return 255;
  return (uint8_t)(v + 0.5f);
}

/* The resize proper; exactly one of out8, out32 is non-NULL. */
static int resize_core(const custos_image *src, int width, int height, custos_resize_mode mode,
                       uint8_t *out8, float *out32, custos_err *err) {
  int rc = CUSTOS_OK;
  tap *xt = custos__mallocarray((size_t)width, sizeof *xt);
  tap *yt = custos__mallocarray((size_t)height, sizeof *yt);
  float *rows = custos__mallocarray((size_t)width * 3, 2 * sizeof(float));
  if (xt == NULL || yt == NULL || rows == NULL) {
    rc = custos__err(err, CUSTOS_ENOMEM, CUSTOS__IMG_MODULE, "out of memory resizing to %dx%d",
                     width, height);
    goto out;
  }
  make_taps(src->width, width, mode, xt);
  make_taps(src->height, height, mode, yt);
  const size_t n = (size_t)width * 3;
  float *slot[2] = {rows, rows + n}; /* horizontally interpolated source rows */
  int have[2] = {-1, -1};            /* which source row each slot holds */
  for (int y = 0; y < height; y++) {
    const int i0 = yt[y].i0, i1 = yt[y].i1;
    if (have[0] != i0) {
      if (have[1] == i0) { /* moving down: the second row becomes the first */
        float *t = slot[0];
        slot[0] = slot[1];
        slot[1] = t;
        have[1] = have[0];
      } else {
        hrow(src, i0, xt, width, slot[0]);
      }
      have[0] = i0;
    }
    if (i1 != i0 && have[1] != i1) {
      hrow(src, i1, xt, width, slot[1]);
      have[1] = i1;
    }
    const float *a = slot[0], *b = i1 != i0 ? slot[1] : slot[0];
    const float w = yt[y].w;
    if (out32 != NULL) {
      float *o = out32 + (size_t)y * n;
      for (size_t i = 0; i < n; i++) o[i] = a[i] + (b[i] - a[i]) * w;
    } else {
      uint8_t *o = out8 + (size_t)y * n;
      for (size_t i = 0; i < n; i++) o[i] = to_u8(a[i] + (b[i] - a[i]) * w);
    }
  }
out:
  custos__free(xt);
  custos__free(yt);
  custos__free(rows);
  return rc;
}

static int check_args(const custos_image *src, int width, int height, custos_resize_mode mode,
                      const void *out, custos_err *err) {
  int rc = custos__img_check_src(src, "resize source", err);
  if (rc != CUSTOS_OK) return rc;
  rc = custos__img_check_size(width, height, "resize", err);
  if (rc != CUSTOS_OK) return rc;
  if (mode != CUSTOS_RESIZE_HALF_PIXEL && mode != CUSTOS_RESIZE_ASYMMETRIC) {
    return custos__err(err, CUSTOS_EINVAL, CUSTOS__IMG_MODULE, "resize: unknown mode %d",
                       (int)mode);
  }
  if (out == NULL)
    return custos__err(err, CUSTOS_EINVAL, CUSTOS__IMG_MODULE, "resize: out is NULL");
  return CUSTOS_OK;
}

int custos_image_resize(const custos_image *src, int width, int height, custos_resize_mode mode,
                        custos_image **out, custos_err *err) {
  if (out != NULL) *out = NULL;
  int rc = check_args(src, width, height, mode, out, err);
  if (rc != CUSTOS_OK) return rc;
  custos_image *img = NULL;
  rc = custos__img_alloc(width, height, false, &img, err);
  if (rc != CUSTOS_OK) return rc;
  rc = resize_core(src, width, height, mode, img->rgb, NULL, err);
  if (rc != CUSTOS_OK) {
    custos_image_free(img);
    return rc;
  }
  *out = img;
  return CUSTOS_OK;
}

int custos_image_resize_f32(const custos_image *src, int width, int height, custos_resize_mode mode,
                            float *out, custos_err *err) {
  int rc = check_args(src, width, height, mode, out, err);
  if (rc != CUSTOS_OK) return rc;
  return resize_core(src, width, height, mode, NULL, out, err);
}
