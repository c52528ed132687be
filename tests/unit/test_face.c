/*
 * Unit tests of src/face: the arithmetic against face-api's formulas (input
 * sampling against a literal pad-then-resize, SSD and tiny decoding, both
 * NMS variants, crops, landmark mapping, the dlib-style crop, the similarity
 * fit, sharpness), the verification statistics, and — when the models are
 * present — the engine end to end: parity with the reference's output for
 * the six demo photos (tests/data/reference/demo.jsonl), independence from
 * the thread count, and hostile images.  Tests that need the models or the
 * reference data say "skipped" when those are absent.
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
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "custos/custos.h"
#include "face/faceint.h"
#include "util/util.h"

#ifndef CUSTOS_TEST_DATA
#define CUSTOS_TEST_DATA "tests/data"
#endif
#ifndef CUSTOS_MODELS_DIR
#define CUSTOS_MODELS_DIR "models"
#endif

/* A deterministic pseudo-random generator (xorshift). */
static uint32_t rng_state = 2463534242u;
static uint32_t rnd(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 17;
  rng_state ^= rng_state << 5;
  return rng_state;
}

/* cmocka's assert_float_equal works in float; these checks need double. */
#define assert_near(a, b, eps) near_((double)(a), (double)(b), (double)(eps), #a, __LINE__)
static void near_(double a, double b, double eps, const char *what, int line) {
  if (!(fabs(a - b) <= eps))
    fail_msg("line %d: %s = %.17g, expected %.17g +- %g", line, what, a, b, eps);
}

static custos_image *make_image(int w, int h) {
  custos_image *img = NULL;
  assert_int_equal(custos_image_new(w, h, &img, NULL), CUSTOS_OK);
  for (size_t i = 0; i < (size_t)w * (size_t)h * 3; i++) img->rgb[i] = (uint8_t)(rnd() & 0xff);
  return img;
}

/* ---- sampling ---------------------------------------------------------------- */

/* The literal pipeline: build the padded square in floats, then tfjs's
 * resizeBilinear (alignCorners = halfPixelCenters = false) on it. */
static void naive_sample(const custos_image *img, face_irect r, bool centre, int n, float *out) {
  const int s = r.width > r.height ? r.width : r.height;
  const int diff = abs(r.width - r.height);
  const int after = centre ? (int)floor(diff * 0.5 + 0.5) : diff;
  const int before = diff - after;
  float *sq = calloc((size_t)s * (size_t)s * 3, sizeof *sq);
  assert_non_null(sq);
  for (int y = 0; y < r.height; y++) {
    for (int x = 0; x < r.width; x++) {
      const int ix = r.x + x, iy = r.y + y;
      const int qx = x + (r.width < r.height ? before : 0);
      const int qy = y + (r.height < r.width ? before : 0);
      for (int c = 0; c < 3; c++) {
        float v = 0;
        if (ix >= 0 && iy >= 0 && ix < img->width && iy < img->height)
          v = img->rgb[((size_t)iy * (size_t)img->width + (size_t)ix) * 3 + (size_t)c];
        sq[((size_t)qy * (size_t)s + (size_t)qx) * 3 + (size_t)c] = v;
      }
    }
  }
  const float scale = (float)s / (float)n;
  for (int oy = 0; oy < n; oy++) {
    const float fy = (float)oy * scale;
    const int y0 = (int)fy, y1 = y0 + 1 < s ? y0 + 1 : s - 1;
    const float ay = fy - (float)y0;
    for (int ox = 0; ox < n; ox++) {
      const float fx = (float)ox * scale;
      const int x0 = (int)fx, x1 = x0 + 1 < s ? x0 + 1 : s - 1;
      const float ax = fx - (float)x0;
      for (int c = 0; c < 3; c++) {
#define SQ(yy, xx) sq[((size_t)(yy) * (size_t)s + (size_t)(xx)) * 3 + (size_t)c]
        const float top = SQ(y0, x0) + (SQ(y0, x1) - SQ(y0, x0)) * ax;
        const float bot = SQ(y1, x0) + (SQ(y1, x1) - SQ(y1, x0)) * ax;
        out[((size_t)oy * (size_t)n + (size_t)ox) * 3 + (size_t)c] = top + (bot - top) * ay;
#undef SQ
      }
    }
  }
  free(sq);
}

static void test_sample_tfjs_vector(void **state) {
  (void)state;
  /* tfjs's own test: [[2, 2], [4, 4]] resized to 3x3 with alignCorners=false. */
  custos_image *img = NULL;
  assert_int_equal(custos_image_new(2, 2, &img, NULL), CUSTOS_OK);
  const uint8_t v[4] = {2, 2, 4, 4};
  for (int i = 0; i < 4; i++) memset(img->rgb + 3 * i, v[i], 3);
  float out[27];
  custos__face_sample_square(img, (face_irect){0, 0, 2, 2}, false, 3, out);
  const float want[9] = {2, 2, 2, 10.0f / 3, 10.0f / 3, 10.0f / 3, 4, 4, 4};
  for (int i = 0; i < 9; i++) assert_near(out[3 * i], want[i], 1e-5);
  custos_image_free(img);
}

static void test_sample_padding(void **state) {
  (void)state;
  custos_image *img = make_image(4, 1);
  float out[4 * 4 * 3];
  /* SSD style: the padding goes at the bottom. */
  custos__face_sample_square(img, (face_irect){0, 0, 4, 1}, false, 4, out);
  for (int x = 0; x < 4; x++) assert_near(out[x * 3], img->rgb[x * 3], 0);
  for (int i = 12; i < 48; i++) assert_near(out[i], 0, 0);
  /* Centred: a difference of 3 puts round(1.5) = 2 rows after, 1 before. */
  custos__face_sample_square(img, (face_irect){0, 0, 4, 1}, true, 4, out);
  for (int i = 0; i < 12; i++) assert_near(out[i], 0, 0);
  for (int x = 0; x < 4; x++) assert_near(out[12 + x * 3 + 1], img->rgb[x * 3 + 1], 0);
  for (int i = 24; i < 48; i++) assert_near(out[i], 0, 0);
  custos_image_free(img);
}

