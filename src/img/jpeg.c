/*
 * JPEG decoding with the libjpeg API of libjpeg-turbo.
 *
 * The decoder runs with libjpeg's defaults (accurate integer IDCT, fancy
 * upsampling, block smoothing), so its RGB output equals `djpeg -ppm` byte
 * for byte.  Around libjpeg it adds what a server that takes images from
 * strangers needs:
 *
 *  - errors: a custom error manager longjmps back instead of exiting, and
 *    turns the "corrupt data" warnings (premature end of file, bad Huffman
 *    code, hit marker, resync, extraneous bytes, bogus progression) into
 *    CUSTOS_EIMAGE_CORRUPT, so a truncated file is an error, never a picture
 *    whose missing part is grey.  A JPEG must be intact up to its EOI marker;
 *    bytes after EOI are ignored.
 *  - limits: the dimensions from the frame header (after EXIF orientation)
 *    are checked before jpeg_start_decompress allocates anything large; a
 *    file whose header is readable but whose data is missing still reports
 *    CUSTOS_EIMAGE_TOO_LARGE when its claimed size is over the limits.
 *  - CPU and memory bombs: a progress monitor stops after
 *    CUSTOS__IMG_JPEG_MAX_SCANS scans, and max_memory_to_use caps libjpeg's
 *    whole-image coefficient buffers at what the frame header implies.
 *  - colour: grayscale is replicated to RGB; CMYK and YCCK are decoded to
 *    CMYK by libjpeg and converted here.  Files with an Adobe APP14 marker
 *    store inverted CMYK (Photoshop's convention), so R = C * K / 255 with
 *    the stored values; without it, R = (255 - C) * (255 - K) / 255.  Both
 *    round to nearest.
 *  - orientation: APP1 segments are kept (jpeg_save_markers), the first EXIF
 *    one gives the orientation, and the decoded image is turned upright.
 *
 * All libjpeg state lives in a struct owned by the caller of the function
 * that calls setjmp, so nothing is clobbered by the longjmp.
 */
#include <limits.h>
#include <setjmp.h>
#include <stdio.h> /* jpeglib.h needs FILE and size_t */
#include <string.h>

/* jpeglib.h first: jerror.h's list depends on jconfig.h, which it includes. */
#include <jpeglib.h>

#include <jerror.h>

#include "img/img.h"
#include "util/util.h"

/* Extra memory allowed to libjpeg beyond the coefficient buffers. */
#define JPEG_MEMORY_SLACK ((uint64_t)64 << 20)

/* Rows handed to one jpeg_read_scanlines call. */
#define JPEG_ROWS_PER_CALL 16

typedef struct jpeg_errmgr {
  struct jpeg_error_mgr pub; /* libjpeg's part; first, libjpeg casts to it */
  jmp_buf jmp;               /* where errors and corrupt-data warnings return to */
  int code;                  /* CUSTOS_E... code of the failure */
  char msg[JMSG_LENGTH_MAX]; /* libjpeg's message for it */
} jpeg_errmgr;

typedef enum jpeg_stage {
  STAGE_START = 0,  /* creating the decompressor */
  STAGE_HEADER = 1, /* reading the markers up to the first scan */
  STAGE_DECODE = 2  /* header accepted; decoding pixels */
} jpeg_stage;

typedef struct jpeg_ctx {
  struct jpeg_decompress_struct cinfo; /* libjpeg's decompressor */
  jpeg_errmgr jerr;                    /* its error manager */
  struct jpeg_progress_mgr progress;   /* scan-count guard */
  bool created;                        /* cinfo needs jpeg_destroy_decompress */
  bool jumped;                         /* libjpeg failed: see jerr.code, jerr.msg */
  jpeg_stage stage;                    /* how far decoding got */
  const uint8_t *data;                 /* the encoded file */
  size_t len;                          /* its length in bytes */
  const custos_image_limits *limits;   /* NULL when only probing */
  custos_image_info *info;             /* filled once the header is read */
  custos_image *img;                   /* decoded pixels, stored orientation */
  uint8_t *row;                        /* one CMYK row, when converting */
  custos_err *err;                     /* where detail goes */
} jpeg_ctx;

