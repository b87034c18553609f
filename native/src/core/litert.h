// A small C++ owner over LiteRT's C API: an environment, a model, a compiled model with
// its host tensor buffers. Failures throw LiteRtError (exceptions stay inside the C++
// core: the C interface turns them into status codes).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "litert_api.h"

namespace edgeface {

class LiteRtError : public std::runtime_error {
 public:
  LiteRtError(const std::string& what, LiteRtStatus status);
  LiteRtStatus status() const { return status_; }

 private:
  LiteRtStatus status_;
};

// The name, shape and element type of a model input or output.
struct TensorInfo {
  std::string name;
  std::vector<int32_t> shape;
  LiteRtElementType element_type = kLiteRtElementTypeNone;
  LiteRtRankedTensorType type{};  // as LiteRT reports it, for making its buffers
  // Per-tensor quantization of an integer tensor: real = (q - zero_point) * scale.
  bool quantized = false;
  float scale = 0.f;
  int64_t zero_point = 0;
  size_t element_count() const;
  size_t byte_size() const;
};

// Bytes per element of the types edgeface's models use; 0 for any other.
size_t element_size(LiteRtElementType type);

// The LiteRT runtime: CPU accelerator only, logging at warnings and above.
class Environment {
 public:
  Environment();
  LiteRtEnvironment get() const { return handle_.get(); }

 private:
  std::unique_ptr<LiteRtEnvironmentT, void (*)(LiteRtEnvironment)> handle_;
};

// A .tflite model, from a file or from bytes it keeps (LiteRT reads them for its lifetime).
class Model {
 public:
  static Model from_file(const Environment& env, const std::string& path);
  static Model from_bytes(const Environment& env, std::vector<uint8_t> bytes);
  LiteRtModel get() const { return handle_.get(); }
  // The first signature's inputs and outputs, in LiteRT's order.
  const std::vector<TensorInfo>& inputs() const { return inputs_; }
  const std::vector<TensorInfo>& outputs() const { return outputs_; }

 private:
  Model(LiteRtModel handle, std::shared_ptr<const std::vector<uint8_t>> bytes);
  std::shared_ptr<const std::vector<uint8_t>> bytes_;  // declared first: outlives handle_
  std::unique_ptr<LiteRtModelT, void (*)(LiteRtModel)> handle_;
  std::vector<TensorInfo> inputs_;
  std::vector<TensorInfo> outputs_;
};

// Host memory for one tensor, 64-byte aligned as LiteRT requires.
class AlignedBuffer {
 public:
  explicit AlignedBuffer(size_t size);
  void* data() const { return data_.get(); }
  size_t size() const { return size_; }

 private:
  struct Free {
    void operator()(void* p) const;
  };
  std::unique_ptr<void, Free> data_;
  size_t size_;
};

// Where LiteRT runs a model: on the CPU (XNNPACK), or on the GPU or NPU accelerator, which
// the LiteRT build must carry (a phone's LiteRT; the Python wheel's has the CPU only).
// Asking for one it lacks fails compilation: never a silent fallback to the CPU.
enum class Accelerator { kCpu, kGpu, kNpu };

// "cpu", "gpu", "npu": for messages.
const char* accelerator_name(Accelerator accelerator);

struct CompileOptions {
  int num_threads = 1;  // CPU threads (also for the ops an accelerator leaves to the CPU)
  Accelerator accelerator = Accelerator::kCpu;
};

// A compiled model with its own input and output buffers. Not thread-safe: use one per
// thread (LiteRT serialises model creation anyway).
class CompiledModel {
 public:
  CompiledModel(const Environment& env, std::shared_ptr<const Model> model, const CompileOptions& options);
  const Model& model() const { return *model_; }
  // Where to write input i / read output i (byte_size() of its TensorInfo).
  void* input(size_t i) const { return input_memory_.at(i).data(); }
  const void* output(size_t i) const { return output_memory_.at(i).data(); }
  void run();

 private:
  using BufferHandle = std::unique_ptr<LiteRtTensorBufferT, void (*)(LiteRtTensorBuffer)>;
  void add_buffers(const std::vector<TensorInfo>& tensors, std::vector<AlignedBuffer>& memory,
                   std::vector<BufferHandle>& owners, std::vector<LiteRtTensorBuffer>& handles);

  std::shared_ptr<const Model> model_;
  std::unique_ptr<LiteRtCompiledModelT, void (*)(LiteRtCompiledModel)> handle_;
  std::vector<AlignedBuffer> input_memory_, output_memory_;
  std::vector<BufferHandle> buffer_owners_;
  std::vector<LiteRtTensorBuffer> inputs_, outputs_;
};

}  // namespace edgeface
