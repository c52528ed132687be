/*
 * Loading a face-api model: the tfjs weights manifest, its .bin files, and
 * the checks that make a malformed or truncated model an error that names the
 * tensor instead of a crash.
 *
 * "<dir>/<name>-weights_manifest.json" is a JSON array of groups:
 *
 *   [ { "paths":   ["<name>.bin", ...],
 *       "weights": [ { "name": "conv0/filters", "shape": [3, 3, 3, 16],
 *                      "dtype": "float32" | "int32",
 *                      "quantization": { "dtype": "uint8" | "uint16",
 *                                        "scale": S, "min": M } }, ... ] }, ... ]
 *
 * A group's tensors lie end to end, in manifest order, in the concatenation
 * of the group's files:
 *
 *   | encoding                     | bytes per element | value                      |
 *   |------------------------------|-------------------|----------------------------|
 *   | float32, no quantization     | 4 (little-endian) | as stored                  |
 *   | int32, no quantization       | 4 (little-endian) | as stored                  |
 *   | float32, quantization uint8  | 1                 | q * scale + min            |
 *   | float32, quantization uint16 | 2 (little-endian) | q * scale + min            |
 *   | int32, quantization uint8/16 | 1 / 2             | round(q * scale + min)     |
 *
 * (tfjs' io_utils.decodeWeight; q * scale + min is computed in double and
 * rounded to float, as JavaScript does.)  The files must hold exactly the
 * bytes the tensors need.  The version string hashes every .bin byte with
 * SHA-256, in manifest order.
 */
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "nn/nnInt.h"
#include "util/json.h"

/* Limits on what a manifest may declare. */
#define MAX_MANIFEST_BYTES ((size_t)4 << 20)
#define MAX_MANIFEST_DEPTH 8
#define MAX_GROUPS 64
#define MAX_PATHS 64
#define MAX_TENSORS 4096
#define MAX_NAME 256
#define MAX_PATH_NAME 255
#define MAX_DIM ((long long)1 << 28)
#define MAX_BIN_BYTES ((size_t)256 << 20) /* all .bin files together */

static const char *const model_names[] = {
    [CUSTOS_NN_SSD_MOBILENETV1] = "ssd_mobilenetv1_model",
    [CUSTOS_NN_TINY_FACE_DETECTOR] = "tiny_face_detector_model",
    [CUSTOS_NN_FACE_LANDMARK_68] = "face_landmark_68_model",
    [CUSTOS_NN_FACE_RECOGNITION] = "face_recognition_model",
};

/* One tensor as the manifest declares it, before its bytes are read. */
typedef struct decl {
  int group;
  int quant_bytes;   /* 0: not quantised (4 bytes per element), 1 or 2 */
  double scale, min; /* quantisation */
  size_t bytes;      /* in the .bin */
} decl;

void custos__nn_model_free(custos_nn_model *m) {
  if (m == NULL) return;
  custos__nn_graph_free(&m->graph);
  for (size_t i = 0; i < m->n_tensors; i++) {
    custos__free(m->tensors[i].name);
    custos__free(m->tensors[i].data);
  }
  custos__free(m->tensors);
  custos__free(m);
}

const char *custos__nn_model_version(const custos_nn_model *m) {
  return m->version;
}

const nn_tensor *custos__nn_model_find(const custos_nn_model *m, const char *name) {
  for (size_t i = 0; i < m->n_tensors; i++) {
    if (strcmp(m->tensors[i].name, name) == 0) return &m->tensors[i];
  }
  return NULL;
}

int custos__nn_model_tensor(const custos_nn_model *m, const char *name, const float **data,
                            size_t *count) {
  const nn_tensor *t = custos__nn_model_find(m, name);
  if (t == NULL) return CUSTOS_ENOENT;
  *data = t->data;
  *count = t->count;
  return CUSTOS_OK;
}

/* Rewrites a util/json error as a malformed model, keeping its detail. */
static int manifest_err(custos_err *err, int rc, const char *model) {
  if (rc == CUSTOS_ENOMEM) return rc;
  char detail[CUSTOS_ERR_MESSAGE_MAX];
  snprintf(detail, sizeof detail, "%s", err ? err->message : "");
  return custos__err(err, CUSTOS_EMODEL, NN_MOD, "%s: manifest: %s", model, detail);
}

/* Fetches the array key (1..max entries) of manifest group gi into *out; a
 * missing or malformed one gives the manifest error that names model. */
static int group_array(const json_t *root, size_t gi, const char *key, size_t max,
                       const char *model, const json_t **out, custos_err *err) {
  char gpath[32];
  snprintf(gpath, sizeof gpath, "[%zu]", gi);
  int rc = custos__json_get_array(json_array_get(root, gi), gpath, key, true, max, out, err);
  return rc == CUSTOS_OK ? rc : manifest_err(err, rc, model);
}