/* Warnings that mean the entropy-coded data is damaged or missing. */
static bool is_corrupt_warning(int code) {
  switch (code) {
    case JWRN_ARITH_BAD_CODE:
    case JWRN_BOGUS_PROGRESSION:
    case JWRN_EXTRANEOUS_DATA:
    case JWRN_HIT_MARKER:
    case JWRN_HUFF_BAD_CODE:
    case JWRN_JPEG_EOF:
    case JWRN_MUST_RESYNC:
    case JWRN_NOT_SEQUENTIAL:
      return true;
    default:
      return false;
  }
}

static int code_for_error(int msg_code) {
  switch (msg_code) {
    case JERR_OUT_OF_MEMORY:
      return CUSTOS_ENOMEM;
    case JERR_NO_BACKING_STORE: /* over max_memory_to_use */
    case JERR_IMAGE_TOO_BIG:
    case JERR_WIDTH_OVERFLOW:
      return CUSTOS_EIMAGE_TOO_LARGE;
    case JERR_BAD_PRECISION: /* 12- or 16-bit samples */
    case JERR_SOF_UNSUPPORTED:
    case JERR_CONVERSION_NOTIMPL:
    case JERR_NOT_COMPILED:
      return CUSTOS_EIMAGE_FORMAT;
    default:
      return CUSTOS_EIMAGE_CORRUPT;
  }
}

static void on_error(j_common_ptr cinfo) {
  jpeg_errmgr *e = (jpeg_errmgr *)cinfo->err;
  e->code = code_for_error(e->pub.msg_code);
  if (e->pub.msg_code == JERR_NO_BACKING_STORE) {
    snprintf(e->msg, sizeof e->msg, "needs more than the %ld MB of working memory allowed",
             cinfo->mem->max_memory_to_use >> 20);
  } else {
    (*cinfo->err->format_message)(cinfo, e->msg);
  }
  longjmp(e->jmp, 1);
}

static void on_message(j_common_ptr cinfo, int level) {
  jpeg_errmgr *e = (jpeg_errmgr *)cinfo->err;
  if (level >= 0) return; /* trace messages */
  e->pub.num_warnings++;
  if (!is_corrupt_warning(e->pub.msg_code)) return; /* e.g. an unknown JFIF revision */
  e->code = CUSTOS_EIMAGE_CORRUPT;
  (*cinfo->err->format_message)(cinfo, e->msg);
  longjmp(e->jmp, 1);
}

static void on_output(j_common_ptr cinfo) {
  (void)cinfo; /* never print */
}

static void on_progress(j_common_ptr cinfo) {
  j_decompress_ptr d = (j_decompress_ptr)cinfo;
  if (d->input_scan_number > CUSTOS__IMG_JPEG_MAX_SCANS) {
    jpeg_errmgr *e = (jpeg_errmgr *)cinfo->err;
    e->code = CUSTOS_EIMAGE_CORRUPT;
    snprintf(e->msg, sizeof e->msg, "more than %d scans", CUSTOS__IMG_JPEG_MAX_SCANS);
    longjmp(e->jmp, 1);
  }
}

static const char *color_name(J_COLOR_SPACE cs) {
  switch (cs) {
    case JCS_GRAYSCALE:
      return "gray";
    case JCS_RGB:
      return "rgb";
    case JCS_YCbCr:
      return "ycbcr";
    case JCS_CMYK:
      return "cmyk";
    case JCS_YCCK:
      return "ycck";
    default:
      return "unknown";
  }
}

static int exif_orientation(j_decompress_ptr cinfo) {
  for (jpeg_saved_marker_ptr m = cinfo->marker_list; m != NULL; m = m->next) {
    if (m->marker != JPEG_APP0 + 1 || m->data_length < 6) continue;
    if (memcmp(m->data, "Exif\0", 5) != 0) continue;
    return custos__img_exif_orientation(m->data, m->data_length);
  }
  return 1;
}

/* Fills c->info from what the header gave so far. */
static void fill_info(jpeg_ctx *c) {
  j_decompress_ptr ci = &c->cinfo;
  custos_image_info *info = c->info;
  info->format = CUSTOS_IMAGE_JPEG;
  info->orientation = exif_orientation(ci);
  int w = ci->image_width > INT_MAX ? INT_MAX : (int)ci->image_width;
  int h = ci->image_height > INT_MAX ? INT_MAX : (int)ci->image_height;
  custos__img_oriented_size(info->orientation, w, h, &info->width, &info->height);
  info->channels = ci->num_components;
  info->bit_depth = ci->data_precision;
  info->color = color_name(ci->jpeg_color_space);
}

