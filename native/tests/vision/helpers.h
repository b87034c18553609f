// Building images for the vision tests.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "edgeface/vision/image.h"

namespace edgeface::vision::testing {

// A view over an interleaved image held in `bytes` (rows packed, no padding).
inline ImageView interleaved_view(const std::vector<std::uint8_t>& bytes, int width, int height,
                                  PixelFormat format = PixelFormat::rgb, int rotation = 0) {
  const int channels = format == PixelFormat::rgba ? 4 : 3;
  ImageView view;
  view.format = format;
  view.width = width;
  view.height = height;
  view.pixels = bytes.data();
  view.stride = static_cast<std::size_t>(width) * channels;
  view.size = bytes.size();
  view.rotation = rotation;
  return view;
}

// A view over an NV21 frame: Y plane `luma`, V,U plane `chroma`, rows packed.
inline ImageView nv21_view(const std::vector<std::uint8_t>& luma, const std::vector<std::uint8_t>& chroma,
                           int width, int height, int rotation = 0) {
  ImageView view;
  view.format = PixelFormat::nv21;
  view.width = width;
  view.height = height;
  view.pixels = luma.data();
  view.stride = width;
  view.size = luma.size();
  view.chroma = chroma.data();
  view.chroma_stride = (width + 1) / 2 * 2;
  view.chroma_size = chroma.size();
  view.rotation = rotation;
  return view;
}

inline std::vector<std::uint8_t> random_bytes(std::size_t count, unsigned seed) {
  std::mt19937 engine(seed);
  std::uniform_int_distribution<int> byte(0, 255);
  std::vector<std::uint8_t> bytes(count);
  for (auto& b : bytes) b = static_cast<std::uint8_t>(byte(engine));
  return bytes;
}

// An image of `channels` bytes a pixel turned clockwise by `degrees` (numpy's
// np.rot90(image, -degrees // 90)): a quarter turn clockwise puts the stored bottom-left
// pixel at the top-left.
inline std::vector<std::uint8_t> rotate_plane(const std::vector<std::uint8_t>& image, int width, int height,
                                              int channels, int degrees) {
  std::vector<std::uint8_t> out = image;
  for (int turn = 0; turn < degrees / 90; ++turn) {
    std::vector<std::uint8_t> next(out.size());
    // out is width x height; the turned image is height wide and width tall.
    for (int y = 0; y < width; ++y)
      for (int x = 0; x < height; ++x)
        for (int c = 0; c < channels; ++c)
          next[(static_cast<std::size_t>(y) * height + x) * channels + c] =
              out[(static_cast<std::size_t>(height - 1 - x) * width + y) * channels + c];
    out.swap(next);
    std::swap(width, height);
  }
  return out;
}

inline std::vector<std::uint8_t> rotate_rgb(const std::vector<std::uint8_t>& rgb, int width, int height,
                                            int degrees) {
  return rotate_plane(rgb, width, height, 3, degrees);
}

}  // namespace edgeface::vision::testing
