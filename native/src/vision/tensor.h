// Writing normalised RGB pixels into a model's float input tensor, shared by
// preprocessing and the chip warp. Internal to the library.
#pragma once

#include <cstddef>

#include "edgeface/vision/preprocess.h"

namespace edgeface::vision::detail {

// (x - mean) / std as one multiply-add per channel in the model's channel order
// (edgeface.preprocess.Preprocessor.normalize), at the spec's layout.
class TensorWriter {
 public:
  TensorWriter(const InputSpec& spec, float* data) : data_(data) {
    const std::size_t plane = static_cast<std::size_t>(spec.width) * spec.height;
    pixel_step_ = spec.layout == Layout::nhwc ? 3 : 1;
    channel_step_ = spec.layout == Layout::nhwc ? 1 : plane;
    for (int c = 0; c < 3; ++c) {
      // As numpy computes them in float32: 1 / std, then -mean * (1 / std).
      mul_[c] = static_cast<float>(1.0 / spec.std[c]);
      add_[c] = -spec.mean[c] * mul_[c];
      source_[c] = spec.channel_order == ChannelOrder::bgr ? 2 - c : c;
    }
  }

  // Pixel number `pixel` (row * width + column) from its RGB values 0..255.
  void put(std::size_t pixel, const float rgb[3]) const {
    float* out = data_ + pixel * pixel_step_;
    for (int c = 0; c < 3; ++c) {
      const float scaled = rgb[source_[c]] * mul_[c];  // two roundings, as numpy's two steps
      out[c * channel_step_] = scaled + add_[c];
    }
  }

 private:
  float* data_;
  std::size_t pixel_step_ = 3, channel_step_ = 1;
  float mul_[3], add_[3];
  int source_[3];
};

// Refuses a tensor buffer smaller than the spec's height * width * 3 floats.
inline Status check_tensor(const InputSpec& spec, Span<float> tensor) {
  if (tensor.data == nullptr || tensor.size < static_cast<std::size_t>(spec.width) * spec.height * 3)
    return Status::fail("tensor: smaller than the input's height * width * 3 floats");
  return Status{};
}

}  // namespace edgeface::vision::detail
