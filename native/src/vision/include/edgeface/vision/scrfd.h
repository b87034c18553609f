// SCRFD (InsightFace): anchor-free box distances and keypoint offsets per stride
// (edgeface/decoders/scrfd.py).
#pragma once

#include <vector>

#include "edgeface/vision/detections.h"

namespace edgeface::vision {

// The manifest's `decoder` object of family "scrfd" (its `outputs` are resolved by the core).
struct ScrfdSpec {
  std::vector<int> strides = {8, 16, 32};
  int anchors_per_cell = 2;
  int num_keypoints = 5;
  ScoreActivation score_activation = ScoreActivation::none;
};

class ScrfdDecoder {
 public:
  // Checks the spec (strides dividing the input, the anchor limit).
  static Status create(const ScrfdSpec& spec, int input_height, int input_width, ScrfdDecoder& out);

  // Anchors of stride number `level`.
  std::size_t anchor_count(std::size_t level) const;

  // One tensor per stride of each kind, in the order of `strides` (keypoints empty when
  // num_keypoints is 0).
  Status check_outputs(Span<const TensorView> scores, Span<const TensorView> boxes,
                       Span<const TensorView> keypoints) const;

  // Candidates scoring at least `score_threshold`, in coordinates normalised to the input.
  Status decode(Span<const TensorView> scores, Span<const TensorView> boxes,
                Span<const TensorView> keypoints, float score_threshold, Detections& out) const;

 private:
  ScrfdSpec spec_;
  int height_ = 0, width_ = 0;
};

}  // namespace edgeface::vision