/* A manifest path must be a plain file name in the model folder. */
static bool safe_file_name(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > MAX_PATH_NAME || s[0] == '.') return false;
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '/' || c == '\\' || c < 0x20 || c == 0x7f) return false;
  }
  return true;
}

static int parse_weight(const json_t *w, const char *model, const char *path, nn_tensor *t, decl *d,
                        custos_err *err) {
  int rc;
  const char *name = NULL, *dtype = NULL;
  const json_t *shape = NULL, *quant = NULL;
  static const char *const keys[] = {"name", "shape", "dtype", "quantization"};
  if (!json_is_object(w)) {
    return custos__err(err, CUSTOS_EMODEL, NN_MOD, "%s: manifest: %s: expected an object", model,
                       path);
  }
  if ((rc = custos__json_get_string(w, path, "name", true, MAX_NAME, &name, err)) != CUSTOS_OK ||
      (rc = custos__json_check_keys(w, path, keys, CUSTOS_ARRAY_LEN(keys), err)) != CUSTOS_OK ||
      (rc = custos__json_get_array(w, path, "shape", true, NN_MAX_DIMS, &shape, err)) !=
          CUSTOS_OK ||
      (rc = custos__json_get_string(w, path, "dtype", true, 16, &dtype, err)) != CUSTOS_OK ||
      (rc = custos__json_get_object(w, path, "quantization", false, &quant, err)) != CUSTOS_OK) {
    return manifest_err(err, rc, model);
  }
  t->name = custos__strdup(name);
  if (t->name == NULL) return custos__err(err, CUSTOS_ENOMEM, NN_MOD, "out of memory");
  if (strcmp(dtype, "float32") == 0) {
    t->is_int = false;
  } else if (strcmp(dtype, "int32") == 0) {
    t->is_int = true;
  } else {
    return custos__err(err, CUSTOS_EMODEL, NN_MOD, "%s: tensor %s: unsupported dtype \"%.16s\"",
                       model, name, dtype);
  }
  t->ndim = (int)json_array_size(shape);
  size_t count = 1;
  for (int i = 0; i < NN_MAX_DIMS; i++) t->shape[i] = 1;
  for (int i = 0; i < t->ndim; i++) {
    json_t *v = json_array_get(shape, (size_t)i);
    long long dim = json_is_integer(v) ? json_integer_value(v) : -1;
    if (dim < 0 || dim > MAX_DIM) {
      return custos__err(err, CUSTOS_EMODEL, NN_MOD, "%s: tensor %s: shape[%d] is not in 0..%lld",
                         model, name, i, MAX_DIM);
    }
    t->shape[i] = (int)dim;
    if (!custos__mul_size(count, (size_t)dim, &count) || count > MAX_BIN_BYTES) {
      return custos__err(err, CUSTOS_EMODEL, NN_MOD,
                         "%s: tensor %s: declared shape is larger than any model file", model,
                         name);
    }
  }
  t->count = count;
  d->quant_bytes = 0;
  if (quant != NULL) {
    char qpath[MAX_NAME + 64];
    const char *qdtype = NULL;
    snprintf(qpath, sizeof qpath, "%s.quantization", path);
    static const char *const qkeys[] = {"dtype", "scale", "min"};
    if ((rc = custos__json_get_string(quant, qpath, "dtype", true, 16, &qdtype, err)) !=
            CUSTOS_OK ||
        (rc = custos__json_check_keys(quant, qpath, qkeys, CUSTOS_ARRAY_LEN(qkeys), err)) !=
            CUSTOS_OK ||
        (rc = custos__json_get_real(quant, qpath, "scale", true, &d->scale, err)) != CUSTOS_OK ||
        (rc = custos__json_get_real(quant, qpath, "min", true, &d->min, err)) != CUSTOS_OK) {
      return manifest_err(err, rc, model);
    }
    if (strcmp(qdtype, "uint8") == 0) {
      d->quant_bytes = 1;
    } else if (strcmp(qdtype, "uint16") == 0) {
      d->quant_bytes = 2;
    } else {
      return custos__err(err, CUSTOS_EMODEL, NN_MOD,
                         "%s: tensor %s: unsupported quantization dtype \"%.16s\"", model, name,
                         qdtype);
    }
    if (!isfinite(d->scale) || !isfinite(d->min)) {
      return custos__err(err, CUSTOS_EMODEL, NN_MOD,
                         "%s: tensor %s: quantization scale or min is not finite", model, name);
    }
  }
  d->bytes = count * (size_t)(d->quant_bytes ? d->quant_bytes : 4);
  return CUSTOS_OK;
}

