#include "edgeface/vision/detections.h"

#include <algorithm>
#include <cmath>

namespace edgeface::vision {

void Detections::reset(int keypoint_count) {
  num_keypoints = keypoint_count;
  boxes.clear();
  scores.clear();
  keypoints.clear();
}

void Detections::push(const float box[4], float score, const float* points) {
  boxes.insert(boxes.end(), box, box + 4);
  scores.push_back(score);
  keypoints.insert(keypoints.end(), points, points + 2 * num_keypoints);
}

void to_original(const Placement& place, Detections& dets) {
  place.to_original(dets.boxes.data(), dets.boxes.size() / 2);
  place.to_original(dets.keypoints.data(), dets.keypoints.size() / 2);
}

float logit(float probability) {
  const double p = std::clamp(static_cast<double>(probability), 1e-7, 1 - 1e-7);
  return static_cast<float>(std::log(p / (1 - p)));
}

}  // namespace edgeface::vision