static void test_sample_against_naive(void **state) {
  (void)state;
  custos_image *img = make_image(37, 23);
  static float a[64 * 64 * 3], b[64 * 64 * 3];
  for (int trial = 0; trial < 300; trial++) {
    face_irect r = {(int)(rnd() % 60) - 20, (int)(rnd() % 40) - 15, 1 + (int)(rnd() % 50),
                    1 + (int)(rnd() % 50)};
    const int n = 1 + (int)(rnd() % 64);
    const bool centre = rnd() & 1;
    custos__face_sample_square(img, r, centre, n, a);
    naive_sample(img, r, centre, n, b);
    for (int i = 0; i < n * n * 3; i++) {
      if (a[i] != b[i]) {
        fail_msg("trial %d: r=(%d,%d,%d,%d) n=%d centre=%d: value %d: %g != %g", trial, r.x, r.y,
                 r.width, r.height, n, centre, i, a[i], b[i]);
      }
    }
  }
  custos_image_free(img);
}

/* ---- SSD ---------------------------------------------------------------------- */

static void test_ssd_decode(void **state) {
  (void)state;
  const float anchors[8] = {0.25f, 0.25f, 0.75f, 0.75f, 0.1f, 0.2f, 0.3f, 0.6f};
  float enc[8] = {0, 0, 0, 0, 10, 0, (float)(5 * log(2.0)), 0};
  const float logits[6] = {0, 0, 0, 0, 3, 0};
  float boxes[8], scores[2];
  custos__face_ssd_decode(anchors, enc, logits, 2, boxes, scores);
  for (int i = 0; i < 4; i++) assert_near(boxes[i], anchors[i], 1e-6);
  assert_near(scores[0], 0.5, 1e-6);
  assert_near(scores[1], 1 / (1 + exp(-3.0)), 1e-6);
  /* ty = 10 moves the centre by one anchor height; th = 5 ln 2 doubles it. */
  assert_near(boxes[4], 0.4 - 0.2, 1e-6);
  assert_near(boxes[6], 0.4 + 0.2, 1e-6);
  assert_near(boxes[5], 0.2, 1e-6);
  assert_near(boxes[7], 0.6, 1e-6);
}

static void test_ssd_nms(void **state) {
  (void)state;
  /* ymin, xmin, ymax, xmax */
  const float boxes[] = {
      0.0f, 0.0f, 1.0f, 1.0f, /* 0: A */
      0.0f, 0.0f, 1.0f, 0.6f, /* 1: IoU with A 0.6 -> suppressed */
      0.0f, 0.6f, 1.0f, 1.6f, /* 2: IoU with A 0.4/1.6 = 0.25 -> kept */
      5.0f, 5.0f, 6.0f, 6.0f, /* 3: disjoint -> kept */
      5.0f, 5.0f, 6.0f, 6.0f, /* 4: below the score threshold */
      7.0f, 7.0f, 8.0f, 8.0f, /* 5: tie with 3's score, later index */
  };
  const float scores[] = {0.9f, 0.8f, 0.7f, 0.6f, 0.4f, 0.6f};
  size_t sel[6];
  long n = custos__face_ssd_nms(boxes, scores, 6, 100, 0.5, 0.5, sel);
  assert_int_equal(n, 4);
  assert_int_equal(sel[0], 0);
  assert_int_equal(sel[1], 2);
  assert_int_equal(sel[2], 3);
  assert_int_equal(sel[3], 5);
  n = custos__face_ssd_nms(boxes, scores, 6, 2, 0.5, 0.5, sel);
  assert_int_equal(n, 2);
  assert_int_equal(sel[1], 2);
  n = custos__face_ssd_nms(boxes, scores, 6, 100, 0.5, 0.95, sel);
  assert_int_equal(n, 0);
}

static void test_ssd_box(void **state) {
  (void)state;
  /* 200 x 100: reshaped 512 x 256, so y is scaled by 2 through the padding. */
  const float b[4] = {0.1f, 0.2f, 0.3f, 0.6f};
  custos_face_box r = custos__face_ssd_box(b, 200, 100, 512);
  assert_near(r.x, 40, 1e-4);
  assert_near(r.y, 20, 1e-4);
  assert_near(r.width, 80, 1e-4);
  assert_near(r.height, 40, 1e-4);
  /* Clipped to [0, 1] of the square, not to the image. */
  const float c[4] = {-0.1f, -0.1f, 1.2f, 1.2f};
  r = custos__face_ssd_box(c, 200, 100, 512);
  assert_near(r.x, 0, 0);
  assert_near(r.y, 0, 0);
  assert_near(r.width, 200, 1e-9);
  assert_near(r.height, 200, 1e-9);
  /* An extreme strip: a reshaped side of 0 must not divide by zero. */
  r = custos__face_ssd_box(b, 20000, 10, 512);
  assert_true(isfinite(r.y) && isfinite(r.height));
}

/* ---- tiny detector ----------------------------------------------------------- */

