// The C interface (include/edgeface.h) for bundles and models: every entry point runs its
// body inside ``guarded`` (c_api_guard.h), so nothing C++ crosses the boundary.
#include "edgeface.h"

#include <cstring>
#include <memory>
#include <new>
#include <string>

#include "bundle.h"
#include "bundle_model.h"
#include "c_api_guard.h"
#include "c_api_handles.h"
#include "error.h"
#include "litert.h"

struct edgeface_model {
  edgeface::LoadedModel loaded;
};

namespace {

using edgeface::c_api::guarded;
using edgeface::c_api::require;

const edgeface::ModelSpec& model_of(const edgeface::Manifest& manifest, edgeface_role role) {
  if (role == EDGEFACE_DETECTOR && manifest.detector) return *manifest.detector;
  if (role == EDGEFACE_EMBEDDER && manifest.embedder) return *manifest.embedder;
  require(role == EDGEFACE_DETECTOR || role == EDGEFACE_EMBEDDER, "role: expected EDGEFACE_DETECTOR or EDGEFACE_EMBEDDER");
  throw edgeface::Error(edgeface::Category::kArgument, std::string("this bundle has no ") +
                                                           (role == EDGEFACE_DETECTOR ? "detector" : "embedder"));
}

void describe(const edgeface::TensorInfo& tensor, edgeface_tensor_info* info) {
  *info = edgeface_tensor_info{};
  info->name = tensor.name.c_str();
  info->rank = static_cast<int32_t>(tensor.shape.size());
  for (size_t d = 0; d < tensor.shape.size() && d < EDGEFACE_MAX_RANK; ++d) info->shape[d] = tensor.shape[d];
  info->element_count = tensor.element_count();
  info->is_float32 = tensor.element_type == kLiteRtElementTypeFloat32;
}

// Checks that a caller's buffers are the model's tensors in count, size and type.
template <typename Pointer>
void check_buffers(const std::vector<edgeface::TensorInfo>& tensors, const Pointer* buffers, const size_t* sizes,
                   size_t count, const char* what) {
  require(count == tensors.size(), std::string(what) + ": the model has " + std::to_string(tensors.size()) + ", got " +
                                       std::to_string(count));
  require(count == 0 || (buffers && sizes), std::string(what) + ": NULL buffers or sizes");
  for (size_t i = 0; i < count; ++i) {
    const auto& tensor = tensors[i];
    require(tensor.element_type == kLiteRtElementTypeFloat32,
            std::string(what) + " " + std::to_string(i) + " (" + tensor.name + ") is not float32: edgeface_model_run "
                                                                               "takes float32 tensors only");
    require(buffers[i] != nullptr, std::string(what) + " " + std::to_string(i) + ": NULL buffer");
    require(sizes[i] == tensor.element_count(), std::string(what) + " " + std::to_string(i) + " (" + tensor.name +
                                                    ") holds " + std::to_string(tensor.element_count()) +
                                                    " floats, got " + std::to_string(sizes[i]));
  }
}

}  // namespace

