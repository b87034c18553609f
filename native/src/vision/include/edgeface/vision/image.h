// Camera and bitmap images as views over the caller's memory, and their conversion to
// RGB. Phones deliver NV21 (Android's camera preview) or NV12 (YUV_420_888 read as one
// semi-planar buffer) in the sensor's orientation; `rotation` says how far to turn it.
#pragma once

#include <cstddef>
#include <cstdint>

#include "edgeface/vision/status.h"

namespace edgeface::vision {

enum class PixelFormat {
  rgb,   // 3 bytes a pixel
  rgba,  // 4 bytes a pixel, alpha ignored (the Python SDK drops it too)
  bgr,   // 3 bytes a pixel, as OpenCV stores images
  nv21,  // Y plane, then one plane of interleaved V,U pairs at half resolution
  nv12,  // Y plane, then one plane of interleaved U,V pairs at half resolution
};

// The BT.601 YUV range. Android's camera (Camera1 NV21 and CameraX/Camera2 YUV_420_888)
// delivers full range (JFIF: Y and chroma use 0..255); video range (Y 16..235, chroma
// 16..240) is what video decoders give.
enum class YuvRange { full, video };

// Most pixels an image may have: the Python SDK's default max_image_pixels.
constexpr std::size_t kMaxImagePixels = 64000000;

struct ImageView {
  PixelFormat format = PixelFormat::rgb;
  int width = 0;   // as stored, in the sensor's orientation
  int height = 0;
  const std::uint8_t* pixels = nullptr;  // interleaved pixels, or the Y plane
  std::size_t stride = 0;                // bytes from one row of `pixels` to the next
  std::size_t size = 0;                  // bytes readable at `pixels`
  const std::uint8_t* chroma = nullptr;  // NV21/NV12 only: the interleaved chroma plane
  std::size_t chroma_stride = 0;         // bytes from one chroma row to the next
  std::size_t chroma_size = 0;           // bytes readable at `chroma`
  int rotation = 0;  // degrees clockwise (0, 90, 180, 270) that turn the image upright
  YuvRange range = YuvRange::full;
};

// Refuses a view whose sizes, strides or buffers do not hold its pixels (every read the
// library makes of a checked view stays inside `size` and `chroma_size`).
Status check_image(const ImageView& image);

// The size of the image once turned upright (width and height swap at 90 and 270).
int upright_width(const ImageView& image);
int upright_height(const ImageView& image);

// The upright image as HxWx3 RGB bytes into `out` (upright_width * upright_height * 3).
Status to_rgb(const ImageView& image, Span<std::uint8_t> out);

}  // namespace edgeface::vision