/* The largest memory libjpeg may need: the whole-image coefficient buffers
 * of a multi-scan file, the saved markers (bounded by the file) and slack. */
static long memory_budget(jpeg_ctx *c) {
  j_decompress_ptr ci = &c->cinfo;
  uint64_t total = JPEG_MEMORY_SLACK + (uint64_t)c->len;
  for (int i = 0; i < ci->num_components; i++) {
    const jpeg_component_info *comp = &ci->comp_info[i];
    uint64_t blocks = ((uint64_t)comp->width_in_blocks + (uint64_t)comp->h_samp_factor) *
                      ((uint64_t)comp->height_in_blocks + (uint64_t)comp->v_samp_factor);
    total += blocks * (uint64_t)sizeof(JBLOCK);
  }
  return total > (uint64_t)LONG_MAX ? LONG_MAX : (long)total;
}

static void cmyk_to_rgb(const uint8_t *in, uint8_t *out, JDIMENSION width, bool adobe) {
  for (JDIMENSION x = 0; x < width; x++, in += 4, out += 3) {
    unsigned c = in[0], m = in[1], y = in[2], k = in[3];
    if (!adobe) {
      c = 255 - c;
      m = 255 - m;
      y = 255 - y;
      k = 255 - k;
    }
    out[0] = (uint8_t)((c * k + 127) / 255);
    out[1] = (uint8_t)((m * k + 127) / 255);
    out[2] = (uint8_t)((y * k + 127) / 255);
  }
}

/* Everything that calls into libjpeg.  Returns CUSTOS_OK, an error already
 * put into c->err, or (after a longjmp) c->jerr.code with c->jerr.msg. */
static int jpeg_run(jpeg_ctx *c) {
  j_decompress_ptr ci = &c->cinfo;
  ci->err = jpeg_std_error(&c->jerr.pub);
  c->jerr.pub.error_exit = on_error;
  c->jerr.pub.emit_message = on_message;
  c->jerr.pub.output_message = on_output;
  if (setjmp(c->jerr.jmp)) {
    c->jumped = true;
    return c->jerr.code;
  }

  /* Before the call: creation may fail half-way, and destroying a zeroed or
   * partly created struct is safe (it checks cinfo->mem). */
  c->created = true;
  jpeg_create_decompress(ci);
  c->progress.progress_monitor = on_progress;
  ci->progress = &c->progress;
  jpeg_mem_src(ci, c->data, (unsigned long)c->len);
  jpeg_save_markers(ci, JPEG_APP0 + 1, 0xffff);
  c->stage = STAGE_HEADER;
  jpeg_read_header(ci, TRUE);
  fill_info(c);
  if (c->limits == NULL) return CUSTOS_OK; /* probing */

  int rc = custos__img_check_limits((uint64_t)c->info->width, (uint64_t)c->info->height, c->limits,
                                    c->err);
  if (rc != CUSTOS_OK) return rc;
  bool cmyk = false;
  switch (ci->jpeg_color_space) {
    case JCS_GRAYSCALE:
    case JCS_RGB:
    case JCS_YCbCr:
      ci->out_color_space = JCS_RGB;
      break;
    case JCS_CMYK:
    case JCS_YCCK:
      ci->out_color_space = JCS_CMYK;
      cmyk = true;
      break;
    default:
      return custos__err(c->err, CUSTOS_EIMAGE_FORMAT, CUSTOS__IMG_MODULE,
                         "JPEG with %d components in an unknown colour space is not supported",
                         ci->num_components);
  }
  ci->mem->max_memory_to_use = memory_budget(c);
  c->stage = STAGE_DECODE;
  jpeg_start_decompress(ci);

  const JDIMENSION w = ci->output_width, h = ci->output_height;
  if (w != ci->image_width || h != ci->image_height || ci->output_components != (cmyk ? 4 : 3)) {
    return custos__err(c->err, CUSTOS_EINTERNAL, CUSTOS__IMG_MODULE,
                       "libjpeg output %ux%ux%d differs from the header", w, h,
                       ci->output_components);
  }
  rc = custos__img_alloc((int)w, (int)h, false, &c->img, c->err);
  if (rc != CUSTOS_OK) return rc;
  const size_t stride = (size_t)w * 3;
  if (!cmyk) {
    while (ci->output_scanline < h) {
      JSAMPROW rows[JPEG_ROWS_PER_CALL];
      JDIMENSION want = h - ci->output_scanline;
      if (want > JPEG_ROWS_PER_CALL) want = JPEG_ROWS_PER_CALL;
      for (JDIMENSION k = 0; k < want; k++) {
        rows[k] = c->img->rgb + (size_t)(ci->output_scanline + k) * stride;
      }
      if (jpeg_read_scanlines(ci, rows, want) == 0) goto stalled;
    }
  } else {
    c->row = custos__mallocarray((size_t)w, 4);
    if (c->row == NULL) {
      return custos__err(c->err, CUSTOS_ENOMEM, CUSTOS__IMG_MODULE, "out of memory for a JPEG row");
    }
    const bool adobe = ci->saw_Adobe_marker;
    while (ci->output_scanline < h) {
      JSAMPROW row = c->row;
      JDIMENSION y = ci->output_scanline;
      if (jpeg_read_scanlines(ci, &row, 1) != 1) goto stalled;
      cmyk_to_rgb(c->row, c->img->rgb + (size_t)y * stride, w, adobe);
    }
  }
  jpeg_finish_decompress(ci);
  return CUSTOS_OK;
stalled:
  /* Only a suspending data source returns no rows; jpeg_mem_src never does. */
  return custos__err(c->err, CUSTOS_EINTERNAL, CUSTOS__IMG_MODULE, "libjpeg returned no rows");
}

