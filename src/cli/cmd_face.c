/*
 * custos face detect|embed|compare: faces, landmarks and descriptors of
 * image files (CLI.md).  The models load once per process; images are
 * decoded and processed in small batches so that the engine's workers can
 * take several images (or several faces) at once, and the output keeps the
 * order of the arguments.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static cli_face_args args;

static const cli_opt face_opts[] = {CLI_FACE_OPTS(args), {NULL, NULL, NULL, NULL}};

int cli_face_options(const char *words, const cli_face_args *a, custos_face_options *o) {
  const char *opt_detector = a->detector, *opt_min_score = a->min_score, *opt_align = a->align,
             *opt_threads = a->threads, *opt_no_pad = a->no_pad;
  custos_face_options_init(o);
  if (opt_detector != NULL && custos_face_detector_parse(opt_detector, &o->detector) != CUSTOS_OK) {
    cli_error(words, "--detector: expected ssd or tiny", NULL);
    return CLI_USAGE;
  }
  if (opt_align != NULL && custos_face_alignment_parse(opt_align, &o->align) != CUSTOS_OK) {
    cli_error(words, "--align: expected reference or similarity", NULL);
    return CLI_USAGE;
  }
  if (opt_min_score != NULL) {
    char *end = NULL;
    const double s = strtod(opt_min_score, &end);
    if (end == opt_min_score || *end != '\0' || !(s > 0 && s < 1)) {
      cli_error(words, "--min-score: expected a number between 0 and 1 (exclusive)", NULL);
      return CLI_USAGE;
    }
    o->min_score = s;
  }
  if (opt_threads != NULL) {
    char *end = NULL;
    const long n = strtol(opt_threads, &end, 10);
    if (end == opt_threads || *end != '\0' || n < 1 || n > CUSTOS_FACE_MAX_THREADS) {
      char why[96];
      snprintf(why, sizeof why, "--threads: expected 1..%d", CUSTOS_FACE_MAX_THREADS);
      cli_error(words, why, NULL);
      return CLI_USAGE;
    }
    o->threads = (int)n;
  }
  o->pad_fallback = opt_no_pad == NULL;
  return CLI_OK;
}

int cli_face_open(const char *words, const cli_common *common, const custos_face_options *o,
                  custos_face_engine **e) {
  custos_err err;
  custos_err_clear(&err);
  const int rc = custos_face_engine_open(common->models, o, e, &err);
  if (rc != CUSTOS_OK) {
    char what[160];
    snprintf(what, sizeof what, "%s: models", words);
    cli_error(what, err.message[0] ? err.message : custos_strerror(rc),
              "pass --models DIR or set CUSTOS_MODELS (make models fetches them)");
    return cli_status_of(rc);
  }
  return CLI_OK;
}

/* A JSON number, or null for NaN and infinities (JSON has neither). */
static json_t *num(double v) {
  return isfinite(v) ? json_real(v) : json_null();
}

static json_t *box_json(const custos_face_box *b) {
  return json_pack("{s:o, s:o, s:o, s:o}", "x", num(b->x), "y", num(b->y), "width", num(b->width),
                   "height", num(b->height));
}

static json_t *list_json(const char *file, const custos_face_list *l, bool embed) {
  json_t *faces = json_array();
  for (size_t i = 0; i < l->count; i++) {
    const custos_face *f = &l->faces[i];
    json_t *o = json_pack("{s:o, s:o}", "score", num(f->score), "box", box_json(&f->box));
    if (embed) {
      json_t *lm = json_array();
      for (int k = 0; k < CUSTOS_FACE_LANDMARKS; k++) {
        json_array_append_new(
            lm, json_pack("[o, o]", num(f->landmarks[k][0]), num(f->landmarks[k][1])));
      }
      json_t *d = json_array();
      for (int k = 0; k < CUSTOS_FACE_DESCRIPTOR_DIM; k++) {
        json_array_append_new(d, num((double)f->descriptor[k]));
      }
      json_object_set_new(o, "landmarks", lm);
      json_object_set_new(o, "descriptor", d);
      json_object_set_new(o, "aligned_box", box_json(&f->aligned_box));
      json_object_set_new(o, "quality",
                          json_pack("{s:o, s:o}", "box_size", num(f->quality.box_size), "sharpness",
                                    num(f->quality.sharpness)));
    } else {
      json_object_set_new(o, "quality", json_pack("{s:o}", "box_size", num(f->quality.box_size)));
    }
    json_array_append_new(faces, o);
  }
  json_t *doc = json_pack("{s:s, s:i, s:i}", "file", file, "width", l->width, "height", l->height);
  if (l->padded) json_object_set_new(doc, "padded", json_true());
  json_object_set_new(doc, "faces", faces);
  return doc;
}