extern "C" {

const char* edgeface_last_error(void) { return edgeface::c_api::last_error(); }

const char* edgeface_last_error_field(void) { return edgeface::c_api::last_error_field(); }

const char* edgeface_status_name(edgeface_status status) {
  switch (status) {
    case EDGEFACE_OK: return "EDGEFACE_OK";
    case EDGEFACE_ERROR_ARGUMENT: return "EDGEFACE_ERROR_ARGUMENT";
    case EDGEFACE_ERROR_BUNDLE: return "EDGEFACE_ERROR_BUNDLE";
    case EDGEFACE_ERROR_MANIFEST: return "EDGEFACE_ERROR_MANIFEST";
    case EDGEFACE_ERROR_CHECKSUM: return "EDGEFACE_ERROR_CHECKSUM";
    case EDGEFACE_ERROR_MODEL_LOAD: return "EDGEFACE_ERROR_MODEL_LOAD";
    case EDGEFACE_ERROR_INFERENCE: return "EDGEFACE_ERROR_INFERENCE";
    case EDGEFACE_ERROR_OUT_OF_MEMORY: return "EDGEFACE_ERROR_OUT_OF_MEMORY";
    case EDGEFACE_ERROR_INTERNAL: return "EDGEFACE_ERROR_INTERNAL";
    case EDGEFACE_ERROR_IMAGE: return "EDGEFACE_ERROR_IMAGE";
    case EDGEFACE_ERROR_GALLERY: return "EDGEFACE_ERROR_GALLERY";
    default: return "EDGEFACE_UNKNOWN_STATUS";
  }
}

edgeface_status edgeface_bundle_open(const char* path, edgeface_bundle** out) {
  return guarded([&] {
    require(out != nullptr, "out: NULL");
    *out = nullptr;
    require(path != nullptr, "path: NULL");
    *out = new edgeface_bundle{edgeface::Bundle::open(path)};
  });
}

void edgeface_bundle_close(edgeface_bundle* bundle) { delete bundle; }

edgeface_status edgeface_bundle_name(const edgeface_bundle* bundle, const char** name) {
  return guarded([&] {
    require(bundle && name, "bundle or name: NULL");
    *name = bundle->bundle.manifest().name.c_str();
  });
}

edgeface_status edgeface_bundle_get_info(const edgeface_bundle* bundle, edgeface_bundle_info* info) {
  return guarded([&] {
    require(bundle && info, "bundle or info: NULL");
    const edgeface::Manifest& m = bundle->bundle.manifest();
    *info = edgeface_bundle_info{};
    info->verify_far = -1.0;
    if (m.detector) {
      info->has_detector = 1;
      info->score_threshold = m.detector->score_threshold;
      info->nms_iou = m.detector->nms_iou;
      info->max_faces = static_cast<int32_t>(m.detector->max_faces);
    }
    if (m.embedder) {
      info->has_embedder = 1;
      info->embedding_size = static_cast<int32_t>(m.embedder->embedding_size);
      info->verify_threshold = m.embedder->verify_threshold;
      if (m.embedder->verify_far) info->verify_far = *m.embedder->verify_far;
    }
  });
}

edgeface_status edgeface_model_create(const edgeface_bundle* bundle, edgeface_role role, int32_t num_threads,
                                      edgeface_model** out) {
  return guarded([&] {
    require(out != nullptr, "out: NULL");
    *out = nullptr;
    require(bundle != nullptr, "bundle: NULL");
    require(num_threads >= 1, "num_threads: must be at least 1, got " + std::to_string(num_threads));
    const edgeface::ModelSpec& spec = model_of(bundle->bundle.manifest(), role);
    auto result = std::make_unique<edgeface_model>(edgeface_model{edgeface::load_model(bundle->bundle, spec, edgeface::CompileOptions{num_threads})});
    *out = result.release();
  });
}

void edgeface_model_destroy(edgeface_model* model) { delete model; }

size_t edgeface_model_input_count(const edgeface_model* model) { return model ? model->loaded.model->inputs().size() : 0; }

size_t edgeface_model_output_count(const edgeface_model* model) { return model ? model->loaded.model->outputs().size() : 0; }

edgeface_status edgeface_model_input_info(const edgeface_model* model, size_t index, edgeface_tensor_info* info) {
  return guarded([&] {
    require(model && info, "model or info: NULL");
    require(index < model->loaded.model->inputs().size(), "index: the model has " + std::to_string(model->loaded.model->inputs().size()) + " inputs");
    describe(model->loaded.model->inputs()[index], info);
  });
}

edgeface_status edgeface_model_output_info(const edgeface_model* model, size_t index, edgeface_tensor_info* info) {
  return guarded([&] {
    require(model && info, "model or info: NULL");
    require(index < model->loaded.model->outputs().size(), "index: the model has " + std::to_string(model->loaded.model->outputs().size()) + " outputs");
    describe(model->loaded.model->outputs()[index], info);
  });
}

edgeface_status edgeface_model_run(edgeface_model* model, const float* const* inputs, const size_t* input_sizes,
                                   size_t num_inputs, float* const* outputs, const size_t* output_sizes,
                                   size_t num_outputs) {
  return guarded([&] {
    require(model != nullptr, "model: NULL");
    const auto& in = model->loaded.model->inputs();
    const auto& out = model->loaded.model->outputs();
    check_buffers(in, inputs, input_sizes, num_inputs, "input");
    check_buffers(out, outputs, output_sizes, num_outputs, "output");
    edgeface::CompiledModel& compiled = *model->loaded.compiled;
    for (size_t i = 0; i < num_inputs; ++i) std::memcpy(compiled.input(i), inputs[i], in[i].byte_size());
    edgeface::run_model(compiled);
    for (size_t i = 0; i < num_outputs; ++i) std::memcpy(outputs[i], compiled.output(i), out[i].byte_size());
  });
}

}  // extern "C"
