#include "edgeface/vision/ssd.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace edgeface::vision {
namespace {

double layer_scale(double min_scale, double max_scale, int index, int count) {
  if (count == 1) return (min_scale + max_scale) / 2;
  return min_scale + (max_scale - min_scale) * index / (count - 1);
}

struct FeatureMap {
  int rows, cols;
  std::vector<std::pair<double, double>> sizes;  // (width, height) of each anchor of a cell
};

// The feature maps of `a` (edgeface.decoders.ssd._feature_maps): consecutive layers of one
// stride share a map, their anchors interleaved per cell.
std::vector<FeatureMap> feature_maps(int input_height, int input_width, const SsdAnchors& a) {
  std::vector<FeatureMap> maps;
  const int count = static_cast<int>(a.strides.size());
  for (int layer = 0; layer < count;) {
    FeatureMap map;
    int last = layer;
    for (; last < count && a.strides[last] == a.strides[layer]; ++last) {
      const double scale = layer_scale(a.min_scale, a.max_scale, last, count);
      std::vector<std::pair<double, double>> pairs;  // (scale, aspect ratio)
      if (last == 0 && a.reduce_boxes_in_lowest_layer) {
        pairs = {{0.1, 1.0}, {scale, 2.0}, {scale, 0.5}};
      } else {
        for (double ratio : a.aspect_ratios) pairs.emplace_back(scale, ratio);
        if (a.interpolated_scale_aspect_ratio > 0) {
          const double next = last == count - 1 ? 1.0 : layer_scale(a.min_scale, a.max_scale, last + 1, count);
          pairs.emplace_back(std::sqrt(scale * next), a.interpolated_scale_aspect_ratio);
        }
      }
      for (const auto& [s, r] : pairs) map.sizes.emplace_back(s * std::sqrt(r), s / std::sqrt(r));
    }
    const int stride = a.strides[layer];
    map.rows = (input_height + stride - 1) / stride;
    map.cols = (input_width + stride - 1) / stride;
    maps.push_back(std::move(map));
    layer = last;
  }
  return maps;
}

bool finite_in(double value, double lo, double hi) { return std::isfinite(value) && value >= lo && value <= hi; }

// The manifest's ranges (edgeface.decoders.ssd.anchors_from_fields), checked before any
// anchor is made.
Status check_anchors(const SsdAnchors& a) {
  if (a.strides.empty()) return Status::fail("decoder.anchors.strides: needs at least one stride");
  for (int stride : a.strides)
    if (stride < 1) return Status::fail("decoder.anchors.strides: every stride must be at least 1");
  if (!finite_in(a.min_scale, 0, 100) || !finite_in(a.max_scale, 0, 100))
    return Status::fail("decoder.anchors.min_scale/max_scale: must be 0..100");
  if (!finite_in(a.anchor_offset_x, 0, 1) || !finite_in(a.anchor_offset_y, 0, 1))
    return Status::fail("decoder.anchors.anchor_offset_x/y: must be 0..1");
  for (double ratio : a.aspect_ratios)
    if (!finite_in(ratio, 1e-3, 1e3)) return Status::fail("decoder.anchors.aspect_ratios: each must be 0.001..1000");
  if (!finite_in(a.interpolated_scale_aspect_ratio, -1e3, 1e3))
    return Status::fail("decoder.anchors.interpolated_scale_aspect_ratio: must be -1000..1000");
  return Status{};
}

Status check_spec(const SsdSpec& spec) {
  if (Status s = check_anchors(spec.anchors); !s.ok()) return s;
  for (float scale : spec.box_scale)
    if (!finite_in(scale, 1e-3, 1e6)) return Status::fail("decoder.box_scale: each must be 0.001..1000000");
  if (spec.box_offset < 0 || spec.keypoint_offset < 0)
    return Status::fail("decoder.box_offset/keypoint_offset: must not be negative");
  if (spec.num_keypoints < 0 || spec.num_keypoints > 1000)
    return Status::fail("decoder.num_keypoints: must be 0..1000");
  if (spec.score_clip && !(*spec.score_clip >= 0.f)) return Status::fail("decoder.score_clip: must be at least 0");
  return Status{};
}

}  // namespace

