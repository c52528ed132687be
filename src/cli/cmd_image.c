/*
 * custos image info|convert: what an image file holds, and its decoded,
 * upright RGB pixels as a binary PPM (reference tools and tests compare
 * pixels through it).
 */
#include <string.h>

#include "cli.h"

static void print_info_json(const char *file, const custos_image_info *info) {
  cli_print_json(json_pack("{s:s, s:s, s:i, s:i, s:i, s:i, s:s, s:i}", "file", file, "format",
                        custos_image_format_name(info->format), "width", info->width, "height",
                        info->height, "channels", info->channels, "bit_depth", info->bit_depth,
                        "color", info->color ? info->color : "unknown", "orientation",
                        info->orientation));
}

static int run_info(const cli_cmd *cmd, cli_common *common, int argc, char **argv) {
  (void)cmd;
  int status = CLI_OK;
  for (int i = 0; i < argc; i++) {
    custos_err err;
    custos_err_clear(&err);
    custos_image *img = NULL;
    custos_image_info info;
    /* Decode it all: a file whose header is fine but whose data is broken is
     * not a usable image. */
    int rc = custos_image_decode_file(argv[i], NULL, &img, &info, &err);
    custos_image_free(img);
    if (rc != CUSTOS_OK) {
      int s = cli_fail("image info", rc, &err);
      if (status == CLI_OK) status = s;
      continue;
    }
    if (common->json) {
      print_info_json(argv[i], &info);
    } else {
      printf("%s: %s %dx%d, %d channel%s (%s), %d-bit, orientation %d\n", argv[i],
             custos_image_format_name(info.format), info.width, info.height, info.channels,
             info.channels == 1 ? "" : "s", info.color ? info.color : "unknown", info.bit_depth,
             info.orientation);
    }
    fflush(stdout);
  }
  return status;
}

static int run_convert(const cli_cmd *cmd, cli_common *common, int argc, char **argv) {
  (void)cmd;
  (void)argc;
  custos_err err;
  custos_err_clear(&err);
  custos_image *img = NULL;
  custos_image_info info;
  int rc = custos_image_decode_file(argv[0], NULL, &img, &info, &err);
  if (rc != CUSTOS_OK) return cli_fail("image convert", rc, &err);
  rc = custos_image_write_ppm(img, argv[1], &err);
  int status = rc == CUSTOS_OK ? CLI_OK : cli_fail("image convert", rc, &err);
  if (rc == CUSTOS_OK && common->json) {
    cli_print_json(json_pack("{s:s, s:s, s:i, s:i}", "file", argv[0], "out", argv[1], "width",
                             img->width, "height", img->height));
  }
  custos_image_free(img);
  return status;
}

const cli_cmd cli_image_cmds[] = {
    {"image info", "FILE...", "format, size, channels and orientation of image files",
     "Decodes each file completely (JPEG or PNG) and prints its format, upright width and\n"
     "height, channels in the file, bit depth, colour type and EXIF orientation.  With\n"
     "several files and --json, one JSON document per line.  A file that cannot be\n"
     "decoded exits 3 with one line on stderr saying why.",
     1, -1, NULL, run_info},
    {"image convert", "FILE OUT.ppm", "write an image's decoded RGB pixels as a binary PPM",
     "The pixels are upright (EXIF orientation applied).  For a JPEG without\n"
     "orientation the output equals `djpeg -ppm` byte for byte.",
     2, 2, NULL, run_convert},
    {NULL, NULL, NULL, NULL, 0, 0, NULL, NULL},
};
