// The C++ manifest reader passes the conformance set (tests/conformance/index.json, the
// contract with edgeface/bundle.py): every valid manifest loads, every invalid one is
// refused with its error category at its dotted field path. Plus the decoder mapping.
#include "manifest.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "error.h"
#include "test_paths.h"

namespace edgeface {
namespace {

using testing::read_text;
using testing::repo_path;

nlohmann::json conformance_index() {
  return nlohmann::json::parse(read_text(repo_path("tests/conformance/index.json")));
}

std::string conformance_manifest(const nlohmann::json& entry) {
  return read_text(repo_path("tests/conformance/" + entry["manifest"].get<std::string>()));
}

TEST(Conformance, TheSetIsThere) {
  const auto index = conformance_index();
  EXPECT_GE(index["valid"].size(), 5u);
  EXPECT_GE(index["invalid"].size(), 30u);
}

TEST(Conformance, EveryValidManifestLoads) {
  const auto index = conformance_index();  // kept: the loop runs over a part of it
  for (const auto& entry : index["valid"]) {
    SCOPED_TRACE(entry["manifest"].get<std::string>());
    try {
      const Manifest m = parse_manifest(conformance_manifest(entry));
      EXPECT_TRUE(m.detector || m.embedder || m.landmarks);
    } catch (const Error& e) {
      ADD_FAILURE() << e.what();
    }
  }
}

TEST(Conformance, EveryInvalidManifestIsRefusedAtItsField) {
  const auto index = conformance_index();
  for (const auto& entry : index["invalid"]) {
    const std::string name = entry["manifest"].get<std::string>();
    SCOPED_TRACE(name);
    try {
      parse_manifest(conformance_manifest(entry));
      ADD_FAILURE() << name << " was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(category_name(e.category()), entry["error"].get<std::string>()) << e.what();
      EXPECT_EQ(e.field(), entry["field"].get<std::string>()) << e.what();
      EXPECT_NE(std::string(e.what()).find("manifest." + e.field() + ": "), std::string::npos) << e.what();
    }
  }
}

TEST(Manifest, MapsTheFixtureDetectorAndEmbedder) {
  const Manifest m = parse_manifest(read_text(repo_path("tests/fixtures/bundles/blob_blazeface/manifest.json")));
  ASSERT_TRUE(m.detector && m.embedder);
  const DetectorSpec& d = *m.detector;
  EXPECT_EQ(d.input.height, 128);
  EXPECT_EQ(d.input.resize, "letterbox");
  EXPECT_EQ(d.decoder.family, "ssd");
  EXPECT_EQ(d.decoder.ssd.anchors.strides, (std::vector<int64_t>{8, 16, 16, 16}));
  EXPECT_TRUE(d.decoder.ssd.anchors.fixed_anchor_size);
  EXPECT_TRUE(d.decoder.ssd.boxes.by_name);
  EXPECT_EQ(d.decoder.ssd.boxes.name, "StatefulPartitionedCall_1:0");
  EXPECT_EQ(d.decoder.ssd.box_scale[0], 128.0);
  EXPECT_EQ(static_cast<size_t>(d.decoder.num_keypoints), d.keypoint_names.size());
  EXPECT_EQ(m.embedder->alignment.template_points.size(), 5u);
  EXPECT_EQ(m.embedder->alignment.template_points[0].first, "right_eye");
}

TEST(Manifest, MapsAnScrfdDecoderWithItsDefaults) {
  const Manifest m = parse_manifest(read_text(repo_path("tests/conformance/valid/scrfd.json")));
  ASSERT_TRUE(m.detector);
  const DecoderSpec& d = m.detector->decoder;
  EXPECT_EQ(d.family, "scrfd");
  EXPECT_EQ(d.scrfd.strides.size(), d.scrfd.scores.size());
  EXPECT_EQ(d.scrfd.strides.size(), d.scrfd.boxes.size());
  EXPECT_EQ(d.num_keypoints ? d.scrfd.strides.size() : 0u, d.scrfd.keypoints.size());
}

TEST(Manifest, MapsALandmarkModelAndItsDefaults) {
  const Manifest m = parse_manifest(read_text(repo_path("tests/conformance/valid/landmarks.json")));
  ASSERT_TRUE(m.landmarks);
  const LandmarksSpec& l = *m.landmarks;
  EXPECT_EQ(l.role, "landmarks");
  EXPECT_EQ(l.points, 468);
  EXPECT_EQ(l.points_output, "conv2d_21");
  EXPECT_EQ(l.presence_output.value_or(""), "conv2d_31");
  EXPECT_EQ(l.roi_keypoints, (std::vector<std::string>{"right_eye", "left_eye"}));
  EXPECT_EQ(l.roi_points, (std::vector<int64_t>{33, 263}));
  ASSERT_EQ(l.point_groups.size(), 2u);
  EXPECT_EQ(l.point_groups[0].first, "right_eye");  // in manifest order
  EXPECT_EQ(l.point_groups[1].second, (std::vector<int64_t>{1}));
  const Manifest bare = parse_manifest(read_text(repo_path("tests/conformance/valid/landmarks_only.json")));
  ASSERT_TRUE(bare.landmarks);
  EXPECT_FALSE(bare.landmarks->presence_output);
  EXPECT_DOUBLE_EQ(bare.landmarks->presence_threshold, 0.5);
  EXPECT_TRUE(bare.landmarks->point_groups.empty());
  EXPECT_TRUE(bare.landmarks->refinements.empty());
}

TEST(Manifest, MapsRefinementsInOrder) {
  const Manifest m = parse_manifest(read_text(repo_path("tests/conformance/valid/landmark_refinements.json")));
  ASSERT_TRUE(m.landmarks);
  const auto& r = m.landmarks->refinements;
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].output, "output_lips");
  EXPECT_EQ(r[0].points, (std::vector<int64_t>{61, 146, 91}));
  EXPECT_TRUE(r[0].depth_from.empty());
  EXPECT_EQ(r[1].points.front(), 468);
  EXPECT_EQ(r[1].depth_from, (std::vector<int64_t>{33, 133}));
  EXPECT_EQ(r[2].output, "output_right_iris");
}

TEST(Manifest, RefusesBrokenJsonAsAManifestError) {
  for (const std::string& text : std::vector<std::string>{"", "{", "[1,2", "\xEF\xBB\xBF{}", "{\"a\": NaN}", std::string(100000, '[')}) {
    try {
      parse_manifest(text);
      ADD_FAILURE() << "accepted " << text.substr(0, 20);
    } catch (const Error& e) {
      EXPECT_EQ(e.category(), Category::kManifest);
      EXPECT_NE(std::string(e.what()).find("not valid JSON"), std::string::npos) << e.what();
    }
  }
}

TEST(Manifest, RefusesANonObjectTop) {
  try {
    parse_manifest("[1]");
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), Category::kManifest);
    EXPECT_NE(std::string(e.what()).find("manifest: expected an object"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace edgeface
