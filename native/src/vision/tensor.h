// Writing normalised RGB pixels into a model's float input tensor, shared by
// preprocessing and the chip warp. Internal to the library.
#pragma once

#include <algorithm>
#include <cstddef>

#include "edgeface/vision/preprocess.h"

namespace edgeface::vision::detail {

// (x - mean) / std as one multiply-add per channel in the model's channel order
// (edgeface.preprocess.Preprocessor.normalize): model channel c reads RGB channel source[c].
struct Normalization {
  float mul[3], add[3];
  int source[3];

  explicit Normalization(const InputSpec& spec) {
    for (int c = 0; c < 3; ++c) {
      // As numpy computes them in float32: 1 / std, then -mean * (1 / std).
      mul[c] = static_cast<float>(1.0 / spec.std[c]);
      add[c] = -spec.mean[c] * mul[c];
      source[c] = spec.channel_order == ChannelOrder::bgr ? 2 - c : c;
    }
  }

  float apply(float value, int c) const {
    const float scaled = value * mul[c];  // two roundings, as numpy's two steps
    return scaled + add[c];
  }
};

// Writes normalised pixels into a float tensor at the spec's layout.
class TensorWriter {
 public:
  TensorWriter(const InputSpec& spec, float* data)
      : norm_(spec), data_(data), pixel_step_(spec.layout == Layout::nhwc ? 3 : 1),
        channel_step_(spec.layout == Layout::nhwc ? 1 : static_cast<std::size_t>(spec.width) * spec.height) {}

  // Pixel number `pixel` (row * width + column) from its RGB values 0..255.
  void put(std::size_t pixel, const float rgb[3]) const {
    float* out = data_ + pixel * pixel_step_;
    for (int c = 0; c < 3; ++c) out[c * channel_step_] = norm_.apply(rgb[norm_.source[c]], c);
  }

  // `count` pixels from `pixel` on, all of RGB value `rgb` (padding).
  void put_same(std::size_t pixel, std::size_t count, const float rgb[3]) const {
    float value[3];
    for (int c = 0; c < 3; ++c) value[c] = norm_.apply(rgb[norm_.source[c]], c);
    if (pixel_step_ == 1) {  // NCHW: one run per channel plane
      for (int c = 0; c < 3; ++c) std::fill_n(data_ + pixel + c * channel_step_, count, value[c]);
      return;
    }
    float* out = data_ + pixel * 3;
    for (std::size_t i = 0; i < count; ++i, out += 3) out[0] = value[0], out[1] = value[1], out[2] = value[2];
  }

  // `count` pixels from `pixel` on, already normalised, in RGB order.
  void put_normalized(std::size_t pixel, const float* rgb, std::size_t count) const {
    float* out = data_ + pixel * pixel_step_;
    for (std::size_t i = 0; i < count; ++i)
      for (int c = 0; c < 3; ++c) out[i * pixel_step_ + c * channel_step_] = rgb[3 * i + norm_.source[c]];
  }

  // Where pixel `pixel` starts when the tensor holds pixels as RGB triples (NHWC, RGB
  // order), so a row can be written in place; null otherwise.
  float* rgb_row(std::size_t pixel) const {
    const bool rgb_order = norm_.source[0] == 0;
    return pixel_step_ == 3 && rgb_order ? data_ + pixel * 3 : nullptr;
  }

  const Normalization& normalization() const { return norm_; }

 private:
  Normalization norm_;
  float* data_;
  std::size_t pixel_step_, channel_step_;
};

// Refuses a tensor buffer smaller than the spec's height * width * 3 floats.
inline Status check_tensor(const InputSpec& spec, Span<float> tensor) {
  if (tensor.data == nullptr || tensor.size < static_cast<std::size_t>(spec.width) * spec.height * 3)
    return Status::fail("tensor: smaller than the input's height * width * 3 floats");
  return Status{};
}

}  // namespace edgeface::vision::detail
