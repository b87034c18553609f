// The part of LiteRT's C API (the CompiledModel API in libLiteRt.so) that edgeface uses.
//
// The ai-edge-litert wheel ships the library without headers, so these declarations are
// written here from the public litert/c/*.h of google-ai-edge/LiteRT. Only what edgeface
// calls is declared; tests/test_native.py checks that each function below is exported by
// the library the build links, and the static_asserts pin the layout of every struct and
// enum passed by value or through a pointer, so that a drift fails the build.
#pragma once

#include <stddef.h>
#include <stdint.h>

extern "C" {

typedef struct LiteRtEnvironmentT* LiteRtEnvironment;
typedef struct LiteRtModelT* LiteRtModel;
typedef struct LiteRtSignatureT* LiteRtSignature;
typedef struct LiteRtTensorT* LiteRtTensor;
typedef struct LiteRtOptionsT* LiteRtOptions;
typedef struct LiteRtOpaqueOptionsT* LiteRtOpaqueOptions;
typedef struct LiteRtCompiledModelT* LiteRtCompiledModel;
typedef struct LiteRtTensorBufferT* LiteRtTensorBuffer;

typedef size_t LiteRtParamIndex;
typedef int LiteRtHwAcceleratorSet;

// Enums get a fixed int type: the library returns values this file does not list.
enum LiteRtStatus : int {
  kLiteRtStatusOk = 0,
  kLiteRtStatusErrorInvalidArgument = 1,
  kLiteRtStatusErrorRuntimeFailure = 3,
};

enum { kLiteRtHwAcceleratorCpu = 1, kLiteRtHwAcceleratorGpu = 2, kLiteRtHwAcceleratorNpu = 4 };

// Element types: the values of TfLiteType.
enum LiteRtElementType : int {
  kLiteRtElementTypeNone = 0,
  kLiteRtElementTypeFloat32 = 1,
  kLiteRtElementTypeInt32 = 2,
  kLiteRtElementTypeUInt8 = 3,
  kLiteRtElementTypeInt64 = 4,
  kLiteRtElementTypeBool = 6,
  kLiteRtElementTypeInt16 = 7,
  kLiteRtElementTypeInt8 = 9,
  kLiteRtElementTypeFloat16 = 10,
};

enum LiteRtTensorTypeId : int { kLiteRtRankedTensorType = 0, kLiteRtUnrankedTensorType = 1 };

#define EDGEFACE_LITERT_MAX_RANK 8

typedef struct {
  unsigned int rank : 7;
  unsigned int has_strides : 1;
  int32_t dimensions[EDGEFACE_LITERT_MAX_RANK];
  uint32_t strides[EDGEFACE_LITERT_MAX_RANK];
} LiteRtLayout;

typedef struct {
  LiteRtElementType element_type;
  LiteRtLayout layout;
} LiteRtRankedTensorType;

// A tensor's quantization (litert_model_types.h): edgeface handles none and per-tensor.
enum LiteRtQuantizationTypeId : int {
  kLiteRtQuantizationNone = 0,
  kLiteRtQuantizationPerTensor = 1,
  kLiteRtQuantizationPerChannel = 2,
  kLiteRtQuantizationBlockWise = 3,
};
typedef struct {
  float scale;
  int64_t zero_point;  // the quantized value that float 0 maps to
} LiteRtQuantizationPerTensor;
// An environment option: a tag and a tagged value (LiteRtAny).
enum LiteRtEnvOptionTag : int { kLiteRtEnvOptionTagMinLoggerSeverity = 25 };
enum LiteRtAnyType : int { kLiteRtAnyTypeInt = 2 };
typedef struct {
  LiteRtAnyType type;
  union {
    bool bool_value;
    int64_t int_value;
    double real_value;
    const char* str_value;
    const void* ptr_value;
  };
} LiteRtAny;
typedef struct {
  LiteRtEnvOptionTag tag;
  LiteRtAny value;
} LiteRtEnvOption;

// Log severities (litert/c/internal/litert_logging.h).
enum { kLiteRtLogSeverityWarning = 2, kLiteRtLogSeverityError = 3 };

typedef void (*LiteRtHostMemoryDeallocator)(void* addr);

LiteRtStatus LiteRtCreateEnvironment(int num_options, const LiteRtEnvOption* options,
                                     LiteRtEnvironment* environment);
void LiteRtDestroyEnvironment(LiteRtEnvironment environment);

LiteRtStatus LiteRtCreateModelFromFile(LiteRtEnvironment environment, const char* filename,
                                       LiteRtModel* model);
LiteRtStatus LiteRtCreateModelFromBuffer(LiteRtEnvironment environment, const void* buffer_addr,
                                         size_t buffer_size, LiteRtModel* model);
void LiteRtDestroyModel(LiteRtModel model);
LiteRtStatus LiteRtGetNumModelSignatures(LiteRtModel model, LiteRtParamIndex* num_signatures);
LiteRtStatus LiteRtGetModelSignature(LiteRtModel model, LiteRtParamIndex signature_index,
                                     LiteRtSignature* signature);
LiteRtStatus LiteRtGetNumSignatureInputs(LiteRtSignature signature, LiteRtParamIndex* num_inputs);
LiteRtStatus LiteRtGetNumSignatureOutputs(LiteRtSignature signature, LiteRtParamIndex* num_outputs);
LiteRtStatus LiteRtGetSignatureInputTensorByIndex(LiteRtSignature signature, LiteRtParamIndex input_idx,
                                                  LiteRtTensor* tensor);
LiteRtStatus LiteRtGetSignatureOutputTensorByIndex(LiteRtSignature signature, LiteRtParamIndex output_idx,
                                                   LiteRtTensor* tensor);
LiteRtStatus LiteRtGetTensorName(LiteRtTensor tensor, const char** name);
LiteRtStatus LiteRtGetTensorTypeId(LiteRtTensor tensor, LiteRtTensorTypeId* type_id);
LiteRtStatus LiteRtGetRankedTensorType(LiteRtTensor tensor, LiteRtRankedTensorType* ranked_tensor_type);
LiteRtStatus LiteRtGetQuantizationTypeId(LiteRtTensor tensor, LiteRtQuantizationTypeId* q_type_id);
LiteRtStatus LiteRtGetPerTensorQuantization(LiteRtTensor tensor, LiteRtQuantizationPerTensor* per_tensor_quantization);

LiteRtStatus LiteRtCreateOptions(LiteRtOptions* options);
void LiteRtDestroyOptions(LiteRtOptions options);
LiteRtStatus LiteRtSetOptionsHardwareAccelerators(LiteRtOptions options,
                                                  LiteRtHwAcceleratorSet hardware_accelerators);
// Takes ownership of opaque_options (on success).
LiteRtStatus LiteRtAddOpaqueOptions(LiteRtOptions options, LiteRtOpaqueOptions opaque_options);
LiteRtStatus LiteRtCreateOpaqueOptions(const char* payload_identifier, void* payload_data,
                                       void (*payload_destructor)(void* payload_data),
                                       LiteRtOpaqueOptions* options);
void LiteRtDestroyOpaqueOptions(LiteRtOpaqueOptions options);

LiteRtStatus LiteRtCreateCompiledModel(LiteRtEnvironment environment, LiteRtModel model,
                                       LiteRtOptions compilation_options,
                                       LiteRtCompiledModel* compiled_model);
void LiteRtDestroyCompiledModel(LiteRtCompiledModel compiled_model);
LiteRtStatus LiteRtRunCompiledModel(LiteRtCompiledModel compiled_model, LiteRtParamIndex signature_index,
                                    size_t num_input_buffers, LiteRtTensorBuffer* input_buffers,
                                    size_t num_output_buffers, LiteRtTensorBuffer* output_buffers);

LiteRtStatus LiteRtCreateTensorBufferFromHostMemory(const LiteRtRankedTensorType* tensor_type,
                                                    void* host_buffer_addr, size_t host_buffer_size,
                                                    LiteRtHostMemoryDeallocator deallocator,
                                                    LiteRtTensorBuffer* buffer);
void LiteRtDestroyTensorBuffer(LiteRtTensorBuffer buffer);

}  // extern "C"

