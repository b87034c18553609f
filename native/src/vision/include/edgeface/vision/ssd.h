// SSD-anchor detectors: MediaPipe's BlazeFace family and the project's own head
// (edgeface/decoders/ssd.py). Anchors follow MediaPipe's SsdAnchorsCalculator.
#pragma once

#include <optional>
#include <vector>

#include "edgeface/vision/detections.h"

namespace edgeface::vision {

// The manifest's `decoder.anchors` object, field for field.
struct SsdAnchors {
  std::vector<int> strides;
  double min_scale = 0.0;
  double max_scale = 0.0;
  double anchor_offset_x = 0.5;
  double anchor_offset_y = 0.5;
  std::vector<double> aspect_ratios = {1.0};
  bool fixed_anchor_size = false;
  double interpolated_scale_aspect_ratio = 1.0;
  bool reduce_boxes_in_lowest_layer = false;
};

enum class BoxFormat { xywh, yxhw };

// The manifest's `decoder` object of family "ssd" (its `outputs` are resolved by the core).
struct SsdSpec {
  SsdAnchors anchors;
  BoxFormat box_format = BoxFormat::xywh;
  float box_scale[4] = {1.f, 1.f, 1.f, 1.f};
  int box_offset = 0;
  int keypoint_offset = 4;
  int num_keypoints = 0;
  ScoreActivation score_activation = ScoreActivation::sigmoid;
  std::optional<float> score_clip;
};

// How many anchors `anchors` gives for this input, counted without making them.
std::size_t ssd_anchor_count(int input_height, int input_width, const SsdAnchors& anchors);

// The anchors as x_center, y_center, width, height per anchor, normalised, in MediaPipe's
// order (feature map, row, column, anchor of the cell).
std::vector<float> ssd_anchors(int input_height, int input_width, const SsdAnchors& anchors);

class SsdDecoder {
 public:
  // Checks the spec (strides, the anchor limit, offsets) and makes the anchors.
  static Status create(const SsdSpec& spec, int input_height, int input_width, SsdDecoder& out);

  std::size_t anchor_count() const { return anchors_.size() / 4; }
  int num_coords() const;  // values each box row needs

  // Refuses outputs whose sizes do not fit the anchors (edgeface's bind check).
  Status check_outputs(TensorView boxes, TensorView scores) const;

  // Candidates scoring at least `score_threshold`, in coordinates normalised to the input.
  Status decode(TensorView boxes, TensorView scores, float score_threshold, Detections& out) const;

 private:
  SsdSpec spec_;
  std::vector<float> anchors_;
};

}  // namespace edgeface::vision
