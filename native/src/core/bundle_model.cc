#include "bundle_model.h"

#include <string>

#include "error.h"

namespace edgeface {
namespace {

std::string shape_text(const std::vector<int32_t>& shape) {
  std::string text = "(";
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + ")";
}

const char* dtype_name(LiteRtElementType type) {
  switch (type) {
    case kLiteRtElementTypeFloat32: return "float32";
    case kLiteRtElementTypeUInt8: return "uint8";
    case kLiteRtElementTypeInt8: return "int8";
    default: return "another type";
  }
}

// The Python SDK's Model._check_input: one input of the manifest's layout, size and dtype.
void check_input(const Model& model, const ModelSpec& spec, const std::string& where) {
  const auto& inputs = model.inputs();
  if (inputs.size() != 1)
    throw Error(Category::kModelLoad, where + ": expected one input tensor, the model has " + std::to_string(inputs.size()));
  const InputSpec& s = spec.input;
  const std::vector<int32_t> expected = s.layout == "NHWC" ? std::vector<int32_t>{s.height, s.width, 3}
                                                             : std::vector<int32_t>{3, s.height, s.width};
  const std::vector<int32_t>& shape = inputs[0].shape;
  if (shape.size() != 4 || std::vector<int32_t>(shape.begin() + 1, shape.end()) != expected)
    throw Error(Category::kModelLoad, where + ": the model's input is " + shape_text(shape) + ", the manifest says " +
                                          s.layout + " " + std::to_string(s.width) + "x" + std::to_string(s.height) +
                                          "x3: fix models." + spec.role + ".input");
  if (dtype_name(inputs[0].element_type) != s.dtype)
    throw Error(Category::kModelLoad, where + ": the model's input dtype is " + dtype_name(inputs[0].element_type) +
                                          ", the manifest says " + s.dtype + ": fix models." + spec.role + ".input.dtype");
}

}  // namespace

LoadedModel load_model(const Bundle& bundle, const ModelSpec& spec, const CompileOptions& options) {
  const std::string where = bundle.location() + "/" + spec.file;
  if (spec.format != "tflite")
    throw Error(Category::kModelLoad, where + ": the native runtime runs tflite models, this one is " + spec.format +
                                          ": convert it with edgeface convert --to tflite");
  std::vector<uint8_t> bytes = bundle.read_model(spec);
  LoadedModel loaded;
  try {
    loaded.environment = std::make_shared<Environment>();
    loaded.model = std::make_shared<const Model>(Model::from_bytes(*loaded.environment, std::move(bytes)));
    loaded.compiled = std::make_unique<CompiledModel>(*loaded.environment, loaded.model, options);
  } catch (const LiteRtError& e) {
    throw Error(Category::kModelLoad, where + ": cannot be loaded (" + e.what() + "): rebuild or re-download the bundle");
  }
  return loaded;
}

void run_model(CompiledModel& compiled) {
  try {
    compiled.run();
  } catch (const LiteRtError& e) {
    throw Error(Category::kInference, std::string("the model failed while running (") + e.what() + ")");
  }
}

BundleModel::BundleModel(const Bundle& bundle, const ModelSpec& spec, const CompileOptions& options)
    : loaded_(load_model(bundle, spec, options)) {
  check_input(*loaded_.model, spec, bundle.location() + "/" + spec.file);
  input_ = std::make_unique<FloatInput>(loaded_.model->inputs()[0], loaded_.compiled->input(0));
  outputs_ = float_outputs(*loaded_.compiled);
}

void BundleModel::run() {
  input_->commit();
  run_model(*loaded_.compiled);
}

}  // namespace edgeface
