// A compiled model's inputs and outputs as float32, whatever their type: preprocessing
// writes floats straight into a float32 input buffer (no copy), or into scratch that is
// quantized into an integer input; integer outputs are dequantized (edgeface/runtime/model.py's
// quantize / dequantize, with numpy's float32 arithmetic and round-half-to-even).
#pragma once

#include <vector>

#include "edgeface/vision/status.h"
#include "litert.h"

namespace edgeface {

class FloatInput {
 public:
  FloatInput(const TensorInfo& info, void* buffer);
  // Where to write the input's floats (element_count of them).
  vision::Span<float> floats() { return {data_, info_.element_count()}; }
  // Makes the tensor hold them: quantizes an integer input; nothing for float32.
  void commit();

 private:
  TensorInfo info_;
  void* buffer_;
  std::vector<float> scratch_;
  float* data_;
};

class FloatOutput {
 public:
  FloatOutput(const TensorInfo& info, const void* buffer);
  // The output of the last run as floats (valid until the next run or refresh).
  vision::Span<const float> refresh();

 private:
  TensorInfo info_;
  const void* buffer_;
  std::vector<float> scratch_;
};

// One FloatOutput per output of `model`, over its buffers.
std::vector<FloatOutput> float_outputs(const CompiledModel& model);

}  // namespace edgeface
