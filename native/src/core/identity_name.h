// The rule for identity names, the same as the Python SDK's (edgeface/gallery.py
// _check_name): printable text a gallery can store and a terminal can show safely.
#pragma once

#include <string>

namespace edgeface {

constexpr size_t kMaxNameChars = 256;

// Throws Error(Category::kArgument) naming what is wrong when `name` is not valid UTF-8, is
// blank, has more than kMaxNameChars characters, or holds a control character (C0/C1,
// line or paragraph separators, bidi embeddings, overrides, isolates and marks: an ESC
// steers the terminal that prints the name, an override makes "alice" show as another).
void check_identity_name(const std::string& name);

}  // namespace edgeface
