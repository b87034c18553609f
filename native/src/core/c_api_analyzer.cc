// The C interface's face pipeline (edgeface_analyzer_*, include/edgeface.h) over Analyzer.
#include <cmath>
#include <memory>
#include <string>

#include "analyzer.h"
#include "bundle.h"
#include "c_api_guard.h"
#include "c_api_handles.h"
#include "edgeface.h"
#include "edgeface/vision/align.h"

namespace {

using edgeface::c_api::guarded;
using edgeface::c_api::require;
namespace vision = edgeface::vision;

vision::ImageView image_view(const edgeface_image* image) {
  require(image != nullptr, "image: NULL");
  vision::ImageView view;
  switch (image->format) {
    case EDGEFACE_PIXEL_RGB: view.format = vision::PixelFormat::rgb; break;
    case EDGEFACE_PIXEL_RGBA: view.format = vision::PixelFormat::rgba; break;
    case EDGEFACE_PIXEL_BGR: view.format = vision::PixelFormat::bgr; break;
    case EDGEFACE_PIXEL_NV21: view.format = vision::PixelFormat::nv21; break;
    case EDGEFACE_PIXEL_NV12: view.format = vision::PixelFormat::nv12; break;
    default:
      throw edgeface::Error(edgeface::Category::kImage, "image.format: " + std::to_string(image->format) +
                                                            " is not an edgeface_pixel_format: use EDGEFACE_PIXEL_RGB, "
                                                            "_RGBA, _BGR, _NV21 or _NV12");
  }
  view.width = image->width;
  view.height = image->height;
  view.pixels = image->pixels;
  view.stride = image->stride;
  view.size = image->size;
  view.chroma = image->chroma;
  view.chroma_stride = image->chroma_stride;
  view.chroma_size = image->chroma_size;
  view.rotation = image->rotation;
  view.range = image->yuv_full_range ? vision::YuvRange::full : vision::YuvRange::video;
  return view;
}

void describe(const edgeface::Analyzer& analyzer, edgeface_faces* faces) {
  const vision::Detections& found = analyzer.faces();
  *faces = edgeface_faces{};
  faces->count = found.size();
  faces->num_keypoints = found.num_keypoints;
  faces->boxes = found.boxes.data();
  faces->scores = found.scores.data();
  faces->keypoints = found.keypoints.data();
  if (!analyzer.embeddings().empty() || (found.size() == 0 && analyzer.has_embedder())) {
    faces->embedding_size = analyzer.embedding_size();
    faces->embeddings = analyzer.embeddings().data();
  }
}

}  // namespace

