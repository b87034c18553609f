// SSD and SCRFD decoding against anchors and boxes worked out by hand here.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "edgeface/vision/nms.h"
#include "edgeface/vision/scrfd.h"
#include "edgeface/vision/ssd.h"

namespace edgeface::vision {
namespace {

SsdAnchors short_range() {  // MediaPipe face_detection_short_range (128x128)
  SsdAnchors a;
  a.strides = {8, 16, 16, 16};
  a.min_scale = 0.1484375;
  a.max_scale = 0.75;
  a.fixed_anchor_size = true;
  return a;
}

TEST(SsdAnchors, ShortRangeHas896AnchorsOnTwoMaps) {
  // 16x16 cells x 2 anchors (stride 8), then 8x8 cells x 6 (three stride-16 layers x 2).
  const std::vector<float> a = ssd_anchors(128, 128, short_range());
  ASSERT_EQ(a.size(), 896u * 4);
  EXPECT_EQ(ssd_anchor_count(128, 128, short_range()), 896u);
  auto expect_anchor = [&](int i, float x, float y) {
    EXPECT_FLOAT_EQ(a[4 * i], x) << i;
    EXPECT_FLOAT_EQ(a[4 * i + 1], y) << i;
    EXPECT_EQ(a[4 * i + 2], 1.f);  // fixed anchor size
    EXPECT_EQ(a[4 * i + 3], 1.f);
  };
  expect_anchor(0, 0.5f / 16, 0.5f / 16);
  expect_anchor(1, 0.5f / 16, 0.5f / 16);  // the cell's second anchor
  expect_anchor(2, 1.5f / 16, 0.5f / 16);  // next column
  expect_anchor(32, 0.5f / 16, 1.5f / 16);  // next row
  expect_anchor(512, 0.5f / 8, 0.5f / 8);  // first cell of the stride-16 map
  expect_anchor(517, 0.5f / 8, 0.5f / 8);  // its sixth anchor
  expect_anchor(895, 7.5f / 8, 7.5f / 8);
}

SsdAnchors sized() {  // two layers of one stride, two aspect ratios, sizes not fixed
  SsdAnchors a;
  a.strides = {32, 32};
  a.min_scale = 0.2;
  a.max_scale = 0.6;
  a.aspect_ratios = {1.0, 2.0};
  return a;
}

TEST(SsdAnchors, SizesFromScalesAspectRatiosAndInterpolation) {
  // Layer 0 (scale 0.2): 0.2 at ratio 1 and 2, then sqrt(0.2 * 0.6) at ratio 1; layer 1
  // (scale 0.6): 0.6 at ratio 1 and 2, then sqrt(0.6 * 1.0). A size s at ratio r is
  // s*sqrt(r) wide and s/sqrt(r) tall. 64x64 at stride 32: 2x2 cells of 6 anchors.
  const std::vector<float> a = ssd_anchors(64, 64, sized());
  ASSERT_EQ(a.size(), 24u * 4);
  const double r2 = std::sqrt(2.0);
  const double sizes[6][2] = {{0.2, 0.2}, {0.2 * r2, 0.2 / r2}, {std::sqrt(0.12), std::sqrt(0.12)},
                              {0.6, 0.6}, {0.6 * r2, 0.6 / r2}, {std::sqrt(0.6), std::sqrt(0.6)}};
  for (int k = 0; k < 6; ++k) {
    const int i = 6 + k;  // cell (row 0, column 1)
    EXPECT_FLOAT_EQ(a[4 * i], 0.75f);
    EXPECT_FLOAT_EQ(a[4 * i + 1], 0.25f);
    EXPECT_FLOAT_EQ(a[4 * i + 2], static_cast<float>(sizes[k][0])) << k;
    EXPECT_FLOAT_EQ(a[4 * i + 3], static_cast<float>(sizes[k][1])) << k;
  }
  SsdAnchors reduced = sized();
  reduced.reduce_boxes_in_lowest_layer = true;  // layer 0: (0.1, 1), (0.2, 2), (0.2, 0.5)
  const std::vector<float> b = ssd_anchors(64, 64, reduced);
  EXPECT_FLOAT_EQ(b[2], 0.1f);
  EXPECT_FLOAT_EQ(b[4 + 2], static_cast<float>(0.2 * r2));
  EXPECT_FLOAT_EQ(b[8 + 3], static_cast<float>(0.2 * r2));
}

SsdSpec one_keypoint_spec() {
  SsdSpec spec;
  spec.anchors = sized();
  for (float& s : spec.box_scale) s = 64.f;
  spec.num_keypoints = 1;
  return spec;
}

TEST(SsdDecoder, DecodesOneAnchorByHand) {
  SsdDecoder decoder;
  ASSERT_TRUE(SsdDecoder::create(one_keypoint_spec(), 64, 64, decoder).ok());
  ASSERT_EQ(decoder.num_coords(), 6);
  std::vector<float> scores(24, -10.f), boxes(24 * 6, 0.f);
  scores[7] = 2.f;  // cell (0, 1), anchor 1: centre (0.75, 0.25), size 0.2*sqrt(2) x 0.2/sqrt(2)
  const float raw[6] = {6.4f, -3.2f, 12.8f, 6.4f, 0.f, 6.4f};
  std::copy(raw, raw + 6, boxes.begin() + 7 * 6);
  Detections dets;
  ASSERT_TRUE(decoder.decode({boxes.data(), boxes.size()}, {scores.data(), scores.size()}, 0.5f, dets).ok());
  ASSERT_EQ(dets.size(), 1u);
  const double w = 0.2 * std::sqrt(2.0), h = 0.2 / std::sqrt(2.0);
  const double cx = 0.75 + 6.4 / 64 * w, cy = 0.25 - 3.2 / 64 * h;  // offsets in anchor sizes
  const double hw = 12.8 / 64 * w / 2, hh = 6.4 / 64 * h / 2;
  EXPECT_NEAR(dets.boxes[0], cx - hw, 1e-6);
  EXPECT_NEAR(dets.boxes[1], cy - hh, 1e-6);
  EXPECT_NEAR(dets.boxes[2], cx + hw, 1e-6);
  EXPECT_NEAR(dets.boxes[3], cy + hh, 1e-6);
  EXPECT_NEAR(dets.scores[0], 1 / (1 + std::exp(-2.0)), 1e-6);
  EXPECT_NEAR(dets.keypoints[0], 0.75, 1e-6);
  EXPECT_NEAR(dets.keypoints[1], 0.25 + 6.4 / 64 * h, 1e-6);
}

TEST(SsdDecoder, YxhwSwapsAxesAndScoreClipBoundsTheLogit) {
  SsdSpec spec = one_keypoint_spec();
  spec.box_format = BoxFormat::yxhw;
  spec.score_clip = 1.f;
  SsdDecoder decoder;
  ASSERT_TRUE(SsdDecoder::create(spec, 64, 64, decoder).ok());
  std::vector<float> scores(24, -10.f), boxes(24 * 6, 0.f);
  scores[0] = 50.f;  // cell (0, 0), anchor 0: centre (0.25, 0.25), size 0.2
  const float raw[6] = {-3.2f, 6.4f, 6.4f, 12.8f, 6.4f, 0.f};  // y, x, h, w, then keypoint y, x
  std::copy(raw, raw + 6, boxes.begin());
  Detections dets;
  ASSERT_TRUE(decoder.decode({boxes.data(), boxes.size()}, {scores.data(), scores.size()}, 0.5f, dets).ok());
  ASSERT_EQ(dets.size(), 1u);
  EXPECT_NEAR(dets.boxes[0], 0.27 - 0.02, 1e-6);  // cx = 0.25 + 6.4/64*0.2, half width 12.8/64*0.2/2
  EXPECT_NEAR(dets.boxes[1], 0.24 - 0.01, 1e-6);  // cy = 0.25 - 3.2/64*0.2, half height 6.4/64*0.2/2
  EXPECT_NEAR(dets.scores[0], 1 / (1 + std::exp(-1.0)), 1e-6);
  EXPECT_NEAR(dets.keypoints[0], 0.25, 1e-6);
  EXPECT_NEAR(dets.keypoints[1], 0.27, 1e-6);
}

TEST(SsdDecoder, RefusesOutputsThatDoNotFitAndSpecsOverTheLimits) {
  SsdDecoder decoder;
  ASSERT_TRUE(SsdDecoder::create(one_keypoint_spec(), 64, 64, decoder).ok());
  std::vector<float> scores(24), boxes(24 * 5);
  Detections dets;
  EXPECT_FALSE(decoder.decode({boxes.data(), boxes.size()}, {scores.data(), scores.size()}, 0.5f, dets).ok());
  boxes.resize(24 * 8);  // wider rows than needed are fine (the model's own layout)
  EXPECT_TRUE(decoder.decode({boxes.data(), boxes.size()}, {scores.data(), scores.size()}, 0.5f, dets).ok());
  EXPECT_FALSE(decoder.decode({boxes.data(), boxes.size()}, {scores.data(), 23}, 0.5f, dets).ok());
  SsdSpec huge = one_keypoint_spec();
  huge.anchors.strides = {1};
  EXPECT_FALSE(SsdDecoder::create(huge, 2048, 2048, decoder).ok());  // 4 million cells x 3 anchors
  SsdSpec bad = one_keypoint_spec();
  bad.anchors.strides = {0};
  EXPECT_FALSE(SsdDecoder::create(bad, 64, 64, decoder).ok());
  bad = one_keypoint_spec();
  bad.box_scale[2] = 0.f;
  EXPECT_FALSE(SsdDecoder::create(bad, 64, 64, decoder).ok());
}

ScrfdSpec small_scrfd() {
  ScrfdSpec spec;
  spec.strides = {8, 16};
  spec.num_keypoints = 1;
  return spec;
}

TEST(ScrfdDecoder, DecodesCellsOfEachStrideByHand) {
  // 32x32 input: stride 8 has 4x4 cells x 2 anchors, stride 16 has 2x2 x 2.
  ScrfdDecoder decoder;
  ASSERT_TRUE(ScrfdDecoder::create(small_scrfd(), 32, 32, decoder).ok());
  std::vector<float> s8(32, 0.1f), b8(32 * 4, 0.f), k8(32 * 2, 0.f);
  std::vector<float> s16(8, 0.1f), b16(8 * 4, 0.f), k16(8 * 2, 0.f);
  s8[11] = 0.9f;  // anchor 11: cell 5 = row 1, column 1: centre (8, 8) in input pixels
  const float d8[4] = {1.f, 1.f, 2.f, 2.f};
  std::copy(d8, d8 + 4, b8.begin() + 11 * 4);
  k8[22] = 0.5f, k8[23] = -0.5f;
  s16[7] = 0.8f;  // anchor 7: cell 3 = row 1, column 1: centre (16, 16)
  std::fill(b16.begin() + 7 * 4, b16.begin() + 8 * 4, 0.5f);
  const TensorView scores[2] = {{s8.data(), s8.size()}, {s16.data(), s16.size()}};
  const TensorView boxes[2] = {{b8.data(), b8.size()}, {b16.data(), b16.size()}};
  const TensorView points[2] = {{k8.data(), k8.size()}, {k16.data(), k16.size()}};
  Detections dets;
  ASSERT_TRUE(decoder.decode({scores, 2}, {boxes, 2}, {points, 2}, 0.5f, dets).ok());
  ASSERT_EQ(dets.size(), 2u);
  const float first[4] = {0.f, 0.f, 24.f / 32, 24.f / 32};  // (8 - 8, 8 - 8, 8 + 16, 8 + 16)
  const float second[4] = {8.f / 32, 8.f / 32, 24.f / 32, 24.f / 32};
  for (int c = 0; c < 4; ++c) {
    EXPECT_FLOAT_EQ(dets.boxes[c], first[c]);
    EXPECT_FLOAT_EQ(dets.boxes[4 + c], second[c]);
  }
  EXPECT_FLOAT_EQ(dets.scores[0], 0.9f);  // no activation
  EXPECT_FLOAT_EQ(dets.keypoints[0], 12.f / 32);
  EXPECT_FLOAT_EQ(dets.keypoints[1], 4.f / 32);
  EXPECT_FLOAT_EQ(dets.keypoints[2], 16.f / 32);
}

TEST(ScrfdDecoder, RefusesStridesThatDoNotDivideAndMisfitOutputs) {
  ScrfdDecoder decoder;
  EXPECT_FALSE(ScrfdDecoder::create(small_scrfd(), 36, 32, decoder).ok());
  ASSERT_TRUE(ScrfdDecoder::create(small_scrfd(), 32, 32, decoder).ok());
  std::vector<float> s(32), b(32 * 4), k(32 * 2);
  const TensorView one[1] = {{s.data(), s.size()}};
  const TensorView boxes[1] = {{b.data(), b.size()}};
  const TensorView points[1] = {{k.data(), k.size()}};
  Detections dets;
  EXPECT_FALSE(decoder.decode({one, 1}, {boxes, 1}, {points, 1}, 0.5f, dets).ok());  // two strides
}

}  // namespace
}  // namespace edgeface::vision

