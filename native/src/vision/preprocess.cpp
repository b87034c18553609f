#include "edgeface/vision/preprocess.h"

#include <algorithm>
#include <cmath>

#include "pixels.h"
#include "tensor.h"

namespace edgeface::vision {
namespace {

// Python's round(): half to even (the default floating-point rounding mode).
int round_half_even(double value) { return static_cast<int>(std::nearbyint(value)); }

struct Fitted {  // the resized image's size and where it sits (letterbox) in the input
  int width, height, offset_x, offset_y;
};

Fitted fit_image(const InputSpec& spec, int image_height, int image_width) {
  if (spec.resize == Resize::stretch) return {spec.width, spec.height, 0, 0};
  const double scale = std::min(static_cast<double>(spec.width) / image_width,
                                static_cast<double>(spec.height) / image_height);
  const int width = std::max(1, round_half_even(image_width * scale));
  const int height = std::max(1, round_half_even(image_height * scale));
  if (spec.pad == Pad::corner) return {width, height, 0, 0};
  return {width, height, (spec.width - width) / 2, (spec.height - height) / 2};
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
// (edgeface.preprocess._axis_weights: half-pixel centres, clamped at the edges), as `at`
// (a Pixels' column or row) places them.
template <class Tap, class At>
void axis_taps(int src, int dst, At at, std::vector<Tap>& taps) {
  taps.resize(dst);
  const double step = static_cast<double>(src) / dst;
  for (int i = 0; i < dst; ++i) {
    const double pos = std::clamp((i + 0.5) * step - 0.5, 0.0, static_cast<double>(src - 1));
    const int lo = static_cast<int>(std::floor(pos));
    const detail::Offsets first = at(lo), second = at(std::min(lo + 1, src - 1));
    taps[i] = {first.pixel, first.chroma, second.pixel, second.chroma, static_cast<float>(pos - lo)};
  }
}

}  // namespace

Status Preprocessor::run(const ImageView& image, Span<float> tensor, Placement* placement) {
  if (Status s = check_input_spec(spec_); !s.ok()) return s;
  if (Status s = check_image(image); !s.ok()) return s;
  if (Status s = detail::check_tensor(spec_, tensor); !s.ok()) return s;
  const int image_width = upright_width(image), image_height = upright_height(image);
  const Fitted fit = fit_image(spec_, image_height, image_width);
  if (placement != nullptr) *placement = placement_for(spec_, image_height, image_width);

  const detail::TensorWriter out(spec_, tensor.data);
  detail::with_pixels(image, [&](const auto& pixels) {
    axis_taps(image_width, fit.width, [&](int x) { return pixels.column(x); }, columns_);
    axis_taps(image_height, fit.height, [&](int y) { return pixels.row(y); }, rows_);
    const float black[3] = {0.f, 0.f, 0.f};
    float p00[3], p01[3], p10[3], p11[3], rgb[3];
    for (int y = 0; y < spec_.height; ++y) {
      const int ty = y - fit.offset_y;
      const bool row_inside = ty >= 0 && ty < fit.height;
      for (int x = 0; x < spec_.width; ++x) {
        const std::size_t pixel = static_cast<std::size_t>(y) * spec_.width + x;
        const int tx = x - fit.offset_x;
        if (!row_inside || tx < 0 || tx >= fit.width) {
          out.put(pixel, black);
          continue;
        }
        const AxisTap& col = columns_[tx];
        const AxisTap& row = rows_[ty];
        pixels.read({col.lo_pixel, col.lo_chroma}, {row.lo_pixel, row.lo_chroma}, p00);
        pixels.read({col.hi_pixel, col.hi_chroma}, {row.lo_pixel, row.lo_chroma}, p01);
        pixels.read({col.lo_pixel, col.lo_chroma}, {row.hi_pixel, row.hi_chroma}, p10);
        pixels.read({col.hi_pixel, col.hi_chroma}, {row.hi_pixel, row.hi_chroma}, p11);
        for (int c = 0; c < 3; ++c) {
          const float top = p00[c] + (p01[c] - p00[c]) * col.weight;
          const float bottom = p10[c] + (p11[c] - p10[c]) * col.weight;
          rgb[c] = top + (bottom - top) * row.weight;
        }
        out.put(pixel, rgb);
      }
    }
  });
  return Status{};
}

}  // namespace edgeface::vision
