#include "edgeface/vision/preprocess.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "pixels.h"
#include "tensor.h"

namespace edgeface::vision {
namespace {

// Python's round(): half to even (the default floating-point rounding mode).
int python_round(double value) { return static_cast<int>(std::nearbyint(value)); }

struct Fitted {  // the resized image's size and where it sits (letterbox) in the input
  int width, height, offset_x, offset_y;
};

Fitted fit_image(const InputSpec& spec, int image_height, int image_width) {
  if (spec.resize == Resize::stretch) return {spec.width, spec.height, 0, 0};
  const double scale = std::min(static_cast<double>(spec.width) / image_width,
                                static_cast<double>(spec.height) / image_height);
  const int width = std::max(1, python_round(image_width * scale));
  const int height = std::max(1, python_round(image_height * scale));
  if (spec.pad == Pad::corner) return {width, height, 0, 0};
  return {width, height, (spec.width - width) / 2, (spec.height - height) / 2};
}

// Normalised black around a letterboxed image (as the Python SDK's canvas), a run of
// pixels at a time.
void fill_padding(const InputSpec& spec, const Fitted& fit, const detail::TensorWriter& out) {
  const float black[3] = {0.f, 0.f, 0.f};
  const std::size_t width = static_cast<std::size_t>(spec.width);
  auto pad = [&](std::size_t y, std::size_t from, std::size_t to) {
    if (to > from) out.put_same(y * width + from, to - from, black);
  };
  const std::size_t top = static_cast<std::size_t>(fit.offset_y), bottom = top + static_cast<std::size_t>(fit.height);
  const std::size_t left = static_cast<std::size_t>(fit.offset_x), right = left + static_cast<std::size_t>(fit.width);
  pad(0, 0, top * width);  // whole rows above and below are one run each
  for (std::size_t y = top; y < bottom; ++y) {
    pad(y, 0, left);
    pad(y, right, width);
  }
  pad(bottom, 0, (static_cast<std::size_t>(spec.height) - bottom) * width);
}

bool is_finite_positive(float value) { return std::isfinite(value) && value > 0.f; }

}  // namespace

Status check_input_spec(const InputSpec& spec) {
  if (spec.height < 1 || spec.height > kMaxInputSide || spec.width < 1 || spec.width > kMaxInputSide)
    return Status::fail("input: height and width must be 1..2048");
  for (int c = 0; c < 3; ++c) {
    if (!std::isfinite(spec.mean[c])) return Status::fail("input.mean: must be finite");
    if (!is_finite_positive(spec.std[c])) return Status::fail("input.std: must be finite and positive");
  }
  return Status{};
}

void Placement::to_original(float* xy, std::size_t count) const {
  const float size[2] = {static_cast<float>(model_width), static_cast<float>(model_height)};
  const float offset[2] = {offset_x, offset_y};
  const float scale[2] = {scale_x, scale_y};
  for (std::size_t i = 0; i < 2 * count; ++i) {
    const int axis = static_cast<int>(i % 2);
    xy[i] = (xy[i] * size[axis] - offset[axis]) / scale[axis];
  }
}

Placement placement_for(const InputSpec& spec, int image_height, int image_width) {
  const Fitted fit = fit_image(spec, image_height, image_width);
  Placement place;
  place.scale_x = static_cast<float>(static_cast<double>(fit.width) / image_width);
  place.scale_y = static_cast<float>(static_cast<double>(fit.height) / image_height);
  place.offset_x = static_cast<float>(fit.offset_x);
  place.offset_y = static_cast<float>(fit.offset_y);
  place.model_width = spec.width;
  place.model_height = spec.height;
  return place;
}

Preprocessor::Preprocessor(const InputSpec& spec) : spec_(spec) {}

namespace {

// Each output coordinate's bilinear neighbours along one axis of `src` -> `dst` samples
// (edgeface.preprocess._axis_weights: half-pixel centres or top-left, clamped at the
// edges), as `at` (a Pixels' column or row) places them.
template <class Tap, class At>
void axis_taps(int src, int dst, Sampling sampling, At at, std::vector<Tap>& taps) {
  taps.resize(dst);
  const double step = static_cast<double>(src) / dst;
  for (int i = 0; i < dst; ++i) {
    const double sampled = sampling == Sampling::top_left ? i * step : (i + 0.5) * step - 0.5;
    const double pos = std::clamp(sampled, 0.0, static_cast<double>(src - 1));
    const int lo = static_cast<int>(pos);  // floor: pos >= 0 (a cast, where std::floor is a libm call)
    const detail::Offsets first = at(lo), second = at(std::min(lo + 1, src - 1));
    taps[i] = {first.pixel, first.chroma, second.pixel, second.chroma, static_cast<float>(pos - lo)};
  }
}

}  // namespace

template <class Pixels, class Writer>
void Preprocessor::resize_row(const Pixels& pixels, const AxisTap& row, int width, const Writer& out,
                              std::size_t first) {
  blend_row(pixels, row, width);
  pixels.finish_row(result_.data(), width);
  // Normalised in RGB order: straight into the tensor when it is NHWC RGB, else the writer
  // puts the channels in the model's order and layout.
  const std::size_t size = 3 * static_cast<std::size_t>(width);
  const float* result = result_.data();
  float* target = out.rgb_row(first);
  float* normalized = target != nullptr ? target : result_.data();
  const float* mul = mul_.data();
  const float* add = add_.data();
  for (std::size_t i = 0; i < size; ++i) {
    const float scaled = result[i] * mul[i];
    normalized[i] = scaled + add[i];
  }
  if (target == nullptr) out.put_normalized(first, result, width);
}

// Each pixel's four neighbours read as whole pixels (RGB, or YUV for a camera frame) and
// blended in SIMD lanes: numpy's float operations in its order, each row across, then the
// two rows down.
template <class Pixels>
void Preprocessor::blend_row(const Pixels& pixels, const AxisTap& row, int width) {
  using detail::Float4;
  const detail::Offsets top{row.lo_pixel, row.lo_chroma}, bottom{row.hi_pixel, row.hi_chroma};
  const Float4 wy = {row.weight, row.weight, row.weight, row.weight};
  float* result = result_.data();  // 3 * width + 1 floats: each pixel's fourth lane is overwritten
  // A sample that falls on a source pixel's centre along an axis (weight 0, as every one
  // does when a frame is scaled down by an odd whole factor, 640 -> 128) is that pixel:
  // a + (b - a) * 0 is a exactly, so its second neighbour is not read.
  const bool one_row = row.weight == 0.f;
  for (int x = 0; x < width; ++x) {
    const AxisTap& col = columns_[x];
    const detail::Offsets left{col.lo_pixel, col.lo_chroma}, right{col.hi_pixel, col.hi_chroma};
    const Float4 wx = {col.weight, col.weight, col.weight, col.weight};
    const Float4 a = pixels.quad(left, top);
    const Float4 upper = col.weight == 0.f ? a : a + (pixels.quad(right, top) - a) * wx;
    Float4 value = upper;
    if (!one_row) {
      const Float4 c = pixels.quad(left, bottom);
      const Float4 lower = col.weight == 0.f ? c : c + (pixels.quad(right, bottom) - c) * wx;
      value = upper + (lower - upper) * wy;
    }
    std::memcpy(result + 3 * x, &value, sizeof value);
  }
}

void Preprocessor::prepare_rows(int width, const float mul[3], const float add[3], const int source[3]) {
  const std::size_t size = 3 * static_cast<std::size_t>(width);
  result_.resize(size + 1);  // blend_row writes a fourth lane past the last pixel
  mul_.resize(size);
  add_.resize(size);
  for (std::size_t i = 0; i < size; i += 3) {
    for (int c = 0; c < 3; ++c) {  // model channel c reads RGB channel source[c]
      mul_[i + source[c]] = mul[c];
      add_[i + source[c]] = add[c];
    }
  }
}

Status Preprocessor::run(const ImageView& image, Span<float> tensor, Placement* placement) {
  if (Status s = check_input_spec(spec_); !s.ok()) return s;
  if (Status s = check_image(image); !s.ok()) return s;
  if (Status s = detail::check_tensor(spec_, tensor); !s.ok()) return s;
  const int image_width = upright_width(image), image_height = upright_height(image);
  const Fitted fit = fit_image(spec_, image_height, image_width);
  if (placement != nullptr) *placement = placement_for(spec_, image_height, image_width);

  const detail::TensorWriter out(spec_, tensor.data);
  fill_padding(spec_, fit, out);
  const detail::Normalization& norm = out.normalization();
  prepare_rows(fit.width, norm.mul, norm.add, norm.source);
  detail::with_pixels(image, [&](const auto& pixels) {
    axis_taps(image_width, fit.width, spec_.sampling, [&](int x) { return pixels.column(x); }, columns_);
    axis_taps(image_height, fit.height, spec_.sampling, [&](int y) { return pixels.row(y); }, rows_);
    for (int ty = 0; ty < fit.height; ++ty) {
      const std::size_t first = static_cast<std::size_t>(ty + fit.offset_y) * spec_.width + fit.offset_x;
      resize_row(pixels, rows_[ty], fit.width, out, first);
    }
  });
  return Status{};
}

}  // namespace edgeface::vision
