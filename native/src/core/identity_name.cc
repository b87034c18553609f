#include "identity_name.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <vector>

#include "error.h"

namespace edgeface {
namespace {

// The code points of `text`, or false when it is not well-formed UTF-8 (overlong forms,
// surrogates and values above U+10FFFF included).
bool decode_utf8(const std::string& text, std::vector<uint32_t>& out) {
  for (size_t i = 0; i < text.size();) {
    const auto lead = static_cast<uint8_t>(text[i]);
    const int extra = lead < 0x80 ? 0 : (lead & 0xE0) == 0xC0 ? 1 : (lead & 0xF0) == 0xE0 ? 2 : (lead & 0xF8) == 0xF0 ? 3 : -1;
    if (extra < 0 || i + extra >= text.size()) return false;
    uint32_t code = extra == 0 ? lead : lead & (0x3F >> extra);
    for (int k = 1; k <= extra; ++k) {
      const auto next = static_cast<uint8_t>(text[i + k]);
      if ((next & 0xC0) != 0x80) return false;
      code = (code << 6) | (next & 0x3F);
    }
    static const uint32_t kSmallest[] = {0, 0x80, 0x800, 0x10000};
    if (code < kSmallest[extra] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return false;
    out.push_back(code);
    i += 1 + extra;
  }
  return true;
}

// Python's str.isspace: what name.strip() removes.
bool is_space(uint32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// edgeface/safetext.py's is_control: categories Cc, Zl, Zp and the bidi controls.
bool is_control(uint32_t c) {
  return c < 0x20 || (c >= 0x7F && c <= 0x9F) || c == 0x2028 || c == 0x2029 || (c >= 0x202A && c <= 0x202E) ||
         (c >= 0x2066 && c <= 0x2069) || c == 0x200E || c == 0x200F || c == 0x061C;
}

std::string code_point(uint32_t c) {
  char text[16];
  std::snprintf(text, sizeof(text), "U+%04X", static_cast<unsigned>(c));
  return text;
}

}  // namespace

void check_identity_name(const std::string& name) {
  std::vector<uint32_t> chars;
  if (!decode_utf8(name, chars))
    throw Error(Category::kArgument, "identity name: not valid UTF-8: pass the name as UTF-8 text");
  if (std::all_of(chars.begin(), chars.end(), is_space))
    throw Error(Category::kArgument, "identity name: blank: give the identity a name");
  if (chars.size() > kMaxNameChars)
    throw Error(Category::kArgument, "identity name: has " + std::to_string(chars.size()) +
                                         " characters: use at most " + std::to_string(kMaxNameChars));
  std::string controls;
  for (uint32_t c : chars)
    if (is_control(c)) controls += (controls.empty() ? "" : ", ") + code_point(c);
  if (!controls.empty())
    throw Error(Category::kArgument, "identity name: holds control characters (" + controls + "): use printable text");
}

}  // namespace edgeface
