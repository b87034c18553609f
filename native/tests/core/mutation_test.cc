// Mutation testing of the loaders: thousands of truncated, random and bit-flipped
// manifests and model files (seeded, so a failure replays) must each give an edgeface
// Error or a LiteRT error, or load: never a crash, a hang or another exception. Meant for
// the ASan/UBSan tree, where a memory error is a crash.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "bundle.h"
#include "edgeface.h"
#include "error.h"
#include "litert.h"
#include "manifest.h"
#include "test_paths.h"

namespace edgeface {
namespace {

namespace fs = std::filesystem;
using testing::read_bytes;
using testing::read_text;
using testing::repo_path;

constexpr uint32_t kSeed = 20261204;

// One damaged copy of ``original``: cut short, bits flipped, bytes overwritten or
// inserted, or replaced by random bytes altogether.
std::string mutate(const std::string& original, std::mt19937& random) {
  std::string text = original;
  auto position = [&] { return text.empty() ? size_t{0} : std::uniform_int_distribution<size_t>(0, text.size() - 1)(random); };
  auto byte = [&] { return static_cast<char>(std::uniform_int_distribution<int>(0, 255)(random)); };
  switch (std::uniform_int_distribution<int>(0, 4)(random)) {
    case 0:  // truncated
      text.resize(position());
      break;
    case 1:  // a few bits flipped
      for (int i = std::uniform_int_distribution<int>(1, 8)(random); i > 0 && !text.empty(); --i) {
        text[position()] ^= static_cast<char>(1 << std::uniform_int_distribution<int>(0, 7)(random));
      }
      break;
    case 2:  // a JSON-ish token dropped in: structure that parses but breaks the schema
    {
      static const char* kTokens[] = {"null", "-1", "1e308", "\"\"", "[]", "{}", "true", "0.0", "99999999999999999999", "\"../x\""};
      const std::string token = kTokens[std::uniform_int_distribution<int>(0, 9)(random)];
      const size_t at = position();
      text.replace(at, std::min<size_t>(std::uniform_int_distribution<size_t>(0, 12)(random), text.size() - at), token);
      break;
    }
    case 3:  // random bytes inserted
      text.insert(position(), std::string(std::uniform_int_distribution<size_t>(1, 16)(random), byte()));
      break;
    default:  // random altogether
      text.assign(std::uniform_int_distribution<size_t>(0, 2048)(random), '\0');
      for (char& c : text) c = byte();
  }
  return text;
}

std::vector<std::string> seed_manifests() {
  std::vector<std::string> seeds{read_text(repo_path("tests/fixtures/bundles/blob_blazeface/manifest.json")),
                                 read_text(repo_path("tests/fixtures/bundles/blob_scrfd_onnx/manifest.json"))};
  for (const auto& entry : fs::directory_iterator(repo_path("tests/conformance/valid"))) {
    seeds.push_back(read_text(entry.path().string()));
  }
  return seeds;
}

TEST(Mutation, DamagedManifestsGiveAManifestErrorOrLoad) {
  std::mt19937 random(kSeed);
  const auto seeds = seed_manifests();
  int refused = 0;
  for (int i = 0; i < 4000; ++i) {
    const std::string text = mutate(seeds[i % seeds.size()], random);
    try {
      parse_manifest(text);
    } catch (const Error& e) {
      ASSERT_EQ(e.category(), Category::kManifest) << "case " << i << ": " << e.what();
      ++refused;
    }
  }
  EXPECT_GT(refused, 2000);  // the mutations do damage
}

// A damaged model that LiteRT still loads must then compile and run, or fail with an error.
void load_compile_and_run(const Environment& env, const std::string& bytes) {
  auto model = std::make_shared<const Model>(Model::from_bytes(env, std::vector<uint8_t>(bytes.begin(), bytes.end())));
  CompiledModel compiled(env, model, CompileOptions{});
  compiled.run();
}

TEST(Mutation, DamagedModelBytesGiveALiteRtErrorOrRun) {
  std::mt19937 random(kSeed + 1);
  const std::string model = read_text(repo_path("tests/fixtures/bundles/blob_blazeface/detector.tflite"));
  Environment env;
  int refused = 0;
  for (int i = 0; i < 600; ++i) {
    std::string damaged = model;
    if (i % 3 == 0) {
      damaged.resize(std::uniform_int_distribution<size_t>(0, model.size() - 1)(random));
    } else if (i % 3 == 1) {
      damaged = mutate(std::string(64, '\0'), random) + damaged.substr(64);  // a damaged header
    } else {
      for (int k = 0; k < 4; ++k) {  // bits flipped in the body: shapes, indices, weights
        damaged[std::uniform_int_distribution<size_t>(64, model.size() - 1)(random)] ^=
            static_cast<char>(1 << std::uniform_int_distribution<int>(0, 7)(random));
      }
    }
    try {
      load_compile_and_run(env, damaged);
    } catch (const LiteRtError&) {
      ++refused;
    }
  }
  EXPECT_GT(refused, 300);
}

// Through the C interface: a bundle whose manifest or model file is damaged gives a
// status with a message, and a damaged model never reaches LiteRT (its sha256 fails).
using MutatedBundle = testing::FixtureBundleCopy;

TEST_F(MutatedBundle, DamagedFilesGiveAStatusThroughTheCInterface) {
  std::mt19937 random(kSeed + 2);
  const std::string manifest = read_text((dir_ / "manifest.json").string());
  const std::string model = read_text((dir_ / "detector.tflite").string());
  for (int i = 0; i < 400; ++i) {
    const bool damage_manifest = i % 2 == 0;
    write("manifest.json", damage_manifest ? mutate(manifest, random) : manifest);
    std::string damaged_model = damage_manifest ? model : mutate(model, random);
    if (damaged_model == model && !damage_manifest) damaged_model += "x";
    write("detector.tflite", damaged_model);
    edgeface_bundle* bundle = nullptr;
    edgeface_status status = edgeface_bundle_open(dir_.c_str(), &bundle);
    ASSERT_TRUE(status == EDGEFACE_OK || status == EDGEFACE_ERROR_MANIFEST) << "case " << i << ": " << edgeface_last_error();
    if (status != EDGEFACE_OK) {
      EXPECT_NE(edgeface_last_error()[0], '\0');
      continue;
    }
    edgeface_model* runner = nullptr;
    status = edgeface_model_create(bundle, EDGEFACE_DETECTOR, 1, &runner);
    edgeface_bundle_close(bundle);
    edgeface_model_destroy(runner);
    if (!damage_manifest) {
      ASSERT_EQ(status, EDGEFACE_ERROR_CHECKSUM) << "case " << i << ": " << edgeface_last_error();
    }
  }
}

}  // namespace
}  // namespace edgeface

