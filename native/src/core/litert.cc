// The RAII owner over LiteRT's C API (see litert.h).
#include "litert.h"

#include <cstdlib>
#include <cstring>
#include <utility>

namespace edgeface {
namespace {

constexpr size_t kAlignment = 64;  // LiteRT refuses host memory aligned less (status 3)
// The largest tensor edgeface makes a buffer for: a damaged model can claim any shape.
constexpr uint64_t kMaxTensorBytes = 1ull << 30;

void check(LiteRtStatus status, const std::string& what) {
  if (status != kLiteRtStatusOk) {
    throw LiteRtError(what + ": LiteRT status " + std::to_string(static_cast<int>(status)), status);
  }
}

TensorInfo describe(LiteRtTensor tensor) {
  TensorInfo info;
  const char* name = nullptr;
  check(LiteRtGetTensorName(tensor, &name), "reading a tensor name");
  info.name = name ? name : "";
  LiteRtTensorTypeId id = kLiteRtUnrankedTensorType;
  check(LiteRtGetTensorTypeId(tensor, &id), "reading the type of tensor " + info.name);
  if (id != kLiteRtRankedTensorType) {
    throw LiteRtError("tensor " + info.name + " has no fixed rank: edgeface needs static shapes",
                      kLiteRtStatusErrorInvalidArgument);
  }
  check(LiteRtGetRankedTensorType(tensor, &info.type), "reading the shape of tensor " + info.name);
  info.element_type = info.type.element_type;
  const unsigned rank = info.type.layout.rank;
  if (rank > EDGEFACE_LITERT_MAX_RANK) {
    throw LiteRtError("tensor " + info.name + " has rank above 8", kLiteRtStatusErrorInvalidArgument);
  }
  for (unsigned d = 0; d < rank; ++d) {
    int32_t& dim = info.type.layout.dimensions[d];
    if (dim < 0 && d == 0) dim = 1;  // a dynamic batch: edgeface runs one image at a time
    if (dim < 0) {
      throw LiteRtError("tensor " + info.name + " has a dynamic dimension past the batch: edgeface needs static shapes",
                        kLiteRtStatusErrorInvalidArgument);
    }
    info.shape.push_back(dim);
  }
  LiteRtQuantizationTypeId quantization = kLiteRtQuantizationNone;
  check(LiteRtGetQuantizationTypeId(tensor, &quantization), "reading the quantization of tensor " + info.name);
  if (quantization == kLiteRtQuantizationPerTensor) {
    LiteRtQuantizationPerTensor q{};
    check(LiteRtGetPerTensorQuantization(tensor, &q), "reading the quantization of tensor " + info.name);
    info.quantized = true;
    info.scale = q.scale;
    info.zero_point = q.zero_point;
  } else if (quantization != kLiteRtQuantizationNone) {
    throw LiteRtError("tensor " + info.name + " is quantized per channel or block: edgeface reads inputs and "
                          "outputs quantized per tensor only",
                      kLiteRtStatusErrorInvalidArgument);
  }
  if (element_size(info.element_type) == 0) {
    throw LiteRtError("tensor " + info.name + " has element type " +
                          std::to_string(static_cast<int>(info.element_type)) + ", which edgeface does not handle",
                      kLiteRtStatusErrorInvalidArgument);
  }
  uint64_t bytes = element_size(info.element_type);
  for (int32_t dim : info.shape) {
    bytes *= static_cast<uint64_t>(dim);  // no overflow: each factor < 2^31 and checked below
    if (bytes > kMaxTensorBytes) {
      throw LiteRtError("tensor " + info.name + " would take more than 1 GiB: not a model edgeface can run",
                        kLiteRtStatusErrorInvalidArgument);
    }
  }
  return info;
}

using TensorGetter = LiteRtStatus (*)(LiteRtSignature, LiteRtParamIndex, LiteRtTensor*);

std::vector<TensorInfo> describe_all(LiteRtSignature signature, LiteRtParamIndex count, TensorGetter get) {
  std::vector<TensorInfo> all;
  for (LiteRtParamIndex i = 0; i < count; ++i) {
    LiteRtTensor tensor = nullptr;
    check(get(signature, i, &tensor), "reading the model's tensor " + std::to_string(i));
    all.push_back(describe(tensor));
  }
  return all;
}

void delete_text(void* text) { delete[] static_cast<char*>(text); }

// The CPU (XNNPACK) options that set the thread count, as LiteRT's text payload.
LiteRtOpaqueOptions cpu_options(int num_threads) {
  const std::string text = "num_threads = " + std::to_string(num_threads) + "\n";
  auto payload = std::make_unique<char[]>(text.size() + 1);
  std::memcpy(payload.get(), text.c_str(), text.size() + 1);
  LiteRtOpaqueOptions options = nullptr;
  check(LiteRtCreateOpaqueOptions("xnnpack", payload.get(), delete_text, &options), "setting the thread count");
  payload.release();  // owned by options now
  return options;
}

}  // namespace

LiteRtError::LiteRtError(const std::string& what, LiteRtStatus status)
    : std::runtime_error(what), status_(status) {}

size_t element_size(LiteRtElementType type) {
  switch (type) {
    case kLiteRtElementTypeFloat32:
    case kLiteRtElementTypeInt32:
      return 4;
    case kLiteRtElementTypeUInt8:
    case kLiteRtElementTypeInt8:
    case kLiteRtElementTypeBool:
      return 1;
    case kLiteRtElementTypeInt16:
    case kLiteRtElementTypeFloat16:
      return 2;
    case kLiteRtElementTypeInt64:
      return 8;
    default:
      return 0;
  }
}

size_t TensorInfo::element_count() const {
  size_t count = 1;
  for (int32_t dim : shape) count *= static_cast<size_t>(dim);
  return count;
}

size_t TensorInfo::byte_size() const { return element_count() * element_size(element_type); }

Environment::Environment() : handle_(nullptr, LiteRtDestroyEnvironment) {
  LiteRtEnvOption quiet{};
  quiet.tag = kLiteRtEnvOptionTagMinLoggerSeverity;
  quiet.value.type = kLiteRtAnyTypeInt;
  quiet.value.int_value = kLiteRtLogSeverityError;
  LiteRtEnvironment env = nullptr;
  check(LiteRtCreateEnvironment(1, &quiet, &env), "creating the LiteRT environment");
  handle_.reset(env);
}

Model::Model(LiteRtModel handle, std::shared_ptr<const std::vector<uint8_t>> bytes)
    : bytes_(std::move(bytes)), handle_(handle, LiteRtDestroyModel) {
  LiteRtParamIndex signatures = 0;
  check(LiteRtGetNumModelSignatures(handle, &signatures), "reading the model's signatures");
  if (signatures == 0) throw LiteRtError("the model has no signature", kLiteRtStatusErrorInvalidArgument);
  LiteRtSignature signature = nullptr;
  check(LiteRtGetModelSignature(handle, 0, &signature), "reading the model's signature");
  LiteRtParamIndex num_inputs = 0, num_outputs = 0;
  check(LiteRtGetNumSignatureInputs(signature, &num_inputs), "counting the model's inputs");
  check(LiteRtGetNumSignatureOutputs(signature, &num_outputs), "counting the model's outputs");
  inputs_ = describe_all(signature, num_inputs, LiteRtGetSignatureInputTensorByIndex);
  outputs_ = describe_all(signature, num_outputs, LiteRtGetSignatureOutputTensorByIndex);
}

Model Model::from_file(const Environment& env, const std::string& path) {
  LiteRtModel handle = nullptr;
  check(LiteRtCreateModelFromFile(env.get(), path.c_str(), &handle), "loading the model " + path);
  return Model(handle, nullptr);
}

Model Model::from_bytes(const Environment& env, std::vector<uint8_t> bytes) {
  auto kept = std::make_shared<const std::vector<uint8_t>>(std::move(bytes));
  LiteRtModel handle = nullptr;
  check(LiteRtCreateModelFromBuffer(env.get(), kept->data(), kept->size(), &handle), "loading the model");
  return Model(handle, std::move(kept));
}

void AlignedBuffer::Free::operator()(void* p) const { std::free(p); }

AlignedBuffer::AlignedBuffer(size_t size) : size_(size) {
  const size_t rounded = (size + kAlignment - 1) / kAlignment * kAlignment;
  void* memory = std::aligned_alloc(kAlignment, rounded ? rounded : kAlignment);
  if (!memory) throw std::bad_alloc();
  std::memset(memory, 0, rounded ? rounded : kAlignment);
  data_.reset(memory);
}

const char* accelerator_name(Accelerator accelerator) {
  switch (accelerator) {
    case Accelerator::kGpu: return "gpu";
    case Accelerator::kNpu: return "npu";
    default: return "cpu";
  }
}

CompiledModel::CompiledModel(const Environment& env, std::shared_ptr<const Model> model, const CompileOptions& compile)
    : model_(std::move(model)), handle_(nullptr, LiteRtDestroyCompiledModel) {
  const int num_threads = compile.num_threads;
  if (num_threads < 1) throw LiteRtError("the thread count must be at least 1", kLiteRtStatusErrorInvalidArgument);
  std::unique_ptr<LiteRtOptionsT, void (*)(LiteRtOptions)> options(nullptr, LiteRtDestroyOptions);
  LiteRtOptions raw_options = nullptr;
  check(LiteRtCreateOptions(&raw_options), "creating compilation options");
  options.reset(raw_options);
  const LiteRtHwAcceleratorSet accelerators = compile.accelerator == Accelerator::kGpu   ? kLiteRtHwAcceleratorGpu
                                              : compile.accelerator == Accelerator::kNpu ? kLiteRtHwAcceleratorNpu
                                                                                         : kLiteRtHwAcceleratorCpu;
  check(LiteRtSetOptionsHardwareAccelerators(options.get(), accelerators), "choosing the accelerator");
  std::unique_ptr<LiteRtOpaqueOptionsT, void (*)(LiteRtOpaqueOptions)> threads(cpu_options(num_threads),
                                                                             LiteRtDestroyOpaqueOptions);
  check(LiteRtAddOpaqueOptions(options.get(), threads.get()), "setting the thread count");
  threads.release();  // owned by options now
  LiteRtCompiledModel compiled = nullptr;
  check(LiteRtCreateCompiledModel(env.get(), model_->get(), options.get(), &compiled),
        compile.accelerator == Accelerator::kCpu
            ? "compiling the model"
            : std::string("compiling the model for the ") + accelerator_name(compile.accelerator) +
                  " accelerator (this LiteRT may lack it: the Python wheel's has the CPU only)");
  handle_.reset(compiled);
  add_buffers(model_->inputs(), input_memory_, buffer_owners_, inputs_);
  add_buffers(model_->outputs(), output_memory_, buffer_owners_, outputs_);
}

void CompiledModel::add_buffers(const std::vector<TensorInfo>& tensors, std::vector<AlignedBuffer>& memory,
                                std::vector<BufferHandle>& owners, std::vector<LiteRtTensorBuffer>& handles) {
  for (const TensorInfo& tensor : tensors) {
    memory.emplace_back(tensor.byte_size());
    LiteRtTensorBuffer buffer = nullptr;
    check(LiteRtCreateTensorBufferFromHostMemory(&tensor.type, memory.back().data(), tensor.byte_size(), nullptr,
                                                 &buffer),
          "making the buffer of tensor " + tensor.name);
    owners.emplace_back(buffer, LiteRtDestroyTensorBuffer);
    handles.push_back(buffer);
  }
}

void CompiledModel::run() {
  check(LiteRtRunCompiledModel(handle_.get(), 0, inputs_.size(), inputs_.data(), outputs_.size(), outputs_.data()),
        "running the model");
}

}  // namespace edgeface
