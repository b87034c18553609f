/* edgeface's C interface: what the Java and Swift bindings and any C or C++ app use.
 *
 * Rules (docs/native.md says more):
 * - Every function that can fail returns an edgeface_status; EDGEFACE_OK is 0. After a
 *   failure, edgeface_last_error() gives a one-line message naming the file, field or
 *   argument at fault and the fix, and edgeface_last_error_field() the manifest field's
 *   dotted path ("models.detector.nms") for EDGEFACE_ERROR_MANIFEST, else "". Both are
 *   per thread and stay valid until this thread's next call into edgeface.
 * - No C++ exception, STL type or ownership crosses this interface.
 * - Ownership: a handle made by an edgeface_*_open / _create function belongs to the
 *   caller, who frees it with the matching _close / _destroy (NULL is allowed there and
 *   does nothing). Strings returned through a handle belong to it and live as long as it.
 *   A model does not keep its bundle: the bundle may be closed first.
 * - Threads: different handles may be used from different threads at once. A bundle is
 *   read-only after opening: many threads may query it and create models from it. A
 *   model is not: use one per thread (or lock around it).
 */
#ifndef EDGEFACE_H_
#define EDGEFACE_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define EDGEFACE_API __declspec(dllexport)
#else
#define EDGEFACE_API __attribute__((visibility("default")))
#endif

typedef enum edgeface_status {
  EDGEFACE_OK = 0,
  EDGEFACE_ERROR_ARGUMENT = 1,      /* a NULL pointer, a wrong size or index, a missing role */
  EDGEFACE_ERROR_BUNDLE = 2,        /* the bundle or a file in it is missing, unreadable or too large */
  EDGEFACE_ERROR_MANIFEST = 3,      /* manifest.json breaks the bundle schema (see the field) */
  EDGEFACE_ERROR_CHECKSUM = 4,      /* a model file does not match its sha256 */
  EDGEFACE_ERROR_MODEL_LOAD = 5,    /* LiteRT cannot load or compile the model */
  EDGEFACE_ERROR_INFERENCE = 6,     /* the model failed while running */
  EDGEFACE_ERROR_OUT_OF_MEMORY = 7,
  EDGEFACE_ERROR_INTERNAL = 8,      /* a bug in edgeface: please report the message */
  EDGEFACE_STATUS_INT32 = 0x7fffffff /* not a status: makes any int32 a valid value of the type */
} edgeface_status;

typedef enum edgeface_role {
  EDGEFACE_DETECTOR = 0,
  EDGEFACE_EMBEDDER = 1,
  EDGEFACE_ROLE_INT32 = 0x7fffffff /* not a role: makes any int32 a valid value of the type */
} edgeface_role;

typedef struct edgeface_bundle edgeface_bundle;
typedef struct edgeface_model edgeface_model;

/* What a bundle's manifest says about running its models. A field of a role the bundle
 * lacks is 0; verify_far is negative when the threshold was not calibrated. */
typedef struct edgeface_bundle_info {
  int32_t has_detector;
  int32_t has_embedder;
  double score_threshold; /* detector: keep faces scoring at least this */
  double nms_iou;         /* detector: overlap at which two boxes are one face */
  int32_t max_faces;      /* detector */
  int32_t embedding_size; /* embedder */
  double verify_threshold; /* embedder: cosine similarity at or above which two faces match */
  double verify_far;       /* embedder: the false-accept rate the threshold was set at */
} edgeface_bundle_info;

#define EDGEFACE_MAX_RANK 8

/* A model input or output. */
typedef struct edgeface_tensor_info {
  const char* name; /* owned by the model */
  int32_t rank;
  int32_t shape[EDGEFACE_MAX_RANK];
  size_t element_count;
  int32_t is_float32; /* edgeface_model_run takes and gives float32 tensors only */
} edgeface_tensor_info;

EDGEFACE_API const char* edgeface_last_error(void);
EDGEFACE_API const char* edgeface_last_error_field(void);
/* The status's name ("EDGEFACE_ERROR_MANIFEST"); never NULL. */
EDGEFACE_API const char* edgeface_status_name(edgeface_status status);

/* Opens a bundle directory and validates its manifest (model files are checked when a
 * model is created from them). */
EDGEFACE_API edgeface_status edgeface_bundle_open(const char* path, edgeface_bundle** out);
EDGEFACE_API void edgeface_bundle_close(edgeface_bundle* bundle);
EDGEFACE_API edgeface_status edgeface_bundle_name(const edgeface_bundle* bundle, const char** name);
EDGEFACE_API edgeface_status edgeface_bundle_get_info(const edgeface_bundle* bundle, edgeface_bundle_info* info);

/* Reads, checks and compiles the bundle's model of ``role`` for the CPU with
 * ``num_threads`` threads (>= 1). */
EDGEFACE_API edgeface_status edgeface_model_create(const edgeface_bundle* bundle, edgeface_role role,
                                                   int32_t num_threads, edgeface_model** out);
EDGEFACE_API void edgeface_model_destroy(edgeface_model* model);
EDGEFACE_API size_t edgeface_model_input_count(const edgeface_model* model);  /* 0 for NULL */
EDGEFACE_API size_t edgeface_model_output_count(const edgeface_model* model); /* 0 for NULL */
EDGEFACE_API edgeface_status edgeface_model_input_info(const edgeface_model* model, size_t index,
                                                       edgeface_tensor_info* info);
EDGEFACE_API edgeface_status edgeface_model_output_info(const edgeface_model* model, size_t index,
                                                        edgeface_tensor_info* info);
/* Runs the model once. inputs[i] holds input_sizes[i] floats, exactly the element_count
 * of input i; outputs[i] receives output_sizes[i] floats, exactly that of output i. The
 * counts of inputs and outputs must be the model's. */
EDGEFACE_API edgeface_status edgeface_model_run(edgeface_model* model, const float* const* inputs,
                                                const size_t* input_sizes, size_t num_inputs, float* const* outputs,
                                                const size_t* output_sizes, size_t num_outputs);

#ifdef __cplusplus
}
#endif

#endif /* EDGEFACE_H_ */
