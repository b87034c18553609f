// Parity with the Python SDK: the C++ library on the inputs that
// scripts/make_native_goldens.py ran the SDK's own functions on, compared with what the
// SDK computed (data/goldens.json and goldens.bin).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "edgeface/vision/align.h"
#include "edgeface/vision/nms.h"
#include "edgeface/vision/preprocess.h"
#include "edgeface/vision/scrfd.h"
#include "edgeface/vision/ssd.h"
#include "edgeface/vision/tiles.h"
#include "helpers.h"

namespace edgeface::vision {
namespace {

using json = nlohmann::json;

class Goldens {
 public:
  Goldens() {
    const std::string dir = EDGEFACE_VISION_GOLDENS;
    std::ifstream index(dir + "/goldens.json");
    index_ = json::parse(index);
    std::ifstream blob(dir + "/goldens.bin", std::ios::binary);
    blob_.assign(std::istreambuf_iterator<char>(blob), {});
  }

  const json& cases(const std::string& kind) const { return index_.at("cases").at(kind); }

  const std::vector<int>& shape(const std::string& name) {
    shape_ = index_.at("arrays").at(name).at("shape").get<std::vector<int>>();
    return shape_;
  }

  // The array `name`, which must be stored as `dtype` (the blob is little-endian, as this host).
  template <class T>
  std::vector<T> array(const std::string& name, const char* dtype) const {
    const json& entry = index_.at("arrays").at(name);
    EXPECT_EQ(entry.at("dtype").get<std::string>(), dtype) << name;
    std::size_t count = 1;
    for (int d : entry.at("shape")) count *= d;
    const std::size_t offset = entry.at("offset");
    EXPECT_LE(offset + count * sizeof(T), blob_.size()) << name;
    std::vector<T> values(count);
    if (count > 0) std::memcpy(values.data(), blob_.data() + offset, count * sizeof(T));  // an empty vector has no data
    return values;
  }
  std::vector<float> floats(const std::string& name) const { return array<float>(name, "float32"); }
  std::vector<std::uint8_t> bytes(const std::string& name) const { return array<std::uint8_t>(name, "uint8"); }

