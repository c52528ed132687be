/*
 * The arithmetic of the face pipeline: input sampling, SSD and tiny-detector
 * box decoding and NMS, crops, landmark mapping, face-api's dlib-style crop,
 * the similarity alignment and the sharpness measure.  See faceint.h for the
 * face-api function each one reproduces.
 *
 * Precision follows face-api: what it computes with tensors (tfjs float32
 * kernels) is computed here in float, what it computes with JavaScript numbers
 * in double.  The file is compiled without floating-point contraction (ISO C
 * mode), so float expressions round at each step as tfjs-wasm's do.
 */
#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "face/faceint.h"

/* JavaScript's Math.round: halves round up. */
static double js_round(double v) {
  return floor(v + 0.5);
}

static int imax(int a, int b) {
  return a > b ? a : b;
}
static int imin(int a, int b) {
  return a < b ? a : b;
}

/* ---- input sampling ------------------------------------------------------ */

#define SAMPLE_MAX 1024 /* largest network input side */

/* One axis of the resize: for each output index, the two source indices in
 * image coordinates (-1: black) and the interpolation weight. */
typedef struct axis_map {
  int i0[SAMPLE_MAX];
  int i1[SAMPLE_MAX];
  float a[SAMPLE_MAX];
} axis_map;

/* Square side s, region offset r0 and length rlen on this axis, padding
 * `before` pixels before the region, image length img_len. */
static void map_axis(axis_map *m, int n, int s, int before, int r0, int rlen, int img_len) {
  const float scale = (float)s / (float)n;
  for (int o = 0; o < n; o++) {
    const float in = (float)o * scale;
    int q0 = (int)in;
    if (q0 > s - 1) q0 = s - 1;
    const int q1 = imin(q0 + 1, s - 1);
    m->a[o] = in - (float)q0;
    const int q[2] = {q0, q1};
    int idx[2];
    for (int k = 0; k < 2; k++) {
      const int rr = q[k] - before; /* index in the region */
      const int ii = r0 + rr;       /* index in the image */
      idx[k] = (rr < 0 || rr >= rlen || ii < 0 || ii >= img_len) ? -1 : ii;
    }
    m->i0[o] = idx[0];
    m->i1[o] = idx[1];
  }
}

void custos__face_sample_square(const custos_image *img, face_irect r, bool centre, int n,
                                float *out) {
  assert(r.width >= 1 && r.height >= 1 && n >= 1 && n <= SAMPLE_MAX);
  const int s = imax(r.width, r.height);
  const int diff = abs(r.width - r.height);
  int before = 0;
  if (centre) {
    const int after = (int)js_round(diff * 0.5);
    before = diff - after;
  }
  static _Thread_local axis_map mx, my;
  map_axis(&mx, n, s, r.width < r.height ? before : 0, r.x, r.width, img->width);
  map_axis(&my, n, s, r.height < r.width ? before : 0, r.y, r.height, img->height);
  static const float black[3] = {0.0f, 0.0f, 0.0f};
  const size_t stride = (size_t)img->width * 3;
  for (int oy = 0; oy < n; oy++) {
    const uint8_t *row0 = my.i0[oy] >= 0 ? img->rgb + (size_t)my.i0[oy] * stride : NULL;
    const uint8_t *row1 = my.i1[oy] >= 0 ? img->rgb + (size_t)my.i1[oy] * stride : NULL;
    const float ay = my.a[oy];
    float *o = out + (size_t)oy * (size_t)n * 3;
    for (int ox = 0; ox < n; ox++) {
      const int x0 = mx.i0[ox], x1 = mx.i1[ox];
      const float ax = mx.a[ox];
      for (int c = 0; c < 3; c++) {
        const float tl = row0 && x0 >= 0 ? (float)row0[(size_t)x0 * 3 + (size_t)c] : black[c];
        const float tr = row0 && x1 >= 0 ? (float)row0[(size_t)x1 * 3 + (size_t)c] : black[c];
        const float bl = row1 && x0 >= 0 ? (float)row1[(size_t)x0 * 3 + (size_t)c] : black[c];
        const float br = row1 && x1 >= 0 ? (float)row1[(size_t)x1 * 3 + (size_t)c] : black[c];
        /* XNNPACK's bilinear kernel: horizontal first, then vertical. */
        const float top = tl + (tr - tl) * ax;
        const float bottom = bl + (br - bl) * ax;
        o[(size_t)ox * 3 + (size_t)c] = top + (bottom - top) * ay;
      }
    }
  }
}

