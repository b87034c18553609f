// Preprocessing: placement (letterbox, rounding), bilinear sampling, normalisation,
// layouts, padding, and the fused rotation / camera-format paths.
#include <gtest/gtest.h>

#include <vector>

#include "edgeface/vision/preprocess.h"
#include "helpers.h"

namespace edgeface::vision {
namespace {

using testing::interleaved_view;
using testing::random_bytes;
using testing::rotate_rgb;

InputSpec spec_of(int width, int height, Resize resize = Resize::stretch) {
  InputSpec spec;
  spec.width = width;
  spec.height = height;
  spec.resize = resize;
  return spec;
}

std::vector<float> run(const InputSpec& spec, const ImageView& image, Placement* place = nullptr) {
  std::vector<float> tensor(static_cast<std::size_t>(spec.width) * spec.height * 3, -99.f);
  Preprocessor pre(spec);
  EXPECT_TRUE(pre.run(image, {tensor.data(), tensor.size()}, place).ok());
  return tensor;
}

TEST(Placement, LetterboxOfAVgaFrameByHand) {
  InputSpec spec = spec_of(128, 128, Resize::letterbox);
  const Placement place = placement_for(spec, 480, 640);  // scale 0.2: 128x96, 16 rows above
  EXPECT_FLOAT_EQ(place.scale_x, 0.2f);
  EXPECT_FLOAT_EQ(place.scale_y, 0.2f);
  EXPECT_EQ(place.offset_x, 0.f);
  EXPECT_EQ(place.offset_y, 16.f);
  float points[4] = {0.5f, 0.5f, 0.f, 0.125f};  // the centre, and the image's top-left corner
  place.to_original(points, 2);
  EXPECT_FLOAT_EQ(points[0], 320.f);
  EXPECT_FLOAT_EQ(points[1], 240.f);
  EXPECT_NEAR(points[2], 0.f, 1e-4);
  EXPECT_NEAR(points[3], 0.f, 1e-4);
  spec.pad = Pad::corner;
  EXPECT_EQ(placement_for(spec, 480, 640).offset_y, 0.f);
}

TEST(Placement, ResizedSizeRoundsHalfToEvenAsPython) {
  // 8x5 into 4x4: scale 0.5, height 2.5 rounds to 2 (Python's round), not 3.
  const Placement place = placement_for(spec_of(4, 4, Resize::letterbox), 5, 8);
  EXPECT_FLOAT_EQ(place.scale_y, 2.f / 5.f);
  EXPECT_EQ(place.offset_y, 1.f);
}

TEST(Preprocess, SameSizeStretchCopiesPixelsNormalised) {
  const std::vector<std::uint8_t> rgb = random_bytes(5 * 3 * 3, 4);
  InputSpec spec = spec_of(5, 3);
  spec.mean[0] = 10.f;
  spec.std[2] = 2.f;
  const std::vector<float> tensor = run(spec, interleaved_view(rgb, 5, 3));
  for (std::size_t i = 0; i < rgb.size(); i += 3) {
    EXPECT_FLOAT_EQ(tensor[i], rgb[i] - 10.f);
    EXPECT_FLOAT_EQ(tensor[i + 1], rgb[i + 1]);
    EXPECT_FLOAT_EQ(tensor[i + 2], rgb[i + 2] / 2.f);
  }
}

TEST(Preprocess, BilinearUsesHalfPixelCentresClampedAtTheEdges) {
  // 2x1 grey [0, 100] stretched to 4x1: sample positions -0.25, 0.25, 0.75, 1.25 -> 0, 25, 75, 100.
  const std::vector<std::uint8_t> rgb = {0, 0, 0, 100, 100, 100};
  const std::vector<float> tensor = run(spec_of(4, 1), interleaved_view(rgb, 2, 1));
  const float expected[4] = {0.f, 25.f, 75.f, 100.f};
  for (int x = 0; x < 4; ++x) EXPECT_FLOAT_EQ(tensor[3 * x], expected[x]) << x;
}

TEST(Preprocess, TopLeftSamplingPutsOutputPixelIAtIOverTheScale) {
  // MediaPipe's ImageToTensor: 4x1 grey [0, 100, 200, 250] shrunk to 2x1 samples 0 and 2;
  // stretched from 2x1 [0, 100] to 4x1 samples 0, 0.5, 1, 1.5 (clamped) -> 0, 50, 100, 100.
  InputSpec shrink = spec_of(2, 1);
  shrink.sampling = Sampling::top_left;
  const std::vector<std::uint8_t> four = {0, 0, 0, 100, 100, 100, 200, 200, 200, 250, 250, 250};
  const std::vector<float> small = run(shrink, interleaved_view(four, 4, 1));
  EXPECT_FLOAT_EQ(small[0], 0.f);
  EXPECT_FLOAT_EQ(small[3], 200.f);
  InputSpec grow = spec_of(4, 1);
  grow.sampling = Sampling::top_left;
  const std::vector<std::uint8_t> two = {0, 0, 0, 100, 100, 100};
  const std::vector<float> large = run(grow, interleaved_view(two, 2, 1));
  const float expected[4] = {0.f, 50.f, 100.f, 100.f};
  for (int x = 0; x < 4; ++x) EXPECT_FLOAT_EQ(large[3 * x], expected[x]) << x;
}

TEST(Preprocess, NchwAndBgrReorderTheSameValues) {
  const std::vector<std::uint8_t> rgb = random_bytes(4 * 2 * 3, 5);
  const std::vector<float> nhwc = run(spec_of(4, 2), interleaved_view(rgb, 4, 2));
  InputSpec spec = spec_of(4, 2);
  spec.layout = Layout::nchw;
  spec.channel_order = ChannelOrder::bgr;
  const std::vector<float> nchw = run(spec, interleaved_view(rgb, 4, 2));
  spec.layout = Layout::nhwc;
  const std::vector<float> nhwc_bgr = run(spec, interleaved_view(rgb, 4, 2));
  for (int pixel = 0; pixel < 8; ++pixel) {
    for (int c = 0; c < 3; ++c) {
      EXPECT_EQ(nchw[(2 - c) * 8 + pixel], nhwc[pixel * 3 + c]);
      EXPECT_EQ(nhwc_bgr[pixel * 3 + 2 - c], nhwc[pixel * 3 + c]);
    }
  }
}

TEST(Preprocess, LetterboxPadsWithNormalisedBlack) {
  const std::vector<std::uint8_t> rgb(4 * 2 * 3, 200);  // 4x2 into 4x4: rows 1..2 hold the image
  InputSpec spec = spec_of(4, 4, Resize::letterbox);
  for (float& m : spec.mean) m = 127.5f;
  for (float& s : spec.std) s = 127.5f;
  Placement place;
  const std::vector<float> tensor = run(spec, interleaved_view(rgb, 4, 2), &place);
  EXPECT_EQ(place.offset_y, 1.f);
  for (int y = 0; y < 4; ++y) {
    const float expected = y == 0 || y == 3 ? -1.f : 200.f / 127.5f - 1.f;
    EXPECT_NEAR(tensor[y * 12], expected, 1e-6) << y;
  }
}

TEST(Preprocess, RotatedViewEqualsTheTurnedRgbImage) {
  const int width = 40, height = 30;
  const std::vector<std::uint8_t> rgb = random_bytes(width * height * 3, 6);
  const InputSpec spec = spec_of(16, 16, Resize::letterbox);
  for (int degrees : {0, 90, 180, 270}) {
    const std::vector<std::uint8_t> turned = rotate_rgb(rgb, width, height, degrees);
    const int tw = degrees % 180 ? height : width, th = degrees % 180 ? width : height;
    Placement fused_place, plain_place;
    const std::vector<float> fused = run(spec, interleaved_view(rgb, width, height, PixelFormat::rgb, degrees),
                                         &fused_place);
    EXPECT_EQ(fused, run(spec, interleaved_view(turned, tw, th), &plain_place)) << degrees;
    EXPECT_EQ(fused_place.offset_x, plain_place.offset_x);
    EXPECT_EQ(fused_place.scale_y, plain_place.scale_y);
  }
}

// Bytes from `lo` to `hi`.
std::vector<std::uint8_t> random_range(std::size_t count, unsigned seed, int lo, int hi) {
  std::vector<std::uint8_t> bytes = random_bytes(count, seed);
  for (auto& b : bytes) b = static_cast<std::uint8_t>(lo + b % (hi - lo + 1));
  return bytes;
}

TEST(Preprocess, Nv21IsBlendedAsYuvThenConvertedWithinHalfAGreyLevel) {
  // Sampled once per output pixel: the neighbours' Y, U, V blended, then converted. With
  // no channel clipped (Y 60..190, chroma 100..156), that differs from blending the RGB
  // conversion only by its rounding to bytes: at most half a grey level.
  const int width = 40, height = 30;
  const std::vector<std::uint8_t> y_plane = random_range(width * height, 7, 60, 190);
  const std::vector<std::uint8_t> chroma = random_range(width * height / 2, 8, 100, 156);
  const ImageView view = testing::nv21_view(y_plane, chroma, width, height, 270);
  std::vector<std::uint8_t> rgb(width * height * 3);
  ASSERT_TRUE(to_rgb(view, {rgb.data(), rgb.size()}).ok());
  const InputSpec spec = spec_of(24, 24, Resize::letterbox);
  const std::vector<float> fused = run(spec, view), converted = run(spec, interleaved_view(rgb, height, width));
  ASSERT_EQ(fused.size(), converted.size());
  for (std::size_t i = 0; i < fused.size(); ++i) EXPECT_NEAR(fused[i], converted[i], 0.5f + 1e-4f) << i;
}

TEST(Preprocess, Nv21TurnedEqualsTheTurnedFrame) {
  // Turning the Y plane, and the chroma plane as a half-size image of pairs, turns the frame.
  const int width = 40, height = 30;
  const std::vector<std::uint8_t> y_plane = random_bytes(width * height, 9), chroma = random_bytes(width * height / 2, 10);
  const InputSpec spec = spec_of(24, 16, Resize::letterbox);
  for (int degrees : {90, 180, 270}) {
    const std::vector<std::uint8_t> turned_y = testing::rotate_plane(y_plane, width, height, 1, degrees);
    const std::vector<std::uint8_t> turned_c = testing::rotate_plane(chroma, width / 2, height / 2, 2, degrees);
    const int tw = degrees % 180 ? height : width, th = degrees % 180 ? width : height;
    EXPECT_EQ(run(spec, testing::nv21_view(y_plane, chroma, width, height, degrees)),
              run(spec, testing::nv21_view(turned_y, turned_c, tw, th)))
        << degrees;
  }
}

TEST(Preprocess, RefusesABadSpecOrASmallTensor) {
  const std::vector<std::uint8_t> rgb(12);
  std::vector<float> tensor(2 * 2 * 3);
  Preprocessor pre(spec_of(2, 2));
  EXPECT_FALSE(pre.run(interleaved_view(rgb, 2, 2), {tensor.data(), tensor.size() - 1}, nullptr).ok());
  EXPECT_TRUE(pre.run(interleaved_view(rgb, 2, 2), {tensor.data(), tensor.size()}, nullptr).ok());
  InputSpec bad = spec_of(2, 2);
  bad.std[1] = 0.f;
  EXPECT_STREQ(Preprocessor(bad).run(interleaved_view(rgb, 2, 2), {tensor.data(), tensor.size()}, nullptr).error,
               "input.std: must be finite and positive");
  EXPECT_FALSE(check_input_spec(spec_of(4096, 2)).ok());
}

TEST(Preprocess, ASecondImageSizeGetsItsOwnWeights) {
  // The taps are cached per image size: a new size must not reuse the old ones.
  const std::vector<std::uint8_t> small = random_bytes(8 * 8 * 3, 9), large = random_bytes(20 * 12 * 3, 10);
  const InputSpec spec = spec_of(8, 8, Resize::letterbox);
  Preprocessor pre(spec);
  std::vector<float> tensor(8 * 8 * 3);
  ASSERT_TRUE(pre.run(interleaved_view(small, 8, 8), {tensor.data(), tensor.size()}, nullptr).ok());
  ASSERT_TRUE(pre.run(interleaved_view(large, 20, 12), {tensor.data(), tensor.size()}, nullptr).ok());
  EXPECT_EQ(tensor, run(spec, interleaved_view(large, 20, 12)));
}

}  // namespace
}  // namespace edgeface::vision