static void test_tiny_decode_nms(void **state) {
  (void)state;
  float grid[2 * 2 * 5 * 5];
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(grid); i++) grid[i] = 0;
  for (int c = 0; c < 4; c++) {
    for (int a = 0; a < 5; a++) grid[(c * 5 + a) * 5 + 4] = -10; /* low scores */
  }
  /* cell (row 0, col 1), anchor 0: centred, score sigmoid(3). */
  grid[(1 * 5 + 0) * 5 + 4] = 3;
  /* cell (row 0, col 1), anchor 2 shrunk to about anchor 0's size; lower
   * score; IoU about 0.9. */
  grid[(1 * 5 + 2) * 5 + 2] = (float)log(0.6);
  grid[(1 * 5 + 2) * 5 + 3] = (float)log(0.6);
  grid[(1 * 5 + 2) * 5 + 4] = 2;
  /* cell (row 1, col 0), anchor 0: elsewhere. */
  grid[(2 * 5 + 0) * 5 + 4] = 1;
  face_det det[20];
  const size_t nd = custos__face_tiny_decode(grid, 2, 5, 64, 64, 64, 0.5, det);
  assert_int_equal(nd, 3);
  const double w0 = 1.603231 / 2, h0 = 2.094468 / 2;
  assert_near(det[0].box.x, (1 + 0.5) / 2 - w0 / 2, 1e-12);
  assert_near(det[0].box.y, 0.5 / 2 - h0 / 2, 1e-12);
  assert_near(det[0].box.width, w0, 1e-12);
  assert_near(det[0].box.height, h0, 1e-12);
  assert_near(det[0].score, 1 / (1 + exp(-3.0)), 1e-12);
  const long nk = custos__face_tiny_nms(det, nd, 64, 0.4);
  assert_int_equal(nk, 2);
  assert_near(det[0].score, 1 / (1 + exp(-3.0)), 1e-12);
  assert_near(det[1].score, 1 / (1 + exp(-1.0)), 1e-12);
  /* A wide canvas: the boxes stretch through the padding (correction factor). */
  const size_t nd2 = custos__face_tiny_decode(grid, 2, 5, 64, 128, 64, 0.5, det);
  assert_int_equal(nd2, 3);
  assert_near(det[0].box.height, h0 * 2, 1e-12);
  assert_near(det[0].box.width, w0, 1e-12);
}

/* ---- crops, landmarks, alignment -------------------------------------------- */

static void test_clip_box(void **state) {
  (void)state;
  face_irect r = custos__face_clip_box((custos_face_box){-5.5, 10.7, 20.2, 30.9}, 10, 30);
  assert_int_equal(r.x, 0);
  assert_int_equal(r.y, 10);
  assert_int_equal(r.width, 10);
  assert_int_equal(r.height, 19);
  r = custos__face_clip_box((custos_face_box){50, 50, 10, 10}, 40, 40);
  assert_true(r.width <= 0 && r.height <= 0);
  r = custos__face_clip_box((custos_face_box){NAN, 0, 1e300, NAN}, 40, 40);
  assert_true(r.width <= 0 || r.height <= 0 || r.width <= 40);
}

static void test_landmarks_map(void **state) {
  (void)state;
  float out[136];
  for (int i = 0; i < 68; i++) {
    out[2 * i] = 0.5f;
    out[2 * i + 1] = 0.5f;
  }
  out[0] = 0.0f;
  out[1] = 0.25f; /* top edge of the image inside the padded square */
  double pts[68][2];
  /* 100 x 50 crop: 112 x 56 inside the 112 square, 28 rows of padding. */
  custos__face_landmarks_map(out, 100, 50, 10.5, 20.25, pts);
  assert_near(pts[1][0], 50 + 10.5, 1e-4);
  assert_near(pts[1][1], 25 + 20.25, 1e-4);
  assert_near(pts[0][0], 10.5, 1e-4);
  assert_near(pts[0][1], 20.25, 1e-4);
}

static void set_points(double pts[68][2], int from, int to, double x, double y) {
  for (int i = from; i < to; i++) {
    pts[i][0] = x;
    pts[i][1] = y;
  }
}

static void test_align_dlib(void **state) {
  (void)state;
  double pts[68][2];
  set_points(pts, 0, 68, 0, 0);
  set_points(pts, 36, 42, 30, 40);
  set_points(pts, 42, 48, 70, 40);
  set_points(pts, 48, 68, 50, 80);
  /* eye-mouth distance sqrt(20^2 + 40^2) = 44.72; size floor(44.72 / 0.45) = 99;
   * centre (50, 53.33); x = floor(50 - 49.5) = 0; y = floor(53.33 - 42.57) = 10. */
  custos_face_box b = custos__face_align_dlib(pts, 100, 100);
  assert_near(b.x, 0, 0);
  assert_near(b.y, 10, 0);
  assert_near(b.width, 99, 0);
  assert_near(b.height, 99, 0);
  /* face-api caps the size at the crop's size plus the offset. */
  set_points(pts, 36, 42, 130, 140);
  set_points(pts, 42, 48, 170, 140);
  set_points(pts, 48, 68, 150, 180);
  b = custos__face_align_dlib(pts, 50, 60);
  assert_near(b.x, 100, 0);
  assert_near(b.width, 99, 0);
  b = custos__face_align_dlib(pts, 10, 10);
  assert_near(b.width, 99, 0); /* min(99, 10 + 100) */
}

