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
  EDGEFACE_ERROR_IMAGE = 9,         /* the image's sizes, strides or buffers do not hold its pixels */
  EDGEFACE_ERROR_GALLERY = 10,      /* a gallery file is missing or damaged, or another embedder's or template size's */
  EDGEFACE_STATUS_INT32_MIN = -2147483647 - 1, /* not statuses: these two make any int32 a */
  EDGEFACE_STATUS_INT32_MAX = 0x7fffffff       /* valid value of the type (C++ enum ranges) */
} edgeface_status;

typedef enum edgeface_role {
  EDGEFACE_DETECTOR = 0,
  EDGEFACE_EMBEDDER = 1,
  EDGEFACE_ROLE_INT32_MIN = -2147483647 - 1, /* not roles: any int32 is a valid value of the type */
  EDGEFACE_ROLE_INT32_MAX = 0x7fffffff
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

/* ---- The face pipeline: detect, align, embed, verify ---------------------------------
 * What the Python SDK's FaceAnalyzer does, over the same bundle, with the same numbers
 * (tests/test_native_parity.py holds both runtimes to boxes and keypoints within 0.5 px
 * and embeddings at cosine >= 0.9999). */

typedef enum edgeface_pixel_format {
  EDGEFACE_PIXEL_RGB = 0,  /* 3 bytes a pixel */
  EDGEFACE_PIXEL_RGBA = 1, /* 4 bytes a pixel, alpha ignored */
  EDGEFACE_PIXEL_BGR = 2,  /* 3 bytes a pixel, as OpenCV stores images */
  EDGEFACE_PIXEL_NV21 = 3, /* Android camera preview: Y plane, then interleaved V,U at half resolution */
  EDGEFACE_PIXEL_NV12 = 4, /* Y plane, then interleaved U,V at half resolution */
  EDGEFACE_PIXEL_FORMAT_INT32_MIN = -2147483647 - 1, /* not formats: any int32 is a valid value */
  EDGEFACE_PIXEL_FORMAT_INT32_MAX = 0x7fffffff
} edgeface_pixel_format;

/* A camera frame or bitmap in the caller's memory; edgeface reads it during the call only
 * and never past `size` / `chroma_size`. */
typedef struct edgeface_image {
  edgeface_pixel_format format;
  int32_t width;  /* as stored, in the sensor's orientation */
  int32_t height;
  const uint8_t* pixels; /* interleaved pixels, or the Y plane */
  size_t stride;         /* bytes from one row of `pixels` to the next */
  size_t size;           /* bytes readable at `pixels` */
  const uint8_t* chroma; /* NV21/NV12: the interleaved chroma plane; else NULL */
  size_t chroma_stride;
  size_t chroma_size;
  int32_t rotation;      /* degrees clockwise (0, 90, 180, 270) that turn the frame upright */
  int32_t yuv_full_range; /* NV21/NV12: 1 for full range (Android's camera), 0 for video range */
} edgeface_image;

typedef struct edgeface_analyzer edgeface_analyzer;

/* Where the models run. The GPU and NPU accelerators must be in the LiteRT library the app
 * ships (LiteRT's Android packages; the Python wheel's has the CPU only): asking for one it
 * lacks is EDGEFACE_ERROR_MODEL_LOAD at creation, never a silent fallback to the CPU. */
typedef enum edgeface_accelerator {
  EDGEFACE_ACCELERATOR_CPU = 0, /* XNNPACK */
  EDGEFACE_ACCELERATOR_GPU = 1,
  EDGEFACE_ACCELERATOR_NPU = 2,
  EDGEFACE_ACCELERATOR_INT32_MIN = -2147483647 - 1, /* not accelerators: any int32 is a valid value */
  EDGEFACE_ACCELERATOR_INT32_MAX = 0x7fffffff
} edgeface_accelerator;

/* Where the detector looks for faces (docs/sdk.md, "Small faces in large photos"). */
typedef enum edgeface_search {
  EDGEFACE_SEARCH_BUNDLE = 0, /* the bundle's models.detector.search (default) */
  EDGEFACE_SEARCH_WHOLE = 1,  /* one pass over the whole image: camera frames, video */
  EDGEFACE_SEARCH_AUTO = 2,   /* also tiles for small faces, unless the whole image holds a large one */
  EDGEFACE_SEARCH_ALL = 3,    /* always the whole image and every level of tiles */
  EDGEFACE_SEARCH_INT32_MIN = -2147483647 - 1, /* not searches: any int32 is a valid value */
  EDGEFACE_SEARCH_INT32_MAX = 0x7fffffff
} edgeface_search;

/* How to create an analyzer; fill with edgeface_analyzer_options_default first. */
typedef struct edgeface_analyzer_options {
  int32_t num_threads;     /* >= 1; default 1 */
  double score_threshold;  /* keep faces scoring at least this; < 0: the manifest's (default) */
  int32_t max_faces;       /* at most this many faces, best first; <= 0: the manifest's (default) */
  int32_t flip_average;    /* 1: average each chip's embedding with its mirror image's; default 0 */
  edgeface_accelerator accelerator; /* default EDGEFACE_ACCELERATOR_CPU */
  edgeface_search search;  /* default EDGEFACE_SEARCH_BUNDLE */
  int32_t min_face;        /* the narrowest face (pixels, 8..4096) tiles look for; default 40 */
} edgeface_analyzer_options;

/* Faces found in one image, all in upright image pixels, best first. The arrays belong to
 * the analyzer and stay valid until its next detect/analyze call or its destruction. */
typedef struct edgeface_faces {
  size_t count;
  int32_t num_keypoints;    /* points per face; names from edgeface_analyzer_keypoint_name */
  const float* boxes;       /* count x 4: x1, y1, x2, y2 */
  const float* scores;      /* count */
  const float* keypoints;   /* count x num_keypoints x 2: x, y */
  int32_t embedding_size;   /* 0 after detect */
  const float* embeddings;  /* analyze: count x embedding_size unit vectors; detect: NULL */
} edgeface_faces;

EDGEFACE_API void edgeface_analyzer_options_default(edgeface_analyzer_options* options);
/* Creates the bundle's detector and embedder (whichever it has) as one pipeline. The
 * analyzer copies what it needs: the bundle may be closed first. One analyzer per thread. */
EDGEFACE_API edgeface_status edgeface_analyzer_create(const edgeface_bundle* bundle,
                                                      const edgeface_analyzer_options* options,
                                                      edgeface_analyzer** out);
EDGEFACE_API void edgeface_analyzer_destroy(edgeface_analyzer* analyzer);
/* The name of keypoint `index` (< num_keypoints), as the manifest names it. */
EDGEFACE_API edgeface_status edgeface_analyzer_keypoint_name(const edgeface_analyzer* analyzer, int32_t index,
                                                             const char** name);
/* The faces in `image` (needs a detector). */
EDGEFACE_API edgeface_status edgeface_analyzer_detect(edgeface_analyzer* analyzer, const edgeface_image* image,
                                                      edgeface_faces* faces);
/* detect, then align and embed every face (needs a detector and an embedder). */
EDGEFACE_API edgeface_status edgeface_analyzer_analyze(edgeface_analyzer* analyzer, const edgeface_image* image,
                                                       edgeface_faces* faces);
/* Unit embeddings of `count` faces given by their keypoints (count x num_keypoints x 2,
 * upright image pixels, this detector's order) into `embeddings` (count x embedding_size
 * floats; `embeddings_size` is that count of floats). */
EDGEFACE_API edgeface_status edgeface_analyzer_embed_faces(edgeface_analyzer* analyzer, const edgeface_image* image,
                                                           const float* keypoints, size_t count, float* embeddings,
                                                           size_t embeddings_size);
/* Cosine similarity of two embeddings of `size` floats and whether it reaches the
 * manifest's verify threshold (1:1 verification). */
EDGEFACE_API edgeface_status edgeface_analyzer_compare(const edgeface_analyzer* analyzer, const float* a,
                                                       const float* b, size_t size, float* similarity,
                                                       int32_t* match);

/* ---- Galleries: 1:N search, enrolment, and files the Python SDK reads and writes ------
 * A gallery holds named identities with unit templates; its file is the Python SDK's
 * (edgeface.Gallery.save / Gallery.open), so either side opens what the other saved. It
 * may record the embedder that made its templates (edgeface_gallery_bind), so that the
 * embeddings of another model of the same size are never enrolled into it or searched
 * against it. */

typedef struct edgeface_gallery edgeface_gallery;

/* One identity found by a search. */
typedef struct edgeface_match {
  const char* name; /* owned by the gallery; valid until its next enroll, remove or save */
  float score;      /* cosine similarity of the query and the identity's best template */
} edgeface_match;

/* An empty gallery of `dim`-float templates (an analyzer's embedding_size), bound to no
 * file until it is saved. */
EDGEFACE_API edgeface_status edgeface_gallery_create(int32_t dim, edgeface_gallery** out);
/* Opens and checks a gallery file (format EFGALLERY1/2, its sha256, names, counts and
 * embedder fingerprint); the templates are read into memory. `dim` > 0 requires that
 * template size, 0 takes the file's. Threads: many may search one gallery at once; enroll, remove and save need it
 * to themselves (no search or other change at the same time). */
EDGEFACE_API edgeface_status edgeface_gallery_open(const char* path, int32_t dim, edgeface_gallery** out);
EDGEFACE_API void edgeface_gallery_close(edgeface_gallery* gallery);
EDGEFACE_API int32_t edgeface_gallery_dim(const edgeface_gallery* gallery);             /* 0 for NULL */
EDGEFACE_API size_t edgeface_gallery_identity_count(const edgeface_gallery* gallery);   /* 0 for NULL */
EDGEFACE_API size_t edgeface_gallery_template_count(const edgeface_gallery* gallery);   /* 0 for NULL */
/* Ties the gallery to the analyzer's embedder: its bundle's name, the embedder model
 * file's sha256, the embedding size and L2 normalisation. A gallery that records another
 * embedder (or holds another template size) is EDGEFACE_ERROR_GALLERY, the message naming
 * the file, both embedders and the fix; one that records none (new, written before
 * fingerprints existed, or filled with raw embeddings) adopts this one and records it with
 * its next save, which is then refused if another embedder took the file meanwhile. Call
 * it after opening or creating a gallery that an analyzer's embeddings go into or are
 * searched against; a gallery used with raw embeddings alone needs none. An analyzer
 * without an embedder is EDGEFACE_ERROR_ARGUMENT. */
EDGEFACE_API edgeface_status edgeface_gallery_bind(edgeface_gallery* gallery, const edgeface_analyzer* analyzer);
/* The identities closest to `query` (dim floats, a unit vector), best first: at most
 * `capacity` of them scoring at least `threshold`, into `matches`; `*count` says how many. */
EDGEFACE_API edgeface_status edgeface_gallery_search(const edgeface_gallery* gallery, const float* query,
                                                     size_t size, float threshold, edgeface_match* matches,
                                                     size_t capacity, size_t* count);
/* Adds `count` templates to the identity `name` (UTF-8 printable text of at most 256
 * characters, created when new): `embeddings` holds count x dim finite floats, `size`
 * that many, each row not all zero (rows are normalised). `*templates` (may be NULL)
 * receives the identity's template count. Nothing changes on the file until a save. */
EDGEFACE_API edgeface_status edgeface_gallery_enroll(edgeface_gallery* gallery, const char* name,
                                                     const float* embeddings, size_t size, size_t count,
                                                     size_t* templates);
/* Deletes the identity `name` and its templates; `*removed` (may be NULL) receives how
 * many went. An unknown name is EDGEFACE_ERROR_ARGUMENT. */
EDGEFACE_API edgeface_status edgeface_gallery_remove(edgeface_gallery* gallery, const char* name, size_t* removed);
/* Writes the gallery atomically (a temporary file, then a rename; mode 0600) to `path`,
 * or to its own file when `path` is NULL; that path becomes its file. Saving to its own
 * file takes the Python SDK's writer lock (".NAME.lock" beside it) and, when another
 * writer changed the file since this gallery read or saved it, merges: the file's
 * identities with this gallery's enrolments and removals since then on top. */
EDGEFACE_API edgeface_status edgeface_gallery_save(edgeface_gallery* gallery, const char* path);

#ifdef __cplusplus
}
#endif

#endif /* EDGEFACE_H_ */
