// Galleries the Python SDK wrote (native/tests/core/data/galleries, made by
// scripts/make_native_galleries.py) read through the C interface: the same identities and
// the same search answers as Gallery.search, and damaged files refused with a status.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "edgeface.h"
#include "test_paths.h"

namespace {

using edgeface::testing::read_bytes;
using edgeface::testing::read_text;
using edgeface::testing::repo_path;
using Json = nlohmann::json;

std::string data(const std::string& name) { return repo_path("native/tests/core/data/galleries/" + name); }

struct Opened {
  edgeface_gallery* gallery = nullptr;
  edgeface_status status;
  Opened(const std::string& path, int dim = 0) : status(edgeface_gallery_open(path.c_str(), dim, &gallery)) {}
  ~Opened() { edgeface_gallery_close(gallery); }
};

void expect_matches(const edgeface_gallery* gallery, const std::vector<float>& query, size_t top_k, float threshold,
                    const Json& expected) {
  std::vector<edgeface_match> matches(top_k);
  size_t count = 99;
  ASSERT_EQ(edgeface_gallery_search(gallery, query.data(), query.size(), threshold, matches.data(), top_k, &count),
            EDGEFACE_OK)
      << edgeface_last_error();
  ASSERT_EQ(count, expected.size());
  for (size_t i = 0; i < count; ++i) {
    EXPECT_EQ(matches[i].name, expected[i][0].get<std::string>());
    EXPECT_NEAR(matches[i].score, expected[i][1].get<double>(), 1e-5);
  }
}

// The Python-written version-2 files: without and with the embedder fingerprint, one gallery.
const char* const kVersion2Files[] = {"v2.efg", "v2_embedder.efg"};
// ... and the same gallery in all three files, version 3 included (gallery_v3_test.cc has the rest)
const char* const kOneGalleryFiles[] = {"v2.efg", "v2_embedder.efg", "v3.efg"};

TEST(Gallery, SearchesAPythonWrittenGalleryAsGallerySearchDoes) {
  for (const char* file : kOneGalleryFiles) {
    SCOPED_TRACE(file);
    Opened v2(data(file), 8);
    ASSERT_EQ(v2.status, EDGEFACE_OK) << edgeface_last_error();
    EXPECT_EQ(edgeface_gallery_dim(v2.gallery), 8);
    EXPECT_EQ(edgeface_gallery_identity_count(v2.gallery), 44u);
    EXPECT_EQ(edgeface_gallery_template_count(v2.gallery), 87u);
    const Json cases = Json::parse(read_text(data("search.json")));
    ASSERT_EQ(cases.size(), 7u);  // 5 random queries and bob's 2 templates
    for (const Json& c : cases) {
      const std::vector<float> query = c["query"].get<std::vector<float>>();
      expect_matches(v2.gallery, query, 5, -1.0f, c["top5"]);
      expect_matches(v2.gallery, query, 3, 0.3f, c["top3_at_0.3"]);
    }
  }
}

TEST(Gallery, ReadsVersion1FilesAndTakesTheFilesDimWhenAskedForNone) {
  Opened v1(data("v1.efg"));
  ASSERT_EQ(v1.status, EDGEFACE_OK) << edgeface_last_error();
  EXPECT_EQ(edgeface_gallery_identity_count(v1.gallery), 2u);
  EXPECT_EQ(edgeface_gallery_template_count(v1.gallery), 3u);
  EXPECT_EQ(edgeface_gallery_dim(v1.gallery), 8);
}

TEST(Gallery, RefusesAnotherTemplateSizeAndBadArguments) {
  Opened other(data("v2.efg"), 128);
  EXPECT_EQ(other.status, EDGEFACE_ERROR_GALLERY);
  EXPECT_NE(std::string(edgeface_last_error()).find("same model"), std::string::npos) << edgeface_last_error();
  Opened v2(data("v2.efg"));
  ASSERT_EQ(v2.status, EDGEFACE_OK);
  std::vector<float> query(8, 0.5f);
  edgeface_match match;
  size_t count = 0;
  EXPECT_EQ(edgeface_gallery_search(v2.gallery, query.data(), 7, 0.f, &match, 1, &count), EDGEFACE_ERROR_ARGUMENT);
  query[3] = NAN;
  EXPECT_EQ(edgeface_gallery_search(v2.gallery, query.data(), 8, 0.f, &match, 1, &count), EDGEFACE_ERROR_ARGUMENT);
  EXPECT_EQ(edgeface_gallery_search(nullptr, query.data(), 8, 0.f, &match, 1, &count), EDGEFACE_ERROR_ARGUMENT);
  edgeface_gallery* none = v2.gallery;  // a failed open must still clear its out pointer
  EXPECT_EQ(edgeface_gallery_open(nullptr, 0, &none), EDGEFACE_ERROR_ARGUMENT);
  EXPECT_EQ(none, nullptr);
}

class DamagedGallery : public edgeface::testing::ScratchDir {
 protected:
  void SetUp() override {
    ScratchDir::SetUp();
    original_ = read_bytes(data("v2.efg"));
  }
  std::string write(const std::vector<uint8_t>& bytes) const {
    return ScratchDir::write("g.efg", std::string(bytes.begin(), bytes.end()));
  }
  std::vector<uint8_t> original_;
};

TEST_F(DamagedGallery, EveryTruncationIsAGalleryError) {
  for (size_t size = 0; size < original_.size(); size += 7) {
    Opened g(write(std::vector<uint8_t>(original_.begin(), original_.begin() + size)));
    EXPECT_EQ(g.status, EDGEFACE_ERROR_GALLERY) << "truncated at " << size;
  }
}

TEST_F(DamagedGallery, EveryFlippedByteIsAGalleryErrorOrChangesNothing) {
  // every byte of the magic, length and header (the fingerprint's too), and a sample of
  // the templates: each is covered by the sha256 or breaks the format, except the case of
  // a \u escape's hex digits ("\u00eb" and "\u00Eb" are one name, to Python's json as to
  // this reader)
  const Json cases = Json::parse(read_text(data("search.json")));
  const std::vector<float> query = cases[0]["query"].get<std::vector<float>>();
  for (const char* file : kVersion2Files) {
    const std::vector<uint8_t> original = read_bytes(data(file));
    const size_t templates_start = original.size() - 87 * 8 * sizeof(float);
    for (size_t at = 0; at < original.size(); at += at < templates_start ? 1 : 13) {
      std::vector<uint8_t> bytes = original;
      bytes[at] ^= 0x20;
      Opened g(write(bytes));
      if (g.status == EDGEFACE_OK) {
        EXPECT_EQ(edgeface_gallery_identity_count(g.gallery), 44u) << file << " byte " << at;
        expect_matches(g.gallery, query, 5, -1.0f, cases[0]["top5"]);
        continue;
      }
      EXPECT_EQ(g.status, EDGEFACE_ERROR_GALLERY) << file << " byte " << at << ": " << edgeface_last_error();
    }
  }
}

TEST_F(DamagedGallery, SeededRandomDamageNeverCrashes) {
  std::mt19937 engine(19);
  for (int trial = 0; trial < 300; ++trial) {
    std::vector<uint8_t> bytes = original_;
    const int edits = 1 + static_cast<int>(engine() % 8);
    for (int e = 0; e < edits; ++e) bytes[engine() % bytes.size()] = static_cast<uint8_t>(engine());
    if (engine() % 3 == 0) bytes.resize(engine() % bytes.size());
    Opened g(write(bytes));
    EXPECT_TRUE(g.status == EDGEFACE_OK || g.status == EDGEFACE_ERROR_GALLERY) << edgeface_status_name(g.status);
  }
}

TEST_F(DamagedGallery, AHugeHeaderLengthAMissingFileAndADirectoryAreRefused) {
  std::vector<uint8_t> bytes = original_;
  for (size_t i = 11; i < 19; ++i) bytes[i] = 0xff;  // the header length: 2^64 - 1
  Opened huge(write(bytes));
  EXPECT_EQ(huge.status, EDGEFACE_ERROR_GALLERY);
  EXPECT_NE(std::string(edgeface_last_error()).find("truncated header"), std::string::npos) << edgeface_last_error();
  Opened missing((dir_ / "none.efg").string());
  EXPECT_EQ(missing.status, EDGEFACE_ERROR_GALLERY);
  EXPECT_NE(std::string(edgeface_last_error()).find("none.efg"), std::string::npos);
  Opened folder(dir_.string());
  EXPECT_EQ(folder.status, EDGEFACE_ERROR_GALLERY);
  Opened empty(write({}));
  EXPECT_EQ(empty.status, EDGEFACE_ERROR_GALLERY);
}

}  // namespace