/* ---- SSD ------------------------------------------------------------------ */

void custos__face_ssd_decode(const float *anchors, const float *enc, const float *logits, size_t n,
                             float *boxes, float *scores) {
  for (size_t i = 0; i < n; i++) {
    const float *a = anchors + 4 * i;
    const float *e = enc + 4 * i;
    const float size_y = a[2] - a[0];
    const float size_x = a[3] - a[1];
    const float centre_y = a[0] + size_y / 2.0f;
    const float centre_x = a[1] + size_x / 2.0f;
    const float half_h = expf(e[2] / 5.0f) * size_y / 2.0f;
    const float cy = e[0] / 10.0f * size_y + centre_y;
    const float half_w = expf(e[3] / 5.0f) * size_x / 2.0f;
    const float cx = e[1] / 10.0f * size_x + centre_x;
    float *b = boxes + 4 * i;
    b[0] = cy - half_h;
    b[1] = cx - half_w;
    b[2] = cy + half_h;
    b[3] = cx + half_w;
    scores[i] = 1.0f / (1.0f + expf(-logits[3 * i + 1]));
  }
}

/* IoU of SSD boxes i and j (nonMaxSuppression.ts's IOU, in double). */
static double ssd_iou(const float *boxes, size_t i, size_t j) {
  const float *bi = boxes + 4 * i, *bj = boxes + 4 * j;
  const double ymin_i = fmin(bi[0], bi[2]), xmin_i = fmin(bi[1], bi[3]);
  const double ymax_i = fmax(bi[0], bi[2]), xmax_i = fmax(bi[1], bi[3]);
  const double ymin_j = fmin(bj[0], bj[2]), xmin_j = fmin(bj[1], bj[3]);
  const double ymax_j = fmax(bj[0], bj[2]), xmax_j = fmax(bj[1], bj[3]);
  const double area_i = (ymax_i - ymin_i) * (xmax_i - xmin_i);
  const double area_j = (ymax_j - ymin_j) * (xmax_j - xmin_j);
  if (area_i <= 0 || area_j <= 0) return 0.0;
  const double iy0 = fmax(ymin_i, ymin_j), ix0 = fmax(xmin_i, xmin_j);
  const double iy1 = fmin(ymax_i, ymax_j), ix1 = fmin(xmax_i, xmax_j);
  const double inter = fmax(iy1 - iy0, 0.0) * fmax(ix1 - ix0, 0.0);
  return inter / (area_i + area_j - inter);
}

typedef struct cand {
  float score;
  size_t index;
} cand;

/* Descending score, then ascending index: JavaScript's stable sort. */
static int cand_desc(const void *pa, const void *pb) {
  const cand *a = pa, *b = pb;
  if (a->score != b->score) return a->score < b->score ? 1 : -1;
  return a->index < b->index ? -1 : a->index > b->index;
}

long custos__face_ssd_nms(const float *boxes, const float *scores, size_t n, size_t max_out,
                          double iou_thr, double score_thr, size_t *sel) {
  cand *c = custos__mallocarray(n ? n : 1, sizeof *c);
  if (c == NULL) return -1;
  size_t nc = 0;
  for (size_t i = 0; i < n; i++) {
    if ((double)scores[i] > score_thr) c[nc++] = (cand){scores[i], i};
  }
  qsort(c, nc, sizeof *c, cand_desc);
  const size_t out_size = max_out < n ? max_out : n;
  size_t ns = 0;
  for (size_t k = 0; k < nc && ns < out_size; k++) {
    bool keep = true;
    for (size_t j = ns; j-- > 0;) {
      const double iou = ssd_iou(boxes, c[k].index, sel[j]);
      if (iou == 0.0) continue;
      if (!(iou <= iou_thr)) {
        keep = false;
        break;
      }
    }
    if (keep) sel[ns++] = c[k].index;
  }
  custos__free(c);
  return (long)ns;
}

