// Reading pixels of an image view as upright RGB: the inner step of every fused pass
// (preprocessing, warping, conversion). Internal to the library.
//
// Where upright pixel (x, y) is stored splits into a part that depends on x alone and
// one that depends on y alone (a quarter turn maps each stored axis to one upright axis),
// so a pass over a grid looks each part up once per column and once per row, and a
// read is two additions.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "edgeface/vision/image.h"

namespace edgeface::vision::detail {

// Four floats in one SIMD register (SSE on x86-64, NEON on arm64) through the compilers'
// vector extension: a pixel's R, G, B and one value to ignore.
using Float4 = float __attribute__((vector_size(16)));
using Byte4 = std::uint8_t __attribute__((vector_size(4)));

// The four bytes of `word`, in memory order, as floats (SSE2 has no direct conversion
// that GCC finds from the vector extension alone).
inline Float4 to_floats(std::uint32_t word) {
#if defined(__SSE2__)
  const __m128i zero = _mm_setzero_si128();
  const __m128i wide = _mm_unpacklo_epi16(_mm_unpacklo_epi8(_mm_cvtsi32_si128(static_cast<int>(word)), zero), zero);
  return _mm_cvtepi32_ps(wide);
#else
  Byte4 bytes;
  std::memcpy(&bytes, &word, 4);
  return __builtin_convertvector(bytes, Float4);
#endif
}

// Where upright pixel (x, y) is stored: stored_x = x0 + xx * x + xy * y, likewise y; one of
// xx and xy is zero, and one of yx and yy.
struct Orientation {
  int x0, xx, xy;
  int y0, yx, yy;
};

Orientation orientation_of(const ImageView& image);

// The byte offsets one upright coordinate contributes: into the pixels (or Y plane) and
// into the chroma plane. A pixel's offsets are its column's plus its row's.
struct Offsets {
  std::size_t pixel = 0;
  std::size_t chroma = 0;
};

// BT.601 YUV -> RGB factors of one range (chroma gain folded into the chroma factors).
struct YuvFactors {
  float y_offset, y_gain, v_to_r, u_to_g, v_to_g, u_to_b;
};

YuvFactors yuv_factors(YuvRange range);

// min/max compile to branch-free instructions: camera noise would make clamping branches
// mispredict often.
inline float clamp_byte(float value) { return std::min(std::max(value, 0.f), 255.f); }

// R, G, B clamped to 0..255 (not rounded) of Y, U, V values: bytes, or blends of bytes.
inline void yuv_to_rgb(const YuvFactors& k, float y, float u, float v, float rgb[3]) {
  const float luma = (y - k.y_offset) * k.y_gain;
  u -= 128.f;
  v -= 128.f;
  rgb[0] = clamp_byte(luma + k.v_to_r * v);
  rgb[1] = clamp_byte(luma - k.u_to_g * u - k.v_to_g * v);
  rgb[2] = clamp_byte(luma + k.u_to_b * u);
}

// Interleaved formats: byte positions of R, G, B in a pixel, and its size.
template <PixelFormat F>
struct Interleaved;
template <>
struct Interleaved<PixelFormat::rgb> { static constexpr int r = 0, g = 1, b = 2, bytes = 3; };
template <>
struct Interleaved<PixelFormat::rgba> { static constexpr int r = 0, g = 1, b = 2, bytes = 4; };
template <>
struct Interleaved<PixelFormat::bgr> { static constexpr int r = 2, g = 1, b = 0, bytes = 3; };
// NV21 and NV12: one byte of Y a pixel; V first (NV21) or U first (NV12) in each pair.
template <>
struct Interleaved<PixelFormat::nv21> { static constexpr int bytes = 1, u = 1, v = 0; };
template <>
struct Interleaved<PixelFormat::nv12> { static constexpr int bytes = 1, u = 0, v = 1; };

// The stored-position arithmetic common to every format.
template <PixelFormat F>
class Placed {
 public:
  explicit Placed(const ImageView& image)
      : stride_(image.stride), chroma_stride_(image.chroma_stride), at_(orientation_of(image)) {}

  // The offsets upright column x contributes (with the constant of the stored axis it drives).
  Offsets column(int x) const {
    return offsets(at_.xx ? at_.x0 + at_.xx * x : 0, at_.yx ? at_.y0 + at_.yx * x : 0);
  }
  Offsets row(int y) const {
    return offsets(at_.xx ? 0 : at_.x0 + at_.xy * y, at_.yx ? 0 : at_.y0 + at_.yy * y);
  }

 private:
  Offsets offsets(int stored_x, int stored_y) const {
    const std::size_t x = static_cast<std::size_t>(stored_x), y = static_cast<std::size_t>(stored_y);
    return {y * stride_ + x * Interleaved<F>::bytes, (y / 2) * chroma_stride_ + (x / 2) * 2};
  }

  std::size_t stride_, chroma_stride_;
  Orientation at_;
};

// The upright RGB value of a pixel of an interleaved image, as floats 0..255.
template <PixelFormat F>
class Pixels : public Placed<F> {
 public:
  explicit Pixels(const ImageView& image) : Placed<F>(image), data_(image.pixels), size_(image.size) {}

