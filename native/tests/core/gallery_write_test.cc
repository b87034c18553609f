// Galleries enrolled into and saved through the C interface: the Python SDK's file format
// byte for byte, atomic saves that merge another writer's changes instead of losing them,
// and names and embeddings the SDK would refuse refused with EDGEFACE_ERROR_ARGUMENT.
// (tests/test_native_gallery.py checks that the Python SDK opens what these write.)
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "edgeface.h"
#include "test_paths.h"

namespace {

using edgeface::testing::read_bytes;
using edgeface::testing::repo_path;

constexpr int kDim = 8;

std::string python_written(const std::string& name) { return repo_path("native/tests/core/data/galleries/" + name); }

// A template pointing along axis `axis` (plus a little of the next one), unnormalised.
std::vector<float> along(int axis, float scale = 3.f) {
  std::vector<float> row(kDim, 0.f);
  row[axis % kDim] = scale;
  row[(axis + 1) % kDim] = scale / 10;
  return row;
}

class GalleryHandle {
 public:
  GalleryHandle() { EXPECT_EQ(edgeface_gallery_create(kDim, &gallery_), EDGEFACE_OK) << edgeface_last_error(); }
  explicit GalleryHandle(const std::string& path) {
    EXPECT_EQ(edgeface_gallery_open(path.c_str(), kDim, &gallery_), EDGEFACE_OK) << edgeface_last_error();
  }
  ~GalleryHandle() { edgeface_gallery_close(gallery_); }
  edgeface_gallery* get() const { return gallery_; }
  edgeface_status enroll(const std::string& name, const std::vector<float>& rows) const {
    size_t templates = 0;
    return edgeface_gallery_enroll(gallery_, name.c_str(), rows.data(), rows.size(), rows.size() / kDim, &templates);
  }
  edgeface_status save(const std::string& path = "") const {
    return edgeface_gallery_save(gallery_, path.empty() ? nullptr : path.c_str());
  }
  // The best identity for `query`, "" when none.
  std::string best(const std::vector<float>& query) const {
    std::vector<float> unit = query;
    float norm = 0;
    for (float v : unit) norm += v * v;
    for (float& v : unit) v /= std::sqrt(norm);
    edgeface_match match{};
    size_t count = 0;
    EXPECT_EQ(edgeface_gallery_search(gallery_, unit.data(), unit.size(), -1.f, &match, 1, &count), EDGEFACE_OK);
    return count ? match.name : "";
  }

 private:
  edgeface_gallery* gallery_ = nullptr;
};

class GalleryWrite : public edgeface::testing::ScratchDir {
 protected:
  std::string path(const std::string& name = "g.efg") const { return (dir_ / name).string(); }
};

TEST_F(GalleryWrite, ResavingAPythonWrittenFileGivesTheSameBytes) {
  for (const char* file : {"v2.efg", "v2_embedder.efg"}) {  // without and with the embedder fingerprint
    GalleryHandle gallery(python_written(file));
    ASSERT_EQ(gallery.save(path()), EDGEFACE_OK) << edgeface_last_error();
    EXPECT_EQ(read_bytes(path()), read_bytes(python_written(file))) << file;
    struct stat status {};
    ASSERT_EQ(stat(path().c_str(), &status), 0);
    EXPECT_EQ(status.st_mode & 0777, 0600u) << "templates are biometric data";
  }
}

TEST_F(GalleryWrite, ResavingAPythonVersion3GalleryWritesItAsVersion2) {
  // v3.efg holds v2_embedder.efg's gallery: the native core writes version 2 (gallery_file.h)
  GalleryHandle gallery(python_written("v3.efg"));
  ASSERT_EQ(gallery.save(path()), EDGEFACE_OK) << edgeface_last_error();
  EXPECT_EQ(read_bytes(path()), read_bytes(python_written("v2_embedder.efg")));
}

// The analyzer of a fixture bundle: blob_blazeface and blob_blazeface_int8 embed 128-d,
// from different model files.
class FixtureAnalyzer {
 public:
  explicit FixtureAnalyzer(const std::string& bundle_name) {
    edgeface_bundle* bundle = nullptr;
    EXPECT_EQ(edgeface_bundle_open(repo_path("tests/fixtures/bundles/" + bundle_name).c_str(), &bundle), EDGEFACE_OK)
        << edgeface_last_error();
    edgeface_analyzer_options options;
    edgeface_analyzer_options_default(&options);
    EXPECT_EQ(edgeface_analyzer_create(bundle, &options, &analyzer_), EDGEFACE_OK) << edgeface_last_error();
    edgeface_bundle_close(bundle);
  }
  ~FixtureAnalyzer() { edgeface_analyzer_destroy(analyzer_); }
  const edgeface_analyzer* get() const { return analyzer_; }

