/*
 * Faces: detection, 68-point landmarks, alignment and 128-d descriptors with
 * the face-api models (@vladmandic/face-api 1.7.15), plus the statistics of an
 * LFW-style verification run.
 *
 * An engine (custos_face_engine) holds the models of one models folder and,
 * for each worker thread, one built network of each kind.  Detection follows
 * face-api exactly: the SSD MobileNet v1 (or the tiny face detector) on the
 * image zero-padded at the bottom or right to a square and resized to the
 * network's input, its box decoding, score threshold and non-maximum
 * suppression, and the boxes mapped back to the image.  Landmarks come from
 * the detection box crop (face-api's extractFaceTensors), descriptors from one
 * of two alignments:
 *   CUSTOS_FACE_ALIGN_REFERENCE   the crop face-api takes from the landmarks
 *                                 (FaceLandmarks.align with dlib alignment),
 *                                 zero-padded to a square, resized to 150x150;
 *   CUSTOS_FACE_ALIGN_SIMILARITY  a rotation, scale and translation that puts
 *                                 the eye centres and mouth corners on fixed
 *                                 positions of a 150x150 chip (docs/face.md).
 * When nothing is found and pad_fallback is on, detection is retried on the
 * image with a black border of half its width left and right and half its
 * height top and bottom (what the reference tool does), then, if still
 * nothing, with borders of its full and of twice its width and height;
 * boxes and landmarks are mapped back to the image.
 *
 * Coordinates are in pixels of the image as given (after EXIF orientation),
 * continuous, with the image covering [0, width) x [0, height).  Faces come
 * in descending score order.  Results do not depend on the thread count.
 *
 * One call at a time per engine: the engine's own worker threads do the
 * parallel work.  Use one engine per calling thread otherwise.
 */
#ifndef CUSTOS_FACE_H
#define CUSTOS_FACE_H

#include <stdbool.h>
#include <stddef.h>

#include "custos/error.h"
#include "custos/image.h"

#define CUSTOS_FACE_LANDMARKS 68       /* points per face */
#define CUSTOS_FACE_DESCRIPTOR_DIM 128 /* floats per descriptor */
#define CUSTOS_FACE_SAME_THRESHOLD 0.6 /* face-api's "same person" distance */
#define CUSTOS_FACE_MAX_THREADS 64     /* largest worker count accepted */

typedef enum custos_face_detector {
  CUSTOS_FACE_DETECTOR_SSD = 0, /* SSD MobileNet v1 at 512x512 (face-api's default) */
  CUSTOS_FACE_DETECTOR_TINY = 1 /* tiny face detector (TinyYolov2, separable convs) */
} custos_face_detector;

typedef enum custos_face_alignment {
  CUSTOS_FACE_ALIGN_REFERENCE = 0, /* face-api's crop, exactly */
  CUSTOS_FACE_ALIGN_SIMILARITY = 1 /* similarity transform to a canonical chip */
} custos_face_alignment;

typedef enum custos_face_backend {
  CUSTOS_FACE_BACKEND_ONEDNN = 0,   /* oneDNN primitives (fast) */
  CUSTOS_FACE_BACKEND_REFERENCE = 1 /* plain C loops (slow; for checks) */
} custos_face_backend;

/* Engine options; custos_face_options_init fills the defaults. */
typedef struct custos_face_options {
  custos_face_detector detector; /* default SSD */
  double min_score;              /* detection score threshold, 0 < s < 1; default 0.5 */
  custos_face_alignment align;   /* default REFERENCE */
  custos_face_backend backend;   /* default ONEDNN */
  int threads;                   /* worker threads, 1..CUSTOS_FACE_MAX_THREADS; default 1 */
  bool pad_fallback;             /* retry on a padded image when nothing is found; default true */
  int tiny_input_size;           /* tiny detector input, multiple of 32 in 32..1024; default 416 */
  int max_faces;                 /* most faces kept by SSD's NMS, 1..1000; default 100 */
} custos_face_options;

/* A box in image pixels; x, y is the top-left corner. */
typedef struct custos_face_box {
  double x;      /* px */
  double y;      /* px */
  double width;  /* px */
  double height; /* px */
} custos_face_box;

