// SHA-256 (FIPS 180-4), for checking bundle files against their manifest: written here
// because phones have no OpenSSL to link.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace edgeface {

class Sha256 {
 public:
  Sha256();
  void update(const uint8_t* data, size_t size);
  std::array<uint8_t, 32> digest();  // finishes: call once

 private:
  void compress(const uint8_t* block);
  std::array<uint32_t, 8> state_;
  std::array<uint8_t, 64> block_{};
  size_t used_ = 0;      // bytes waiting in block_
  uint64_t length_ = 0;  // bytes hashed so far
};

// A digest as 64 lowercase hex digits.
std::string to_hex(const std::array<uint8_t, 32>& digest);
// The digest of data as 64 lowercase hex digits.
std::string sha256_hex(const uint8_t* data, size_t size);

}  // namespace edgeface
