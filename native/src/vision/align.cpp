#include "edgeface/vision/align.h"

#include <algorithm>
#include <cmath>

#include "pixels.h"
#include "tensor.h"

namespace edgeface::vision {

Status similarity_transform(const double* src, const double* dst, std::size_t count, Affine matrix) {
  if (count == 0) return Status::fail("keypoints: none to align");
  double mean_s[2] = {0, 0}, mean_d[2] = {0, 0};
  for (std::size_t i = 0; i < count; ++i) {
    for (int c = 0; c < 2; ++c) {
      mean_s[c] += src[2 * i + c] / count;
      mean_d[c] += dst[2 * i + c] / count;
    }
  }
  // The best a*R(theta) with (a cos, a sin) = (dot, cross) / |s|^2 over centred points.
  double var = 0, dot = 0, cross = 0;
  for (std::size_t i = 0; i < count; ++i) {
    const double sx = src[2 * i] - mean_s[0], sy = src[2 * i + 1] - mean_s[1];
    const double dx = dst[2 * i] - mean_d[0], dy = dst[2 * i + 1] - mean_d[1];
    var += sx * sx + sy * sy;
    dot += sx * dx + sy * dy;
    cross += sx * dy - sy * dx;
  }
  if (!(var / count > 1e-12)) return Status::fail("keypoints: all at one place: cannot align");
  const double a = dot / var, b = cross / var;
  matrix[0] = a, matrix[1] = -b, matrix[3] = b, matrix[4] = a;
  matrix[2] = mean_d[0] - (a * mean_s[0] - b * mean_s[1]);
  matrix[5] = mean_d[1] - (b * mean_s[0] + a * mean_s[1]);
  return Status{};
}

namespace {

// The inverse of an affine matrix (image pixel of each chip pixel); false when singular.
bool invert(const Affine m, Affine inverse) {
  const double det = m[0] * m[4] - m[1] * m[3];
  if (!std::isfinite(det) || det == 0) return false;
  inverse[0] = m[4] / det, inverse[1] = -m[1] / det;
  inverse[3] = -m[3] / det, inverse[4] = m[0] / det;
  inverse[2] = -(inverse[0] * m[2] + inverse[1] * m[5]);
  inverse[5] = -(inverse[3] * m[2] + inverse[4] * m[5]);
  return true;
}

// The chip's byte value at image position (x, y): bilinear over the four neighbours, a
// neighbour outside the image counting as black (edgeface.align.warp_affine_numpy).
// floor() of a value known to lie in (-1, 2^31): a cast and a compare, where std::floor is
// a library call on x86-64's baseline instruction set.
int floor_of(double value) {
  const int truncated = static_cast<int>(value);
  return truncated > value ? truncated - 1 : truncated;
}

// Rounds 0 <= value < 2^52 half to even, as np.rint (and std::nearbyint, a library call):
// adding 2^52 leaves no fraction bits, so the default rounding mode rounds there.
double round_half_even(double value) {
  const double shift = 4503599627370496.0;
  return (value + shift) - shift;
}

template <class Pixels>
void sample(const Pixels& pixels, int width, int height, double x, double y, float rgb[3]) {
  rgb[0] = rgb[1] = rgb[2] = 0.f;
  if (!(x > -1.0 && x < width && y > -1.0 && y < height)) return;  // NaN too
  const int x0 = floor_of(x), y0 = floor_of(y);
  const double fx = x - x0, fy = y - y0;
  // Each neighbour column's and row's stored offsets, once; outside the image: none.
  const bool columns[2] = {x0 >= 0, x0 + 1 < width}, rows[2] = {y0 >= 0, y0 + 1 < height};
  const detail::Offsets column[2] = {columns[0] ? pixels.column(x0) : detail::Offsets{},
                                     columns[1] ? pixels.column(x0 + 1) : detail::Offsets{}};
  const detail::Offsets row[2] = {rows[0] ? pixels.row(y0) : detail::Offsets{},
                                  rows[1] ? pixels.row(y0 + 1) : detail::Offsets{}};
  float tap[4][3];
  for (int t = 0; t < 4; ++t) {
    const int i = t & 1, j = t >> 1;
    if (columns[i] && rows[j]) {
      pixels.read(column[i], row[j], tap[t]);
    } else {
      tap[t][0] = tap[t][1] = tap[t][2] = 0.f;
    }
  }
  for (int c = 0; c < 3; ++c) {
    const double top = tap[0][c] * (1 - fx) + tap[1][c] * fx;
    const double bottom = tap[2][c] * (1 - fx) + tap[3][c] * fx;
    rgb[c] = static_cast<float>(round_half_even(std::clamp(top * (1 - fy) + bottom * fy, 0.0, 255.0)));
  }
}

}  // namespace

Status warp_to_tensor(const ImageView& image, const Affine matrix, const InputSpec& spec, Span<float> tensor) {
  if (Status s = check_image(image); !s.ok()) return s;
  if (Status s = check_input_spec(spec); !s.ok()) return s;
  if (Status s = detail::check_tensor(spec, tensor); !s.ok()) return s;
  Affine inverse;
  if (!invert(matrix, inverse)) return Status::fail("matrix: not invertible (degenerate keypoints)");
  const detail::TensorWriter out(spec, tensor.data);
  const int width = upright_width(image), height = upright_height(image);
  detail::with_pixels(image, [&](const auto& pixels) {
    float rgb[3];
    for (int y = 0; y < spec.height; ++y) {
      for (int x = 0; x < spec.width; ++x) {
        const double src_x = inverse[0] * x + inverse[1] * y + inverse[2];
        const double src_y = inverse[3] * x + inverse[4] * y + inverse[5];
        sample(pixels, width, height, src_x, src_y, rgb);
        out.put(static_cast<std::size_t>(y) * spec.width + x, rgb);
      }
    }
  });
  return Status{};
}

Status Aligner::create(int width, int height, const std::vector<TemplatePoint>& template_points,
                       const std::vector<std::string>& keypoint_names, Aligner& out) {
  if (width < 1 || width > kMaxInputSide || height < 1 || height > kMaxInputSide)
    return Status::fail("alignment: width and height must be 1..2048");
  std::vector<TemplatePoint> points = template_points;
  auto find = [&](const std::string& name) {
    return std::find_if(points.begin(), points.end(), [&](const TemplatePoint& p) { return p.name == name; });
  };
  const auto left = find("mouth_left"), right = find("mouth_right");
  if (find("mouth_center") == points.end() && left != points.end() && right != points.end())
    points.push_back({"mouth_center", (right->x + left->x) / 2, (right->y + left->y) / 2});
  Aligner aligner;
  for (std::size_t i = 0; i < keypoint_names.size(); ++i) {
    const auto point = find(keypoint_names[i]);
    if (point == points.end()) continue;
    aligner.indices_.push_back(static_cast<int>(i));
    aligner.target_.insert(aligner.target_.end(), {point->x, point->y});
  }
  if (aligner.indices_.size() < 2)
    return Status::fail("the detector's keypoints share fewer than 2 names with the embedder's alignment "
                        "template: name them in models.detector.keypoint_names");
  aligner.width_ = width;
  aligner.height_ = height;
  out = std::move(aligner);
  return Status{};
}

Status Aligner::matrix(const float* keypoints, Affine out) const {
  std::vector<double> source;
  for (int i : indices_) source.insert(source.end(), {keypoints[2 * i], keypoints[2 * i + 1]});
  return similarity_transform(source.data(), target_.data(), indices_.size(), out);
}

Status Aligner::warp(const ImageView& image, const float* keypoints, const InputSpec& spec,
                     Span<float> tensor) const {
  if (spec.width != width_ || spec.height != height_)
    return Status::fail("models.embedder.input: its size differs from alignment's width and height");
  Affine m, inverse;
  if (matrix(keypoints, m).ok() && invert(m, inverse)) return warp_to_tensor(image, m, spec, tensor);
  // Degenerate keypoints: a black chip, which embeds far from any face (as in Python).
  if (Status s = check_image(image); !s.ok()) return s;
  if (Status s = check_input_spec(spec); !s.ok()) return s;
  if (Status s = detail::check_tensor(spec, tensor); !s.ok()) return s;
  const detail::TensorWriter out(spec, tensor.data);
  const float black[3] = {0.f, 0.f, 0.f};
  for (std::size_t pixel = 0; pixel < static_cast<std::size_t>(spec.width) * spec.height; ++pixel)
    out.put(pixel, black);
  return Status{};
}

void l2_normalize(Span<float> vector) {
  double sum = 0;
  for (float v : vector) sum += static_cast<double>(v) * v;
  const float norm = std::max(static_cast<float>(std::sqrt(sum)), 1e-12f);
  for (float& v : vector) v /= norm;
}

float cosine_similarity(const float* a, const float* b, std::size_t size) {
  double dot = 0, norm_a = 0, norm_b = 0;
  for (std::size_t i = 0; i < size; ++i) {
    dot += static_cast<double>(a[i]) * b[i];
    norm_a += static_cast<double>(a[i]) * a[i];
    norm_b += static_cast<double>(b[i]) * b[i];
  }
  if (norm_a == 0 || norm_b == 0) return 0.f;
  return static_cast<float>(dot / std::sqrt(norm_a * norm_b));
}

}  // namespace edgeface::vision
