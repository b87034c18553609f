// Candidate faces as flat arrays (edgeface.results.Detections): what the decoders make,
// NMS keeps, and Placement maps back to image pixels.
#pragma once

#include <cstddef>
#include <vector>

#include "edgeface/vision/preprocess.h"

namespace edgeface::vision {

// One output tensor of the model, read as float32 (its element count, not bytes).
using TensorView = Span<const float>;

enum class ScoreActivation { sigmoid, none };

// Most anchors a decoder may be given (edgeface.decoders.MAX_ANCHORS).
constexpr std::size_t kMaxAnchors = 500000;

struct Detections {
  int num_keypoints = 0;
  std::vector<float> boxes;      // x1, y1, x2, y2 per face
  std::vector<float> scores;     // one per face
  std::vector<float> keypoints;  // num_keypoints x (x, y) per face

  std::size_t size() const { return scores.size(); }
  // Empties the arrays (keeping their memory) for faces of `keypoint_count` points.
  void reset(int keypoint_count);
  void push(const float box[4], float score, const float* points);
};

// Maps boxes and keypoints normalised to the model input back to image pixels.
void to_original(const Placement& place, Detections& dets);

// The raw score at or above which a sigmoid gives `probability` (edgeface.decoders.logit):
// comparing raw scores to it skips the sigmoid of most anchors.
float logit(float probability);

}  // namespace edgeface::vision
