#include "edgeface/vision/scrfd.h"

#include <cmath>

namespace edgeface::vision {

Status ScrfdDecoder::create(const ScrfdSpec& spec, int input_height, int input_width, ScrfdDecoder& out) {
  if (input_height < 1 || input_width < 1) return Status::fail("input: height and width must be positive");
  if (spec.strides.empty()) return Status::fail("decoder.strides: needs at least one stride");
  if (spec.anchors_per_cell < 1 || spec.anchors_per_cell > 64)
    return Status::fail("decoder.anchors_per_cell: must be 1..64");
  if (spec.num_keypoints < 0 || spec.num_keypoints > 1000)
    return Status::fail("decoder.num_keypoints: must be 0..1000");
  std::size_t count = 0;
  for (int stride : spec.strides) {
    if (stride < 1 || input_height % stride || input_width % stride)
      return Status::fail("decoder.strides: the input size must be a multiple of every stride");
    count += static_cast<std::size_t>(input_height / stride) * (input_width / stride) * spec.anchors_per_cell;
  }
  if (count > kMaxAnchors)
    return Status::fail("decoder.strides: imply more than 500000 anchors: use larger strides or a smaller input");
  out.spec_ = spec;
  out.height_ = input_height;
  out.width_ = input_width;
  return Status{};
}

std::size_t ScrfdDecoder::anchor_count(std::size_t level) const {
  const int stride = spec_.strides[level];
  return static_cast<std::size_t>(height_ / stride) * (width_ / stride) * spec_.anchors_per_cell;
}

Status ScrfdDecoder::check_outputs(Span<const TensorView> scores, Span<const TensorView> boxes,
                                   Span<const TensorView> keypoints) const {
  const std::size_t levels = spec_.strides.size();
  const std::size_t k = spec_.num_keypoints;
  if (scores.size != levels || boxes.size != levels || keypoints.size != (k ? levels : 0))
    return Status::fail("decoder.outputs: expected one scores, boxes and keypoints output per stride");
  for (std::size_t level = 0; level < levels; ++level) {
    const std::size_t n = anchor_count(level);
    if (scores[level].size != n || boxes[level].size != 4 * n || (k && keypoints[level].size != 2 * k * n))
      return Status::fail("decoder.outputs: an output's size does not fit its stride: "
                          "check strides, anchors_per_cell and the order of outputs");
  }
  return Status{};
}

Status ScrfdDecoder::decode(Span<const TensorView> scores, Span<const TensorView> boxes,
                            Span<const TensorView> keypoints, float score_threshold, Detections& out) const {
  if (Status s = check_outputs(scores, boxes, keypoints); !s.ok()) return s;
  const int k = spec_.num_keypoints;
  out.reset(k);
  const bool sigmoid = spec_.score_activation == ScoreActivation::sigmoid;
  const float cut = sigmoid ? logit(score_threshold) : score_threshold;
  const float width = static_cast<float>(width_), height = static_cast<float>(height_);
  std::vector<float> points(2 * k);
  for (std::size_t level = 0; level < spec_.strides.size(); ++level) {
    const int stride = spec_.strides[level];
    const int cols = width_ / stride;
    const float step = static_cast<float>(stride);
    for (std::size_t i = 0; i < anchor_count(level); ++i) {
      float score = scores[level][i];
      if (!(score >= cut)) continue;
      if (sigmoid) score = 1.f / (1.f + std::exp(-score));
      // Each cell's anchors sit at its top-left corner, in model pixels.
      const std::size_t cell = i / spec_.anchors_per_cell;
      const float cx = static_cast<float>(cell % cols) * step, cy = static_cast<float>(cell / cols) * step;
      const float* d = boxes[level].data + 4 * i;  // distances to the sides, in strides
      const float box[4] = {(cx - d[0] * step) / width, (cy - d[1] * step) / height,
                            (cx + d[2] * step) / width, (cy + d[3] * step) / height};
      const float* offsets = k ? keypoints[level].data + 2 * k * i : nullptr;
      for (int j = 0; j < k; ++j) {
        points[2 * j] = (cx + offsets[2 * j] * step) / width;
        points[2 * j + 1] = (cy + offsets[2 * j + 1] * step) / height;
      }
      out.push(box, score, points.data());
    }
  }
  return Status{};
}

}  // namespace edgeface::vision
