/*
 * img: the image module's internal interface.
 *
 * image.c is the public front (format detection, limits, the image object,
 * PPM output) and dispatches to one decoder per format: jpeg.c (libjpeg-turbo)
 * and png.c (libpng).  exif.c reads the EXIF orientation of a JPEG and turns
 * a decoded image upright; resize.c and warp.c are the resampling functions.
 * The unit tests call the functions below directly.
 */
#ifndef CUSTOS_IMG_IMG_H
#define CUSTOS_IMG_IMG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "custos/image.h"

/* The module name that goes into custos_err.module. */
#define CUSTOS__IMG_MODULE "img"

/* Most progressive (or multi-scan) JPEG scans decoded before giving up: a
 * valid file needs a few dozen; thousands of scans are a CPU bomb. */
#define CUSTOS__IMG_JPEG_MAX_SCANS 1000

/* A new image of width x height (both > 0) with pixels zeroed when `zero`,
 * else uninitialised.  No limits are applied beyond size_t overflow; the
 * caller has checked them.  Caller frees with custos_image_free. */
int custos__img_alloc(int width, int height, bool zero, custos_image **out, custos_err *err);

/* CUSTOS_OK when a width x height image fits `limits`, else
 * CUSTOS_EIMAGE_TOO_LARGE with "WxH" in the message. */
int custos__img_check_limits(uint64_t width, uint64_t height, const custos_image_limits *limits,
                             custos_err *err);

/* CUSTOS_OK when img is a usable source image (non-NULL, positive size,
 * pixels present), else CUSTOS_EINVAL naming `what`. */
int custos__img_check_src(const custos_image *img, const char *what, custos_err *err);

/* CUSTOS_OK when width x height is an acceptable size for a new image (the
 * default decoding limits), else CUSTOS_EINVAL naming `what`. */
int custos__img_check_size(int width, int height, const char *what, custos_err *err);

/* Names what `data` is when it is neither JPEG nor PNG ("GIF image", "empty
 * file", "text", "unrecognised data (first bytes 4a 46 ...)") into buf. */
void custos__img_describe(const uint8_t *data, size_t len, char *buf, size_t size);

/* Per-format probing and decoding; same contracts as custos_image_probe and
 * custos_image_decode (limits and info never NULL here, data is known to
 * start like the format). */
int custos__img_jpeg_probe(const uint8_t *data, size_t len, custos_image_info *info,
                           custos_err *err);
int custos__img_jpeg_decode(const uint8_t *data, size_t len, const custos_image_limits *limits,
                            custos_image **out, custos_image_info *info, custos_err *err);
int custos__img_png_probe(const uint8_t *data, size_t len, custos_image_info *info,
                          custos_err *err);
int custos__img_png_decode(const uint8_t *data, size_t len, const custos_image_limits *limits,
                           custos_image **out, custos_image_info *info, custos_err *err);

/* The orientation (1..8) in the payload of a JPEG APP1 segment (starting
 * with "Exif\0\0"); 1 when the segment is not EXIF, is malformed or has no
 * valid orientation tag.  Never reads outside data[0, len). */
int custos__img_exif_orientation(const uint8_t *data, size_t len);

/* The size of a width x height image after applying EXIF orientation o:
 * orientations 5..8 swap width and height. */
void custos__img_oriented_size(int orientation, int width, int height, int *owidth, int *oheight);

/* Turns img upright according to EXIF orientation 1..8 (1 does nothing),
 * replacing its pixels and, for 5..8, swapping its width and height.
 * On failure (CUSTOS_ENOMEM, CUSTOS_EINVAL) img is unchanged. */
int custos__img_orient(custos_image *img, int orientation, custos_err *err);

#endif
