// Field-for-field copies: the manifest reader has already validated every value.
#include "vision_specs.h"

namespace edgeface {
namespace {

vision::ScoreActivation activation(const std::string& name) {
  return name == "none" ? vision::ScoreActivation::none : vision::ScoreActivation::sigmoid;
}

std::vector<int> ints(const std::vector<int64_t>& values) { return std::vector<int>(values.begin(), values.end()); }

}  // namespace

vision::InputSpec vision_input(const InputSpec& input) {
  vision::InputSpec spec;
  spec.height = input.height;
  spec.width = input.width;
  spec.layout = input.layout == "NCHW" ? vision::Layout::nchw : vision::Layout::nhwc;
  spec.channel_order = input.channel_order == "BGR" ? vision::ChannelOrder::bgr : vision::ChannelOrder::rgb;
  for (int c = 0; c < 3; ++c) {
    spec.mean[c] = static_cast<float>(input.mean[c]);
    spec.std[c] = static_cast<float>(input.std[c]);
  }
  spec.resize = input.resize == "stretch" ? vision::Resize::stretch : vision::Resize::letterbox;
  spec.pad = input.pad == "corner" ? vision::Pad::corner : vision::Pad::center;
  spec.sampling = input.sampling == "top_left" ? vision::Sampling::top_left : vision::Sampling::half_pixel;
  return spec;
}

vision::SsdSpec vision_ssd(const DecoderSpec& decoder) {
  const SsdDecoderSpec& ssd = decoder.ssd;
  vision::SsdSpec spec;
  spec.anchors.strides = ints(ssd.anchors.strides);
  spec.anchors.min_scale = ssd.anchors.min_scale;
  spec.anchors.max_scale = ssd.anchors.max_scale;
  spec.anchors.anchor_offset_x = ssd.anchors.anchor_offset_x;
  spec.anchors.anchor_offset_y = ssd.anchors.anchor_offset_y;
  spec.anchors.aspect_ratios = ssd.anchors.aspect_ratios;
  spec.anchors.fixed_anchor_size = ssd.anchors.fixed_anchor_size;
  spec.anchors.interpolated_scale_aspect_ratio = ssd.anchors.interpolated_scale_aspect_ratio;
  spec.anchors.reduce_boxes_in_lowest_layer = ssd.anchors.reduce_boxes_in_lowest_layer;
  spec.box_format = ssd.box_format == "yxhw" ? vision::BoxFormat::yxhw : vision::BoxFormat::xywh;
  for (int i = 0; i < 4; ++i) spec.box_scale[i] = static_cast<float>(ssd.box_scale[i]);
  spec.box_offset = static_cast<int>(ssd.box_offset);
  spec.keypoint_offset = static_cast<int>(ssd.keypoint_offset);
  spec.num_keypoints = static_cast<int>(decoder.num_keypoints);
  spec.score_activation = activation(ssd.score_activation);
  if (ssd.score_clip) spec.score_clip = static_cast<float>(*ssd.score_clip);
  return spec;
}

vision::ScrfdSpec vision_scrfd(const DecoderSpec& decoder) {
  vision::ScrfdSpec spec;
  spec.strides = ints(decoder.scrfd.strides);
  spec.anchors_per_cell = static_cast<int>(decoder.scrfd.anchors_per_cell);
  spec.num_keypoints = static_cast<int>(decoder.num_keypoints);
  spec.score_activation = activation(decoder.scrfd.score_activation);
  return spec;
}

vision::NmsMethod vision_nms(const std::string& method) {
  return method == "weighted" ? vision::NmsMethod::weighted : vision::NmsMethod::hard;
}

std::vector<vision::TemplatePoint> vision_template(const AlignmentSpec& alignment) {
  std::vector<vision::TemplatePoint> points;
  for (const auto& [name, xy] : alignment.template_points) points.push_back({name, xy.first, xy.second});
  return points;
}

}  // namespace edgeface
