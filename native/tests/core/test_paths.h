// Where the core's tests find the repository's fixtures (EDGEFACE_REPO_ROOT is set by
// CMake), and a writable copy of the fixture bundle for tests that damage it.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "edgeface.h"

namespace edgeface::testing {

inline std::string repo_path(const std::string& relative) { return std::string(EDGEFACE_REPO_ROOT) + "/" + relative; }

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

inline std::vector<uint8_t> read_bytes(const std::string& path) {
  const std::string text = read_text(path);
  return std::vector<uint8_t>(text.begin(), text.end());
}

// An analyzer over tests/fixtures/bundles/<fixture> with default options but `max_faces`
// (the bundle is closed again: the analyzer keeps what it needs); null after a failure.
inline edgeface_analyzer* open_analyzer(const std::string& fixture, int max_faces = 0,
                                        edgeface_search search = EDGEFACE_SEARCH_BUNDLE) {
  edgeface_bundle* bundle = nullptr;
  if (edgeface_bundle_open(repo_path("tests/fixtures/bundles/" + fixture).c_str(), &bundle) != EDGEFACE_OK) {
    ADD_FAILURE() << edgeface_last_error();
    return nullptr;
  }
  edgeface_analyzer_options options;
  edgeface_analyzer_options_default(&options);
  options.max_faces = max_faces;
  options.search = search;
  edgeface_analyzer* analyzer = nullptr;
  if (edgeface_analyzer_create(bundle, &options, &analyzer) != EDGEFACE_OK) ADD_FAILURE() << edgeface_last_error();
  edgeface_bundle_close(bundle);
  return analyzer;
}

// A fresh folder under /tmp for each test (dir_), removed after it.
class ScratchDir : public ::testing::Test {
 protected:
  void SetUp() override {
    char name[] = "/tmp/edgeface-test-XXXXXX";
    ASSERT_NE(mkdtemp(name), nullptr);
    dir_ = name;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  // Replaces dir_/member with `bytes`; returns its path.
  std::string write(const std::string& member, const std::string& bytes) const {
    std::ofstream(dir_ / member, std::ios::binary | std::ios::trunc) << bytes;
    return (dir_ / member).string();
  }
  std::filesystem::path dir_;
};

// A writable copy of tests/fixtures/bundles/blob_blazeface (dir_), removed after the test.
class FixtureBundleCopy : public ScratchDir {
 protected:
  void SetUp() override {
    ScratchDir::SetUp();
    std::filesystem::copy(repo_path("tests/fixtures/bundles/blob_blazeface"), dir_);
  }
};

}  // namespace edgeface::testing
