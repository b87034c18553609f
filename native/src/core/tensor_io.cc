#include "tensor_io.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include "error.h"

namespace edgeface {
namespace {

template <class Int>
void quantize(const float* in, size_t count, float scale, int64_t zero_point, void* out) {
  const float inverse = static_cast<float>(1.0 / static_cast<double>(scale));
  const float zero = static_cast<float>(zero_point);
  const float lo = std::numeric_limits<Int>::min(), hi = std::numeric_limits<Int>::max();
  Int* q = static_cast<Int*>(out);
  for (size_t i = 0; i < count; ++i) {
    const float value = std::nearbyint(in[i] * inverse + zero);  // numpy's rint: half to even
    q[i] = static_cast<Int>(std::isnan(value) ? zero : std::min(hi, std::max(lo, value)));
  }
}

template <class Int>
void dequantize(const void* in, size_t count, float scale, int64_t zero_point, float* out) {
  const Int* q = static_cast<const Int*>(in);
  const float zero = static_cast<float>(zero_point);
  for (size_t i = 0; i < count; ++i) out[i] = (static_cast<float>(q[i]) - zero) * scale;
}

bool is_float(const TensorInfo& info) { return info.element_type == kLiteRtElementTypeFloat32; }

// Refuses tensors edgeface cannot read as floats (a model edgeface did not make may have any).
void require_type(const TensorInfo& info, bool output) {
  const LiteRtElementType type = info.element_type;
  if (type == kLiteRtElementTypeFloat32 || type == kLiteRtElementTypeUInt8 || type == kLiteRtElementTypeInt8 ||
      (output && type == kLiteRtElementTypeInt32))
    return;
  throw Error(Category::kModelLoad, "tensor " + info.name + " has element type " +
                                        std::to_string(static_cast<int>(type)) + ": edgeface's pipeline takes " +
                                        (output ? "float32, uint8, int8 or int32 outputs" : "float32, uint8 or int8 inputs") +
                                        ": convert the model with edgeface convert");
}

}  // namespace

FloatInput::FloatInput(const TensorInfo& info, void* buffer) : info_(info), buffer_(buffer) {
  require_type(info, false);
  if (is_float(info)) {
    data_ = static_cast<float*>(buffer);
  } else {
    scratch_.resize(info.element_count());
    data_ = scratch_.data();
  }
}

void FloatInput::commit() {
  const size_t count = info_.element_count();
  if (info_.element_type == kLiteRtElementTypeUInt8) {
    quantize<uint8_t>(data_, count, info_.scale, info_.zero_point, buffer_);
  } else if (info_.element_type == kLiteRtElementTypeInt8) {
    quantize<int8_t>(data_, count, info_.scale, info_.zero_point, buffer_);
  }
}

FloatOutput::FloatOutput(const TensorInfo& info, const void* buffer) : info_(info), buffer_(buffer) {
  require_type(info, true);
  if (!is_float(info)) scratch_.resize(info.element_count());
}

vision::Span<const float> FloatOutput::refresh() {
  const size_t count = info_.element_count();
  if (is_float(info_)) return {static_cast<const float*>(buffer_), count};
  const float scale = info_.quantized ? info_.scale : 1.f;
  const int64_t zero = info_.quantized ? info_.zero_point : 0;
  if (info_.element_type == kLiteRtElementTypeUInt8) {
    dequantize<uint8_t>(buffer_, count, scale, zero, scratch_.data());
  } else if (info_.element_type == kLiteRtElementTypeInt8) {
    dequantize<int8_t>(buffer_, count, scale, zero, scratch_.data());
  } else if (info_.element_type == kLiteRtElementTypeInt32) {
    dequantize<int32_t>(buffer_, count, scale, zero, scratch_.data());
  }
  return {scratch_.data(), count};
}

std::vector<FloatOutput> float_outputs(const CompiledModel& model) {
  std::vector<FloatOutput> outputs;
  for (size_t i = 0; i < model.model().outputs().size(); ++i)
    outputs.emplace_back(model.model().outputs()[i], model.output(i));
  return outputs;
}

}  // namespace edgeface