static void test_similarity(void **state) {
  (void)state;
  double t[CUSTOS_FACE_SIM_POINTS][2];
  custos__face_sim_template((face_sim_params){1.0, 0.0}, 150, t);
  /* dlib's chip: (0.25 + mean) / 1.5 * 150. */
  assert_near(t[0][0], (0.25 + 0.2254918) * 100, 1e-9);
  assert_near(t[0][1], t[1][1], 1e-9);
  assert_true(t[2][1] > t[0][1] + 40);
  /* A known similarity is recovered from the points it maps. */
  const double ang = 0.3, sc = 1.7, tx = 12.5, ty = -3.25;
  double src[CUSTOS_FACE_SIM_POINTS][2];
  for (int i = 0; i < CUSTOS_FACE_SIM_POINTS; i++) {
    src[i][0] = sc * (cos(ang) * t[i][0] - sin(ang) * t[i][1]) + tx;
    src[i][1] = sc * (sin(ang) * t[i][0] + cos(ang) * t[i][1]) + ty;
  }
  double m[6];
  assert_true(custos__face_similarity_fit((const double(*)[2])t, (const double(*)[2])src,
                                          CUSTOS_FACE_SIM_POINTS, m));
  assert_near(m[0], sc * cos(ang), 1e-9);
  assert_near(m[1], -sc * sin(ang), 1e-9);
  assert_near(m[2], tx, 1e-9);
  assert_near(m[3], sc * sin(ang), 1e-9);
  assert_near(m[4], sc * cos(ang), 1e-9);
  assert_near(m[5], ty, 1e-9);
  double same[4][2] = {{1, 1}, {1, 1}, {1, 1}, {1, 1}};
  assert_false(
      custos__face_similarity_fit((const double(*)[2])same, (const double(*)[2])src, 4, m));
  /* Scale and shift of the template. */
  double t2[CUSTOS_FACE_SIM_POINTS][2];
  custos__face_sim_template((face_sim_params){0.5, 0.1}, 150, t2);
  assert_near(t2[0][0], 75 + 0.5 * (t[0][0] - 75), 1e-9);
  assert_near(t2[0][1], 75 + 0.5 * (t[0][1] - 75) + 15, 1e-9);
}

static void test_sharpness(void **state) {
  (void)state;
  enum { N = 20 };
  static float chip[N * N * 3];
  for (int i = 0; i < N * N * 3; i++) chip[i] = 100;
  assert_near(custos__face_sharpness(chip, N), 0, 1e-9);
  for (int y = 0; y < N; y++) {
    for (int x = 0; x < N; x++) {
      for (int c = 0; c < 3; c++) chip[(y * N + x) * 3 + c] = ((x + y) & 1) ? 200.0f : 0.0f;
    }
  }
  const double sharp = custos__face_sharpness(chip, N);
  for (int y = 0; y < N; y++) {
    for (int x = 0; x < N; x++) {
      for (int c = 0; c < 3; c++) chip[(y * N + x) * 3 + c] = (float)(x * 10);
    }
  }
  const double ramp = custos__face_sharpness(chip, N);
  assert_true(sharp > 1e5);
  assert_near(ramp, 0, 1e-6); /* a linear ramp has no Laplacian */
}

/* ---- verification -------------------------------------------------------------- */

static char *write_temp(const char *text) {
  char *path = strdup("/tmp/custos-face-test.XXXXXX");
  assert_non_null(path);
  const int fd = mkstemp(path);
  assert_true(fd >= 0);
  const size_t n = strlen(text);
  assert_int_equal(write(fd, text, n), (ssize_t)n);
  close(fd);
  return path;
}

static void test_pairs_load(void **state) {
  (void)state;
  custos_err err;
  custos_verify_pairs *p = NULL;
  char *f = write_temp("2\nAl_Bo\t1\t2\nCy\t3\t14\nAl_Bo\t1\tCy\t2\nDe\t4\tEf\t5\n");
  assert_int_equal(custos_verify_pairs_load(f, &p, &err), CUSTOS_OK);
  assert_int_equal(p->count, 4);
  assert_string_equal(p->pairs[0].a, "Al_Bo/Al_Bo_0001.jpg");
  assert_string_equal(p->pairs[1].b, "Cy/Cy_0014.jpg");
  assert_true(p->pairs[0].same && !p->pairs[2].same);
  assert_string_equal(p->pairs[2].b, "Cy/Cy_0002.jpg");
  assert_int_equal(p->pairs[0].fold, 0);
  assert_int_equal(p->pairs[1].fold, 5);
  assert_int_equal(p->pairs[3].fold, 5);
  custos_verify_pairs_free(p);
  unlink(f);
  free(f);

  /* The 10-fold form: fold k is lines 2k*N .. */
  char big[4096] = "10\t1\n";
  for (int k = 0; k < 10; k++) {
    char line[64];
    snprintf(line, sizeof line, "A\t1\t2\nB\t1\tC\t%d\n", k + 1);
    strncat(big, line, sizeof big - strlen(big) - 1);
  }
  f = write_temp(big);
  assert_int_equal(custos_verify_pairs_load(f, &p, &err), CUSTOS_OK);
  assert_int_equal(p->count, 20);
  assert_int_equal(p->pairs[19].fold, 9);
  assert_int_equal(p->pairs[2].fold, 1);
  custos_verify_pairs_free(p);
  unlink(f);
  free(f);

  static const char *bad[] = {"",
                              "x\n",
                              "2\nA\t1\n",
                              "1\nA\t1\t2\n",
                              "1\nA\t1\t2\nB\t0\tC\t1\n",
                              "1\n../x\t1\t2\nB\t1\tC\t1\n",
                              "1\nA\t1\t2\nB\t1\tC\t1\nD\t1\t2\n",
                              "3\t1\nA\t1\t2\n",
                              "1\nA\t1\t-2\nB\t1\tC\t1\n",
                              "1\nA\t1\t2\t\t\nB\t1\tC\t1\n"};
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(bad); i++) {
    f = write_temp(bad[i]);
    p = NULL;
    const int rc = custos_verify_pairs_load(f, &p, &err);
    if (rc == CUSTOS_OK) fail_msg("bad pairs file %zu accepted", i);
    assert_null(p);
    unlink(f);
    free(f);
  }
  assert_int_equal(custos_verify_pairs_load("/nonexistent/pairs.txt", &p, &err), CUSTOS_ENOENT);
}

