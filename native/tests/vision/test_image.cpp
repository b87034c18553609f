// Camera formats (BT.601 NV21/NV12, full and video range) and rotation.
#include <gtest/gtest.h>

#include <vector>

#include "edgeface/vision/image.h"
#include "helpers.h"

namespace edgeface::vision {
namespace {

using testing::interleaved_view;
using testing::random_bytes;
using testing::rotate_rgb;

// A 2x2 YUV image (one chroma pair) converted to RGB; returns the top-left pixel.
std::vector<std::uint8_t> convert_2x2(PixelFormat format, std::uint8_t luma, std::uint8_t u, std::uint8_t v,
                                      YuvRange range) {
  const std::vector<std::uint8_t> y_plane(4, luma);
  const std::vector<std::uint8_t> chroma = format == PixelFormat::nv21 ? std::vector<std::uint8_t>{v, u}
                                                                       : std::vector<std::uint8_t>{u, v};
  ImageView view = testing::nv21_view(y_plane, chroma, 2, 2);
  view.format = format;
  view.range = range;
  std::vector<std::uint8_t> rgb(12);
  EXPECT_TRUE(to_rgb(view, {rgb.data(), rgb.size()}).ok());
  return {rgb[0], rgb[1], rgb[2]};
}

using Rgb = std::vector<std::uint8_t>;

TEST(Yuv, FullRangeBt601ByHand) {
  // R = Y + 1.402 V', G = Y - 0.344136 U' - 0.714136 V', B = Y + 1.772 U' (U' = U - 128).
  EXPECT_EQ(convert_2x2(PixelFormat::nv21, 100, 128, 128, YuvRange::full), (Rgb{100, 100, 100}));
  // u' = -38, v' = 112: R = 81 + 157.024, G = 81 + 13.077 - 79.983, B = 81 - 67.336
  EXPECT_EQ(convert_2x2(PixelFormat::nv21, 81, 90, 240, YuvRange::full), (Rgb{238, 14, 14}));
  // v' = 100: R = 128 + 140.2 clips at 255, G = 128 - 71.41
  EXPECT_EQ(convert_2x2(PixelFormat::nv21, 128, 128, 228, YuvRange::full), (Rgb{255, 57, 128}));
}

TEST(Yuv, VideoRangeBt601ByHand) {
  // Y' = (Y - 16) * 255/219; chroma factors times 255/224.
  EXPECT_EQ(convert_2x2(PixelFormat::nv21, 16, 128, 128, YuvRange::video), (Rgb{0, 0, 0}));
  EXPECT_EQ(convert_2x2(PixelFormat::nv21, 235, 128, 128, YuvRange::video), (Rgb{255, 255, 255}));
  // Y' = 110 * 1.164383 = 128.08; v' = 72: R = 128.08 + 114.91, G = 128.08 - 58.53
  EXPECT_EQ(convert_2x2(PixelFormat::nv21, 126, 128, 200, YuvRange::video), (Rgb{243, 70, 128}));
}

TEST(Yuv, Nv12IsNv21WithUAndVSwapped) {
  EXPECT_EQ(convert_2x2(PixelFormat::nv12, 81, 90, 240, YuvRange::full), (Rgb{238, 14, 14}));
}

TEST(Yuv, EachTwoByTwoBlockSharesOneChromaPair) {
  // 4x2 Y with two chroma pairs in a padded chroma row: the right block is greyer.
  const std::vector<std::uint8_t> y_plane = {50, 60, 70, 80, 90, 100, 110, 120};
  const std::vector<std::uint8_t> chroma = {228, 128, 128, 128, 0, 0};  // V,U V,U then padding
  ImageView view;
  view.format = PixelFormat::nv21;
  view.width = 4;
  view.height = 2;
  view.pixels = y_plane.data();
  view.stride = 4;
  view.size = y_plane.size();
  view.chroma = chroma.data();
  view.chroma_stride = 6;
  view.chroma_size = chroma.size();
  std::vector<std::uint8_t> rgb(4 * 2 * 3);
  ASSERT_TRUE(to_rgb(view, {rgb.data(), rgb.size()}).ok());
  EXPECT_EQ(rgb[0], 190);        // 50 + 140.2
  EXPECT_EQ(rgb[3 * 5], 240);    // (1, 1): 100 + 140.2 (the same pair)
  EXPECT_EQ(rgb[3 * 2], 70);     // (2, 0): neutral chroma
  EXPECT_EQ(rgb[3 * 7 + 2], 120);
}

TEST(Rotation, LabelledPixelsByHand) {
  // Stored 3x2:  a b c  / d e f   (the red channel holds the letter)
  std::vector<std::uint8_t> stored(3 * 2 * 3, 0);
  for (int i = 0; i < 6; ++i) stored[3 * i] = static_cast<std::uint8_t>('a' + i);
  const std::vector<std::pair<int, std::string>> cases = {
      {0, "abcdef"}, {90, "daebfc"}, {180, "fedcba"}, {270, "cfbead"}};
  for (const auto& [degrees, expected] : cases) {
    const ImageView view = interleaved_view(stored, 3, 2, PixelFormat::rgb, degrees);
    std::vector<std::uint8_t> rgb(stored.size());
    ASSERT_TRUE(to_rgb(view, {rgb.data(), rgb.size()}).ok());
    std::string letters;
    for (int i = 0; i < 6; ++i) letters += static_cast<char>(rgb[3 * i]);
    EXPECT_EQ(letters, expected) << degrees << " degrees";
    EXPECT_EQ(upright_width(view), degrees % 180 ? 2 : 3);
  }
}

TEST(Rotation, EveryFormatAndAngleEqualsTurningTheRgbImage) {
  const int width = 6, height = 4;
  std::vector<std::uint8_t> rgb = random_bytes(width * height * 3, 1);
  std::vector<std::uint8_t> bgr = rgb, rgba(width * height * 4, 255);
  for (int i = 0; i < width * height; ++i) {
    std::swap(bgr[3 * i], bgr[3 * i + 2]);
    for (int c = 0; c < 3; ++c) rgba[4 * i + c] = rgb[3 * i + c];
  }
  for (int degrees : {0, 90, 180, 270}) {
    const std::vector<std::uint8_t> expected = rotate_rgb(rgb, width, height, degrees);
    for (auto [format, bytes] : {std::pair{PixelFormat::rgb, &rgb}, std::pair{PixelFormat::bgr, &bgr},
                                 std::pair{PixelFormat::rgba, &rgba}}) {
      std::vector<std::uint8_t> out(expected.size());
      ASSERT_TRUE(to_rgb(interleaved_view(*bytes, width, height, format, degrees), {out.data(), out.size()}).ok());
      EXPECT_EQ(out, expected) << degrees << " degrees, format " << static_cast<int>(format);
    }
  }
}

TEST(Rotation, Nv21TurnedEqualsItsRgbTurned) {
  const int width = 6, height = 4;
  const std::vector<std::uint8_t> y_plane = random_bytes(width * height, 2);
  const std::vector<std::uint8_t> chroma = random_bytes(width * height / 2, 3);
  ImageView view = testing::nv21_view(y_plane, chroma, width, height);
  std::vector<std::uint8_t> upright(width * height * 3);
  ASSERT_TRUE(to_rgb(view, {upright.data(), upright.size()}).ok());
  for (int degrees : {90, 180, 270}) {
    view.rotation = degrees;
    std::vector<std::uint8_t> out(upright.size());
    ASSERT_TRUE(to_rgb(view, {out.data(), out.size()}).ok());
    EXPECT_EQ(out, rotate_rgb(upright, width, height, degrees)) << degrees;
  }
}

TEST(CheckImage, RefusesViewsThatDoNotHoldTheirPixels) {
  const std::vector<std::uint8_t> bytes(12 * 3);
  ImageView view = interleaved_view(bytes, 4, 3);
  EXPECT_TRUE(check_image(view).ok());
  ImageView bad = view;
  bad.stride = 11;
  EXPECT_STREQ(check_image(bad).error, "image.stride: shorter than one row of pixels");
  bad = view;
  bad.size = bytes.size() - 1;
  EXPECT_FALSE(check_image(bad).ok());
  bad = view;
  bad.stride = static_cast<std::size_t>(-1);  // a negative stride cast: height rows would wrap around
  EXPECT_STREQ(check_image(bad).error, "image.size: the buffer is smaller than height rows of stride bytes");
  bad = view;
  bad.rotation = 45;
  EXPECT_FALSE(check_image(bad).ok());
  bad = view;
  bad.width = 0;
  EXPECT_FALSE(check_image(bad).ok());
  bad = view;
  bad.width = bad.height = 10000;  // 100 million pixels
  bad.stride = 30000;
  bad.size = static_cast<std::size_t>(-1);
  EXPECT_FALSE(check_image(bad).ok());
  bad = view;
  bad.format = PixelFormat::nv21;  // no chroma plane
  EXPECT_FALSE(check_image(bad).ok());
  bad.chroma = bytes.data();
  bad.chroma_stride = 4;
  bad.chroma_size = 7;  // two rows of 4 bytes need 8
  EXPECT_FALSE(check_image(bad).ok());
  bad.chroma_size = 8;
  EXPECT_TRUE(check_image(bad).ok());
}

TEST(CheckImage, ToRgbRefusesASmallOutput) {
  const std::vector<std::uint8_t> bytes(12);
  std::vector<std::uint8_t> out(11);
  EXPECT_FALSE(to_rgb(interleaved_view(bytes, 2, 2), {out.data(), out.size()}).ok());
}

}  // namespace
}  // namespace edgeface::vision
