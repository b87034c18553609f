// A bundle's model, read (sha256-checked), loaded and compiled for the CPU, with its
// failures in the SDK's categories: what the C interface's raw models and the pipeline's
// detector and embedder run.
#pragma once

#include <memory>
#include <vector>

#include "bundle.h"
#include "litert.h"
#include "tensor_io.h"

namespace edgeface {

struct LoadedModel {
  // declared in this order so that they are destroyed compiled model first, environment last
  std::shared_ptr<Environment> environment;
  std::shared_ptr<const Model> model;
  std::unique_ptr<CompiledModel> compiled;
};

// Reads, checks and compiles `spec`'s file (kBundle, kChecksum, kModelLoad).
LoadedModel load_model(const Bundle& bundle, const ModelSpec& spec, const CompileOptions& options);

// Runs the compiled model (a LiteRT failure becomes kInference).
void run_model(CompiledModel& compiled);

// A pipeline model: one image input matching the manifest's `input` (as the Python SDK's
// Model checks it), its outputs read as floats.
class BundleModel {
 public:
  BundleModel(const Bundle& bundle, const ModelSpec& spec, const CompileOptions& options);
  const std::vector<TensorInfo>& outputs() const { return loaded_.model->outputs(); }
  // Where preprocessing writes the input's floats.
  vision::Span<float> input() { return input_->floats(); }
  // Runs on the input written; then output(i) reads output i.
  void run();
  vision::Span<const float> output(size_t i) { return outputs_[i].refresh(); }

 private:
  LoadedModel loaded_;
  std::unique_ptr<FloatInput> input_;
  std::vector<FloatOutput> outputs_;
};

}  // namespace edgeface
