// Face embeddings over a bundle's embedder (edgeface/embed.py, align.py): each face's chip
// warped from the image straight into the model's input by the similarity transform of its
// keypoints to the manifest's template, one run per face, optionally averaged with its
// mirror image, L2-normalised.
#pragma once

#include <string>
#include <vector>

#include "bundle.h"
#include "bundle_model.h"
#include "edgeface/vision/align.h"
#include "edgeface/vision/image.h"
#include "edgeface/vision/preprocess.h"
#include "stage_times.h"

namespace edgeface {

class Embedder {
 public:
  // Loads the bundle's embedder for faces with the detector's `keypoint_names`.
  Embedder(const Bundle& bundle, const std::vector<std::string>& keypoint_names, const CompileOptions& options,
           bool flip_average);
  int dim() const { return static_cast<int>(spec_.embedding_size); }
  double verify_threshold() const { return spec_.verify_threshold; }
  // `count` faces' unit embeddings (count x dim floats into `out`) from their keypoints
  // (count x keypoint_names.size() x 2, upright image pixels).
  void embed(const vision::ImageView& image, const float* keypoints, size_t count, float* out);
  // Where embed adds its align and embed times (null: nowhere; see stage_times.h).
  void set_stage_times(StageTimes* times) { times_ = times; }

 private:
  void run_into(float* sum);
  void mirror_input();

  EmbedderSpec spec_;
  BundleModel model_;
  vision::InputSpec input_;
  vision::Aligner aligner_;
  size_t output_ = 0;
  size_t num_keypoints_;
  bool flip_average_;
  StageTimes* times_ = nullptr;
};

}  // namespace edgeface