  // The pixel's R, G, B (and a fourth value to ignore) as floats: RGB and RGBA from one
  // 4-byte load where that stays inside the buffer (the last pixel of an RGB image is
  // read bytewise), BGR byte by byte.
  Float4 quad(Offsets column, Offsets row) const {
    const std::size_t at = column.pixel + row.pixel;
    const std::uint8_t* p = data_ + at;
    std::uint32_t word = 0;
    if constexpr (Interleaved<F>::r != 0) {
      word = p[Interleaved<F>::r] | p[Interleaved<F>::g] << 8 | static_cast<std::uint32_t>(p[Interleaved<F>::b]) << 16;
    } else if (at + 4 <= size_) {
      std::memcpy(&word, p, 4);
    } else {
      std::memcpy(&word, p, 3);
    }
    return to_floats(word);
  }

  void read(Offsets column, Offsets row, float rgb[3]) const {
    const std::uint8_t* p = data_ + column.pixel + row.pixel;
    rgb[0] = p[Interleaved<F>::r];
    rgb[1] = p[Interleaved<F>::g];
    rgb[2] = p[Interleaved<F>::b];
  }
  void read(int x, int y, float rgb[3]) const { read(this->column(x), this->row(y), rgb); }

  // Interleaved pixels are sampled as RGB already: nothing to convert.
  void finish_row(float*, std::size_t) const {}

 private:
  const std::uint8_t* data_;
  std::size_t size_;
};

// NV21/NV12: each 2x2 block of Y shares one chroma pair.
template <PixelFormat F>
class YuvPixels : public Placed<F> {
 public:
  explicit YuvPixels(const ImageView& image)
      : Placed<F>(image), luma_(image.pixels), chroma_(image.chroma), k_(yuv_factors(image.range)) {}

  // The pixel's Y, U and V bytes.
  void raw(Offsets column, Offsets row, float yuv[3]) const {
    const std::uint8_t* pair = chroma_ + column.chroma + row.chroma;
    yuv[0] = luma_[column.pixel + row.pixel];
    yuv[1] = pair[Interleaved<F>::u];
    yuv[2] = pair[Interleaved<F>::v];
  }

  // The pixel's Y, U, V (and a fourth value to ignore) as floats.
  Float4 quad(Offsets column, Offsets row) const {
    const std::uint8_t* pair = chroma_ + column.chroma + row.chroma;
    const std::uint32_t y = luma_[column.pixel + row.pixel], u = pair[Interleaved<F>::u], v = pair[Interleaved<F>::v];
    return to_floats(y | u << 8 | v << 16);
  }

  // `count` pixels of Y, U, V values (blends of raw ones) to RGB 0..255, in place.
  // In SIMD lanes R, G, B: luma + u * (0, -u_to_g, u_to_b) + v * (v_to_r, -v_to_g, 0), the
  // same float steps as yuv_to_rgb (a zero product adds an exact zero, negation is exact).
  void finish_row(float* values, std::size_t count) const {
    const Float4 u_factor = {0.f, -k_.u_to_g, k_.u_to_b, 0.f}, v_factor = {k_.v_to_r, -k_.v_to_g, 0.f, 0.f};
    const Float4 zero = {0.f, 0.f, 0.f, 0.f}, top = {255.f, 255.f, 255.f, 255.f};
    for (std::size_t i = 0; i < count; ++i, values += 3) {
      const float luma = (values[0] - k_.y_offset) * k_.y_gain, u = values[1] - 128.f, v = values[2] - 128.f;
      const Float4 l4 = {luma, luma, luma, luma}, u4 = {u, u, u, u}, v4 = {v, v, v, v};
      Float4 rgb = (l4 + u4 * u_factor) + v4 * v_factor;
      rgb = rgb < zero ? zero : rgb;  // clamp_byte's max(value, 0) then min(value, 255)
      rgb = rgb > top ? top : rgb;
      std::memcpy(values, &rgb, 3 * sizeof(float));
    }
  }

  // The pixel's RGB, rounded half up to bytes as an RGB conversion of the frame stores it.
  void read(Offsets column, Offsets row, float rgb[3]) const {
    float yuv[3];
    raw(column, row, yuv);
    yuv_to_rgb(k_, yuv[0], yuv[1], yuv[2], rgb);
    for (int c = 0; c < 3; ++c) rgb[c] = std::floor(rgb[c] + 0.5f);
  }
  void read(int x, int y, float rgb[3]) const { read(this->column(x), this->row(y), rgb); }

 private:
  const std::uint8_t* luma_;
  const std::uint8_t* chroma_;
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
    case PixelFormat::nv21: visit(YuvPixels<PixelFormat::nv21>(image)); break;
    case PixelFormat::nv12: visit(YuvPixels<PixelFormat::nv12>(image)); break;
  }
}

}  // namespace edgeface::vision::detail