static void test_verify_compute(void **state) {
  (void)state;
  enum { N = 200 };
  double d[N];
  bool same[N];
  int fold[N];
  for (int i = 0; i < N; i++) {
    same[i] = i < N / 2;
    fold[i] = (i % (N / 2)) / 10;
    d[i] = same[i] ? 0.3 + 0.001 * (i % 100) : 0.7 + 0.001 * (i % 100);
  }
  custos_verify_stats s;
  custos_err err;
  assert_int_equal(custos_verify_compute(d, same, fold, N, 0.6, &s, &err), CUSTOS_OK);
  assert_near(s.kfold_mean, 1.0, 1e-12);
  assert_near(s.kfold_sd, 0.0, 1e-12);
  assert_near(s.acc_fixed, 1.0, 1e-12);
  assert_near(s.tar_far2, 1.0, 1e-12);
  assert_near(s.tar_far3, 1.0, 1e-12);
  assert_true(s.best_threshold > 0.399 && s.best_threshold < 0.7);
  assert_near(s.same_median, 0.3495, 1e-9);
  /* A missing face is wrong at any threshold and never accepted. */
  d[0] = -1;
  d[150] = -1;
  assert_int_equal(custos_verify_compute(d, same, fold, N, 0.6, &s, &err), CUSTOS_OK);
  assert_int_equal(s.missing_pairs, 2);
  assert_near(s.acc_fixed, 198.0 / 200, 1e-12);
  assert_near(s.acc_found, 1.0, 1e-12);
  assert_near(s.tar_far2, 99.0 / 100, 1e-12);
  /* Two different-person pairs closer than every same pair: FAR 1e-2 of 100
   * pairs allows one false accept, so TAR is 0 there; 0.6 still gets 98%. */
  d[0] = 0.3;
  d[150] = 0.7;
  d[198] = 0.01;
  d[199] = 0.02;
  assert_int_equal(custos_verify_compute(d, same, fold, N, 0.6, &s, &err), CUSTOS_OK);
  assert_near(s.tar_far2, 0.0, 1e-12);
  assert_near(s.thr_far2, 0.02, 1e-12);
  assert_near(s.acc_fixed, 198.0 / 200, 1e-12);
  assert_true(s.kfold_sd > 0);
  fold[3] = 10;
  assert_int_equal(custos_verify_compute(d, same, fold, N, 0.6, &s, &err), CUSTOS_EINVAL);
  assert_int_equal(custos_verify_compute(d, same, fold, 0, 0.6, &s, &err), CUSTOS_EINVAL);
}

/* ---- API without models ---------------------------------------------------------- */

static void test_options(void **state) {
  (void)state;
  custos_face_options o;
  custos_face_options_init(&o);
  assert_near(o.min_score, 0.5, 0);
  assert_true(o.pad_fallback);
  assert_int_equal(o.tiny_input_size, 416);
  custos_face_engine *e = NULL;
  custos_err err;
  o.min_score = 1.0;
  assert_int_equal(custos_face_engine_open(CUSTOS_MODELS_DIR, &o, &e, &err), CUSTOS_EINVAL);
  assert_non_null(strstr(err.message, "min_score"));
  custos_face_options_init(&o);
  o.threads = 0;
  assert_int_equal(custos_face_engine_open(CUSTOS_MODELS_DIR, &o, &e, &err), CUSTOS_EINVAL);
  custos_face_options_init(&o);
  o.tiny_input_size = 100;
  assert_int_equal(custos_face_engine_open(CUSTOS_MODELS_DIR, &o, &e, &err), CUSTOS_EINVAL);
  assert_int_equal(custos_face_engine_open("/nonexistent/models", NULL, &e, &err), CUSTOS_ENOENT);
  assert_null(e);
  assert_int_equal(custos_face_engine_open("/tmp", NULL, &e, &err), CUSTOS_ENOENT);
  custos_face_engine_close(NULL);
  custos_face_list_free(NULL);
  custos_face_detector d;
  custos_face_alignment a;
  assert_int_equal(custos_face_detector_parse("tiny", &d), CUSTOS_OK);
  assert_int_equal(d, CUSTOS_FACE_DETECTOR_TINY);
  assert_int_equal(custos_face_detector_parse("yolo", &d), CUSTOS_EINVAL);
  assert_int_equal(custos_face_alignment_parse("similarity", &a), CUSTOS_OK);
  assert_string_equal(custos_face_alignment_name(a), "similarity");
  float x[128] = {0}, y[128] = {0};
  y[5] = 3;
  y[7] = 4;
  assert_near(custos_face_distance(x, y), 5, 1e-12);
  custos_face f[2];
  memset(f, 0, sizeof f);
  f[0].box = (custos_face_box){0, 0, 10, 10};
  f[1].box = (custos_face_box){45, 45, 10, 10};
  custos_face_list l = {100, 100, false, 2, f};
  assert_int_equal(custos_face_list_central(&l), 1);
  l.count = 0;
  assert_int_equal(custos_face_list_central(&l), -1);
}

/* ---- the engine on the demo photos ------------------------------------------ */

static bool models_present(void) {
  char p[4096];
  snprintf(p, sizeof p, "%s/model/ssd_mobilenetv1_model.bin", CUSTOS_MODELS_DIR);
  return access(p, R_OK) == 0;
}

/* Opens an engine or skips the test when the models (or the networks) are
 * not available. */
static custos_face_engine *open_or_skip(const custos_face_options *o) {
  if (!models_present()) {
    print_message("models not found in %s\n", CUSTOS_MODELS_DIR);
    skip();
  }
  custos_face_engine *e = NULL;
  custos_err err;
  custos_err_clear(&err);
  const int rc = custos_face_engine_open(CUSTOS_MODELS_DIR, o, &e, &err);
  if (rc != CUSTOS_OK) fail_msg("engine: %s", err.message);
  return e;
}