 private:
  json index_;
  std::vector<char> blob_;
  std::vector<int> shape_;
};

Goldens& goldens() {
  static Goldens g;
  return g;
}

// The manifest's `input` object as the core maps it.
InputSpec input_of(const json& j) {
  InputSpec spec;
  spec.height = j.at("height");
  spec.width = j.at("width");
  spec.layout = j.at("layout") == "NCHW" ? Layout::nchw : Layout::nhwc;
  spec.channel_order = j.at("channel_order") == "BGR" ? ChannelOrder::bgr : ChannelOrder::rgb;
  for (int c = 0; c < 3; ++c) {
    spec.mean[c] = j.at("mean")[c];
    spec.std[c] = j.at("std")[c];
  }
  spec.resize = j.at("resize") == "stretch" ? Resize::stretch : Resize::letterbox;
  spec.pad = j.at("pad") == "corner" ? Pad::corner : Pad::center;
  return spec;
}

// The manifest's SSD `decoder` object, field for field as SsdSpec names them.
SsdSpec ssd_of(const json& d) {
  SsdSpec spec;
  const json& a = d.at("anchors");
  spec.anchors.strides = a.at("strides").get<std::vector<int>>();
  spec.anchors.min_scale = a.at("min_scale");
  spec.anchors.max_scale = a.at("max_scale");
  spec.anchors.anchor_offset_x = a.value("anchor_offset_x", 0.5);
  spec.anchors.anchor_offset_y = a.value("anchor_offset_y", 0.5);
  spec.anchors.aspect_ratios = a.value("aspect_ratios", std::vector<double>{1.0});
  spec.anchors.fixed_anchor_size = a.value("fixed_anchor_size", false);
  spec.anchors.interpolated_scale_aspect_ratio = a.value("interpolated_scale_aspect_ratio", 1.0);
  spec.anchors.reduce_boxes_in_lowest_layer = a.value("reduce_boxes_in_lowest_layer", false);
  spec.box_format = d.value("box_format", "xywh") == "yxhw" ? BoxFormat::yxhw : BoxFormat::xywh;
  for (int c = 0; c < 4; ++c) spec.box_scale[c] = d.at("box_scale")[c];
  spec.box_offset = d.value("box_offset", 0);
  spec.keypoint_offset = d.value("keypoint_offset", 4);
  spec.num_keypoints = d.value("num_keypoints", 0);
  spec.score_activation = d.value("score_activation", "sigmoid") == "none" ? ScoreActivation::none
                                                                           : ScoreActivation::sigmoid;
  if (d.contains("score_clip")) spec.score_clip = d.at("score_clip").get<float>();
  return spec;
}

ScrfdSpec scrfd_of(const json& d) {
  ScrfdSpec spec;
  spec.strides = d.at("strides").get<std::vector<int>>();
  spec.anchors_per_cell = d.at("anchors_per_cell");
  spec.num_keypoints = d.at("num_keypoints");
  spec.score_activation = d.at("score_activation") == "sigmoid" ? ScoreActivation::sigmoid : ScoreActivation::none;
  return spec;
}

float max_difference(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  float worst = 0.f;
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i) worst = std::max(worst, std::fabs(a[i] - b[i]));
  return worst;
}

ImageView rgb_view(const std::vector<std::uint8_t>& bytes, const std::vector<int>& shape, int rotation) {
  return testing::interleaved_view(bytes, shape[1], shape[0], PixelFormat::rgb, rotation);
}

void expect_placement(const Placement& place, const json& expected) {
  EXPECT_EQ(place.scale_x, expected.at("scale_x").get<float>());
  EXPECT_EQ(place.scale_y, expected.at("scale_y").get<float>());
  EXPECT_EQ(place.offset_x, expected.at("offset_x").get<float>());
  EXPECT_EQ(place.offset_y, expected.at("offset_y").get<float>());
}

std::vector<float> preprocess(const InputSpec& spec, const ImageView& image, Placement& place) {
  std::vector<float> tensor(static_cast<std::size_t>(spec.width) * spec.height * 3);
  Preprocessor pre(spec);
  EXPECT_TRUE(pre.run(image, {tensor.data(), tensor.size()}, &place).ok());
  return tensor;
}

TEST(Goldens, PreprocessingMatchesPythonWithinFloatRounding) {
  Goldens& g = goldens();
  for (const json& c : g.cases("preprocess")) {
    const std::string name = c.at("name");
    const std::vector<std::uint8_t> image = g.bytes(c.at("image"));
    Placement place;
    const std::vector<float> tensor =
        preprocess(input_of(c.at("input")), rgb_view(image, g.shape(c.at("image")), c.at("rotation")), place);
    EXPECT_LE(max_difference(tensor, g.floats(c.at("tensor"))), 1e-5f) << name;
    expect_placement(place, c.at("placement"));
  }
}

TEST(Goldens, Nv21ConvertsAndTurnsWithinHalfAGreyLevelOfTheReference) {
  Goldens& g = goldens();
  const json& c = g.cases("nv21").at(0);
  const std::vector<std::uint8_t> y = g.bytes(c.at("y")), vu = g.bytes(c.at("vu"));
  const std::vector<int> shape = g.shape(c.at("y"));
  ImageView view = testing::nv21_view(y, vu, shape[1], shape[0]);
  std::vector<std::uint8_t> rgb(y.size() * 3);
  ASSERT_TRUE(to_rgb(view, {rgb.data(), rgb.size()}).ok());
  EXPECT_EQ(rgb, g.bytes(c.at("rgb")));  // float32 here, float64 there: no pixel near a tie
  view.rotation = c.at("rotation");
  Placement place;
  const InputSpec spec = input_of(c.at("input"));
  const std::vector<float> tensor = preprocess(spec, view, place);
  // Blended as YUV, converted once: within half a grey level of blending the RGB bytes
  // (the goldens' frame clips no channel).
  EXPECT_LE(max_difference(tensor, g.floats(c.at("tensor"))), 0.5f / spec.std[0] + 1e-5f);
  expect_placement(place, c.at("placement"));
}

TEST(Goldens, PresetAnchorsMatchPython) {
  Goldens& g = goldens();
  for (const json& c : g.cases("anchors")) {
    const int size = c.at("size");
    EXPECT_EQ(ssd_anchors(size, size, ssd_of(c.at("decoder")).anchors), g.floats(c.at("anchors")))
        << c.at("name").get<std::string>();
  }
}

// The decoded candidates, both NMS methods, and the map back to image pixels.
void expect_detections(const json& c, const Detections& decoded) {
  Goldens& g = goldens();
  const std::string name = c.at("name");
  const json& d = c.at("decoded");
  ASSERT_EQ(decoded.size(), g.floats(d.at("scores")).size()) << name;
  EXPECT_LE(max_difference(decoded.boxes, g.floats(d.at("boxes"))), 1e-6f) << name;
  EXPECT_LE(max_difference(decoded.scores, g.floats(d.at("scores"))), 1e-6f) << name;
  EXPECT_LE(max_difference(decoded.keypoints, g.floats(d.at("keypoints"))), 1e-6f) << name;
  const InputSpec spec = input_of(c.at("input"));
  const Placement place = placement_for(spec, c.at("image_height"), c.at("image_width"));
  for (const auto& [method_name, method] : {std::pair{"hard", NmsMethod::hard}, {"weighted", NmsMethod::weighted}}) {
    const json& expected = c.at("nms").at(method_name);
    Detections kept;
    suppress(decoded, method, c.at("nms_iou").get<float>(), c.at("max_faces"), kept);
    ASSERT_EQ(kept.size(), g.floats(expected.at("scores")).size()) << name << " " << method_name;
    EXPECT_LE(max_difference(kept.scores, g.floats(expected.at("scores"))), 1e-6f) << name << " " << method_name;
    EXPECT_LE(max_difference(kept.boxes, g.floats(expected.at("boxes"))), 1e-5f) << name << " " << method_name;
    EXPECT_LE(max_difference(kept.keypoints, g.floats(expected.at("keypoints"))), 1e-5f) << name;
    to_original(place, kept);
    EXPECT_LE(max_difference(kept.boxes, g.floats(expected.at("image_boxes"))), 1e-2f) << name << " pixels";
    EXPECT_LE(max_difference(kept.keypoints, g.floats(expected.at("image_keypoints"))), 1e-2f) << name;
  }
}

TEST(Goldens, SsdDecodeNmsAndMapBackMatchPython) {
  Goldens& g = goldens();
  for (const json& c : g.cases("ssd")) {
    const InputSpec spec = input_of(c.at("input"));
    SsdDecoder decoder;
    ASSERT_TRUE(SsdDecoder::create(ssd_of(c.at("decoder")), spec.height, spec.width, decoder).ok());
    const std::vector<float> boxes = g.floats(c.at("raw")[0]), scores = g.floats(c.at("raw")[1]);
    Detections decoded;
    ASSERT_TRUE(decoder.decode({boxes.data(), boxes.size()}, {scores.data(), scores.size()},
                               c.at("score_threshold").get<float>(), decoded).ok());
    expect_detections(c, decoded);
  }
}

TEST(Goldens, ScrfdDecodeNmsAndMapBackMatchPython) {
  Goldens& g = goldens();
  const json& c = g.cases("scrfd").at(0);
  const InputSpec spec = input_of(c.at("input"));
  const ScrfdSpec scrfd = scrfd_of(c.at("decoder"));
  ScrfdDecoder decoder;
  ASSERT_TRUE(ScrfdDecoder::create(scrfd, spec.height, spec.width, decoder).ok());
  std::vector<std::vector<float>> raw;  // scores, boxes, keypoints; one per stride each
  for (const json& name : c.at("raw")) raw.push_back(g.floats(name));
  std::vector<TensorView> views;
  for (const auto& r : raw) views.push_back({r.data(), r.size()});
  const std::size_t levels = scrfd.strides.size();
  Detections decoded;
  ASSERT_TRUE(decoder.decode({views.data(), levels}, {views.data() + levels, levels},
                             {views.data() + 2 * levels, levels}, c.at("score_threshold").get<float>(), decoded).ok());
  expect_detections(c, decoded);
}

TEST(Goldens, AlignmentMatrixAndChipMatchPython) {
  Goldens& g = goldens();
  for (const json& c : g.cases("align")) {
    const std::string name = c.at("name");
    std::vector<TemplatePoint> points;
    for (const auto& [key, xy] : c.at("template").items()) points.push_back({key, xy[0], xy[1]});
    Aligner aligner;
    ASSERT_TRUE(Aligner::create(112, 112, points, c.at("keypoint_names"), aligner).ok()) << name;
    const std::vector<float> keypoints = g.floats(c.at("keypoints"));
    Affine m;
    ASSERT_TRUE(aligner.matrix(keypoints.data(), m).ok());
    const std::vector<double> expected = g.array<double>(c.at("matrix"), "float64");
    for (int i = 0; i < 6; ++i) EXPECT_NEAR(m[i], expected[i], 1e-9) << name << " " << i;
    if (!c.contains("tensor")) continue;
    const std::vector<std::uint8_t> image = g.bytes(c.at("image"));
    const InputSpec spec = input_of(c.at("input"));
    std::vector<float> tensor(112 * 112 * 3);
    ASSERT_TRUE(aligner.warp(rgb_view(image, g.shape(c.at("image")), c.at("rotation")), keypoints.data(), spec,
                             {tensor.data(), tensor.size()}).ok());
    EXPECT_LE(max_difference(tensor, g.floats(c.at("tensor"))), 1e-5f) << name;
  }
}

TEST(Goldens, L2NormalisationAndCosineMatchPython) {
  Goldens& g = goldens();
  const json& c = g.cases("embedding").at(0);
  std::vector<float> vectors = g.floats(c.at("vectors"));
  const std::size_t dim = g.shape(c.at("vectors"))[1];
  for (std::size_t row = 0; row < vectors.size() / dim; ++row) l2_normalize({vectors.data() + row * dim, dim});
  EXPECT_LE(max_difference(vectors, g.floats(c.at("units"))), 1e-6f);
  for (int k = 0; k < 2; ++k)
    EXPECT_NEAR(cosine_similarity(vectors.data(), vectors.data() + (k + 1) * dim, dim), c.at("cosine")[k].get<double>(), 1e-6);
}

}  // namespace
}  // namespace edgeface::vision