namespace edgeface {
namespace {

// Random image views (sizes, strides, buffer sizes, formats, rotations; the pixels are
// always a real buffer of `size` bytes) and random keypoints (huge, NaN, all at one
// place) through detect, analyze and embed_faces: a status every time, never a read past
// a buffer (under ASan a crash).
TEST(Mutation, RandomImageViewsAndKeypointsGiveAStatus) {
  edgeface_analyzer* analyzer = testing::open_analyzer("blob_blazeface");
  ASSERT_NE(analyzer, nullptr);
  std::mt19937 random(kSeed);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(random); };
  const int kinds[] = {0, 1, 2, 3, 4, 5, -1};
  const int rotations[] = {0, 90, 180, 270, 45, -90};
  const float specials[] = {0.f, 1e30f, -1e30f, NAN, INFINITY, 64.f};
  for (int trial = 0; trial < 400; ++trial) {
    const int width = pick(-2, 90), height = pick(-2, 90);
    std::vector<uint8_t> pixels(static_cast<size_t>(pick(0, 90 * 90 * 4)), 200);
    std::vector<uint8_t> chroma(static_cast<size_t>(pick(0, 90 * 46)), 128);
    edgeface_image image{};
    image.format = static_cast<edgeface_pixel_format>(kinds[pick(0, 6)]);
    image.width = width;
    image.height = height;
    image.pixels = pick(0, 9) ? pixels.data() : nullptr;
    image.stride = pick(0, 9) ? static_cast<size_t>(pick(0, 400)) : static_cast<size_t>(-pick(1, 400));  // or "negative"
    image.size = pixels.size();
    image.chroma = pick(0, 9) ? chroma.data() : nullptr;
    image.chroma_stride = pick(0, 9) ? static_cast<size_t>(pick(0, 120)) : static_cast<size_t>(-pick(1, 120));
    image.chroma_size = chroma.size();
    image.rotation = rotations[pick(0, 5)];
    edgeface_faces faces;
    const edgeface_status detected = pick(0, 1) ? edgeface_analyzer_detect(analyzer, &image, &faces)
                                                : edgeface_analyzer_analyze(analyzer, &image, &faces);
    EXPECT_TRUE(detected == EDGEFACE_OK || detected == EDGEFACE_ERROR_IMAGE) << edgeface_status_name(detected);
    std::vector<float> keypoints(12);
    for (float& k : keypoints) k = pick(0, 3) ? static_cast<float>(pick(-100, 200)) : specials[pick(0, 5)];
    std::vector<float> embedding(128);  // the fixture embedder's size
    const edgeface_status embedded = edgeface_analyzer_embed_faces(analyzer, &image, keypoints.data(), 1,
                                                                   embedding.data(), embedding.size());
    EXPECT_TRUE(embedded == EDGEFACE_OK || embedded == EDGEFACE_ERROR_IMAGE || embedded == EDGEFACE_ERROR_ARGUMENT)
        << edgeface_status_name(embedded) << ": " << edgeface_last_error();
  }
  edgeface_analyzer_destroy(analyzer);
}

}  // namespace
}  // namespace edgeface