std::size_t ssd_anchor_count(int input_height, int input_width, const SsdAnchors& anchors) {
  std::size_t count = 0;
  for (const FeatureMap& map : feature_maps(input_height, input_width, anchors))
    count += static_cast<std::size_t>(map.rows) * map.cols * map.sizes.size();
  return count;
}

std::vector<float> ssd_anchors(int input_height, int input_width, const SsdAnchors& a) {
  std::vector<float> anchors;
  for (const FeatureMap& map : feature_maps(input_height, input_width, a)) {
    for (int row = 0; row < map.rows; ++row) {
      for (int col = 0; col < map.cols; ++col) {
        for (const auto& [width, height] : map.sizes) {
          anchors.push_back(static_cast<float>((col + a.anchor_offset_x) / map.cols));
          anchors.push_back(static_cast<float>((row + a.anchor_offset_y) / map.rows));
          anchors.push_back(a.fixed_anchor_size ? 1.f : static_cast<float>(width));
          anchors.push_back(a.fixed_anchor_size ? 1.f : static_cast<float>(height));
        }
      }
    }
  }
  return anchors;
}

Status SsdDecoder::create(const SsdSpec& spec, int input_height, int input_width, SsdDecoder& out) {
  if (input_height < 1 || input_width < 1) return Status::fail("input: height and width must be positive");
  if (Status s = check_spec(spec); !s.ok()) return s;
  if (ssd_anchor_count(input_height, input_width, spec.anchors) > kMaxAnchors)
    return Status::fail("decoder.anchors.strides: imply more than 500000 anchors: use larger strides or a smaller input");
  out.spec_ = spec;
  out.anchors_ = ssd_anchors(input_height, input_width, spec.anchors);
  return Status{};
}

int SsdDecoder::num_coords() const {
  return std::max(spec_.box_offset + 4, spec_.keypoint_offset + 2 * spec_.num_keypoints);
}

Status SsdDecoder::check_outputs(TensorView boxes, TensorView scores) const {
  const std::size_t n = anchor_count();
  if (scores.size != n || boxes.size < n * num_coords() || boxes.size % n)
    return Status::fail("decoder: the model's boxes and scores do not fit the anchors: "
                        "check anchors.strides and num_keypoints");
  return Status{};
}

Status SsdDecoder::decode(TensorView boxes, TensorView scores, float score_threshold, Detections& out) const {
  if (Status s = check_outputs(boxes, scores); !s.ok()) return s;
  out.reset(spec_.num_keypoints);
  const bool sigmoid = spec_.score_activation == ScoreActivation::sigmoid;
  const float cut = sigmoid ? logit(score_threshold) : score_threshold;
  const bool xy_first = spec_.box_format == BoxFormat::xywh;
  const std::size_t row_size = boxes.size / anchor_count();
  const float* scale = spec_.box_scale;
  std::vector<float> points(2 * spec_.num_keypoints);
  for (std::size_t i = 0; i < anchor_count(); ++i) {
    float score = scores[i];
    if (!(score >= cut)) continue;
    if (sigmoid) {
      if (spec_.score_clip) score = std::clamp(score, -*spec_.score_clip, *spec_.score_clip);
      score = 1.f / (1.f + std::exp(-score));
    }
    const float* anchor = &anchors_[4 * i];
    const float* raw = boxes.data + i * row_size;
    // Raw offsets are in units of box_scale, relative to the anchor's size.
    const float xy_mul[2] = {anchor[2] / scale[0], anchor[3] / scale[1]};
    const float wh_mul[2] = {anchor[2] / scale[2] / 2, anchor[3] / scale[3] / 2};
    const float* b = raw + spec_.box_offset;
    const int x = xy_first ? 0 : 1, y = 1 - x;
    const float cx = b[x] * xy_mul[0] + anchor[0], cy = b[y] * xy_mul[1] + anchor[1];
    const float hw = b[2 + x] * wh_mul[0], hh = b[2 + y] * wh_mul[1];
    const float box[4] = {cx - hw, cy - hh, cx + hw, cy + hh};
    const float* k = raw + spec_.keypoint_offset;
    for (int j = 0; j < spec_.num_keypoints; ++j) {
      points[2 * j] = k[2 * j + x] * xy_mul[0] + anchor[0];
      points[2 * j + 1] = k[2 * j + y] * xy_mul[1] + anchor[1];
    }
    out.push(box, score, points.data());
  }
  return Status{};
}

}  // namespace edgeface::vision