static double iou(const custos_face_box *a, const custos_face_box *b) {
  const double x0 = fmax(a->x, b->x), y0 = fmax(a->y, b->y);
  const double x1 = fmin(a->x + a->width, b->x + b->width);
  const double y1 = fmin(a->y + a->height, b->y + b->height);
  const double inter = fmax(0, x1 - x0) * fmax(0, y1 - y0);
  return inter / (a->width * a->height + b->width * b->height - inter);
}

static custos_face_box json_box(const json_t *o) {
  custos_face_box b = {json_number_value(json_object_get(o, "x")),
                       json_number_value(json_object_get(o, "y")),
                       json_number_value(json_object_get(o, "width")),
                       json_number_value(json_object_get(o, "height"))};
  return b;
}

static void test_parity_demo(void **state) {
  (void)state;
  char ref_path[4096];
  snprintf(ref_path, sizeof ref_path, "%s/reference/demo.jsonl", CUSTOS_TEST_DATA);
  FILE *rf = fopen(ref_path, "r");
  if (rf == NULL) {
    print_message("no reference output at %s\n", ref_path);
    skip();
  }
  custos_face_options o;
  custos_face_options_init(&o);
  o.threads = 2;
  custos_face_engine *e = open_or_skip(&o);
  char line[1 << 16];
  char *buf = NULL;
  size_t cap = 0;
  ssize_t got;
  int faces = 0, images = 0;
  double worst_iou = 1, worst_lm_mean = 0, worst_lm_max = 0, worst_desc = 0;
  (void)line;
  while ((got = getline(&buf, &cap, rf)) > 0) {
    json_error_t jerr;
    json_t *ref = json_loads(buf, 0, &jerr);
    assert_non_null(ref);
    const char *file = json_string_value(json_object_get(ref, "file"));
    assert_non_null(file);
    char img_path[4096];
    snprintf(img_path, sizeof img_path, "%s/demo/%s", CUSTOS_MODELS_DIR, file);
    custos_image *img = NULL;
    custos_err err;
    assert_int_equal(custos_image_decode_file(img_path, NULL, &img, NULL, &err), CUSTOS_OK);
    custos_face_list *l = NULL;
    if (custos_face_embed(e, img, &l, &err) != CUSTOS_OK) fail_msg("%s: %s", file, err.message);
    const json_t *rfaces = json_object_get(ref, "faces");
    if (json_array_size(rfaces) != l->count)
      fail_msg("%s: %zu faces, reference %zu", file, l->count, json_array_size(rfaces));
    for (size_t i = 0; i < json_array_size(rfaces); i++) {
      const json_t *rfc = json_array_get(rfaces, i);
      const custos_face_box rb = json_box(json_object_get(rfc, "box"));
      size_t best = 0;
      double best_iou = -1;
      for (size_t k = 0; k < l->count; k++) {
        const double v = iou(&rb, &l->faces[k].box);
        if (v > best_iou) {
          best_iou = v;
          best = k;
        }
      }
      const custos_face *f = &l->faces[best];
      const json_t *lm = json_object_get(rfc, "landmarks");
      double lm_sum = 0, lm_max = 0;
      for (int p = 0; p < 68; p++) {
        const json_t *pt = json_array_get(lm, (size_t)p);
        const double dx = f->landmarks[p][0] - json_number_value(json_array_get(pt, 0));
        const double dy = f->landmarks[p][1] - json_number_value(json_array_get(pt, 1));
        const double dd = hypot(dx, dy);
        lm_sum += dd;
        lm_max = fmax(lm_max, dd);
      }
      float rd[128];
      const json_t *desc = json_object_get(rfc, "descriptor");
      assert_int_equal(json_array_size(desc), 128);
      for (int k = 0; k < 128; k++)
        rd[k] = (float)json_number_value(json_array_get(desc, (size_t)k));
      const double dist = custos_face_distance(rd, f->descriptor);
      print_message(
          "%s face %zu: score %.4f/%.4f IoU %.5f landmarks mean %.4f max %.4f px, "
          "descriptor %.5f\n",
          file, i, f->score, json_number_value(json_object_get(rfc, "score")), best_iou,
          lm_sum / 68, lm_max, dist);
      worst_iou = fmin(worst_iou, best_iou);
      worst_lm_mean = fmax(worst_lm_mean, lm_sum / 68);
      worst_lm_max = fmax(worst_lm_max, lm_max);
      worst_desc = fmax(worst_desc, dist);
      faces++;
    }
    images++;
    custos_face_list_free(l);
    custos_image_free(img);
    json_decref(ref);
  }
  free(buf);
  fclose(rf);
  custos_face_engine_close(e);
  print_message(
      "parity: %d images, %d faces; IoU min %.5f, landmarks mean max %.4f px "
      "(point max %.4f px), descriptor max %.2e\n",
      images, faces, worst_iou, worst_lm_mean, worst_lm_max, worst_desc);
  assert_int_equal(images, 6);
  assert_int_equal(faces, 22);
  assert_true(worst_iou >= 0.95);
  assert_true(worst_lm_mean <= 1.0);
  assert_true(worst_desc <= 0.01);
}

static custos_image *demo_image(const char *name) {
  char p[4096];
  snprintf(p, sizeof p, "%s/demo/%s", CUSTOS_MODELS_DIR, name);
  custos_image *img = NULL;
  custos_err err;
  if (custos_image_decode_file(p, NULL, &img, NULL, &err) != CUSTOS_OK) {
    print_message("%s: %s\n", p, err.message);
    skip();
  }
  return img;
}