/* Decodes one tensor's bytes (exactly d->bytes of them) into t->data. */
static int decode(nn_tensor *t, const decl *d, const unsigned char *p, const char *model,
                  custos_err *err) {
  t->data = custos__mallocarray(t->count ? t->count : 1, sizeof(float));
  if (t->data == NULL) return custos__err(err, CUSTOS_ENOMEM, NN_MOD, "out of memory");
  for (size_t i = 0; i < t->count; i++) {
    float v;
    if (d->quant_bytes) {
      unsigned q = d->quant_bytes == 1 ? p[i] : (unsigned)(p[2 * i] | (p[2 * i + 1] << 8));
      double x = (double)q * d->scale + d->min;
      v = t->is_int ? (float)floor(x + 0.5) : (float)x; /* Math.round */
    } else {
      uint32_t u = (uint32_t)p[4 * i] | (uint32_t)p[4 * i + 1] << 8 | (uint32_t)p[4 * i + 2] << 16 |
                   (uint32_t)p[4 * i + 3] << 24;
      if (t->is_int) {
        int32_t s;
        memcpy(&s, &u, sizeof s);
        v = (float)s;
      } else {
        memcpy(&v, &u, sizeof v);
      }
    }
    if (!isfinite(v)) {
      return custos__err(err, CUSTOS_EMODEL, NN_MOD, "%s: tensor %s: value %zu is not finite",
                         model, t->name, i);
    }
    t->data[i] = v;
  }
  return CUSTOS_OK;
}

/* Reads the files of one group into one buffer (the concatenation). */
static int read_group(const char *dir, const char *model, const json_t *paths, size_t *total_read,
                      unsigned char **out, size_t *out_len, crypto_hash_sha256_state *sha,
                      custos_err *err) {
  int rc = CUSTOS_OK;
  custos_buf all;
  custos__buf_init(&all, MAX_BIN_BYTES);
  *out = NULL;
  *out_len = 0;
  for (size_t i = 0; i < json_array_size(paths); i++) {
    json_t *pv = json_array_get(paths, i);
    const char *file = json_is_string(pv) ? json_string_value(pv) : NULL;
    if (file == NULL || strlen(file) != json_string_length(pv) || !safe_file_name(file)) {
      rc = custos__err(err, CUSTOS_EMODEL, NN_MOD,
                       "%s: manifest: paths[%zu] is not a plain file name", model, i);
      goto out;
    }
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/%s", dir, file);
    if (n < 0 || (size_t)n >= sizeof path) {
      rc = custos__err(err, CUSTOS_EINVAL, NN_MOD, "%s: path too long", model);
      goto out;
    }
    unsigned char *data = NULL;
    size_t len = 0;
    rc = custos__read_file(path, MAX_BIN_BYTES - *total_read, &data, &len, err);
    if (rc == CUSTOS_ETOOBIG) {
      rc = custos__err(err, CUSTOS_EMODEL, NN_MOD, "%s: %s: the weights exceed %zu bytes", model,
                       file, MAX_BIN_BYTES);
    }
    if (rc != CUSTOS_OK) goto out;
    *total_read += len;
    crypto_hash_sha256_update(sha, data, len);
    rc = custos__buf_append(&all, data, len);
    custos__free(data);
    if (rc != CUSTOS_OK) {
      rc = custos__err(err, rc == CUSTOS_ENOMEM ? CUSTOS_ENOMEM : CUSTOS_EMODEL, NN_MOD,
                       "%s: the weights exceed %zu bytes", model, MAX_BIN_BYTES);
      goto out;
    }
  }
  *out_len = all.len;
  *out = (unsigned char *)custos__buf_steal(&all, NULL);
out:
  custos__buf_free(&all);
  return rc;
}

