#include "edgeface/vision/image.h"

#include <limits>

#include "pixels.h"

namespace edgeface::vision {
namespace {

bool is_yuv(PixelFormat format) { return format == PixelFormat::nv21 || format == PixelFormat::nv12; }

int bytes_per_pixel(PixelFormat format) {
  switch (format) {
    case PixelFormat::rgb:
    case PixelFormat::bgr: return 3;
    case PixelFormat::rgba: return 4;
    default: return 1;  // the Y plane
  }
}

// The bytes `rows` rows of `row_bytes` each span at `stride`; SIZE_MAX when that
// overflows (a huge stride such as a negative one cast to size_t), which no buffer holds.
std::size_t plane_bytes(std::size_t rows, std::size_t row_bytes, std::size_t stride) {
  const std::size_t max = std::numeric_limits<std::size_t>::max();
  if (rows > 1 && stride > (max - row_bytes) / (rows - 1)) return max;
  return (rows - 1) * stride + row_bytes;
}

Status check_chroma(const ImageView& image) {
  const std::size_t rows = (static_cast<std::size_t>(image.height) + 1) / 2;
  const std::size_t row_bytes = (static_cast<std::size_t>(image.width) + 1) / 2 * 2;
  if (image.chroma == nullptr) return Status::fail("image.chroma: NV21/NV12 images need their chroma plane");
  if (image.chroma_stride < row_bytes)
    return Status::fail("image.chroma_stride: shorter than a chroma row (2 bytes per 2 pixels)");
  if (image.chroma_size < plane_bytes(rows, row_bytes, image.chroma_stride))
    return Status::fail("image.chroma_size: the chroma plane is smaller than its rows need");
  return Status{};
}

}  // namespace

Status check_image(const ImageView& image) {
  if (image.width <= 0 || image.height <= 0) return Status::fail("image: width and height must be positive");
  if (static_cast<std::size_t>(image.width) * static_cast<std::size_t>(image.height) > kMaxImagePixels)
    return Status::fail("image: over the limit of 64000000 pixels: downscale it");
  if (image.rotation != 0 && image.rotation != 90 && image.rotation != 180 && image.rotation != 270)
    return Status::fail("image.rotation: must be 0, 90, 180 or 270 degrees clockwise");
  if (image.pixels == nullptr) return Status::fail("image.pixels: null");
  const std::size_t row_bytes = static_cast<std::size_t>(image.width) * bytes_per_pixel(image.format);
  if (image.stride < row_bytes) return Status::fail("image.stride: shorter than one row of pixels");
  if (image.size < plane_bytes(image.height, row_bytes, image.stride))
    return Status::fail("image.size: the buffer is smaller than height rows of stride bytes");
  if (image.range != YuvRange::full && image.range != YuvRange::video)
    return Status::fail("image.range: must be YuvRange::full or YuvRange::video");
  return is_yuv(image.format) ? check_chroma(image) : Status{};
}

int upright_width(const ImageView& image) {
  return image.rotation == 90 || image.rotation == 270 ? image.height : image.width;
}

int upright_height(const ImageView& image) {
  return image.rotation == 90 || image.rotation == 270 ? image.width : image.height;
}

Status to_rgb(const ImageView& image, Span<std::uint8_t> out) {
  if (Status s = check_image(image); !s.ok()) return s;
  const int width = upright_width(image), height = upright_height(image);
  if (out.size < static_cast<std::size_t>(width) * height * 3)
    return Status::fail("out: smaller than the upright image's width * height * 3 bytes");
  detail::with_pixels(image, [&](const auto& pixels) {
    std::uint8_t* dst = out.data;
    float rgb[3];
    for (int y = 0; y < height; ++y) {
      for (int x = 0; x < width; ++x, dst += 3) {
        pixels.read(x, y, rgb);
        dst[0] = static_cast<std::uint8_t>(rgb[0]);
        dst[1] = static_cast<std::uint8_t>(rgb[1]);
        dst[2] = static_cast<std::uint8_t>(rgb[2]);
      }
    }
  });
  return Status{};
}

namespace detail {

Orientation orientation_of(const ImageView& image) {
  const int w = image.width - 1, h = image.height - 1;
  switch (image.rotation) {
    case 90: return {0, 0, 1, h, -1, 0};    // upright (x, y) is stored (y, h - x)
    case 180: return {w, -1, 0, h, 0, -1};  // stored (w - x, h - y)
    case 270: return {w, 0, -1, 0, 1, 0};   // stored (w - y, x)
    default: return {0, 1, 0, 0, 0, 1};
  }
}

YuvFactors yuv_factors(YuvRange range) {
  // Kr = 0.299, Kb = 0.114; video range stretches Y by 255/219 (from 16) and chroma by 255/224.
  if (range == YuvRange::video) return {16.f, 255.f / 219.f, 1.596027f, 0.391762f, 0.812968f, 2.017232f};
  return {0.f, 1.f, 1.402f, 0.344136f, 0.714136f, 1.772f};
}

}  // namespace detail
}  // namespace edgeface::vision
