// The LiteRT owner (src/core/litert.*): models load from a file and from bytes, report
// their tensors, compile and run; bad models and arguments give a LiteRtError.
#include "litert.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

namespace edgeface {
namespace {

const std::string kDetector = std::string(EDGEFACE_REPO_ROOT) + "/tests/fixtures/bundles/blob_blazeface/detector.tflite";

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

TEST(LiteRt, ReportsTheFixtureDetectorsTensors) {
  Environment env;
  Model model = Model::from_file(env, kDetector);
  ASSERT_EQ(model.inputs().size(), 1u);
  EXPECT_EQ(model.inputs()[0].shape, (std::vector<int32_t>{1, 128, 128, 3}));
  EXPECT_EQ(model.inputs()[0].element_type, kLiteRtElementTypeFloat32);
  EXPECT_EQ(model.inputs()[0].byte_size(), 128u * 128 * 3 * 4);
  ASSERT_EQ(model.outputs().size(), 2u);
  std::vector<std::string> names{model.outputs()[0].name, model.outputs()[1].name};
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"StatefulPartitionedCall_1:0", "StatefulPartitionedCall_1:1"}));
}

TEST(LiteRt, RunsTheSameFromBytesAsFromAFile) {
  Environment env;
  auto from_file = std::make_shared<const Model>(Model::from_file(env, kDetector));
  auto from_bytes = std::make_shared<const Model>(Model::from_bytes(env, read_bytes(kDetector)));
  CompiledModel a(env, from_file, CompileOptions{1}), b(env, from_bytes, CompileOptions{2});
  const size_t n = from_file->inputs()[0].element_count();
  for (size_t i = 0; i < n; ++i) {
    static_cast<float*>(a.input(0))[i] = static_cast<float>(i % 255) / 127.5f - 1.0f;
    static_cast<float*>(b.input(0))[i] = static_cast<float>(i % 255) / 127.5f - 1.0f;
  }
  a.run();
  b.run();
  for (size_t o = 0; o < from_file->outputs().size(); ++o) {
    const size_t bytes = from_file->outputs()[o].byte_size();
    EXPECT_EQ(std::memcmp(a.output(o), b.output(o), bytes), 0) << "output " << o;
  }
}

TEST(LiteRt, BuffersAre64ByteAligned) {
  for (size_t size : {1u, 63u, 64u, 1000u}) {
    AlignedBuffer buffer(size);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(buffer.data()) % 64, 0u);
  }
}

TEST(LiteRt, RefusesBytesThatAreNotAModel) {
  Environment env;
  std::vector<uint8_t> junk(1000, 0x5a);
  EXPECT_THROW(Model::from_bytes(env, junk), LiteRtError);
  EXPECT_THROW(Model::from_bytes(env, {}), LiteRtError);
}

// The fixture detector with its boxes output's shape [1, 896, 16] patched to claim
// [1, 2^31-1, 16] elements, as a damaged file may.
std::vector<uint8_t> detector_claiming_a_huge_output() {
  std::vector<uint8_t> bytes = read_bytes(kDetector);
  const int32_t shape[4] = {3, 1, 896, 16};  // a flatbuffer vector: its length, then the dimensions
  uint8_t pattern[sizeof shape];
  std::memcpy(pattern, shape, sizeof shape);
  auto at = std::search(bytes.begin(), bytes.end(), std::begin(pattern), std::end(pattern));
  EXPECT_NE(at, bytes.end());
  if (at == bytes.end()) return bytes;
  const int32_t huge = 0x7fffffff;
  std::memcpy(&*at + 8, &huge, sizeof huge);
  return bytes;
}

TEST(LiteRt, RefusesAModelClaimingATensorOverOneGiB) {
  Environment env;
  try {
    Model::from_bytes(env, detector_claiming_a_huge_output());
    ADD_FAILURE() << "loaded";
  } catch (const LiteRtError& e) {
    EXPECT_NE(std::string(e.what()).find("more than 1 GiB"), std::string::npos) << e.what();
  }
}

TEST(LiteRt, RefusesAMissingFile) {
  Environment env;
  EXPECT_THROW(Model::from_file(env, "/nonexistent/model.tflite"), LiteRtError);
}

TEST(LiteRt, RefusesZeroThreads) {
  Environment env;
  auto model = std::make_shared<const Model>(Model::from_file(env, kDetector));
  EXPECT_THROW(CompiledModel(env, model, CompileOptions{0}), LiteRtError);
}

// The Python wheel's LiteRT (what these tests link) has no GPU or NPU accelerator: asking
// for one is an error naming it, not a model quietly compiled for the CPU.
TEST(LiteRt, AnAcceleratorThisLiteRtLacksIsAnErrorNamingIt) {
  Environment env;
  auto model = std::make_shared<const Model>(Model::from_file(env, kDetector));
  for (Accelerator accelerator : {Accelerator::kGpu, Accelerator::kNpu}) {
    try {
      CompiledModel compiled(env, model, CompileOptions{1, accelerator});
      ADD_FAILURE() << accelerator_name(accelerator) << " compiled with a LiteRT that has no such accelerator";
    } catch (const LiteRtError& error) {
      EXPECT_NE(std::string(error.what()).find(std::string(accelerator_name(accelerator)) + " accelerator"),
                std::string::npos)
          << error.what();
    }
  }
}

}  // namespace
}  // namespace edgeface