 private:
  edgeface_analyzer* analyzer_ = nullptr;
};

constexpr int kEmbedderDim = 128;

TEST_F(GalleryWrite, AGalleryOfAnotherEmbedderIsRefusedAndAnOldOneTakesTheFirstBound) {
  const FixtureAnalyzer float_analyzer("blob_blazeface"), int8_analyzer("blob_blazeface_int8");
  std::vector<float> row(kEmbedderDim, 0.f);
  row[0] = 1.f;
  {  // a gallery written without a fingerprint, as before fingerprints existed
    edgeface_gallery* old = nullptr;
    ASSERT_EQ(edgeface_gallery_create(kEmbedderDim, &old), EDGEFACE_OK);
    ASSERT_EQ(edgeface_gallery_enroll(old, "ann", row.data(), row.size(), 1, nullptr), EDGEFACE_OK);
    ASSERT_EQ(edgeface_gallery_save(old, path().c_str()), EDGEFACE_OK);
    edgeface_gallery_close(old);
  }
  const std::vector<uint8_t> before = read_bytes(path());
  edgeface_gallery* gallery = nullptr;
  ASSERT_EQ(edgeface_gallery_open(path().c_str(), kEmbedderDim, &gallery), EDGEFACE_OK);
  ASSERT_EQ(edgeface_gallery_bind(gallery, float_analyzer.get()), EDGEFACE_OK) << edgeface_last_error();
  EXPECT_EQ(read_bytes(path()), before) << "binding writes nothing";
  EXPECT_EQ(edgeface_gallery_bind(gallery, int8_analyzer.get()), EDGEFACE_ERROR_GALLERY);
  ASSERT_EQ(edgeface_gallery_save(gallery, nullptr), EDGEFACE_OK) << edgeface_last_error();
  edgeface_gallery_close(gallery);

  ASSERT_EQ(edgeface_gallery_open(path().c_str(), 0, &gallery), EDGEFACE_OK);
  EXPECT_EQ(edgeface_gallery_bind(gallery, float_analyzer.get()), EDGEFACE_OK) << edgeface_last_error();
  EXPECT_EQ(edgeface_gallery_bind(gallery, int8_analyzer.get()), EDGEFACE_ERROR_GALLERY);
  const std::string message = edgeface_last_error();
  EXPECT_EQ(message, path() + " was enrolled with embedder 'fixture-blob-blazeface' (sha256 91d18f0ef816), not this "
                              "bundle's 'fixture-blob-blazeface-int8' (sha256 bfa1f713a0b9): re-enroll the gallery "
                              "with this bundle, or use the bundle that made it");
  EXPECT_EQ(edgeface_gallery_bind(nullptr, float_analyzer.get()), EDGEFACE_ERROR_ARGUMENT);
  edgeface_gallery_close(gallery);

  GalleryHandle narrow;  // kDim-float templates
  EXPECT_EQ(edgeface_gallery_bind(narrow.get(), float_analyzer.get()), EDGEFACE_ERROR_GALLERY);
  EXPECT_NE(std::string(edgeface_last_error()).find("holds 8-d templates but this model embeds 128-d"), std::string::npos)
      << edgeface_last_error();
}

TEST_F(GalleryWrite, ASaveRefusesToMergeIntoAFileAnotherEmbedderTook) {
  const FixtureAnalyzer float_analyzer("blob_blazeface"), int8_analyzer("blob_blazeface_int8");
  std::vector<float> row(kEmbedderDim, 0.f);
  row[1] = 1.f;
  edgeface_gallery *first = nullptr, *second = nullptr;
  ASSERT_EQ(edgeface_gallery_create(kEmbedderDim, &first), EDGEFACE_OK);
  ASSERT_EQ(edgeface_gallery_create(kEmbedderDim, &second), EDGEFACE_OK);
  ASSERT_EQ(edgeface_gallery_bind(first, float_analyzer.get()), EDGEFACE_OK);
  ASSERT_EQ(edgeface_gallery_bind(second, int8_analyzer.get()), EDGEFACE_OK);
  ASSERT_EQ(edgeface_gallery_save(second, path().c_str()), EDGEFACE_OK);  // an empty gallery of the int8 embedder
  ASSERT_EQ(edgeface_gallery_save(first, path().c_str()), EDGEFACE_OK);   // another path to `first`: replaces it
  ASSERT_EQ(edgeface_gallery_enroll(second, "bob", row.data(), row.size(), 1, nullptr), EDGEFACE_OK);
  EXPECT_EQ(edgeface_gallery_save(second, nullptr), EDGEFACE_ERROR_GALLERY);  // merging finds the float embedder's file
  EXPECT_NE(std::string(edgeface_last_error()).find("was enrolled with embedder 'fixture-blob-blazeface'"),
            std::string::npos)
      << edgeface_last_error();
  edgeface_gallery_close(first);
  edgeface_gallery_close(second);
}

TEST_F(GalleryWrite, EnrolledIdentitiesAreSavedSearchedAndReopened) {
  {
    GalleryHandle gallery;
    ASSERT_EQ(gallery.enroll("alice", along(0)), EDGEFACE_OK) << edgeface_last_error();
    std::vector<float> two = along(2);
    const std::vector<float> second = along(3, 0.01f);
    two.insert(two.end(), second.begin(), second.end());
    ASSERT_EQ(gallery.enroll("Zoë \U0001F642", two), EDGEFACE_OK) << edgeface_last_error();
    size_t templates = 0;
    const std::vector<float> more = along(5);
    ASSERT_EQ(edgeface_gallery_enroll(gallery.get(), "alice", more.data(), kDim, 1, &templates), EDGEFACE_OK);
    EXPECT_EQ(templates, 2u);
    EXPECT_EQ(gallery.best(along(3)), "Zoë \U0001F642");
    EXPECT_EQ(gallery.save(), EDGEFACE_ERROR_ARGUMENT) << "no file yet: save needs a path";
    ASSERT_EQ(gallery.save(path("sub/folder/g.efg")), EDGEFACE_OK) << edgeface_last_error();
  }
  GalleryHandle reopened(path("sub/folder/g.efg"));
  EXPECT_EQ(edgeface_gallery_identity_count(reopened.get()), 2u);
  EXPECT_EQ(edgeface_gallery_template_count(reopened.get()), 4u);
  EXPECT_EQ(reopened.best(along(5)), "alice");
  EXPECT_EQ(reopened.best(along(2)), "Zoë \U0001F642");
}

TEST_F(GalleryWrite, RemovingAnIdentityDropsItsTemplates) {
  GalleryHandle gallery(python_written("v2.efg"));
  size_t removed = 0;
  ASSERT_EQ(edgeface_gallery_remove(gallery.get(), "bob", &removed), EDGEFACE_OK) << edgeface_last_error();
  EXPECT_EQ(removed, 2u);
  EXPECT_EQ(edgeface_gallery_identity_count(gallery.get()), 43u);
  EXPECT_EQ(edgeface_gallery_template_count(gallery.get()), 85u);
  EXPECT_EQ(edgeface_gallery_remove(gallery.get(), "bob", &removed), EDGEFACE_ERROR_ARGUMENT);
  EXPECT_EQ(removed, 0u);
  ASSERT_EQ(gallery.save(path()), EDGEFACE_OK);
  GalleryHandle reopened(path());
  EXPECT_EQ(edgeface_gallery_identity_count(reopened.get()), 43u);
}

TEST_F(GalleryWrite, TwoWritersOfOneFileKeepBothTheirEnrolments) {
  {
    GalleryHandle first;
    ASSERT_EQ(first.enroll("alice", along(0)), EDGEFACE_OK);
    ASSERT_EQ(first.enroll("bob", along(1)), EDGEFACE_OK);
    ASSERT_EQ(first.save(path()), EDGEFACE_OK);
  }
  GalleryHandle a(path()), b(path());
  ASSERT_EQ(a.enroll("carol", along(2)), EDGEFACE_OK);
  ASSERT_EQ(edgeface_gallery_remove(a.get(), "bob", nullptr), EDGEFACE_OK);
  ASSERT_EQ(a.save(), EDGEFACE_OK) << edgeface_last_error();
  ASSERT_EQ(b.enroll("dave", along(3)), EDGEFACE_OK);
  ASSERT_EQ(b.enroll("alice", along(4)), EDGEFACE_OK);
  ASSERT_EQ(b.save(), EDGEFACE_OK) << edgeface_last_error();  // b read the file before a saved: it merges
  GalleryHandle merged(path());
  EXPECT_EQ(edgeface_gallery_identity_count(merged.get()), 3u) << "alice, carol, dave: bob stays removed";
  EXPECT_EQ(edgeface_gallery_template_count(merged.get()), 4u);
  EXPECT_EQ(merged.best(along(2)), "carol");
  EXPECT_EQ(merged.best(along(3)), "dave");
  EXPECT_EQ(merged.best(along(4)), "alice");
  EXPECT_EQ(edgeface_gallery_identity_count(b.get()), 3u) << "the saving handle holds the merged gallery too";
}

TEST_F(GalleryWrite, SavingCleansOnlyKilledSavesTemporaryFiles) {
  GalleryHandle gallery;
  ASSERT_EQ(gallery.enroll("alice", along(0)), EDGEFACE_OK);
  const std::string stale = write(".g.efg.ab_12xyz.tmp", "half a gallery");
  const std::string users = write(".g.efg.notes.tmp", "a user's file");
  const std::string other = write(".h.efg.ab_12xyz.tmp", "another file's save");
  ASSERT_EQ(gallery.save(path()), EDGEFACE_OK);
  EXPECT_FALSE(std::filesystem::exists(stale));
  EXPECT_TRUE(std::filesystem::exists(users));
  EXPECT_TRUE(std::filesystem::exists(other));
  EXPECT_TRUE(std::filesystem::exists(path(".g.efg.lock")));
}

TEST_F(GalleryWrite, AFailedSaveLeavesTheOldFileAndReportsThePath) {
  const std::vector<uint8_t> v2 = read_bytes(python_written("v2.efg"));
  write("g.efg", std::string(v2.begin(), v2.end()));
  GalleryHandle gallery(path());
  ASSERT_EQ(gallery.enroll("new person", along(0)), EDGEFACE_OK);
  write("blocker", "a file where a folder would go");
  EXPECT_EQ(gallery.save(path("blocker/g.efg")), EDGEFACE_ERROR_GALLERY);
  EXPECT_NE(std::string(edgeface_last_error()).find("blocker"), std::string::npos) << edgeface_last_error();
  EXPECT_EQ(read_bytes(path()), v2) << "the gallery's own file is untouched";
  ASSERT_EQ(gallery.save(), EDGEFACE_OK) << "the gallery keeps its file after a failed save elsewhere";
  EXPECT_EQ(edgeface_gallery_identity_count(GalleryHandle(path()).get()), 45u);
}

TEST_F(GalleryWrite, NamesTheSdkRefusesAreRefused) {
  GalleryHandle gallery;
  const std::vector<float> row = along(0);
  for (const std::string& bad : {std::string(""), std::string(" \t"), std::string("\xC3"), std::string("\xC0\xAF"),
                                 std::string("\xED\xA0\x80"), std::string("esc\x1b[31m"), std::string("new\nline"),
                                 std::string("alice\xE2\x80\xAE"), std::string("del\x7F"), std::string(257, 'a')}) {
    EXPECT_EQ(gallery.enroll(bad, row), EDGEFACE_ERROR_ARGUMENT) << bad;
    EXPECT_NE(std::string(edgeface_last_error()).find("identity name"), std::string::npos);
  }
  EXPECT_EQ(gallery.enroll(std::string(256, 'a'), row), EDGEFACE_OK) << edgeface_last_error();
  std::string accents;
  for (int i = 0; i < 256; ++i) accents += "\xC3\xA9";  // 256 characters, 512 bytes
  EXPECT_EQ(gallery.enroll(accents, row), EDGEFACE_OK) << edgeface_last_error();
  EXPECT_EQ(edgeface_gallery_identity_count(gallery.get()), 2u);
}

TEST_F(GalleryWrite, EmbeddingsTheSdkRefusesAreRefused) {
  GalleryHandle gallery;
  std::vector<float> row = along(0);
  EXPECT_EQ(edgeface_gallery_enroll(gallery.get(), "a", row.data(), kDim - 1, 1, nullptr), EDGEFACE_ERROR_ARGUMENT);
  EXPECT_EQ(edgeface_gallery_enroll(gallery.get(), "a", row.data(), kDim, 2, nullptr), EDGEFACE_ERROR_ARGUMENT);
  EXPECT_EQ(edgeface_gallery_enroll(gallery.get(), "a", row.data(), 0, 0, nullptr), EDGEFACE_ERROR_ARGUMENT);
  EXPECT_EQ(edgeface_gallery_enroll(gallery.get(), "a", nullptr, kDim, 1, nullptr), EDGEFACE_ERROR_ARGUMENT);
  EXPECT_EQ(edgeface_gallery_enroll(gallery.get(), "a", std::vector<float>(kDim, 0.f).data(), kDim, 1, nullptr),
            EDGEFACE_ERROR_ARGUMENT);
  row[2] = INFINITY;
  EXPECT_EQ(edgeface_gallery_enroll(gallery.get(), "a", row.data(), kDim, 1, nullptr), EDGEFACE_ERROR_ARGUMENT);
  const std::vector<float> tiny(kDim, 1e-44f), huge(kDim, 3e38f);  // no underflow or overflow while normalising
  EXPECT_EQ(gallery.enroll("tiny", tiny), EDGEFACE_OK) << edgeface_last_error();
  EXPECT_EQ(gallery.enroll("huge", huge), EDGEFACE_OK) << edgeface_last_error();
  EXPECT_EQ(edgeface_gallery_identity_count(gallery.get()), 2u) << "no refused call enrolled anything";
  edgeface_gallery* none = gallery.get();
  EXPECT_EQ(edgeface_gallery_create(0, &none), EDGEFACE_ERROR_ARGUMENT);
  EXPECT_EQ(none, nullptr);
  EXPECT_EQ(edgeface_gallery_save(nullptr, nullptr), EDGEFACE_ERROR_ARGUMENT);
}

}  // namespace