static void print_human(const char *file, const custos_face_list *l, bool embed) {
  printf("%s: %dx%d, %zu face%s%s\n", file, l->width, l->height, l->count, l->count == 1 ? "" : "s",
         l->padded ? " (found on the padded image)" : "");
  for (size_t i = 0; i < l->count; i++) {
    const custos_face *f = &l->faces[i];
    printf("  face %zu: score %.3f, box x %.1f y %.1f, %.1f x %.1f px", i + 1, f->score, f->box.x,
           f->box.y, f->box.width, f->box.height);
    if (embed) printf(", sharpness %.0f", f->quality.sharpness);
    printf("\n");
  }
}

/* Images per batch handed to the engine. */
static size_t batch_size(const custos_face_options *o) {
  return (size_t)(o->threads < 2 ? 1 : 2 * o->threads);
}

static int run_images(const cli_cmd *cmd, cli_common *common, int argc, char **argv, bool embed) {
  custos_face_options o;
  int status = cli_face_options(cmd->words, &args, &o);
  if (status != CLI_OK) return status;
  custos_face_engine *e = NULL;
  status = cli_face_open(cmd->words, common, &o, &e);
  if (status != CLI_OK) return status;
  const size_t bs = batch_size(&o);
  custos_image **imgs = calloc(bs, sizeof *imgs);
  custos_face_list **outs = calloc(bs, sizeof *outs);
  int *rcs = calloc(bs, sizeof *rcs);
  custos_err *errs = calloc(bs, sizeof *errs);
  int *idx = calloc(bs, sizeof *idx);
  if (!imgs || !outs || !rcs || !errs || !idx) {
    cli_error(cmd->words, "out of memory", NULL);
    status = CLI_INTERNAL;
    goto out;
  }
  for (int start = 0; start < argc;) {
    size_t n = 0;
    int i = start;
    for (; i < argc && n < bs; i++) {
      custos_err err;
      custos_err_clear(&err);
      custos_image *img = NULL;
      const int rc = custos_image_decode_file(argv[i], NULL, &img, NULL, &err);
      if (rc != CUSTOS_OK) {
        /* Keep the output in argument order: flush what came before. */
        if (n > 0) break;
        const int s = cli_fail(argv[i], rc, &err);
        if (status == CLI_OK) status = s;
        start = i + 1;
        continue;
      }
      imgs[n] = img;
      idx[n] = i;
      n++;
    }
    if (n == 0) continue;
    custos_face_embed_many(e, (const custos_image *const *)imgs, n, embed, outs, rcs, errs);
    for (size_t k = 0; k < n; k++) {
      const char *file = argv[idx[k]];
      if (rcs[k] != CUSTOS_OK) {
        const int s = cli_fail(file, rcs[k], &errs[k]);
        if (status == CLI_OK) status = s;
      } else if (common->json) {
        cli_print_json(list_json(file, outs[k], embed));
      } else {
        print_human(file, outs[k], embed);
        fflush(stdout);
      }
      custos_face_list_free(outs[k]);
      outs[k] = NULL;
      custos_image_free(imgs[k]);
      imgs[k] = NULL;
    }
    start = idx[n - 1] + 1;
  }
out:
  free(imgs);
  free(outs);
  free(rcs);
  free(errs);
  free(idx);
  custos_face_engine_close(e);
  return status;
}