custos_face_box custos__face_ssd_box(const float box[4], int W, int H, int in_size) {
  const double scale = (double)in_size / (double)imax(W, H);
  double rw = js_round(W * scale), rh = js_round(H * scale);
  /* face-api divides by these; an extreme aspect ratio rounds one to 0. */
  if (rw < 1) rw = 1;
  if (rh < 1) rh = 1;
  const double pad_x = in_size / rw, pad_y = in_size / rh;
  const double top = fmax(0.0, (double)box[0]) * pad_y;
  const double bottom = fmin(1.0, (double)box[2]) * pad_y;
  const double left = fmax(0.0, (double)box[1]) * pad_x;
  const double right = fmin(1.0, (double)box[3]) * pad_x;
  custos_face_box b = {left * W, top * H, (right - left) * W, (bottom - top) * H};
  return b;
}

/* ---- tiny face detector --------------------------------------------------- */

static const double tiny_anchors[CUSTOS_FACE_TINY_BOXES][2] = {{1.603231, 2.094468},
                                                               {6.041143, 7.080126},
                                                               {2.882459, 3.518061},
                                                               {4.266906, 5.178857},
                                                               {9.041765, 10.66308}};

static double js_sigmoid(double x) {
  return 1 / (1 + exp(-x));
}

size_t custos__face_tiny_decode(const float *grid, int cells, int enc, int in_size, int W, int H,
                                double score_thr, face_det *det) {
  const double scale = (double)in_size / (double)imax(W, H);
  double rw = js_round(W * scale), rh = js_round(H * scale);
  if (rw < 1) rw = 1;
  if (rh < 1) rh = 1;
  const double size = fmax(rw, rh);
  const double corr_x = size / rw, corr_y = size / rh;
  size_t nd = 0;
  for (int row = 0; row < cells; row++) {
    for (int col = 0; col < cells; col++) {
      for (int a = 0; a < CUSTOS_FACE_TINY_BOXES; a++) {
        const float *g =
            grid +
            (((size_t)row * (size_t)cells + (size_t)col) * CUSTOS_FACE_TINY_BOXES + (size_t)a) *
                (size_t)enc;
        const double score = js_sigmoid(g[4]);
        if (!(score > score_thr)) continue;
        const double ct_x = ((col + js_sigmoid(g[0])) / cells) * corr_x;
        const double ct_y = ((row + js_sigmoid(g[1])) / cells) * corr_y;
        const double w = ((exp(g[2]) * tiny_anchors[a][0]) / cells) * corr_x;
        const double h = ((exp(g[3]) * tiny_anchors[a][1]) / cells) * corr_y;
        const double x = ct_x - w / 2;
        const double y = ct_y - h / 2;
        /* BoundingBox(x, y, x + w, y + h): width = right - left. */
        det[nd].score = score;
        det[nd].box = (custos_face_box){x, y, (x + w) - x, (y + h) - y};
        nd++;
      }
    }
  }
  return nd;
}

/* ops/iou.ts on boxes scaled by s. */
static double tiny_iou(const custos_face_box *a, const custos_face_box *b, double s) {
  const double ax = a->x * s, ay = a->y * s, aw = a->width * s, ah = a->height * s;
  const double bx = b->x * s, by = b->y * s, bw = b->width * s, bh = b->height * s;
  const double w = fmax(0.0, fmin(ax + aw, bx + bw) - fmax(ax, bx));
  const double h = fmax(0.0, fmin(ay + ah, by + bh) - fmax(ay, by));
  const double inter = w * h;
  return inter / (aw * ah + bw * bh - inter);
}

/* Ascending score, then ascending index (stable sort). */
typedef struct dcand {
  double score;
  size_t index;
} dcand;

static int dcand_asc(const void *pa, const void *pb) {
  const dcand *a = pa, *b = pb;
  if (a->score != b->score) return a->score < b->score ? -1 : 1;
  return a->index < b->index ? -1 : a->index > b->index;
}