static_assert(sizeof(LiteRtStatus) == 4, "LiteRtStatus is an int-sized C enum");
static_assert(sizeof(LiteRtElementType) == 4, "LiteRtElementType is an int-sized C enum");
static_assert(sizeof(LiteRtTensorTypeId) == 4, "LiteRtTensorTypeId is an int-sized C enum");
static_assert(sizeof(LiteRtLayout) == 68, "LiteRtLayout size as in litert_layout.h");
static_assert(sizeof(LiteRtQuantizationTypeId) == 4, "LiteRtQuantizationTypeId is an int-sized C enum");
static_assert(sizeof(LiteRtQuantizationPerTensor) == 16 && offsetof(LiteRtQuantizationPerTensor, scale) == 0 &&
                  offsetof(LiteRtQuantizationPerTensor, zero_point) == 8,
              "LiteRtQuantizationPerTensor layout as in litert_model_types.h");
static_assert(offsetof(LiteRtLayout, dimensions) == 4, "LiteRtLayout.dimensions offset");
static_assert(offsetof(LiteRtLayout, strides) == 36, "LiteRtLayout.strides offset");
static_assert(sizeof(LiteRtRankedTensorType) == 72, "LiteRtRankedTensorType size");
static_assert(offsetof(LiteRtRankedTensorType, layout) == 4, "LiteRtRankedTensorType.layout offset");
static_assert(sizeof(LiteRtAny) == 16, "LiteRtAny size as in litert_any.h");
static_assert(sizeof(LiteRtEnvOption) == 24, "LiteRtEnvOption size");
static_assert(offsetof(LiteRtEnvOption, value) == 8, "LiteRtEnvOption.value offset");
