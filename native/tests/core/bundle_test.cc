// Bundle directories: the fixture opens and its models read back checked; a tampered,
// missing, linked or oversized member is refused with its category, never read blindly.
#include "bundle.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <functional>
#include <filesystem>
#include <fstream>

#include "error.h"
#include "test_paths.h"

namespace edgeface {
namespace {

namespace fs = std::filesystem;
using testing::repo_path;

using BundleCopy = testing::FixtureBundleCopy;

// The message of the Error that ``action`` throws, after checking its category.
std::string message_of(const std::function<void()>& action, Category expected) {
  try {
    action();
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), expected) << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no error";
  return "";
}

TEST(Bundle, OpensTheFixtureAndReadsItsModelsChecked) {
  const Bundle bundle = Bundle::open(repo_path("tests/fixtures/bundles/blob_blazeface"));
  ASSERT_TRUE(bundle.manifest().detector && bundle.manifest().embedder);
  const auto detector = bundle.read_model(*bundle.manifest().detector);
  EXPECT_EQ(detector, testing::read_bytes(repo_path("tests/fixtures/bundles/blob_blazeface/detector.tflite")));
}

TEST(Bundle, MissingOrNotADirectoryIsABundleError) {
  message_of([] { Bundle::open("/nonexistent/bundle"); }, Category::kBundle);
  message_of([] { Bundle::open(repo_path("tests/fixtures/bundles/blob_blazeface/manifest.json")); },
             Category::kBundle);
}

TEST_F(BundleCopy, ATamperedModelIsAChecksumError) {
  std::fstream file(dir_ / "detector.tflite", std::ios::in | std::ios::out | std::ios::binary);
  file.seekp(100);
  file.put('\x7f');
  file.close();
  const Bundle bundle = Bundle::open(dir_.string());
  message_of([&] { bundle.read_model(*bundle.manifest().detector); }, Category::kChecksum);
}

TEST_F(BundleCopy, AMissingModelIsABundleError) {
  fs::remove(dir_ / "embedder.tflite");
  const Bundle bundle = Bundle::open(dir_.string());
  message_of([&] { bundle.read_model(*bundle.manifest().embedder); }, Category::kBundle);
}

TEST_F(BundleCopy, ASymbolicLinkIsNotFollowed) {
  fs::remove(dir_ / "detector.tflite");
  fs::create_symlink(repo_path("tests/fixtures/bundles/blob_blazeface/detector.tflite"), dir_ / "detector.tflite");
  const Bundle bundle = Bundle::open(dir_.string());
  const std::string message = message_of([&] { bundle.read_model(*bundle.manifest().detector); }, Category::kBundle);
  EXPECT_NE(message.find("symbolic link"), std::string::npos) << message;
}

TEST_F(BundleCopy, AnOversizedManifestIsRefusedBeforeParsing) {
  write("manifest.json", std::string(kMaxManifestBytes + 1, ' '));
  const std::string message = message_of([&] { Bundle::open(dir_.string()); }, Category::kBundle);
  EXPECT_NE(message.find("larger than 4 MiB"), std::string::npos) << message;
}

TEST_F(BundleCopy, AFolderWithoutAManifestIsNotABundle) {
  fs::remove(dir_ / "manifest.json");
  const std::string message = message_of([&] { Bundle::open(dir_.string()); }, Category::kBundle);
  EXPECT_NE(message.find("not a bundle"), std::string::npos) << message;
}

TEST_F(BundleCopy, AManifestThatIsAFolderIsABundleError) {
  fs::remove(dir_ / "manifest.json");
  fs::create_directory(dir_ / "manifest.json");
  message_of([&] { Bundle::open(dir_.string()); }, Category::kBundle);
}

}  // namespace
}  // namespace edgeface
