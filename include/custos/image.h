/*
 * Images: decoding JPEG and PNG to 8-bit RGB, resizing and affine warps.
 *
 * Decoding checks the dimensions in the file's header against limits before
 * any pixel is decoded, converts every colour type (grayscale, palette, alpha,
 * CMYK, 16-bit) to 8-bit RGB and applies a JPEG's EXIF orientation, so the
 * result is upright as a viewer would show it.  A truncated or corrupt file is
 * an error, never a partly decoded image.
 *
 * Coordinates: pixel (x, y) is column x, row y; its centre is at the
 * continuous coordinate (x + 0.5, y + 0.5), and the image covers
 * [0, width) x [0, height).  See custos_image_resize and custos_image_warp for
 * how they sample.
 */
#ifndef CUSTOS_IMAGE_H
#define CUSTOS_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "custos/error.h"

typedef enum custos_image_format {
  CUSTOS_IMAGE_UNKNOWN = 0,
  CUSTOS_IMAGE_JPEG = 1,
  CUSTOS_IMAGE_PNG = 2
} custos_image_format;

/* An 8-bit RGB image, rows top to bottom, pixels left to right, 3 bytes each. */
typedef struct custos_image {
  int width;          /* pixels, > 0 */
  int height;         /* pixels, > 0 */
  uint8_t *rgb;       /* width * height * 3 bytes, owned by the image */
} custos_image;

/* What the header of an image file says. */
typedef struct custos_image_info {
  custos_image_format format; /* JPEG or PNG */
  int width;                  /* pixels, after EXIF orientation */
  int height;                 /* pixels, after EXIF orientation */
  int channels;               /* in the file: 1 gray or palette, 2 gray+alpha, 3 RGB/YCbCr,
                                 4 RGBA/CMYK/YCCK */
  int bit_depth;              /* bits per channel in the file: 8 or 16 (PNG also 1, 2, 4) */
  int orientation;            /* EXIF orientation 1..8; 1 when absent or not a JPEG */
  const char *color;          /* static: "gray", "gray+alpha", "rgb", "rgba", "palette",
                                 "ycbcr", "cmyk", "ycck" */
} custos_image_info;

/* Decoding limits; both are checked from the header, before decoding. */
typedef struct custos_image_limits {
  uint64_t max_pixels; /* width * height; default 40,000,000 */
  int max_side;        /* largest width or height; default 20,000 */
} custos_image_limits;

#define CUSTOS_IMAGE_DEFAULT_MAX_PIXELS 40000000u
#define CUSTOS_IMAGE_DEFAULT_MAX_SIDE 20000

/* Largest encoded file custos_image_decode_file reads (bytes). */
#define CUSTOS_IMAGE_MAX_FILE_BYTES ((size_t)256 << 20)

/* Reads only the header of an encoded image in memory.  Returns
 * CUSTOS_EIMAGE_FORMAT when the bytes are neither JPEG nor PNG (the message
 * names what was found), CUSTOS_EIMAGE_CORRUPT when the header is broken. */
CUSTOS_API int custos_image_probe(const void *data, size_t len, custos_image_info *info,
                                  custos_err *err);

/* Decodes an encoded image in memory to RGB.  limits NULL means the defaults.
 * On success *out is a new image the caller frees with custos_image_free, and
 * *info (when not NULL) is filled.  Errors: CUSTOS_EIMAGE_FORMAT,
 * CUSTOS_EIMAGE_CORRUPT, CUSTOS_EIMAGE_TOO_LARGE (message gives the
 * dimensions), CUSTOS_ENOMEM; *out is then NULL, and *info holds what the
 * header said when it could be read.  PNG alpha is composited onto white;
 * CMYK and YCCK JPEGs are converted without a colour profile (docs/images.md). */
CUSTOS_API int custos_image_decode(const void *data, size_t len,
                                   const custos_image_limits *limits, custos_image **out,
                                   custos_image_info *info, custos_err *err);

/* Same, reading the file at path (at most CUSTOS_IMAGE_MAX_FILE_BYTES). */
CUSTOS_API int custos_image_decode_file(const char *path, const custos_image_limits *limits,
                                        custos_image **out, custos_image_info *info,
                                        custos_err *err);

/* A new image of the given size, pixels zeroed.  Caller frees. */
CUSTOS_API int custos_image_new(int width, int height, custos_image **out, custos_err *err);

/* Frees an image; NULL-safe. */
CUSTOS_API void custos_image_free(custos_image *img);

/* Writes img as a binary PPM (P6, maxval 255), atomically. */
CUSTOS_API int custos_image_write_ppm(const custos_image *img, const char *path, custos_err *err);

/* Short name of a format: "jpeg", "png", "unknown". */
CUSTOS_API const char *custos_image_format_name(custos_image_format f);

/*
 * Sampling convention of a resize.
 *  HALF_PIXEL: pixel centres map to pixel centres:
 *     src = (dst + 0.5) * (src_size / dst_size) - 0.5    (OpenCV, PIL, TF2 default)
 *  ASYMMETRIC: pixel corners at the origin map to each other:
 *     src = dst * (src_size / dst_size)                  (tfjs resizeBilinear with
 *                                                          alignCorners = false)
 * Source coordinates are clamped to [0, size - 1] before interpolating.
 */
typedef enum custos_resize_mode {
  CUSTOS_RESIZE_HALF_PIXEL = 0,
  CUSTOS_RESIZE_ASYMMETRIC = 1
} custos_resize_mode;

/* Bilinear resize of src to width x height; *out is a new image (caller frees). */
CUSTOS_API int custos_image_resize(const custos_image *src, int width, int height,
                                   custos_resize_mode mode, custos_image **out, custos_err *err);

/* Same, writing float channels (0..255, unrounded) into out[height][width][3],
 * which the caller provides: the form networks take as input. */
CUSTOS_API int custos_image_resize_f32(const custos_image *src, int width, int height,
                                       custos_resize_mode mode, float *out, custos_err *err);

/*
 * Affine warp.  m is the 2x3 matrix that maps a destination point to the
 * source, in continuous coordinates (pixel centres at +0.5):
 *     sx = m[0] * dx + m[1] * dy + m[2]
 *     sy = m[3] * dx + m[4] * dy + m[5]
 * Each destination pixel (x, y) takes the bilinear sample of the source at
 * the image of its centre (x + 0.5, y + 0.5), minus 0.5 to index source
 * pixels.  Samples outside the source use `fill` (R, G, B) for the missing
 * neighbours.  custos_image_affine_invert inverts such a matrix.
 */
CUSTOS_API int custos_image_warp(const custos_image *src, const double m[6], int width,
                                 int height, const uint8_t fill[3], custos_image **out,
                                 custos_err *err);
CUSTOS_API int custos_image_warp_f32(const custos_image *src, const double m[6], int width,
                                     int height, const uint8_t fill[3], float *out,
                                     custos_err *err);
CUSTOS_API int custos_image_affine_invert(const double m[6], double inv[6], custos_err *err);

#endif
