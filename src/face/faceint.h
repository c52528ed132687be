/*
 * face: the pieces of the face pipeline that are plain arithmetic, kept apart
 * from the engine so that unit tests can check each against face-api's
 * formulas without models.
 *
 * Every step reproduces a named piece of face-api 1.7.15 (src/ in the npm
 * package), in the same precision where face-api computes in tensors
 * (float32) and in double where it computes in JavaScript numbers:
 *   custos__face_sample_square    NetInput.toBatchTensor: padToSquare (zeros;
 *                                 at the end, or centred) + tf.image.resizeBilinear
 *                                 (alignCorners = false, halfPixelCenters = false)
 *   custos__face_ssd_decode       ssdMobilenetv1/outputLayer.ts
 *   custos__face_ssd_nms          ssdMobilenetv1/nonMaxSuppression.ts
 *   custos__face_ssd_box          SsdMobilenetv1.locateFaces (scale back, clip)
 *   custos__face_tiny_decode      TinyYolov2Base.extractBoxes
 *   custos__face_tiny_nms         ops/nonMaxSuppression.ts
 *   custos__face_clip_box         Box.clipAtImageBorders (floors)
 *   custos__face_landmarks_map    FaceLandmark68NetBase.postProcess + shiftBy
 *   custos__face_align_dlib       FaceLandmarks.alignDlib
 * The similarity alignment and the sharpness measure are custos's own.
 *
 * A "canvas" is the picture the detector sees: the image itself, or the image
 * inside a black border (the pad fallback).  Canvas pixel (x, y) is image
 * pixel (x - ox, y - oy), black outside the image.
 */
#ifndef CUSTOS_FACE_FACEINT_H
#define CUSTOS_FACE_FACEINT_H

#include <stdbool.h>
#include <stddef.h>

#include "custos/face.h"
#include "util/util.h"

#define CUSTOS_FACE_SSD_SIZE 512     /* SSD input side, px */
#define CUSTOS_FACE_SSD_ANCHORS 5118 /* SSD anchors (boxes per image) */
#define CUSTOS_FACE_SSD_IOU 0.5      /* SSD NMS IoU threshold (SsdMobilenetv1.locateFaces) */
#define CUSTOS_FACE_TINY_IOU 0.4  /* tiny detector NMS IoU threshold (tinyFaceDetector/const.ts) */
#define CUSTOS_FACE_TINY_BOXES 5  /* tiny detector anchors per cell */
#define CUSTOS_FACE_LM_SIZE 112   /* landmark net input side, px */
#define CUSTOS_FACE_CHIP_SIZE 150 /* recognition net input side, px */

/* An integer rectangle, px. */
typedef struct face_irect {
  int x, y;          /* top-left corner */
  int width, height; /* may be <= 0 after clipping: empty */
} face_irect;

/* A detection before landmarks: canvas coordinates. */
typedef struct face_det {
  double score;        /* 0..1 */
  custos_face_box box; /* canvas px */
} face_det;

/* Samples the rectangle r of an image (pixels outside the image are black),
 * zero-padded to a square of side max(r.width, r.height) — at the end of the
 * short axis, or centred as padToSquare(isCenterImage = true) does — and
 * resized to n x n exactly as tfjs-wasm's resizeBilinear with
 * alignCorners = halfPixelCenters = false.  Writes out[n][n][3] (0..255).
 * r.width, r.height and n must be >= 1. */
void custos__face_sample_square(const custos_image *img, face_irect r, bool centre, int n,
                                float *out);

/* Decodes SSD box encodings [n][4] (ty, tx, th, tw) against anchors [n][4]
 * (ymin, xmin, ymax, xmax) into boxes [n][4] (ymin, xmin, ymax, xmax, relative
 * to the padded square), and class logits [n][3] into scores [n]
 * (sigmoid of logit 1).  Float32 arithmetic in face-api's order. */
void custos__face_ssd_decode(const float *anchors, const float *enc, const float *logits, size_t n,
                             float *boxes, float *scores);

/* face-api's SSD NMS: candidates with score > score_thr, by descending score
 * (ties: lower index first), each kept unless its IoU with a kept box exceeds
 * iou_thr, at most max_out kept.  Writes kept indices to sel (room for
 * max_out) and returns their count, or -1 when out of memory. */
long custos__face_ssd_nms(const float *boxes, const float *scores, size_t n, size_t max_out,
                          double iou_thr, double score_thr, size_t *sel);

