// Image -> model input tensor in one pass (colour conversion, rotation, bilinear resize,
// letterbox and normalisation fused), and the way back to image pixels. Mirrors
// edgeface/preprocess.py's numpy path: OpenCV INTER_LINEAR's half-pixel centres (or top-left
// sampling, as the input spec says), round half to even for the resized size, integer
// letterbox offsets, black padding.
#pragma once

#include <cstdint>
#include <vector>

#include "edgeface/vision/image.h"
#include "edgeface/vision/status.h"

namespace edgeface::vision {

enum class Layout { nhwc, nchw };
enum class ChannelOrder { rgb, bgr };
enum class Resize { letterbox, stretch };
enum class Pad { center, corner };
// Where the resize samples: half-pixel centres (OpenCV's resize), or input pixel i at image
// i / scale (MediaPipe's ImageToTensor): edgeface.bundle.InputSpec.sampling.
enum class Sampling { half_pixel, top_left };

// Largest input side a manifest may give (edgeface.bundle.MAX_INPUT_SIDE).
constexpr int kMaxInputSide = 2048;

// A model input as the manifest's `input` object describes it (edgeface.bundle.InputSpec,
// field for field; dtype is the core's business: this library writes float32).
struct InputSpec {
  int height = 0;
  int width = 0;
  Layout layout = Layout::nhwc;
  ChannelOrder channel_order = ChannelOrder::rgb;
  float mean[3] = {0.f, 0.f, 0.f};  // in the model's channel order
  float std[3] = {1.f, 1.f, 1.f};
  Resize resize = Resize::letterbox;
  Pad pad = Pad::center;
  Sampling sampling = Sampling::half_pixel;
};

Status check_input_spec(const InputSpec& spec);

// Where the upright image sits inside the model input, in model pixels
// (edgeface.preprocess.Placement).
struct Placement {
  float scale_x = 1.f;  // model pixels per image pixel
  float scale_y = 1.f;
  float offset_x = 0.f;
  float offset_y = 0.f;
  int model_width = 0;
  int model_height = 0;

  // Maps `count` x,y points normalised to the model input back to image pixels, in place.
  void to_original(float* xy, std::size_t count) const;
};

Placement placement_for(const InputSpec& spec, int image_height, int image_width);

// Fills one model input tensor from images; keeps its scratch memory, so a stream of
// camera frames allocates nothing after the first. One per thread.
class Preprocessor {
 public:
  explicit Preprocessor(const InputSpec& spec);

  // Writes the tensor (height * width * 3 floats, the spec's layout) and, when `placement`
  // is not null, where the image sits in it.
  Status run(const ImageView& image, Span<float> tensor, Placement* placement);

 private:
  // One output column's (or row's) two source neighbours, as the byte offsets they add in
  // the pixel and chroma planes, and the second neighbour's weight.
  struct AxisTap {
    std::size_t lo_pixel, lo_chroma, hi_pixel, hi_chroma;
    float weight;
  };

  // One output row of the resized image: blend each pixel's four neighbours (SIMD lanes),
  // then normalise the row in one loop over floats (which compilers vectorise).
  template <class Pixels, class Writer>
  void resize_row(const Pixels& pixels, const AxisTap& row, int width, const Writer& out, std::size_t first);
  // The row's blended values (RGB, or YUV of a camera frame) into result_.
  template <class Pixels>
  void blend_row(const Pixels& pixels, const AxisTap& row, int width);

  // Sizes the row scratch for rows of `width` pixels and tiles the normalisation of
  // model channel c onto RGB channel source[c].
  void prepare_rows(int width, const float mul[3], const float add[3], const int source[3]);

  InputSpec spec_;
  std::vector<AxisTap> columns_, rows_;
  // One output row, each x 3 channels in RGB order (and one float of slack): the blended
  // values; and the normalisation tiled along a row.
  std::vector<float> result_, mul_, add_;
};

}  // namespace edgeface::vision