long custos__face_tiny_nms(face_det *det, size_t n, int in_size, double iou_thr) {
  if (n == 0) return 0;
  dcand *order = custos__mallocarray(n, sizeof *order);
  face_det *kept = custos__mallocarray(n, sizeof *kept);
  if (order == NULL || kept == NULL) {
    custos__free(order);
    custos__free(kept);
    return -1;
  }
  for (size_t i = 0; i < n; i++) order[i] = (dcand){det[i].score, i};
  qsort(order, n, sizeof *order, dcand_asc);
  size_t left = n, nk = 0;
  while (left > 0) {
    const size_t cur = order[--left].index;
    kept[nk++] = det[cur];
    size_t m = 0;
    for (size_t j = 0; j < left; j++) {
      const double iou = tiny_iou(&det[cur].box, &det[order[j].index].box, in_size);
      if (iou <= iou_thr) order[m++] = order[j];
    }
    left = m;
  }
  memcpy(det, kept, nk * sizeof *kept);
  custos__free(order);
  custos__free(kept);
  return (long)nk;
}

/* ---- crops and landmarks -------------------------------------------------- */

face_irect custos__face_clip_box(custos_face_box b, int W, int H) {
  const double cx = fmax(b.x, 0.0), cy = fmax(b.y, 0.0);
  const double nw = (b.x + b.width) - cx, nh = (b.y + b.height) - cy;
  const double cw = fmin(nw, W - cx), ch = fmin(nh, H - cy);
  /* Clamp before converting so that absurd values cannot overflow an int. */
  const double lim = 1e9;
  face_irect r;
  r.x = (int)fmin(floor(cx), lim);
  r.y = (int)fmin(floor(cy), lim);
  r.width = (int)fmax(fmin(floor(cw), lim), -lim);
  r.height = (int)fmax(fmin(floor(ch), lim), -lim);
  if (!(cw == cw)) r.width = 0; /* NaN */
  if (!(ch == ch)) r.height = 0;
  return r;
}

void custos__face_landmarks_map(const float out[136], int crop_w, int crop_h, double shift_x,
                                double shift_y, double pts[CUSTOS_FACE_LANDMARKS][2]) {
  const double scale = (double)CUSTOS_FACE_LM_SIZE / (double)imax(crop_w, crop_h);
  const double iw = crop_w * scale, ih = crop_h * scale;
  const double pad_x = iw < ih ? fabs(iw - ih) / 2 : 0;
  const double pad_y = ih < iw ? fabs(iw - ih) / 2 : 0;
  const float fpad[2] = {(float)pad_x, (float)pad_y};
  const float fdim[2] = {(float)iw, (float)ih};
  const double crop[2] = {crop_w, crop_h};
  const double shift[2] = {shift_x, shift_y};
  for (int i = 0; i < CUSTOS_FACE_LANDMARKS; i++) {
    for (int k = 0; k < 2; k++) {
      float v = out[2 * i + k] * (float)CUSTOS_FACE_LM_SIZE;
      v = v - fpad[k];
      v = v / fdim[k];
      pts[i][k] = (double)v * crop[k] + shift[k];
    }
  }
}

/* getCenterPoint: sum in order from (0, 0), then divide. */
static void centre_of(const double pts[][2], int from, int to, double c[2]) {
  double sx = 0, sy = 0;
  for (int i = from; i < to; i++) {
    sx = sx + pts[i][0];
    sy = sy + pts[i][1];
  }
  c[0] = sx / (to - from);
  c[1] = sy / (to - from);
}

void custos__face_ref_points(const double pts[CUSTOS_FACE_LANDMARKS][2], double em[3][2]) {
  centre_of(pts, 36, 42, em[0]);
  centre_of(pts, 42, 48, em[1]);
  centre_of(pts, 48, 68, em[2]);
}

custos_face_box custos__face_align_dlib(const double pts[CUSTOS_FACE_LANDMARKS][2], int crop_w,
                                        int crop_h) {
  double c[3][2];
  custos__face_ref_points(pts, c);
  const double d_left = hypot(c[2][0] - c[0][0], c[2][1] - c[0][1]);
  const double d_right = hypot(c[2][0] - c[1][0], c[2][1] - c[1][1]);
  const double eye_to_mouth = (d_left + d_right) / 2;
  const double size = floor(eye_to_mouth / 0.45);
  double ref[2];
  centre_of((const double(*)[2])c, 0, 3, ref);
  const double x = floor(fmax(0.0, ref[0] - 0.5 * size));
  const double y = floor(fmax(0.0, ref[1] - 0.43 * size));
  custos_face_box b = {x, y, fmin(size, crop_w + x), fmin(size, crop_h + y)};
  return b;
}

