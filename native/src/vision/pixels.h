// Reading one pixel of an image view as upright RGB: the inner step of every fused pass
// (preprocessing, warping, conversion). Internal to the library.
#pragma once

#include <cstddef>
#include <cstdint>

#include "edgeface/vision/image.h"

namespace edgeface::vision::detail {

// Where upright pixel (x, y) is stored: stored_x = x0 + xx * x + xy * y, likewise y.
struct Orientation {
  int x0, xx, xy;
  int y0, yx, yy;
};

Orientation orientation_of(const ImageView& image);

// BT.601 YUV -> RGB factors of one range.
struct YuvFactors {
  float y_offset, y_gain, v_to_r, u_to_g, v_to_g, u_to_b;
};

YuvFactors yuv_factors(YuvRange range);

inline float to_byte(float value) {
  // Rounds half up and clamps to 0..255, as an 8-bit RGB image holds it.
  value = value < 0.f ? 0.f : (value > 255.f ? 255.f : value);
  return static_cast<float>(static_cast<int>(value + 0.5f));
}

template <PixelFormat F>
struct Interleaved;  // byte offsets of R, G, B in an interleaved pixel, and its size
template <>
struct Interleaved<PixelFormat::rgb> { static constexpr int r = 0, g = 1, b = 2, bytes = 3; };
template <>
struct Interleaved<PixelFormat::rgba> { static constexpr int r = 0, g = 1, b = 2, bytes = 4; };
template <>
struct Interleaved<PixelFormat::bgr> { static constexpr int r = 2, g = 1, b = 0, bytes = 3; };

// The upright RGB value of a pixel of an interleaved image, as floats 0..255.
template <PixelFormat F>
class Pixels {
 public:
  explicit Pixels(const ImageView& image)
      : data_(image.pixels), stride_(image.stride), at_(orientation_of(image)) {}

  void read(int x, int y, float rgb[3]) const {
    const int sx = at_.x0 + at_.xx * x + at_.xy * y;
    const int sy = at_.y0 + at_.yx * x + at_.yy * y;
    const std::uint8_t* p = data_ + static_cast<std::size_t>(sy) * stride_ +
                            static_cast<std::size_t>(sx) * Interleaved<F>::bytes;
    rgb[0] = p[Interleaved<F>::r];
    rgb[1] = p[Interleaved<F>::g];
    rgb[2] = p[Interleaved<F>::b];
  }

 private:
  const std::uint8_t* data_;
  std::size_t stride_;
  Orientation at_;
};

// NV21 (V first) and NV12 (U first): each 2x2 block of Y shares one chroma pair. The RGB
// value is rounded to bytes, so sampling it equals sampling the converted RGB image.
template <PixelFormat F, int UFirst>
class YuvPixels {
 public:
  explicit YuvPixels(const ImageView& image)
      : luma_(image.pixels), stride_(image.stride), chroma_(image.chroma),
        chroma_stride_(image.chroma_stride), at_(orientation_of(image)),
        k_(yuv_factors(image.range)) {}

  void read(int x, int y, float rgb[3]) const {
    const int sx = at_.x0 + at_.xx * x + at_.xy * y;
    const int sy = at_.y0 + at_.yx * x + at_.yy * y;
    const float luma = k_.y_gain * (luma_[static_cast<std::size_t>(sy) * stride_ + sx] - k_.y_offset);
    const std::uint8_t* pair = chroma_ + static_cast<std::size_t>(sy / 2) * chroma_stride_ + (sx / 2) * 2;
    const float u = pair[UFirst ? 0 : 1] - 128.f;
    const float v = pair[UFirst ? 1 : 0] - 128.f;
    rgb[0] = to_byte(luma + k_.v_to_r * v);
    rgb[1] = to_byte(luma - k_.u_to_g * u - k_.v_to_g * v);
    rgb[2] = to_byte(luma + k_.u_to_b * u);
  }

 private:
  const std::uint8_t* luma_;
  std::size_t stride_;
  const std::uint8_t* chroma_;
  std::size_t chroma_stride_;
  Orientation at_;
  YuvFactors k_;
};

// Calls visit(pixels) with the reader of `image`'s format, so that the caller's loop is
// compiled once per format with the read inlined (one branch per image, not per pixel).
template <class Visit>
void with_pixels(const ImageView& image, Visit&& visit) {
  switch (image.format) {
    case PixelFormat::rgb: visit(Pixels<PixelFormat::rgb>(image)); break;
    case PixelFormat::rgba: visit(Pixels<PixelFormat::rgba>(image)); break;
    case PixelFormat::bgr: visit(Pixels<PixelFormat::bgr>(image)); break;
    case PixelFormat::nv21: visit(YuvPixels<PixelFormat::nv21, 0>(image)); break;
    case PixelFormat::nv12: visit(YuvPixels<PixelFormat::nv12, 1>(image)); break;
  }
}

}  // namespace edgeface::vision::detail
