/* The C interface used from C (compiled as C, not C++): open the fixture bundle, read its
 * thresholds, run its detector and embedder on caller buffers, get a status with a
 * message for every kind of misuse, analyze a frame and search a gallery. Usage: c_api_test REPO_ROOT */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "edgeface.h"

static int failures = 0;

#define CHECK(condition)                                                              \
  do {                                                                                \
    if (!(condition)) {                                                               \
      fprintf(stderr, "%s:%d: CHECK(%s) failed; last error: %s\n", __FILE__, __LINE__, \
              #condition, edgeface_last_error());                                     \
      ++failures;                                                                     \
    }                                                                                 \
  } while (0)

static char bundle_path[4096];

static void opens_a_bundle_and_reads_its_thresholds(void) {
  edgeface_bundle* bundle = NULL;
  const char* name = NULL;
  edgeface_bundle_info info;
  CHECK(edgeface_bundle_open(bundle_path, &bundle) == EDGEFACE_OK);
  CHECK(edgeface_bundle_name(bundle, &name) == EDGEFACE_OK && strcmp(name, "fixture-blob-blazeface") == 0);
  CHECK(edgeface_bundle_get_info(bundle, &info) == EDGEFACE_OK);
  CHECK(info.has_detector == 1 && info.has_embedder == 1);
  CHECK(info.score_threshold > 0 && info.score_threshold < 1 && info.max_faces >= 1);
  CHECK(info.verify_threshold > 0 && info.verify_threshold <= 1 && info.embedding_size > 0);
  edgeface_bundle_close(bundle);
}

static void runs_each_model_on_float_buffers(edgeface_role role) {
  edgeface_bundle* bundle = NULL;
  edgeface_model* model = NULL;
  edgeface_tensor_info in, out;
  float* input;
  float** outputs;
  size_t* sizes;
  size_t i, n_out, input_size;
  CHECK(edgeface_bundle_open(bundle_path, &bundle) == EDGEFACE_OK);
  CHECK(edgeface_model_create(bundle, role, 2, &model) == EDGEFACE_OK);
  edgeface_bundle_close(bundle); /* the model does not need it */
  if (!model) return;
  CHECK(edgeface_model_input_count(model) == 1);
  CHECK(edgeface_model_input_info(model, 0, &in) == EDGEFACE_OK && in.is_float32 && in.rank == 4);
  input_size = in.element_count;
  input = calloc(input_size, sizeof(float));
  for (i = 0; i < input_size; ++i) input[i] = (float)(i % 251) / 125.5f - 1.0f;
  n_out = edgeface_model_output_count(model);
  outputs = calloc(n_out, sizeof(float*));
  sizes = calloc(n_out, sizeof(size_t));
  for (i = 0; i < n_out; ++i) {
    CHECK(edgeface_model_output_info(model, i, &out) == EDGEFACE_OK && out.name && out.name[0]);
    sizes[i] = out.element_count;
    outputs[i] = calloc(sizes[i], sizeof(float));
    outputs[i][0] = 12345.0f;
  }
  {
    const float* inputs[1];
    inputs[0] = input;
    CHECK(edgeface_model_run(model, inputs, &input_size, 1, outputs, sizes, n_out) == EDGEFACE_OK);
    for (i = 0; i < n_out; ++i) CHECK(outputs[i][0] != 12345.0f); /* written by the model */
    /* a wrong size is refused, naming the input */
    input_size -= 1;
    CHECK(edgeface_model_run(model, inputs, &input_size, 1, outputs, sizes, n_out) == EDGEFACE_ERROR_ARGUMENT);
    CHECK(strstr(edgeface_last_error(), "input 0") != NULL);
    CHECK(edgeface_model_run(model, inputs, &input_size, 1, outputs, sizes, 0) == EDGEFACE_ERROR_ARGUMENT);
  }
  CHECK(edgeface_model_input_info(model, 5, &in) == EDGEFACE_ERROR_ARGUMENT);
  for (i = 0; i < n_out; ++i) free(outputs[i]);
  free(outputs);
  free(sizes);
  free(input);
  edgeface_model_destroy(model);
}

static void misuse_gives_a_status_and_a_message(void) {
  edgeface_bundle* bundle = (edgeface_bundle*)1;
  edgeface_model* model = NULL;
  CHECK(edgeface_bundle_open(NULL, &bundle) == EDGEFACE_ERROR_ARGUMENT && bundle == NULL);
  CHECK(strstr(edgeface_last_error(), "path") != NULL);
  CHECK(edgeface_bundle_open(bundle_path, NULL) == EDGEFACE_ERROR_ARGUMENT);
  CHECK(edgeface_bundle_open("/nonexistent/bundle", &bundle) == EDGEFACE_ERROR_BUNDLE);
  CHECK(strstr(edgeface_last_error(), "/nonexistent/bundle") != NULL);
  CHECK(edgeface_model_create(NULL, EDGEFACE_DETECTOR, 1, &model) == EDGEFACE_ERROR_ARGUMENT && model == NULL);
  CHECK(edgeface_bundle_open(bundle_path, &bundle) == EDGEFACE_OK);
  CHECK(edgeface_model_create(bundle, EDGEFACE_DETECTOR, 0, &model) == EDGEFACE_ERROR_ARGUMENT);
  CHECK(edgeface_model_create(bundle, (edgeface_role)7, 1, &model) == EDGEFACE_ERROR_ARGUMENT);
  CHECK(edgeface_model_run(NULL, NULL, NULL, 0, NULL, NULL, 0) == EDGEFACE_ERROR_ARGUMENT);
  CHECK(edgeface_model_input_count(NULL) == 0);
  edgeface_bundle_close(bundle);
  edgeface_bundle_close(NULL);
  edgeface_model_destroy(NULL);
  CHECK(strcmp(edgeface_status_name(EDGEFACE_ERROR_MANIFEST), "EDGEFACE_ERROR_MANIFEST") == 0);
  CHECK(strcmp(edgeface_status_name((edgeface_status)99), "EDGEFACE_UNKNOWN_STATUS") == 0);
}

static void a_bad_manifest_names_its_field(const char* repo) {
  char path[4096];
  edgeface_bundle* bundle = NULL;
  /* a conformance manifest is a file, not a bundle directory: make a bundle of one */
  snprintf(path, sizeof path, "%s/tests/fixtures/bundles/blob_blazeface/detector.tflite", repo);
  CHECK(edgeface_bundle_open(path, &bundle) == EDGEFACE_ERROR_BUNDLE);
  CHECK(edgeface_last_error_field()[0] == '\0');
}

/* A 640x480 black frame with a white 80 px square at (200, 200): one face to the blob
 * detector, analyzed, then searched in a gallery the Python SDK wrote. */
static void analyzes_a_frame_and_searches_a_gallery(const char* repo) {
  static unsigned char rgb[480][640][3];
  char path[4096];
  int x, y;
  edgeface_bundle* bundle = NULL;
  edgeface_analyzer* analyzer = NULL;
  edgeface_analyzer_options options;
  edgeface_image image;
  edgeface_faces faces;
  edgeface_gallery* gallery = NULL;
  edgeface_match matches[3];
  size_t count = 0;
  float query[8] = {1, 0, 0, 0, 0, 0, 0, 0};
  for (y = 160; y < 240; ++y)
    for (x = 160; x < 240; ++x) rgb[y][x][0] = rgb[y][x][1] = rgb[y][x][2] = 255;
  memset(&image, 0, sizeof image);
  image.format = EDGEFACE_PIXEL_RGB;
  image.width = 640;
  image.height = 480;
  image.pixels = &rgb[0][0][0];
  image.stride = 640 * 3;
  image.size = sizeof rgb;
  CHECK(edgeface_bundle_open(bundle_path, &bundle) == EDGEFACE_OK);
  edgeface_analyzer_options_default(&options);
  CHECK(edgeface_analyzer_create(bundle, &options, &analyzer) == EDGEFACE_OK);
  edgeface_bundle_close(bundle); /* the analyzer keeps what it needs */
  CHECK(edgeface_analyzer_analyze(analyzer, &image, &faces) == EDGEFACE_OK);
  CHECK(faces.count == 1 && faces.embeddings != NULL && faces.embedding_size > 0);
  CHECK(faces.count == 1 && faces.boxes[0] > 138 && faces.boxes[0] < 142);
  edgeface_analyzer_destroy(analyzer);
  snprintf(path, sizeof path, "%s/native/tests/core/data/galleries/v2.efg", repo);
  CHECK(edgeface_gallery_open(path, 8, &gallery) == EDGEFACE_OK);
  CHECK(edgeface_gallery_search(gallery, query, 8, -1.0f, matches, 3, &count) == EDGEFACE_OK && count == 3);
  CHECK(count == 3 && matches[0].score >= matches[1].score && matches[1].score >= matches[2].score);
  CHECK(edgeface_gallery_search(gallery, query, 8, 2.0f, matches, 3, &count) == EDGEFACE_OK && count == 0);
  edgeface_gallery_close(gallery);
}

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: c_api_test REPO_ROOT\n");
    return 2;
  }
  snprintf(bundle_path, sizeof bundle_path, "%s/tests/fixtures/bundles/blob_blazeface", argv[1]);
  opens_a_bundle_and_reads_its_thresholds();
  runs_each_model_on_float_buffers(EDGEFACE_DETECTOR);
  runs_each_model_on_float_buffers(EDGEFACE_EMBEDDER);
  misuse_gives_a_status_and_a_message();
  a_bad_manifest_names_its_field(argv[1]);
  analyzes_a_frame_and_searches_a_gallery(argv[1]);
  if (failures) fprintf(stderr, "%d checks failed\n", failures);
  else printf("all C interface checks passed\n");
  return failures ? 1 : 0;
}
