// Results and buffer views shared by the vision library: no exceptions, no ownership.
#pragma once

#include <cstddef>

namespace edgeface::vision {

// What a function that can refuse its input returns. `error` is a static message naming
// the argument and what to pass instead; null means success.
struct Status {
  const char* error = nullptr;

  bool ok() const { return error == nullptr; }
  static Status fail(const char* message) { return Status{message}; }
};

// A caller's buffer: a pointer and its element count, never owned.
template <class T>
struct Span {
  T* data = nullptr;
  std::size_t size = 0;

  T& operator[](std::size_t i) const { return data[i]; }
  T* begin() const { return data; }
  T* end() const { return data + size; }
};

}  // namespace edgeface::vision