int custos__nn_model_load(const char *models_dir, custos_nn_kind kind, custos_nn_model **out,
                          custos_err *err) {
  int rc = CUSTOS_OK;
  json_t *root = NULL;
  decl *decls = NULL;
  unsigned char *bin = NULL;
  custos_nn_model *m = NULL;
  *out = NULL;
  if ((unsigned)kind >= CUSTOS_ARRAY_LEN(model_names) || models_dir == NULL) {
    return custos__err(err, CUSTOS_EINVAL, NN_MOD, "unknown network %d", (int)kind);
  }
  const char *model = model_names[kind];
  m = custos__calloc(1, sizeof *m);
  if (m == NULL) return custos__err(err, CUSTOS_ENOMEM, NN_MOD, "out of memory");
  m->kind = kind;
  m->name = model;

  char path[4096];
  int n = snprintf(path, sizeof path, "%s/%s-weights_manifest.json", models_dir, model);
  if (n < 0 || (size_t)n >= sizeof path) {
    rc = custos__err(err, CUSTOS_EINVAL, NN_MOD, "%s: path too long", model);
    goto out;
  }
  custos_json_limits lim = {MAX_MANIFEST_BYTES, MAX_MANIFEST_DEPTH};
  rc = custos__json_parse_file(path, &lim, &root, err);
  if (rc == CUSTOS_EJSON || rc == CUSTOS_ETOOBIG) rc = manifest_err(err, rc, model);
  if (rc != CUSTOS_OK) goto out;
  if (!json_is_array(root) || json_array_size(root) < 1 || json_array_size(root) > MAX_GROUPS) {
    rc = custos__err(err, CUSTOS_EMODEL, NN_MOD, "%s: manifest: expected an array of 1..%d groups",
                     model, MAX_GROUPS);
    goto out;
  }

  /* Declarations first: names, shapes, encodings, sizes. */
  size_t total = 0;
  for (size_t gi = 0; gi < json_array_size(root); gi++) {
    const json_t *weights = NULL;
    rc = group_array(root, gi, "weights", MAX_TENSORS, model, &weights, err);
    if (rc != CUSTOS_OK) goto out;
    total += json_array_size(weights);
  }
  if (total == 0 || total > MAX_TENSORS) {
    rc = custos__err(err, CUSTOS_EMODEL, NN_MOD, "%s: manifest: %zu tensors (1..%d allowed)", model,
                     total, MAX_TENSORS);
    goto out;
  }
  m->tensors = custos__calloc(total, sizeof *m->tensors);
  decls = custos__calloc(total, sizeof *decls);
  if (m->tensors == NULL || decls == NULL) {
    rc = custos__err(err, CUSTOS_ENOMEM, NN_MOD, "out of memory");
    goto out;
  }
  for (size_t gi = 0; gi < json_array_size(root); gi++) {
    const json_t *grp = json_array_get(root, gi);
    const json_t *weights = json_object_get(grp, "weights");
    for (size_t wi = 0; wi < json_array_size(weights); wi++) {
      char wpath[64];
      snprintf(wpath, sizeof wpath, "[%zu].weights[%zu]", gi, wi);
      nn_tensor *t = &m->tensors[m->n_tensors];
      decl *d = &decls[m->n_tensors];
      m->n_tensors++;
      d->group = (int)gi;
      rc = parse_weight(json_array_get(weights, wi), model, wpath, t, d, err);
      if (rc != CUSTOS_OK) goto out;
      for (size_t j = 0; j + 1 < m->n_tensors; j++) {
        if (strcmp(m->tensors[j].name, t->name) == 0) {
          rc = custos__err(err, CUSTOS_EMODEL, NN_MOD, "%s: tensor %s: declared twice", model,
                           t->name);
          goto out;
        }
      }
    }
  }

  /* Then the bytes, group by group. */
  crypto_hash_sha256_state sha;
  crypto_hash_sha256_init(&sha);
  size_t total_read = 0, ti = 0;
  for (size_t gi = 0; gi < json_array_size(root); gi++) {
    const json_t *paths = NULL;
    rc = group_array(root, gi, "paths", MAX_PATHS, model, &paths, err);
    if (rc != CUSTOS_OK) goto out;
    size_t len = 0;
    rc = read_group(models_dir, model, paths, &total_read, &bin, &len, &sha, err);
    if (rc != CUSTOS_OK) goto out;
    size_t off = 0;
    for (; ti < m->n_tensors && decls[ti].group == (int)gi; ti++) {
      if (decls[ti].bytes > len - off) {
        rc = custos__err(err, CUSTOS_EMODEL, NN_MOD,
                         "%s: tensor %s: truncated weights file (%zu bytes needed at offset %zu "
                         "of %zu)",
                         model, m->tensors[ti].name, decls[ti].bytes, off, len);
        goto out;
      }
      rc = decode(&m->tensors[ti], &decls[ti], bin != NULL ? bin + off : bin, model, err);
      if (rc != CUSTOS_OK) goto out;
      off += decls[ti].bytes;
    }
    if (off != len) {
      rc = custos__err(err, CUSTOS_EMODEL, NN_MOD,
                       "%s: weights files of group %zu hold %zu bytes after the last tensor", model,
                       gi, len - off);
      goto out;
    }
    custos__free(bin);
    bin = NULL;
  }
  unsigned char digest[crypto_hash_sha256_BYTES];
  crypto_hash_sha256_final(&sha, digest);
  int vn = snprintf(m->version, sizeof m->version, "%s@", model);
  for (int i = 0; i < 8 && vn > 0; i++) {
    snprintf(m->version + vn + 2 * i, sizeof m->version - (size_t)vn - 2 * (size_t)i, "%02x",
             digest[i]);
  }

  rc = custos__nn_build_graph(m, err);
  if (rc != CUSTOS_OK) goto out;
  *out = m;
  m = NULL;
out:
  custos__free(bin);
  custos__free(decls);
  json_decref(root);
  custos__nn_model_free(m);
  return rc;
}
