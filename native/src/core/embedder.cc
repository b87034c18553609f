#include "embedder.h"

#include <algorithm>

#include "detector.h"
#include "error.h"
#include "vision_specs.h"

namespace edgeface {
namespace {

size_t embedding_output(const EmbedderSpec& spec, const std::vector<TensorInfo>& outputs, const std::string& where) {
  size_t index = 0;
  if (spec.output) {
    auto found = std::find_if(outputs.begin(), outputs.end(), [&](const TensorInfo& t) { return t.name == *spec.output; });
    if (found == outputs.end())
      throw Error(Category::kManifest, "models.embedder.output: the model has no output '" + *spec.output + "'",
                  "models.embedder.output");
    index = static_cast<size_t>(found - outputs.begin());
  }
  if (outputs.empty() || outputs[index].element_count() != static_cast<size_t>(spec.embedding_size))
    throw Error(Category::kModelLoad, where + ": the model's output does not hold embedding_size " +
                                          std::to_string(spec.embedding_size) + " values: fix models.embedder.embedding_size");
  return index;
}

}  // namespace

Embedder::Embedder(const Bundle& bundle, const std::vector<std::string>& keypoint_names, const CompileOptions& options,
                   bool flip_average)
    : spec_(*bundle.manifest().embedder),
      model_(bundle, spec_, options),
      input_(vision_input(spec_.input)),
      num_keypoints_(keypoint_names.size()),
      flip_average_(flip_average) {
  const std::string where = bundle.location() + "/" + spec_.file;
  output_ = embedding_output(spec_, model_.outputs(), where);
  const AlignmentSpec& alignment = spec_.alignment;
  if (alignment.width != spec_.input.width || alignment.height != spec_.input.height)
    throw Error(Category::kManifest, "models.embedder.alignment: the chip is " + std::to_string(alignment.width) + "x" +
                                         std::to_string(alignment.height) + " but the model takes " +
                                         std::to_string(spec_.input.width) + "x" + std::to_string(spec_.input.height) +
                                         ": the native runtime warps chips at the model's input size; align to it",
                "models.embedder.alignment");
  const vision::Status status =
      vision::Aligner::create(alignment.width, alignment.height, vision_template(alignment), keypoint_names, aligner_);
  if (!status.ok()) throw Error(Category::kManifest, std::string("models.embedder.") + status.error, "models.embedder.alignment");
}

void Embedder::embed(const vision::ImageView& image, const float* keypoints, size_t count, float* out) {
  {
    const StageTimer timer(stage_slot(times_, &StageTimes::align_ms));
    require_image(vision::check_image(image));
  }
  const size_t dim = static_cast<size_t>(spec_.embedding_size);
  for (size_t face = 0; face < count; ++face) {
    float* vector = out + face * dim;
    std::fill(vector, vector + dim, 0.f);
    {
      const StageTimer timer(stage_slot(times_, &StageTimes::align_ms));
      require_image(aligner_.warp(image, keypoints + face * num_keypoints_ * 2, input_, model_.input()));
    }
    const StageTimer timer(stage_slot(times_, &StageTimes::embed_ms));
    run_into(vector);
    if (flip_average_) {
      mirror_input();
      run_into(vector);
    }
    vision::l2_normalize({vector, dim});
  }
}

void Embedder::run_into(float* sum) {
  {
    const StageTimer invoke(stage_slot(times_, &StageTimes::embed_invoke_ms));
    model_.run();
  }
  const vision::Span<const float> got = model_.output(output_);
  for (size_t i = 0; i < got.size; ++i) sum[i] += got[i];
}

// The chip in the input turned left to right (along the width axis of its layout).
void Embedder::mirror_input() {
  const vision::Span<float> x = model_.input();
  const size_t width = static_cast<size_t>(input_.width), height = static_cast<size_t>(input_.height);
  const bool nhwc = input_.layout == vision::Layout::nhwc;
  const size_t rows = nhwc ? height : 3 * height, pixel = nhwc ? 3 : 1;
  for (size_t row = 0; row < rows; ++row) {
    float* line = x.data + row * width * pixel;
    for (size_t left = 0, right = width - 1; left < right; ++left, --right)
      std::swap_ranges(line + left * pixel, line + (left + 1) * pixel, line + right * pixel);
  }
}

}  // namespace edgeface