extern "C" {

void edgeface_analyzer_options_default(edgeface_analyzer_options* options) {
  if (options == nullptr) return;
  *options = edgeface_analyzer_options{};
  options->num_threads = 1;
  options->score_threshold = -1.0;
  options->max_faces = 0;
  options->flip_average = 0;
  options->accelerator = EDGEFACE_ACCELERATOR_CPU;
  options->search = EDGEFACE_SEARCH_BUNDLE;
  options->min_face = 40;
}

edgeface_status edgeface_analyzer_create(const edgeface_bundle* bundle, const edgeface_analyzer_options* options,
                                         edgeface_analyzer** out) {
  return guarded([&] {
    require(out != nullptr, "out: NULL");
    *out = nullptr;
    require(bundle != nullptr, "bundle: NULL");
    require(options != nullptr, "options: NULL (fill one with edgeface_analyzer_options_default)");
    require(options->num_threads >= 1 && options->num_threads <= 64,
            "options.num_threads: must be 1..64, got " + std::to_string(options->num_threads));
    require(std::isfinite(options->score_threshold) && options->score_threshold < 1.0,
            "options.score_threshold: must be below 1 (negative: the manifest's)");
    require(options->max_faces <= 10000, "options.max_faces: must be at most 10000 (0: the manifest's)");
    require(options->accelerator >= EDGEFACE_ACCELERATOR_CPU && options->accelerator <= EDGEFACE_ACCELERATOR_NPU,
            "options.accelerator: must be EDGEFACE_ACCELERATOR_CPU, _GPU or _NPU, got " +
                std::to_string(static_cast<int32_t>(options->accelerator)));
    require(options->search >= EDGEFACE_SEARCH_BUNDLE && options->search <= EDGEFACE_SEARCH_ALL,
            "options.search: must be EDGEFACE_SEARCH_BUNDLE, _WHOLE, _AUTO or _ALL, got " +
                std::to_string(static_cast<int32_t>(options->search)));
    require(options->min_face >= 8 && options->min_face <= 4096,
            "options.min_face: a face width in pixels, 8..4096, got " + std::to_string(options->min_face));
    edgeface::AnalyzerOptions settings;
    settings.compile.num_threads = options->num_threads;
    settings.compile.accelerator = options->accelerator == EDGEFACE_ACCELERATOR_GPU   ? edgeface::Accelerator::kGpu
                                   : options->accelerator == EDGEFACE_ACCELERATOR_NPU ? edgeface::Accelerator::kNpu
                                                                                      : edgeface::Accelerator::kCpu;
    settings.score_threshold = options->score_threshold;
    settings.max_faces = options->max_faces;
    settings.flip_average = options->flip_average != 0;
    if (options->search != EDGEFACE_SEARCH_BUNDLE)
      settings.search = options->search == EDGEFACE_SEARCH_WHOLE  ? edgeface::Search::whole
                        : options->search == EDGEFACE_SEARCH_AUTO ? edgeface::Search::automatic
                                                                  : edgeface::Search::all;
    settings.min_face = options->min_face;
    *out = new edgeface_analyzer{edgeface::Analyzer(bundle->bundle, settings)};
  });
}

void edgeface_analyzer_destroy(edgeface_analyzer* analyzer) { delete analyzer; }

edgeface_status edgeface_analyzer_keypoint_name(const edgeface_analyzer* analyzer, int32_t index, const char** name) {
  return guarded([&] {
    require(analyzer && name, "analyzer or name: NULL");
    const auto& names = analyzer->analyzer.keypoint_names();
    require(index >= 0 && static_cast<size_t>(index) < names.size(),
            "index: the detector has " + std::to_string(names.size()) + " keypoints, got " + std::to_string(index));
    *name = names[static_cast<size_t>(index)].c_str();
  });
}

edgeface_status edgeface_analyzer_detect(edgeface_analyzer* analyzer, const edgeface_image* image,
                                         edgeface_faces* faces) {
  return guarded([&] {
    require(analyzer && faces, "analyzer or faces: NULL");
    *faces = edgeface_faces{};
    analyzer->analyzer.detect(image_view(image));
    describe(analyzer->analyzer, faces);
  });
}

edgeface_status edgeface_analyzer_analyze(edgeface_analyzer* analyzer, const edgeface_image* image,
                                          edgeface_faces* faces) {
  return guarded([&] {
    require(analyzer && faces, "analyzer or faces: NULL");
    *faces = edgeface_faces{};
    analyzer->analyzer.analyze(image_view(image));
    describe(analyzer->analyzer, faces);
  });
}

edgeface_status edgeface_analyzer_embed_faces(edgeface_analyzer* analyzer, const edgeface_image* image,
                                              const float* keypoints, size_t count, float* embeddings,
                                              size_t embeddings_size) {
  return guarded([&] {
    require(analyzer != nullptr, "analyzer: NULL");
    edgeface::Analyzer& pipeline = analyzer->analyzer;
    const vision::ImageView view = image_view(image);
    require(count <= 10000, "count: at most 10000 faces a call, got " + std::to_string(count));
    require(count == 0 || (keypoints && embeddings), "keypoints or embeddings: NULL");
    const size_t need = count * static_cast<size_t>(pipeline.embedding_size());
    require(pipeline.has_embedder(), "this bundle has no detector and embedder pair to embed faces with");
    require(embeddings_size == need, "embeddings_size: " + std::to_string(count) + " faces need " +
                                         std::to_string(need) + " floats, got " + std::to_string(embeddings_size));
    pipeline.embed(view, keypoints, count, embeddings);
  });
}

edgeface_status edgeface_analyzer_compare(const edgeface_analyzer* analyzer, const float* a, const float* b,
                                          size_t size, float* similarity, int32_t* match) {
  return guarded([&] {
    require(analyzer && a && b && similarity && match, "analyzer, a, b, similarity or match: NULL");
    const edgeface::Analyzer& pipeline = analyzer->analyzer;
    require(pipeline.has_embedder(), "this bundle has no embedder: its threshold is unknown");
    require(size == static_cast<size_t>(pipeline.embedding_size()),
            "size: embeddings of this bundle have " + std::to_string(pipeline.embedding_size()) + " values, got " +
                std::to_string(size));
    *similarity = vision::cosine_similarity(a, b, size);
    *match = *similarity >= pipeline.verify_threshold() ? 1 : 0;
  });
}

}  // extern "C"
