#include "edgeface/vision/nms.h"

#include <algorithm>
#include <numeric>

namespace edgeface::vision {
namespace {

float area(const float* box) { return std::max(box[2] - box[0], 0.f) * std::max(box[3] - box[1], 0.f); }

// Intersection over union of two x1y1x2y2 boxes of the given areas; 0 when both are empty.
float iou(const float* a, float area_a, const float* b, float area_b) {
  const float width = std::min(b[2], a[2]) - std::max(b[0], a[0]);
  const float height = std::min(b[3], a[3]) - std::max(b[1], a[1]);
  const float inter = std::max(width, 0.f) * std::max(height, 0.f);
  const float sum = area_b + area_a - inter;
  return sum > 0 ? inter / sum : 0.f;
}

// The score-weighted mean of the members' boxes and keypoints, with the leader's score.
void push_blended(const Detections& dets, const std::vector<std::size_t>& members, Detections& out,
                  std::vector<float>& points) {
  float total = 0.f;
  for (std::size_t m : members) total += dets.scores[m];
  float box[4] = {0.f, 0.f, 0.f, 0.f};
  std::fill(points.begin(), points.end(), 0.f);
  for (std::size_t m : members) {
    const float weight = dets.scores[m] / total;
    for (int c = 0; c < 4; ++c) box[c] += weight * dets.boxes[4 * m + c];
    for (std::size_t c = 0; c < points.size(); ++c) points[c] += weight * dets.keypoints[points.size() * m + c];
  }
  out.push(box, dets.scores[members.front()], points.data());
}

}  // namespace

void suppress(const Detections& dets, NmsMethod method, float iou_threshold, int max_out, Detections& out) {
  out.reset(dets.num_keypoints);
  std::vector<std::size_t> order(dets.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::size_t a, std::size_t b) { return dets.scores[a] > dets.scores[b]; });
  order.resize(std::min(order.size(), kMaxCandidates));
  std::vector<float> areas(order.size());
  for (std::size_t i = 0; i < order.size(); ++i) areas[i] = area(&dets.boxes[4 * order[i]]);
  std::vector<char> free(order.size(), 1);
  std::vector<std::size_t> members;  // indices into dets, best first
  std::vector<float> points(2 * static_cast<std::size_t>(dets.num_keypoints));
  std::size_t best = 0;
  while (static_cast<int>(out.size()) < max_out) {
    while (best < order.size() && !free[best]) ++best;
    if (best == order.size()) break;
    const float* leader = &dets.boxes[4 * order[best]];
    members.clear();
    for (std::size_t j = best; j < order.size(); ++j) {
      if (!free[j]) continue;
      if (j == best || iou(leader, areas[best], &dets.boxes[4 * order[j]], areas[j]) > iou_threshold) {
        free[j] = 0;
        members.push_back(order[j]);
      }
    }
    if (method == NmsMethod::hard) {
      out.push(leader, dets.scores[order[best]], dets.keypoints.data() + points.size() * order[best]);
    } else {
      push_blended(dets, members, out, points);
    }
  }
}

}  // namespace edgeface::vision
