// Where the core's tests find the repository's fixtures (EDGEFACE_REPO_ROOT is set by CMake).
#pragma once

#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

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

}  // namespace edgeface::testing
