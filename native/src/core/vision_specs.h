// The manifest's structs (manifest.h) as the vision library's settings: the one bridge
// between what the bundle says and what preprocessing, the decoders and alignment take.
#pragma once

#include <string>
#include <vector>

#include "edgeface/vision/align.h"
#include "edgeface/vision/nms.h"
#include "edgeface/vision/preprocess.h"
#include "edgeface/vision/scrfd.h"
#include "edgeface/vision/ssd.h"
#include "manifest.h"

namespace edgeface {

vision::InputSpec vision_input(const InputSpec& input);
vision::SsdSpec vision_ssd(const DecoderSpec& decoder);
vision::ScrfdSpec vision_scrfd(const DecoderSpec& decoder);
vision::NmsMethod vision_nms(const std::string& method);
std::vector<vision::TemplatePoint> vision_template(const AlignmentSpec& alignment);

}  // namespace edgeface