/* ---- similarity alignment ------------------------------------------------- */

/*
 * The template: dlib's mean face (get_face_chip_details, the shape dlib's
 * ResNet descriptor was trained on) with padding 0.25 in a 150 px chip —
 * chip = (0.25 + mean) / 1.5 * size — for the eye centres (mean of points
 * 36-41 and 42-47) and the mouth corners (48, 54).
 */
static const double dlib_template[CUSTOS_FACE_SIM_POINTS][2] = {
    {0.2254918, 0.2159903}, /* left eye centre */
    {0.7547613, 0.2159903}, /* right eye centre */
    {0.254149, 0.780233},   /* mouth corner 48 */
    {0.726104, 0.780233},   /* mouth corner 54 */
};
#define DLIB_PADDING 0.25

void custos__face_sim_template(face_sim_params p, int size, double t[CUSTOS_FACE_SIM_POINTS][2]) {
  const double half = size / 2.0;
  for (int i = 0; i < CUSTOS_FACE_SIM_POINTS; i++) {
    for (int k = 0; k < 2; k++) {
      const double v = (DLIB_PADDING + dlib_template[i][k]) / (1 + 2 * DLIB_PADDING) * size;
      t[i][k] = half + p.scale * (v - half) + (k == 1 ? p.shift_y * size : 0.0);
    }
  }
}

void custos__face_similarity_points(const double pts[CUSTOS_FACE_LANDMARKS][2],
                                    double out[CUSTOS_FACE_SIM_POINTS][2]) {
  centre_of(pts, 36, 42, out[0]);
  centre_of(pts, 42, 48, out[1]);
  out[2][0] = pts[48][0];
  out[2][1] = pts[48][1];
  out[3][0] = pts[54][0];
  out[3][1] = pts[54][1];
}

bool custos__face_similarity_fit(const double (*dst)[2], const double (*src)[2], int n,
                                 double m[6]) {
  double md[2] = {0, 0}, ms[2] = {0, 0};
  for (int i = 0; i < n; i++) {
    for (int k = 0; k < 2; k++) {
      md[k] += dst[i][k] / n;
      ms[k] += src[i][k] / n;
    }
  }
  double den = 0, num_a = 0, num_b = 0;
  for (int i = 0; i < n; i++) {
    const double dx = dst[i][0] - md[0], dy = dst[i][1] - md[1];
    const double sx = src[i][0] - ms[0], sy = src[i][1] - ms[1];
    den += dx * dx + dy * dy;
    num_a += dx * sx + dy * sy;
    num_b += dx * sy - dy * sx;
  }
  if (!(den > 1e-12)) return false;
  const double a = num_a / den, b = num_b / den;
  m[0] = a;
  m[1] = -b;
  m[2] = ms[0] - (a * md[0] - b * md[1]);
  m[3] = b;
  m[4] = a;
  m[5] = ms[1] - (b * md[0] + a * md[1]);
  return true;
}

/* ---- quality -------------------------------------------------------------- */

double custos__face_sharpness(const float *chip, int n) {
  if (n < 3) return 0;
  float *g = custos__mallocarray((size_t)n * (size_t)n, sizeof *g);
  if (g == NULL) return -1;
  for (size_t i = 0; i < (size_t)n * (size_t)n; i++) {
    g[i] = 0.299f * chip[3 * i] + 0.587f * chip[3 * i + 1] + 0.114f * chip[3 * i + 2];
  }
  double sum = 0, sum2 = 0;
  for (int y = 1; y < n - 1; y++) {
    for (int x = 1; x < n - 1; x++) {
      const size_t i = (size_t)y * (size_t)n + (size_t)x;
      const double l =
          (double)g[i - 1] + g[i + 1] + g[i - (size_t)n] + g[i + (size_t)n] - 4.0 * g[i];
      sum += l;
      sum2 += l * l;
    }
  }
  custos__free(g);
  const double cnt = (double)(n - 2) * (n - 2);
  const double mean = sum / cnt;
  const double var = sum2 / cnt - mean * mean;
  return var > 0 ? var : 0;
}
