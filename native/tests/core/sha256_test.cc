// SHA-256 against the NIST FIPS 180-4 example vectors, fed whole and in odd-sized pieces.
#include "sha256.h"

#include <gtest/gtest.h>

#include <string>

namespace edgeface {
namespace {

std::string hex_of(const std::string& text) {
  return sha256_hex(reinterpret_cast<const uint8_t*>(text.data()), text.size());
}

TEST(Sha256, NistShortMessages) {
  EXPECT_EQ(hex_of(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(hex_of("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hex_of("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  EXPECT_EQ(hex_of("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrs"
                   "mnopqrstnopqrstu"),
            "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

TEST(Sha256, NistMillionAs) {
  const std::string million(1000000, 'a');
  EXPECT_EQ(hex_of(million), "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST(Sha256, PiecesHashLikeTheWhole) {
  const std::string text(1000, 'x');
  Sha256 hash;
  for (size_t at = 0, step = 1; at < text.size(); at += step, step = step % 97 + 13) {
    const size_t take = std::min(step, text.size() - at);
    hash.update(reinterpret_cast<const uint8_t*>(text.data()) + at, take);
  }
  std::string hex;
  for (uint8_t byte : hash.digest()) {
    static const char kHex[] = "0123456789abcdef";
    hex += kHex[byte >> 4];
    hex += kHex[byte & 15];
  }
  EXPECT_EQ(hex, hex_of(text));
}

}  // namespace
}  // namespace edgeface
