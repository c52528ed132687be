/*
 * Image decoding benchmark: custos_image_decode against the TurboJPEG API of
 * the same libjpeg-turbo (tjDecompress2 to RGB, accurate DCT, fancy
 * upsampling) on the same files in memory.  The difference is custos's own
 * work: header checks and limits, EXIF orientation, corrupt-data detection.
 *
 * usage: bench_image [--runs N] FILE...
 * Prints a line per file and, last, one JSON object with the medians summed
 * over the files: {"files", "custos_ms", "turbojpeg_ms", "ratio"}.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <turbojpeg.h>

#include "custos/custos.h"
#include "util/util.h"
#include "../bench.h"

int main(int argc, char **argv) {
  int runs = 7;
  int first = 1;
  if (argc > 2 && strcmp(argv[1], "--runs") == 0) {
    runs = (int)strtol(argv[2], NULL, 10);
    first = 3;
  }
  if (runs < 1 || runs > 1000 || first >= argc) {
    fprintf(stderr, "usage: bench_image [--runs N] FILE...\n");
    return 2;
  }
  double *t = malloc(sizeof(double) * (size_t)runs);
  tjhandle tj = tjInitDecompress();
  double sum_ours = 0, sum_peer = 0;
  int files = 0;
  for (int f = first; f < argc; f++) {
    unsigned char *data;
    size_t len;
    custos_err err;
    if (custos__read_file(argv[f], CUSTOS_IMAGE_MAX_FILE_BYTES, &data, &len, &err) != CUSTOS_OK) {
      fprintf(stderr, "bench_image: %s\n", err.message);
      return 1;
    }
    int w = 0, h = 0, sub = 0, cs = 0;
    if (tjDecompressHeader3(tj, data, (unsigned long)len, &w, &h, &sub, &cs) != 0) {
      fprintf(stderr, "bench_image: %s: %s\n", argv[f], tjGetErrorStr2(tj));
      return 1;
    }
    unsigned char *peer = malloc((size_t)w * (size_t)h * 3);
    for (int r = 0; r < runs; r++) {
      double t0 = now_ms();
      custos_image *img = NULL;
      if (custos_image_decode(data, len, NULL, &img, NULL, &err) != CUSTOS_OK) {
        fprintf(stderr, "bench_image: %s: %s\n", argv[f], err.message);
        return 1;
      }
      t[r] = now_ms() - t0;
      custos_image_free(img);
    }
    double ours = median(t, runs);
    for (int r = 0; r < runs; r++) {
      double t0 = now_ms();
      if (tjDecompress2(tj, data, (unsigned long)len, peer, w, 0, h, TJPF_RGB, 0) != 0) {
        fprintf(stderr, "bench_image: %s: %s\n", argv[f], tjGetErrorStr2(tj));
        return 1;
      }
      t[r] = now_ms() - t0;
    }
    double theirs = median(t, runs);
    printf("%-40s %5dx%-5d custos %7.2f ms  turbojpeg %7.2f ms  ratio %.2f\n", argv[f], w, h,
           ours, theirs, ours / theirs);
    sum_ours += ours;
    sum_peer += theirs;
    files++;
    free(peer);
    custos__free(data);
  }
  tjDestroy(tj);
  free(t);
  printf("{\"files\": %d, \"custos_ms\": %.3f, \"turbojpeg_ms\": %.3f, \"ratio\": %.3f}\n", files,
         sum_ours, sum_peer, sum_ours / sum_peer);
  return 0;
}
