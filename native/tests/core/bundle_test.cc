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

Category category_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const Error& e) {
    return e.category();
  }
  ADD_FAILURE() << "no error";
  return Category::kArgument;
}

TEST(Bundle, OpensTheFixtureAndReadsItsModelsChecked) {
  const Bundle bundle = Bundle::open(repo_path("tests/fixtures/bundles/blob_blazeface"));
  ASSERT_TRUE(bundle.manifest().detector && bundle.manifest().embedder);
  const auto detector = bundle.read_model(*bundle.manifest().detector);
  EXPECT_EQ(detector, testing::read_bytes(repo_path("tests/fixtures/bundles/blob_blazeface/detector.tflite")));
}

TEST(Bundle, MissingOrNotADirectoryIsABundleError) {
  EXPECT_EQ(category_of([] { Bundle::open("/nonexistent/bundle"); }), Category::kBundle);
  EXPECT_EQ(category_of([] { Bundle::open(repo_path("tests/fixtures/bundles/blob_blazeface/manifest.json")); }),
            Category::kBundle);
}

TEST_F(BundleCopy, ATamperedModelIsAChecksumError) {
  std::fstream file(dir_ / "detector.tflite", std::ios::in | std::ios::out | std::ios::binary);
  file.seekp(100);
  file.put('\x7f');
  file.close();
  const Bundle bundle = Bundle::open(dir_.string());
  EXPECT_EQ(category_of([&] { bundle.read_model(*bundle.manifest().detector); }), Category::kChecksum);
}

TEST_F(BundleCopy, AMissingModelIsABundleError) {
  fs::remove(dir_ / "embedder.tflite");
  const Bundle bundle = Bundle::open(dir_.string());
  EXPECT_EQ(category_of([&] { bundle.read_model(*bundle.manifest().embedder); }), Category::kBundle);
}

TEST_F(BundleCopy, ASymbolicLinkIsNotFollowed) {
  fs::remove(dir_ / "detector.tflite");
  fs::create_symlink(repo_path("tests/fixtures/bundles/blob_blazeface/detector.tflite"), dir_ / "detector.tflite");
  const Bundle bundle = Bundle::open(dir_.string());
  EXPECT_EQ(category_of([&] { bundle.read_model(*bundle.manifest().detector); }), Category::kBundle);
}

TEST_F(BundleCopy, AnOversizedManifestIsRefusedBeforeParsing) {
  write("manifest.json", std::string(kMaxManifestBytes + 1, ' '));
  try {
    Bundle::open(dir_.string());
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), Category::kBundle);
    EXPECT_NE(std::string(e.what()).find("larger than 4 MiB"), std::string::npos) << e.what();
  }
}

TEST_F(BundleCopy, AFolderWithoutAManifestIsNotABundle) {
  fs::remove(dir_ / "manifest.json");
  try {
    Bundle::open(dir_.string());
    ADD_FAILURE();
  } catch (const Error& e) {
    EXPECT_EQ(e.category(), Category::kBundle);
    EXPECT_NE(std::string(e.what()).find("not a bundle"), std::string::npos) << e.what();
  }
}

TEST_F(BundleCopy, AManifestThatIsAFolderIsABundleError) {
  fs::remove(dir_ / "manifest.json");
  fs::create_directory(dir_ / "manifest.json");
  EXPECT_EQ(category_of([&] { Bundle::open(dir_.string()); }), Category::kBundle);
}

}  // namespace
}  // namespace edgeface