/* Runs the decoder and turns a libjpeg failure into a custos error. */
static int jpeg_go(jpeg_ctx *c) {
  int rc = jpeg_run(c);
  if (!c->jumped) return rc; /* ok, or the detail is already in c->err */
  /* A header that is readable as far as its frame but broken after it: the
   * claimed size is known, and "too large" is the more useful answer. */
  if (c->limits != NULL && c->stage == STAGE_HEADER && c->cinfo.image_width > 0 &&
      c->cinfo.image_height > 0) {
    fill_info(c);
    int lrc = custos__img_check_limits((uint64_t)c->info->width, (uint64_t)c->info->height,
                                       c->limits, c->err);
    if (lrc != CUSTOS_OK) return lrc;
  }
  const char *what = rc == CUSTOS_EIMAGE_FORMAT ? "unsupported JPEG" : "JPEG";
  return custos__err(c->err, rc, CUSTOS__IMG_MODULE, "%s: %s", what, c->jerr.msg);
}

static void jpeg_ctx_init(jpeg_ctx *c, const uint8_t *data, size_t len,
                          const custos_image_limits *limits, custos_image_info *info,
                          custos_err *err) {
  memset(c, 0, sizeof *c);
  c->data = data;
  c->len = len;
  c->limits = limits;
  c->info = info;
  c->err = err;
}

static void jpeg_ctx_free(jpeg_ctx *c) {
  if (c->created) jpeg_destroy_decompress(&c->cinfo);
  custos__free(c->row);
  custos_image_free(c->img);
}

int custos__img_jpeg_probe(const uint8_t *data, size_t len, custos_image_info *info,
                           custos_err *err) {
  jpeg_ctx c;
  jpeg_ctx_init(&c, data, len, NULL, info, err);
  int rc = jpeg_go(&c);
  jpeg_ctx_free(&c);
  return rc;
}

int custos__img_jpeg_decode(const uint8_t *data, size_t len, const custos_image_limits *limits,
                            custos_image **out, custos_image_info *info, custos_err *err) {
  jpeg_ctx c;
  jpeg_ctx_init(&c, data, len, limits, info, err);
  int rc = jpeg_go(&c);
  if (rc == CUSTOS_OK) rc = custos__img_orient(c.img, info->orientation, err);
  if (rc == CUSTOS_OK) {
    *out = c.img;
    c.img = NULL;
  }
  jpeg_ctx_free(&c);
  return rc;
}