/* Box of an SSD detection in canvas pixels (W x H): face-api's scale back
 * through the padding (reshaped dimensions rounded, as computeReshapedDimensions)
 * and its clipping of the relative box to [0, 1]. */
custos_face_box custos__face_ssd_box(const float box[4], int W, int H, int in_size);

/* Decodes the tiny detector's grid [cells][cells][5][enc] (enc >= 5: tx, ty,
 * tw, th, objectness, ...) of an input of in_size for a W x H canvas:
 * detections with score > score_thr, in grid order, into det (room for
 * cells * cells * 5), boxes relative to the canvas (0..1).  Returns their
 * count. */
size_t custos__face_tiny_decode(const float *grid, int cells, int enc, int in_size, int W, int H,
                                double score_thr, face_det *det);

/* face-api's generic NMS on the relative boxes of custos__face_tiny_decode
 * scaled by in_size (pick the highest score, drop the others with
 * IoU > iou_thr, repeat; among equal scores the later one first).  Reorders
 * det[0..n) in place to the kept detections in pick order and returns their
 * count; -1 when out of memory. */
long custos__face_tiny_nms(face_det *det, size_t n, int in_size, double iou_thr);

/* Box.clipAtImageBorders(W, H): clip to the canvas, then floor x, y, width
 * and height.  The result may be empty (width or height <= 0). */
face_irect custos__face_clip_box(custos_face_box b, int W, int H);

/* Maps the landmark net's 136 outputs (relative to its 112 x 112 input) to
 * canvas pixels: postProcess through the padding of a crop_w x crop_h crop,
 * times the crop size, plus the shift (the detection box's unfloored x, y). */
void custos__face_landmarks_map(const float out[136], int crop_w, int crop_h, double shift_x,
                                double shift_y, double pts[CUSTOS_FACE_LANDMARKS][2]);

/* FaceLandmarks.align({useDlibAlignment: true}) of landmarks of a crop of
 * crop_w x crop_h: the box around the eye and mouth centres (integers;
 * not yet clipped to the canvas). */
custos_face_box custos__face_align_dlib(const double pts[CUSTOS_FACE_LANDMARKS][2], int crop_w,
                                        int crop_h);

/* Centres of the left eye (points 36-41), right eye (42-47) and mouth
 * (48-67), as face-api's getRefPointsForAlignment. */
void custos__face_ref_points(const double pts[CUSTOS_FACE_LANDMARKS][2], double eyes_mouth[3][2]);

/* Canonical points of the similarity alignment in a size x size chip, in
 * the order of custos__face_similarity_points: left eye centre, right eye
 * centre, left mouth corner (48), right mouth corner (54). */
#define CUSTOS_FACE_SIM_POINTS 4
typedef struct face_sim_params {
  double scale;   /* size of the template in the chip (1: docs/face.md's default) */
  double shift_y; /* vertical shift of the template, fraction of the chip */
} face_sim_params;
void custos__face_sim_template(face_sim_params p, int size, double tmpl[CUSTOS_FACE_SIM_POINTS][2]);

/* The landmark points the similarity alignment uses, in template order. */
void custos__face_similarity_points(const double pts[CUSTOS_FACE_LANDMARKS][2],
                                    double out[CUSTOS_FACE_SIM_POINTS][2]);

/* Least-squares similarity (rotation, uniform scale, translation; no
 * reflection) taking chip points dst[i] to image points src[i]: the 2x3
 * matrix m for custos_image_warp (sx = m0 dx + m1 dy + m2, sy = m3 dx + m4 dy + m5).
 * Returns false when the points are degenerate (all equal). */
bool custos__face_similarity_fit(const double (*dst)[2], const double (*src)[2], int n,
                                 double m[6]);

/* Variance of the 4-neighbour Laplacian of the gray (0.299 R + 0.587 G +
 * 0.114 B) version of an n x n RGB float chip, over interior pixels. */
double custos__face_sharpness(const float *chip, int n);

/* Tuning: the descriptors of n faces whose landmarks (image coordinates)
 * are known, through the similarity template p, on the engine's workers.
 * rcs[i] receives each face's result; returns the first error or CUSTOS_OK. */
int custos__face_describe_similarity(custos_face_engine *e, size_t n,
                                     const custos_image *const *imgs,
                                     const double (*pts)[CUSTOS_FACE_LANDMARKS][2],
                                     face_sim_params p, float (*desc)[CUSTOS_FACE_DESCRIPTOR_DIM],
                                     int *rcs);

/* Sets the similarity template of an engine (tuning and tests). */
void custos__face_engine_set_sim(custos_face_engine *e, face_sim_params p);

#endif
