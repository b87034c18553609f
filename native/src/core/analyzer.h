// The face pipeline of one bundle (edgeface/analyzer.py's FaceAnalyzer): its detector and
// embedder, whichever it has, and the arrays of the last call's faces.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bundle.h"
#include "detector.h"
#include "edgeface/vision/detections.h"
#include "edgeface/vision/image.h"
#include "embedder.h"
#include "gallery_file.h"
#include "stage_times.h"
#include "tiled_search.h"

namespace edgeface {

struct AnalyzerOptions {
  CompileOptions compile;       // threads and accelerator of both models
  double score_threshold = -1;  // < 0: the manifest's
  int max_faces = 0;            // <= 0: the manifest's
  bool flip_average = false;
  std::optional<Search> search;  // where to look for faces; none: the manifest's detector.search
  int min_face = 40;             // the narrowest face a tiled search looks for, in pixels
};

class Analyzer {
 public:
  Analyzer(const Bundle& bundle, const AnalyzerOptions& options);
  bool has_detector() const { return detector_ != nullptr; }
  bool has_embedder() const { return embedder_ != nullptr; }
  const std::vector<std::string>& keypoint_names() const;
  int embedding_size() const;
  double verify_threshold() const;
  // What a gallery records of this bundle's embedder (kArgument without one), as
  // FaceAnalyzer.embedder_fingerprint: the bundle's name and the model file's sha256.
  EmbedderFingerprint embedder_fingerprint() const;

  // The faces of `image` into faces(); analyze also embeds them into embeddings().
  void detect(const vision::ImageView& image);
  void analyze(const vision::ImageView& image);
  void embed(const vision::ImageView& image, const float* keypoints, size_t count, float* out);
  const vision::Detections& faces() const { return faces_; }
  const std::vector<float>& embeddings() const { return embeddings_; }
  // Where the detector and embedder add each stage's time (null: nowhere; the times must
  // outlive the analyzer's calls). tools/edgeface_bench's per-stage breakdown.
  void set_stage_times(StageTimes* times);

 private:
  Detector& detector();
  Embedder& embedder();

  std::string location_;
  EmbedderFingerprint fingerprint_;  // dim 0 without an embedder
  AnalyzerOptions options_;
  std::unique_ptr<Detector> detector_;
  std::unique_ptr<Embedder> embedder_;
  SearchSettings search_;
  TiledSearch tiled_search_;
  vision::Detections faces_;
  std::vector<float> embeddings_;
};

}  // namespace edgeface
