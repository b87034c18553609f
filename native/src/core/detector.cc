#include "detector.h"

#include "error.h"
#include "vision_specs.h"

namespace edgeface {
namespace {

constexpr const char* kDecoder = "models.detector.decoder";

// The output a manifest names by tensor name or position (edgeface.decoders.resolve_output).
size_t resolve_output(const OutputRef& ref, const std::vector<TensorInfo>& outputs, const std::string& field) {
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (ref.by_name ? outputs[i].name == ref.name : static_cast<int64_t>(i) == ref.index) return i;
  }
  std::string names;
  for (const TensorInfo& out : outputs) names += (names.empty() ? "'" : ", '") + out.name + "'";
  const std::string wanted = ref.by_name ? "'" + ref.name + "'" : std::to_string(ref.index);
  throw Error(Category::kManifest, field + ": the model has no output " + wanted + " (its outputs: " + names + ")", field);
}

std::vector<size_t> resolve_all(const std::vector<OutputRef>& refs, const std::vector<TensorInfo>& outputs,
                                const std::string& field) {
  std::vector<size_t> indices;
  for (const OutputRef& ref : refs) indices.push_back(resolve_output(ref, outputs, field));
  return indices;
}

// A view of each output's size only, for the decoders' shape checks before any run.
std::vector<vision::TensorView> sized(const std::vector<size_t>& indices, const std::vector<TensorInfo>& outputs) {
  std::vector<vision::TensorView> views;
  for (size_t i : indices) views.push_back({nullptr, outputs[i].element_count()});
  return views;
}

void require_decoder(vision::Status status) {
  if (!status.ok()) throw Error(Category::kManifest, std::string("models.detector.") + status.error, kDecoder);
}

template <class T>
vision::Span<const T> span(const std::vector<T>& values) {
  return {values.data(), values.size()};
}

}  // namespace

void require_image(vision::Status status) {
  if (!status.ok()) throw Error(Category::kImage, std::string("image: ") + status.error);
}

Detector::Detector(const Bundle& bundle, const CompileOptions& options)
    : spec_(*bundle.manifest().detector),
      model_(bundle, spec_, options),
      preprocess_(vision_input(spec_.input)) {
  const DecoderSpec& decoder = spec_.decoder;
  const auto& outputs = model_.outputs();
  const std::string where = std::string(kDecoder) + ".outputs.";
  if (decoder.family == "ssd") {
    boxes_ = {resolve_output(decoder.ssd.boxes, outputs, where + "boxes")};
    scores_ = {resolve_output(decoder.ssd.scores, outputs, where + "scores")};
    ssd_.emplace();
    require_decoder(vision::SsdDecoder::create(vision_ssd(decoder), spec_.input.height, spec_.input.width, *ssd_));
    require_decoder(ssd_->check_outputs({nullptr, outputs[boxes_[0]].element_count()},
                                        {nullptr, outputs[scores_[0]].element_count()}));
  } else {
    scores_ = resolve_all(decoder.scrfd.scores, outputs, where + "scores");
    boxes_ = resolve_all(decoder.scrfd.boxes, outputs, where + "boxes");
    keypoints_ = resolve_all(decoder.scrfd.keypoints, outputs, where + "keypoints");
    scrfd_.emplace();
    require_decoder(vision::ScrfdDecoder::create(vision_scrfd(decoder), spec_.input.height, spec_.input.width, *scrfd_));
    const auto scores = sized(scores_, outputs), boxes = sized(boxes_, outputs), points = sized(keypoints_, outputs);
    require_decoder(scrfd_->check_outputs(span(scores), span(boxes), span(points)));
  }
  keypoint_names_ = spec_.keypoint_names;
  for (int64_t i = static_cast<int64_t>(keypoint_names_.size()); i < decoder.num_keypoints; ++i)
    keypoint_names_.push_back("point_" + std::to_string(i));
}

void Detector::detect(const vision::ImageView& image, double score_threshold, int max_faces,
                      vision::Detections& faces) {
  vision::Placement placement;
  {
    const StageTimer timer(stage_slot(times_, &StageTimes::preprocess_ms));
    require_image(vision::check_image(image));
    require_image(preprocess_.run(image, model_.input(), &placement));
  }
  const StageTimer timer(stage_slot(times_, &StageTimes::detect_ms));
  {
    const StageTimer invoke(stage_slot(times_, &StageTimes::detect_invoke_ms));
    model_.run();
  }
  decode(static_cast<float>(score_threshold < 0 ? spec_.score_threshold : score_threshold), candidates_);
  const int limit = max_faces > 0 ? max_faces : static_cast<int>(spec_.max_faces);
  vision::suppress(candidates_, vision_nms(spec_.nms), static_cast<float>(spec_.nms_iou), limit, faces);
  vision::to_original(placement, faces);
}

void Detector::decode(float threshold, vision::Detections& out) {
  vision::Status status;
  if (ssd_) {
    status = ssd_->decode(model_.output(boxes_[0]), model_.output(scores_[0]), threshold, out);
  } else {
    auto read = [&](const std::vector<size_t>& indices) {
      std::vector<vision::TensorView> views;
      for (size_t i : indices) views.push_back(model_.output(i));
      return views;
    };
    const auto scores = read(scores_), boxes = read(boxes_), points = read(keypoints_);
    status = scrfd_->decode(span(scores), span(boxes), span(points), threshold, out);
  }
  if (!status.ok()) throw Error(Category::kInference, std::string("the detector's outputs: ") + status.error);
}

}  // namespace edgeface