/* Quality numbers of one face. */
typedef struct custos_face_quality {
  double box_size;  /* the smaller side of the detection box, px */
  double sharpness; /* variance of the 4-neighbour Laplacian of the aligned 150x150 gray chip
                       (levels^2); -1 when no descriptor was computed */
  double score;     /* detection score, as custos_face.score */
} custos_face_quality;

/* One face. */
typedef struct custos_face {
  double score;                                 /* detection score, 0..1 */
  custos_face_box box;                          /* detection box, px */
  bool has_landmarks;                           /* landmarks, aligned_box, descriptor valid */
  double landmarks[CUSTOS_FACE_LANDMARKS][2];   /* (x, y) px, face-api's 68-point order */
  custos_face_box aligned_box;                  /* the crop the reference alignment takes (px,
                                                   integers); computed for both alignments */
  float descriptor[CUSTOS_FACE_DESCRIPTOR_DIM]; /* not normalised (length about 1.4) */
  custos_face_quality quality;
} custos_face;

/* The faces of one image. */
typedef struct custos_face_list {
  int width;          /* of the image, px */
  int height;         /* of the image, px */
  bool padded;        /* the faces were found by the pad fallback */
  size_t count;       /* number of faces */
  custos_face *faces; /* count faces, descending score; NULL when count is 0 */
} custos_face_list;

/* Fills *opts with the defaults above. */
CUSTOS_API void custos_face_options_init(custos_face_options *opts);

/* The models folder compiled into the library (the build's model folder); a
 * static string.  The face-api weights are in its "model" sub-folder or in
 * the folder itself. */
CUSTOS_API const char *custos_face_default_models_dir(void);

typedef struct custos_face_engine custos_face_engine;

/* Loads the models from models_dir (NULL: custos_face_default_models_dir();
 * either the folder holding the *-weights_manifest.json files or its parent
 * with a "model" sub-folder) and builds one set of networks per worker.
 * opts NULL means the defaults.  Errors: CUSTOS_EINVAL for a bad option
 * (message names it), CUSTOS_ENOENT when the folder or a model file is
 * missing, CUSTOS_EMODEL for a malformed model, CUSTOS_ENOMEM.  The caller
 * closes *out with custos_face_engine_close. */
CUSTOS_API int custos_face_engine_open(const char *models_dir, const custos_face_options *opts,
                                       custos_face_engine **out, custos_err *err);

/* Stops the workers and frees the engine; NULL-safe. */
CUSTOS_API void custos_face_engine_close(custos_face_engine *e);

/* The options the engine runs with (the engine owns them). */
CUSTOS_API const custos_face_options *custos_face_engine_options(const custos_face_engine *e);

/* Detects the faces of img: score and box of each, has_landmarks false.
 * *out is a new list the caller frees with custos_face_list_free.  An image
 * with no face gives CUSTOS_OK and an empty list. */
CUSTOS_API int custos_face_detect(custos_face_engine *e, const custos_image *img,
                                  custos_face_list **out, custos_err *err);

/* Detects, then adds landmarks, the descriptor and the quality of every face
 * (faces processed in parallel by the engine's workers). */
CUSTOS_API int custos_face_embed(custos_face_engine *e, const custos_image *img,
                                 custos_face_list **out, custos_err *err);

/* custos_face_detect (embed false) or custos_face_embed (embed true) of n
 * images at once, the images spread over the workers.  outs[i], rcs[i] and
 * errs[i] (errs may be NULL) receive each image's result; outs[i] is NULL
 * where rcs[i] is an error.  Returns CUSTOS_OK when every image succeeded,
 * else the first image's error code. */
CUSTOS_API int custos_face_embed_many(custos_face_engine *e, const custos_image *const *imgs,
                                      size_t n, bool embed, custos_face_list **outs, int *rcs,
                                      custos_err *errs);

/* Frees a list; NULL-safe. */
CUSTOS_API void custos_face_list_free(custos_face_list *list);

/* Index of the face whose box centre is nearest the image centre, -1 when
 * the list is empty (ties: the higher score). */
CUSTOS_API long custos_face_list_central(const custos_face_list *list);

/* Euclidean distance of two descriptors; face-api calls distances below
 * CUSTOS_FACE_SAME_THRESHOLD the same person. */
CUSTOS_API double custos_face_distance(const float a[CUSTOS_FACE_DESCRIPTOR_DIM],
                                       const float b[CUSTOS_FACE_DESCRIPTOR_DIM]);

