// What every C entry point shares: ``guarded`` runs a body and turns any exception into a
// status and this thread's last error (edgeface_last_error), so nothing C++ crosses the
// boundary; ``require`` refuses a caller's argument. The entry points are split by subject
// (c_api.cc: bundles and models, c_api_analyzer.cc, c_api_gallery.cc) and all use these.
#pragma once

#include <exception>
#include <new>
#include <string>

#include "edgeface.h"
#include "error.h"

namespace edgeface::c_api {

// Clears this thread's last error.
void clear_error() noexcept;
// Records the message and field of a failure; returns `status`.
edgeface_status fail(edgeface_status status, const char* message, const char* field = "") noexcept;
edgeface_status status_of(Category category) noexcept;
const char* last_error() noexcept;
const char* last_error_field() noexcept;

template <typename Body>
edgeface_status guarded(Body&& body) noexcept {
  try {
    clear_error();
    body();
    return EDGEFACE_OK;
  } catch (const Error& e) {
    return fail(status_of(e.category()), e.what(), e.field().c_str());
  } catch (const std::bad_alloc&) {
    return fail(EDGEFACE_ERROR_OUT_OF_MEMORY, "out of memory");
  } catch (const std::exception& e) {
    return fail(EDGEFACE_ERROR_INTERNAL, e.what());
  } catch (...) {
    return fail(EDGEFACE_ERROR_INTERNAL, "an unknown C++ exception");
  }
}

// Throws an argument error with `message` unless `condition` holds.
inline void require(bool condition, const std::string& message) {
  if (!condition) throw Error(Category::kArgument, message);
}

}  // namespace edgeface::c_api