static int run_detect(const cli_cmd *cmd, cli_common *common, int argc, char **argv) {
  return run_images(cmd, common, argc, argv, false);
}

static int run_embed(const cli_cmd *cmd, cli_common *common, int argc, char **argv) {
  return run_images(cmd, common, argc, argv, true);
}

static int run_compare(const cli_cmd *cmd, cli_common *common, int argc, char **argv) {
  (void)argc;
  custos_face_options o;
  int status = cli_face_options(cmd->words, &args, &o);
  if (status != CLI_OK) return status;
  custos_image *imgs[2] = {NULL, NULL};
  custos_face_list *outs[2] = {NULL, NULL};
  custos_face_engine *e = NULL;
  for (int i = 0; i < 2; i++) {
    custos_err err;
    custos_err_clear(&err);
    const int rc = custos_image_decode_file(argv[i], NULL, &imgs[i], NULL, &err);
    if (rc != CUSTOS_OK) {
      status = cli_fail(argv[i], rc, &err);
      goto out;
    }
  }
  status = cli_face_open(cmd->words, common, &o, &e);
  if (status != CLI_OK) goto out;
  int rcs[2];
  custos_err errs[2];
  custos_face_embed_many(e, (const custos_image *const *)imgs, 2, true, outs, rcs, errs);
  for (int i = 0; i < 2; i++) {
    if (rcs[i] != CUSTOS_OK) {
      status = cli_fail(argv[i], rcs[i], &errs[i]);
      goto out;
    }
    if (outs[i]->count == 0) {
      cli_error(argv[i], "no face found", "try --detector tiny or a lower --min-score");
      status = CLI_REFUSED;
      goto out;
    }
  }
  /* The most confident face of each image. */
  const double d = custos_face_distance(outs[0]->faces[0].descriptor, outs[1]->faces[0].descriptor);
  const bool same = d < CUSTOS_FACE_SAME_THRESHOLD;
  if (common->json) {
    cli_print_json(json_pack("{s:f, s:f, s:b}", "distance", d, "threshold",
                             CUSTOS_FACE_SAME_THRESHOLD, "same", same));
  } else {
    printf("distance %.4f: %s (threshold %.2f)\n", d, same ? "same person" : "different people",
           CUSTOS_FACE_SAME_THRESHOLD);
  }
out:
  for (int i = 0; i < 2; i++) {
    custos_face_list_free(outs[i]);
    custos_image_free(imgs[i]);
  }
  custos_face_engine_close(e);
  return status;
}

const cli_cmd cli_face_cmds[] = {
    {"face detect", "IMAGE...", "find faces: box and score of each",
     "Runs the face detector (face-api's SSD MobileNet v1 by default) on each image and\n"
     "prints each face's box {x, y, width, height} in image pixels and its score, faces\n"
     "in descending score order.  When nothing is found, the image is tried again inside\n"
     "a black border of half, then one, then two times its size (tightly framed photos);\n"
     "--no-pad turns that off.\n"
     "With --json, one JSON document per image and line, each with a \"file\" key.  An\n"
     "image that cannot be decoded is reported on stderr and the others go on (exit 3).",
     1, -1, face_opts, run_detect},
    {"face embed", "IMAGE...", "faces with 68 landmarks and a 128-d descriptor",
     "As 'face detect', plus each face's 68 landmarks ([x, y] in image pixels), its\n"
     "128-float descriptor and quality numbers (box size, sharpness of the aligned chip).\n"
     "--align reference reproduces face-api's crop exactly; similarity rotates and\n"
     "scales the face onto a canonical 150x150 chip (docs/face.md).",
     1, -1, face_opts, run_embed},
    {"face compare", "IMAGE_A IMAGE_B", "distance between the main faces of two images",
     "Embeds the most confident face of each image and prints the Euclidean distance of\n"
     "their descriptors; below 0.6 face-api calls them the same person.  With --json:\n"
     "{\"distance\": d, \"threshold\": 0.6, \"same\": bool}.  An image without a face exits 3.",
     2, 2, face_opts, run_compare},
    {NULL, NULL, NULL, NULL, 0, 0, NULL, NULL},
};