namespace edgeface::vision {
namespace {

// A hostile or broken model: NaN and infinite outputs give candidates or none, never a
// crash or undefined behaviour (the sanitizer build runs this too).
TEST(Decoders, NonFiniteOutputsAreDecodedSuppressedAndMappedWithoutHarm) {
  SsdDecoder decoder;
  ASSERT_TRUE(SsdDecoder::create(one_keypoint_spec(), 64, 64, decoder).ok());
  const float nan = std::nanf(""), inf = INFINITY;
  std::vector<float> scores(24, inf), boxes(24 * 6, nan);
  scores[0] = nan;  // never at or above a threshold
  scores[1] = -inf;
  for (std::size_t i = 2 * 6; i < boxes.size(); i += 6) boxes[i + 2] = inf;
  Detections dets, kept;
  ASSERT_TRUE(decoder.decode({boxes.data(), boxes.size()}, {scores.data(), scores.size()}, 0.5f, dets).ok());
  EXPECT_EQ(dets.size(), 22u);
  for (NmsMethod method : {NmsMethod::hard, NmsMethod::weighted}) {
    suppress(dets, method, 0.3f, 100, kept);
    EXPECT_LE(kept.size(), 22u);
    to_original(placement_for(InputSpec{64, 64}, 480, 640), kept);
  }
}

}  // namespace
}  // namespace edgeface::vision