/* Short names: "ssd", "tiny"; "reference", "similarity"; "onednn",
 * "reference".  The parsers return CUSTOS_EINVAL for other names. */
CUSTOS_API const char *custos_face_detector_name(custos_face_detector d);
CUSTOS_API const char *custos_face_alignment_name(custos_face_alignment a);
CUSTOS_API int custos_face_detector_parse(const char *name, custos_face_detector *out);
CUSTOS_API int custos_face_alignment_parse(const char *name, custos_face_alignment *out);

/*
 * Verification (LFW protocol).
 *
 * A pairs file is LFW's pairs.txt format: a first line "FOLDS<TAB>N" (N
 * same-person pairs then N different-person pairs per fold) or a single
 * number N (one set: pairsDevTrain.txt, pairsDevTest.txt); then one pair per
 * line, "name<TAB>i<TAB>j" (same person) or "name1<TAB>i<TAB>name2<TAB>j"
 * (different people), image i of a person being "<name>/<name>_<i:04>.jpg".
 * A single-set file is cut into 10 folds: the k-th tenth of its same pairs
 * and the k-th tenth of its different pairs make fold k.
 */
#define CUSTOS_VERIFY_MAX_PAIRS 100000 /* largest pairs file accepted (pairs) */
#define CUSTOS_VERIFY_FOLDS 10

typedef struct custos_verify_pair {
  char *a;   /* relative path of the first image, "<name>/<name>_0001.jpg" */
  char *b;   /* relative path of the second image */
  bool same; /* same person */
  int fold;  /* 0..CUSTOS_VERIFY_FOLDS-1 */
} custos_verify_pair;

typedef struct custos_verify_pairs {
  size_t count;              /* number of pairs */
  custos_verify_pair *pairs; /* count pairs in file order */
} custos_verify_pairs;

/* Reads a pairs file.  Errors name the line: CUSTOS_EINVAL for a malformed
 * line, CUSTOS_ETOOBIG beyond CUSTOS_VERIFY_MAX_PAIRS, CUSTOS_ENOENT.  The
 * caller frees *out with custos_verify_pairs_free. */
CUSTOS_API int custos_verify_pairs_load(const char *path, custos_verify_pairs **out,
                                        custos_err *err);
CUSTOS_API void custos_verify_pairs_free(custos_verify_pairs *p);

/* Figures of a verification run. */
typedef struct custos_verify_stats {
  size_t pairs;           /* pairs evaluated */
  size_t same_pairs;      /* of which same person */
  size_t missing_pairs;   /* pairs where a face was not found in one image or both */
  double kfold_mean;      /* 10-fold accuracy: each fold at the threshold best on the other nine */
  double kfold_sd;        /* its standard deviation over the folds (sample, n - 1) */
  double kfold_threshold; /* mean of the ten chosen thresholds */
  double fixed_threshold; /* the fixed threshold (CUSTOS_FACE_SAME_THRESHOLD) */
  double acc_fixed;       /* accuracy at fixed_threshold, missing pairs counted wrong */
  double acc_found;       /* accuracy at fixed_threshold over pairs with both faces found */
  double best_threshold;  /* threshold best on all pairs */
  double acc_best;        /* accuracy at best_threshold */
  double tar_far2;        /* true accept rate at false accept rate <= 1e-2 */
  double thr_far2;        /* its threshold */
  double tar_far3;        /* true accept rate at false accept rate <= 1e-3 */
  double thr_far3;        /* its threshold */
  double same_median;     /* median distance of same-person pairs found */
  double diff_median;     /* median distance of different-person pairs found */
} custos_verify_stats;

/* Computes the figures from distances: dist[i] the distance of pair i, or a
 * negative number when a face is missing (such a pair is counted wrong in
 * every accuracy and never accepted in TAR/FAR); same[i] and fold[i] (0..9)
 * as in the pairs file.  A pair is called "same" when its distance is below
 * the threshold.  CUSTOS_EINVAL when n is 0 or a fold is out of range. */
CUSTOS_API int custos_verify_compute(const double *dist, const bool *same, const int *fold,
                                     size_t n, double fixed_threshold, custos_verify_stats *out,
                                     custos_err *err);

#endif