static void test_threads_identical(void **state) {
  (void)state;
  custos_face_options o;
  custos_face_options_init(&o);
  o.align = CUSTOS_FACE_ALIGN_SIMILARITY;
  custos_face_engine *e1 = open_or_skip(&o);
  o.threads = 3;
  custos_face_engine *e3 = open_or_skip(&o);
  const custos_image *imgs[2] = {demo_image("sample1.jpg"), demo_image("sample3.jpg")};
  custos_face_list *a[2], *b[2];
  int rca[2], rcb[2];
  assert_int_equal(custos_face_embed_many(e1, imgs, 2, true, a, rca, NULL), CUSTOS_OK);
  assert_int_equal(custos_face_embed_many(e3, imgs, 2, true, b, rcb, NULL), CUSTOS_OK);
  for (int i = 0; i < 2; i++) {
    assert_int_equal(a[i]->count, b[i]->count);
    assert_true(a[i]->count > 0);
    for (size_t k = 0; k < a[i]->count; k++) {
      assert_memory_equal(&a[i]->faces[k], &b[i]->faces[k], sizeof(custos_face));
      assert_true(a[i]->faces[k].has_landmarks);
      assert_true(a[i]->faces[k].quality.sharpness > 0);
      if (k > 0) assert_true(a[i]->faces[k - 1].score >= a[i]->faces[k].score);
    }
    custos_face_list_free(a[i]);
    custos_face_list_free(b[i]);
  }
  /* detect gives the same boxes as embed, without landmarks. */
  custos_face_list *d = NULL;
  assert_int_equal(custos_face_detect(e1, imgs[0], &d, NULL), CUSTOS_OK);
  assert_true(d->count > 0 && !d->faces[0].has_landmarks);
  custos_face_list_free(d);
  custos_image_free((custos_image *)imgs[0]);
  custos_image_free((custos_image *)imgs[1]);
  custos_face_engine_close(e1);
  custos_face_engine_close(e3);
}

/* A demo face cropped tightly is found through the pad fallback, and its
 * boxes and landmarks come back in the crop's coordinates. */
static void test_pad_fallback(void **state) {
  (void)state;
  custos_face_options o;
  custos_face_options_init(&o);
  custos_face_engine *e = open_or_skip(&o);
  custos_image *img = demo_image("sample1.jpg");
  custos_face_list *l = NULL;
  assert_int_equal(custos_face_embed(e, img, &l, NULL), CUSTOS_OK);
  assert_true(l->count > 0);
  const custos_face_box b = l->faces[0].box;
  /* A crop a little inside the face box: the face fills the frame. */
  const int cx = (int)(b.x + b.width * 0.1), cy = (int)(b.y + b.height * 0.05);
  const int cw = (int)(b.width * 0.8), ch = (int)(b.height * 0.9);
  custos_image *crop = NULL;
  assert_int_equal(custos_image_new(cw, ch, &crop, NULL), CUSTOS_OK);
  for (int y = 0; y < ch; y++) {
    memcpy(crop->rgb + (size_t)y * (size_t)cw * 3,
           img->rgb + ((size_t)(y + cy) * (size_t)img->width + (size_t)cx) * 3, (size_t)cw * 3);
  }
  custos_face_list *p = NULL;
  assert_int_equal(custos_face_embed(e, crop, &p, NULL), CUSTOS_OK);
  if (p->count > 0) {
    /* Landmarks of the same face: where they were, minus the crop offset. */
    double sum = 0;
    for (int k = 36; k < 48; k++) {
      sum += hypot(p->faces[0].landmarks[k][0] - (l->faces[0].landmarks[k][0] - cx),
                   p->faces[0].landmarks[k][1] - (l->faces[0].landmarks[k][1] - cy));
    }
    print_message("crop %dx%d: %zu faces, padded %d, eye landmarks off by %.2f px on average\n", cw,
                  ch, p->count, p->padded, sum / 12);
    assert_true(sum / 12 < 0.1 * b.width);
  }
  custos_face_options_init(&o);
  o.pad_fallback = false;
  custos_face_engine *e2 = open_or_skip(&o);
  custos_face_list *q = NULL;
  assert_int_equal(custos_face_detect(e2, crop, &q, NULL), CUSTOS_OK);
  assert_false(q->padded);
  if (p->count > 0 && q->count == 0) assert_true(p->padded);
  custos_face_list_free(q);
  custos_face_list_free(p);
  custos_face_list_free(l);
  custos_image_free(crop);
  custos_image_free(img);
  custos_face_engine_close(e2);
  custos_face_engine_close(e);
}

/* The tiny face detector against face-api's TinyFaceDetector (default
 * options: input 416, score 0.5) on libjpeg-turbo's pixels of two demo
 * photos, recorded with the reference tool's tfjs-wasm set-up. */
static void test_tiny_demo(void **state) {
  (void)state;
  static const struct {
    const char *file;
    double score, x, y, w, h;
  } want[] = {
      {"sample1.jpg", 0.778972, 775.8953, 445.0980, 313.1254, 256.3430},
      {"sample1.jpg", 0.773728, 1422.3773, 214.6077, 306.7703, 282.7833},
      {"sample1.jpg", 0.720293, 336.6258, 396.7865, 305.3115, 251.0959},
      {"sample5.jpg", 0.881508, 312.6963, 897.1259, 315.9576, 312.6529},
      {"sample5.jpg", 0.825707, 1346.2745, 416.5615, 304.5626, 282.9740},
      {"sample5.jpg", 0.767021, 533.0079, 435.2630, 286.3579, 242.2075},
      {"sample5.jpg", 0.753124, 1057.9365, 242.3692, 279.7692, 247.6876},
      {"sample5.jpg", 0.664352, 734.1885, 133.7971, 237.4724, 195.8213},
  };
  custos_face_options o;
  custos_face_options_init(&o);
  o.detector = CUSTOS_FACE_DETECTOR_TINY;
  custos_face_engine *e = open_or_skip(&o);
  const char *files[2] = {"sample1.jpg", "sample5.jpg"};
  size_t w = 0;
  for (int i = 0; i < 2; i++) {
    custos_image *img = demo_image(files[i]);
    custos_face_list *l = NULL;
    assert_int_equal(custos_face_embed(e, img, &l, NULL), CUSTOS_OK);
    size_t k = 0;
    for (; w < CUSTOS_ARRAY_LEN(want) && strcmp(want[w].file, files[i]) == 0; w++, k++) {
      assert_true(k < l->count);
      assert_near(l->faces[k].score, want[w].score, 1e-5);
      assert_near(l->faces[k].box.x, want[w].x, 0.01);
      assert_near(l->faces[k].box.y, want[w].y, 0.01);
      assert_near(l->faces[k].box.width, want[w].w, 0.01);
      assert_near(l->faces[k].box.height, want[w].h, 0.01);
      assert_true(l->faces[k].has_landmarks);
    }
    assert_int_equal(k, l->count);
    custos_face_list_free(l);
    custos_image_free(img);
  }
  custos_face_engine_close(e);
}

