// Alignment: a known similarity recovered, the warp of a synthetic image, the template
// matching by names, L2 normalisation and cosine similarity.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "edgeface/vision/align.h"
#include "helpers.h"

namespace edgeface::vision {
namespace {

using testing::interleaved_view;

TEST(Similarity, RecoversAKnownRotationScaleAndShift) {
  const double angle = 0.5235987755982988, scale = 1.5;  // 30 degrees
  const double a = scale * std::cos(angle), b = scale * std::sin(angle);
  const double src[10] = {30, 50, 70, 52, 50, 70, 35, 90, 68, 91};
  double dst[10];
  for (int i = 0; i < 5; ++i) {
    dst[2 * i] = a * src[2 * i] - b * src[2 * i + 1] + 10;
    dst[2 * i + 1] = b * src[2 * i] + a * src[2 * i + 1] - 5;
  }
  Affine m;
  ASSERT_TRUE(similarity_transform(src, dst, 5, m).ok());
  const double expected[6] = {a, -b, 10, b, a, -5};
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(m[i], expected[i], 1e-9) << i;
}

TEST(Similarity, NeverReflectsAndRefusesPointsAtOnePlace) {
  // A mirror image: the best proper similarity is no reflection (its determinant is >= 0).
  const double src[6] = {0, 0, 10, 0, 0, 10}, dst[6] = {0, 0, -10, 0, 0, 10};
  Affine m;
  ASSERT_TRUE(similarity_transform(src, dst, 3, m).ok());
  EXPECT_GE(m[0] * m[4] - m[1] * m[3], 0.0);
  const double same[6] = {4, 4, 4, 4, 4, 4};
  EXPECT_FALSE(similarity_transform(same, dst, 3, m).ok());
}

InputSpec chip_spec(int width, int height) {
  InputSpec spec;
  spec.width = width;
  spec.height = height;
  return spec;
}

std::vector<float> warp(const std::vector<std::uint8_t>& rgb, int width, int height, const Affine m,
                        const InputSpec& spec) {
  std::vector<float> tensor(static_cast<std::size_t>(spec.width) * spec.height * 3);
  EXPECT_TRUE(warp_to_tensor(interleaved_view(rgb, width, height), m, spec, {tensor.data(), tensor.size()}).ok());
  return tensor;
}

// A 4x3 grey ramp: pixel (x, y) is 10 * (x + 4 * y) + 10.
std::vector<std::uint8_t> ramp() {
  std::vector<std::uint8_t> rgb(4 * 3 * 3);
  for (int i = 0; i < 12; ++i) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = static_cast<std::uint8_t>(10 * i + 10);
  return rgb;
}

TEST(Warp, ShiftCutsTheImageAndOutsideIsBlack) {
  const Affine shift = {1, 0, -1, 0, 1, -1};  // chip (x, y) = image (x + 1, y + 1)
  const std::vector<float> chip = warp(ramp(), 4, 3, shift, chip_spec(4, 3));
  EXPECT_EQ(chip[0], 10.f * (1 + 4) + 10);
  EXPECT_EQ(chip[3 * 2], 10.f * (3 + 4) + 10);
  EXPECT_EQ(chip[3 * 3], 0.f);       // image x = 4: outside
  EXPECT_EQ(chip[3 * 4 * 2], 0.f);   // image y = 3: outside
}

TEST(Warp, HalfPixelShiftAveragesAndRoundsHalfToEven) {
  // chip (x, 0) = image (x + 0.5, 0): (11 + 12) / 2 = 11.5 rounds to 12 and (12 + 13) / 2
  // = 12.5 to 12, half to even as np.rint.
  std::vector<std::uint8_t> rgb = {11, 11, 11, 12, 12, 12, 13, 13, 13};
  const Affine half = {1, 0, -0.5, 0, 1, 0};
  const std::vector<float> chip = warp(rgb, 3, 1, half, chip_spec(2, 1));
  EXPECT_EQ(chip[0], 12.f);
  EXPECT_EQ(chip[3], 12.f);
  const std::vector<float> edge = warp(ramp(), 4, 3, half, chip_spec(4, 1));
  EXPECT_EQ(edge[3 * 3], 20.f);  // image x = 3.5: 40 and outside black -> 20
}

TEST(Warp, NormalisesIntoTheSpecsLayout) {
  InputSpec spec = chip_spec(4, 3);
  spec.layout = Layout::nchw;
  for (float& m : spec.mean) m = 127.5f;
  for (float& s : spec.std) s = 127.5f;
  const Affine identity = {1, 0, 0, 0, 1, 0};
  const std::vector<float> chip = warp(ramp(), 4, 3, identity, spec);
  EXPECT_NEAR(chip[5], (60 - 127.5) / 127.5, 1e-6);       // R of pixel 5
  EXPECT_NEAR(chip[12 + 5], (60 - 127.5) / 127.5, 1e-6);  // G plane
}

std::vector<TemplatePoint> arcface() {
  return {{"right_eye", 38.2946, 51.6963}, {"left_eye", 73.5318, 51.5014}, {"nose_tip", 56.0252, 71.7366},
          {"mouth_right", 41.5493, 92.3655}, {"mouth_left", 70.7299, 92.2041}};
}

TEST(Aligner, BlazeFacePointsGetAMouthCentreFromTheCorners) {
  const std::vector<std::string> names = {"right_eye", "left_eye", "nose_tip", "mouth_center", "right_ear", "left_ear"};
  Aligner aligner;
  ASSERT_TRUE(Aligner::create(112, 112, arcface(), names, aligner).ok());
  // Keypoints already at the template (ears anywhere): the transform is the identity.
  const float points[12] = {38.2946f, 51.6963f, 73.5318f, 51.5014f, 56.0252f, 71.7366f,
                            (41.5493f + 70.7299f) / 2, (92.3655f + 92.2041f) / 2, 0.f, 60.f, 112.f, 60.f};
  Affine m;
  ASSERT_TRUE(aligner.matrix(points, m).ok());
  const double identity[6] = {1, 0, 0, 0, 1, 0};
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(m[i], identity[i], 1e-5) << i;
}

TEST(Aligner, RefusesDetectorsWithFewerThanTwoTemplateNames) {
  Aligner aligner;
  EXPECT_FALSE(Aligner::create(112, 112, arcface(), {"nose_tip", "chin"}, aligner).ok());
}

TEST(Aligner, DegenerateOrNonFiniteKeypointsGiveABlackChip) {
  Aligner aligner;
  ASSERT_TRUE(Aligner::create(4, 3, {{"a", 0, 0}, {"b", 3, 2}}, {"a", "b"}, aligner).ok());
  InputSpec spec = chip_spec(4, 3);
  spec.mean[0] = 1.f;
  std::vector<float> tensor(4 * 3 * 3, 7.f);
  const float same[4] = {2.f, 2.f, 2.f, 2.f};
  ASSERT_TRUE(aligner.warp(interleaved_view(ramp(), 4, 3), same, spec, {tensor.data(), tensor.size()}).ok());
  EXPECT_EQ(tensor[0], -1.f);
  EXPECT_EQ(tensor[1], 0.f);
  const float broken[4] = {std::nanf(""), 1.f, INFINITY, 2.f};  // a hostile detector's points
  std::fill(tensor.begin(), tensor.end(), 7.f);
  ASSERT_TRUE(aligner.warp(interleaved_view(ramp(), 4, 3), broken, spec, {tensor.data(), tensor.size()}).ok());
  EXPECT_EQ(tensor[0], -1.f);
  EXPECT_FALSE(aligner.warp(interleaved_view(ramp(), 4, 3), same, chip_spec(5, 3),
                            {tensor.data(), tensor.size()}).ok());  // not the alignment's size
}

TEST(Embedding, L2NormalizeAndCosine) {
  float v[2] = {3.f, 4.f};
  l2_normalize({v, 2});
  EXPECT_FLOAT_EQ(v[0], 0.6f);
  EXPECT_FLOAT_EQ(v[1], 0.8f);
  float zero[2] = {0.f, 0.f};
  l2_normalize({zero, 2});
  EXPECT_EQ(zero[0], 0.f);
  const float a[2] = {1.f, 0.f}, b[2] = {0.f, 2.f}, c[2] = {-3.f, 0.f};
  EXPECT_FLOAT_EQ(cosine_similarity(a, a, 2), 1.f);
  EXPECT_FLOAT_EQ(cosine_similarity(a, b, 2), 0.f);
  EXPECT_FLOAT_EQ(cosine_similarity(a, c, 2), -1.f);
  EXPECT_FLOAT_EQ(cosine_similarity(a, zero, 2), 0.f);
}

}  // namespace
}  // namespace edgeface::vision
