// Face detection over a bundle's detector (edgeface/detect.py): the image straight into
// the model's input, one run, the manifest's decoder bound to the model's outputs, NMS,
// and the faces mapped back to upright image pixels.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "bundle.h"
#include "bundle_model.h"
#include "edgeface/vision/detections.h"
#include "edgeface/vision/image.h"
#include "edgeface/vision/nms.h"
#include "edgeface/vision/preprocess.h"
#include "edgeface/vision/scrfd.h"
#include "edgeface/vision/ssd.h"
#include "stage_times.h"

namespace edgeface {

class Detector {
 public:
  // Loads the bundle's detector and binds its decoder to the model's outputs (kManifest
  // naming the decoder's output field when one is missing or of the wrong size).
  Detector(const Bundle& bundle, const CompileOptions& options);
  const std::vector<std::string>& keypoint_names() const { return keypoint_names_; }
  int num_keypoints() const { return static_cast<int>(keypoint_names_.size()); }
  const DetectorSpec& spec() const { return spec_; }
  // The faces in `image`, best first, at `score_threshold` (< 0: the manifest's) and at
  // most `max_faces` (<= 0: the manifest's). Throws kImage for a view that does not hold
  // its pixels.
  void detect(const vision::ImageView& image, double score_threshold, int max_faces, vision::Detections& faces);
  // Where detect adds its preprocess and detect times (null: nowhere; see stage_times.h).
  void set_stage_times(StageTimes* times) { times_ = times; }

 private:
  void decode(float threshold, vision::Detections& out);

  DetectorSpec spec_;
  BundleModel model_;
  vision::Preprocessor preprocess_;
  std::optional<vision::SsdDecoder> ssd_;
  std::optional<vision::ScrfdDecoder> scrfd_;
  // the model outputs the decoder reads: SSD boxes, scores; SCRFD scores, boxes, keypoints per stride
  std::vector<size_t> boxes_, scores_, keypoints_;
  std::vector<std::string> keypoint_names_;
  vision::Detections candidates_;
  StageTimes* times_ = nullptr;
};

// Throws kImage with the vision library's message unless `status` is ok.
void require_image(vision::Status status);

}  // namespace edgeface