static void test_hostile_images(void **state) {
  (void)state;
  custos_face_options o;
  custos_face_options_init(&o);
  o.threads = 2;
  custos_face_engine *e = open_or_skip(&o);
  custos_err err;
  custos_face_list *l = NULL;
  /* Images the decoder refuses never reach the engine. */
  static const unsigned char empty[1] = {0};
  custos_image *img = NULL;
  assert_true(custos_image_decode(empty, 0, NULL, &img, NULL, &err) < 0);
  assert_null(img);
  /* No image, or a broken one: a clean error. */
  assert_int_equal(custos_face_embed(e, NULL, &l, &err), CUSTOS_EINVAL);
  assert_null(l);
  custos_image broken = {0, 0, NULL};
  assert_int_equal(custos_face_detect(e, &broken, &l, &err), CUSTOS_EINVAL);
  /* Tiny, strip-shaped, flat and noisy images: no crash, sane results. */
  const int sizes[][2] = {{1, 1}, {20000, 10}, {10, 20000}, {2, 3}, {300, 200}};
  for (size_t i = 0; i < CUSTOS_ARRAY_LEN(sizes); i++) {
    custos_image *t = make_image(sizes[i][0], sizes[i][1]);
    for (int embed = 0; embed < 2; embed++) {
      l = NULL;
      const int rc = embed ? custos_face_embed(e, t, &l, &err) : custos_face_detect(e, t, &l, &err);
      if (rc != CUSTOS_OK) fail_msg("%dx%d: %s", sizes[i][0], sizes[i][1], err.message);
      for (size_t k = 0; k < l->count; k++) {
        assert_true(isfinite(l->faces[k].box.x) && l->faces[k].score > 0.5);
        if (embed) {
          for (int d = 0; d < 128; d++) assert_true(isfinite(l->faces[k].descriptor[d]));
        }
      }
      custos_face_list_free(l);
    }
    custos_image_free(t);
  }
  /* Several images at once, one of them bad. */
  custos_image *good = make_image(64, 48);
  const custos_image *imgs[3] = {good, &broken, good};
  custos_face_list *outs[3];
  int rcs[3];
  custos_err errs[3];
  assert_int_equal(custos_face_embed_many(e, imgs, 3, true, outs, rcs, errs), CUSTOS_EINVAL);
  assert_int_equal(rcs[0], CUSTOS_OK);
  assert_int_equal(rcs[1], CUSTOS_EINVAL);
  assert_null(outs[1]);
  assert_int_equal(rcs[2], CUSTOS_OK);
  custos_face_list_free(outs[0]);
  custos_face_list_free(outs[2]);
  custos_image_free(good);
  custos_face_engine_close(e);
}

/* Every allocation of an embed call failing in turn: a clean CUSTOS_ENOMEM
 * (or success when the failure hits nothing that matters), never a crash or
 * a leak. */
static void test_alloc_failures(void **state) {
  (void)state;
  custos_face_options o;
  custos_face_options_init(&o);
  custos_face_engine *e = open_or_skip(&o);
  custos_image *img = demo_image("sample2.jpg");
  bool succeeded = false;
  for (long n = 0; n < 60 && !succeeded; n++) {
    custos_face_list *l = NULL;
    custos_err err;
    custos__alloc_fail_after(n);
    const int rc = custos_face_embed(e, img, &l, &err);
    custos__alloc_fail_after(-1);
    if (rc == CUSTOS_OK) {
      assert_non_null(l);
      succeeded = l->count == 3;
    } else {
      assert_int_equal(rc, CUSTOS_ENOMEM);
      assert_null(l);
    }
    custos_face_list_free(l);
  }
  assert_true(succeeded);
  custos_image_free(img);
  custos_face_engine_close(e);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sample_tfjs_vector),
      cmocka_unit_test(test_sample_padding),
      cmocka_unit_test(test_sample_against_naive),
      cmocka_unit_test(test_ssd_decode),
      cmocka_unit_test(test_ssd_nms),
      cmocka_unit_test(test_ssd_box),
      cmocka_unit_test(test_tiny_decode_nms),
      cmocka_unit_test(test_clip_box),
      cmocka_unit_test(test_landmarks_map),
      cmocka_unit_test(test_align_dlib),
      cmocka_unit_test(test_similarity),
      cmocka_unit_test(test_sharpness),
      cmocka_unit_test(test_pairs_load),
      cmocka_unit_test(test_verify_compute),
      cmocka_unit_test(test_options),
      cmocka_unit_test(test_parity_demo),
      cmocka_unit_test(test_threads_identical),
      cmocka_unit_test(test_pad_fallback),
      cmocka_unit_test(test_tiny_demo),
      cmocka_unit_test(test_hostile_images),
      cmocka_unit_test(test_alloc_failures),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