namespace edgeface::vision {
namespace {

TEST(Goldens, TilePlansMatchPython) {
  Goldens& g = goldens();
  for (const json& c : g.cases("tile_plan")) {
    const auto levels = tile_levels(c.at("width"), c.at("height"), c.at("min_face"));
    std::vector<double> got;  // rows of level, x, y, width, height
    for (std::size_t n = 0; n < levels.size(); ++n)
      for (const Tile& t : levels[n])
        got.insert(got.end(), {double(n), double(t.x), double(t.y), double(t.width), double(t.height)});
    EXPECT_EQ(got, g.array<double>(c.at("tiles"), "float64")) << c.at("width") << "x" << c.at("height");
  }
}

TEST(Goldens, TilesKeepUncutFacesInImagePixelsAsPython) {
  Goldens& g = goldens();
  for (const json& c : g.cases("tile_keep")) {
    const std::vector<int> t = c.at("tile").get<std::vector<int>>();
    Detections found;
    found.reset(2);
    found.boxes = g.floats(c.at("boxes"));
    found.scores = g.floats(c.at("scores"));
    found.keypoints = g.floats(c.at("keypoints"));
    Detections kept;
    kept.reset(2);
    keep_uncut(found, {t[0], t[1], t[2], t[3]}, c.at("width"), c.at("height"), kept);
    const std::string name = c.at("name");
    EXPECT_EQ(kept.boxes, g.floats(c.at("kept_boxes"))) << name;
    EXPECT_EQ(kept.scores, g.floats(c.at("kept_scores"))) << name;
    EXPECT_EQ(kept.keypoints, g.floats(c.at("kept_keypoints"))) << name;
  }
}

}  // namespace
}  // namespace edgeface::vision
