// Face alignment and embeddings (edgeface/align.py, embed.py, gallery.py): the similarity
// transform from detected keypoints to the embedder's template, the bilinear warp of the
// chip straight into the embedder's input tensor, L2 normalisation, cosine similarity.
#pragma once

#include <string>
#include <vector>

#include "edgeface/vision/image.h"
#include "edgeface/vision/preprocess.h"

namespace edgeface::vision {

// A 2x3 affine matrix, row-major: x' = m[0] x + m[1] y + m[2], y' = m[3] x + m[4] y + m[5].
using Affine = double[6];

// The rotation, uniform scale and translation (no reflection) that maps the `count` x,y
// points `src` closest to `dst` in least squares (Umeyama; in 2-D its closed form). Fails
// when the source points are all at one place.
Status similarity_transform(const double* src, const double* dst, std::size_t count, Affine matrix);

// Bilinear warp of the upright image by the forward `matrix` into a chip of the spec's
// size, each pixel rounded to a byte (as the Python chip is uint8) and normalised into
// `tensor` in the spec's layout and channel order. Outside the image is black.
Status warp_to_tensor(const ImageView& image, const Affine matrix, const InputSpec& spec, Span<float> tensor);

// A named point of the manifest's `alignment.template`, in chip pixels.
struct TemplatePoint {
  std::string name;
  double x = 0.0, y = 0.0;
};

// The embedder's `alignment` object matched to a detector's keypoint names
// (edgeface.align.Aligner): a template mouth_center is made from the mouth corners when
// the detector gives the centre (BlazeFace) and the template has only the corners.
class Aligner {
 public:
  static Status create(int width, int height, const std::vector<TemplatePoint>& template_points,
                       const std::vector<std::string>& keypoint_names, Aligner& out);

  int width() const { return width_; }
  int height() const { return height_; }

  // The transform of one face from its keypoints (all of the detector's, x,y each).
  Status matrix(const float* keypoints, Affine out) const;

  // The face's chip into the embedder's input tensor, whose spec must be of the
  // alignment's size (the Python SDK would resize the chip; this runtime does not).
  // Degenerate keypoints give a black chip, as in the Python SDK.
  Status warp(const ImageView& image, const float* keypoints, const InputSpec& spec, Span<float> tensor) const;

 private:
  int width_ = 0, height_ = 0;
  std::vector<int> indices_;    // the detector keypoints that have a template point
  std::vector<double> target_;  // their template points, x,y each
};

// v / max(|v|, 1e-12), in place.
void l2_normalize(Span<float> vector);

// The cosine of the angle between two vectors (their dot product once normalised), the
// score the gallery ranks identities by and verify compares with the threshold; 0 when
// either is all zeros.
float cosine_similarity(const float* a, const float* b, std::size_t size);

}  // namespace edgeface::vision
