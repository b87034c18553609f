// This thread's last error and the category -> status mapping (c_api_guard.h).
#include "c_api_guard.h"

namespace edgeface::c_api {
namespace {

struct LastError {
  std::string message;
  std::string field;
};

thread_local LastError last;

}  // namespace

void clear_error() noexcept {
  last.message.clear();
  last.field.clear();
}

edgeface_status fail(edgeface_status status, const char* message, const char* field) noexcept {
  try {
    last.message = message;
    last.field = field;
  } catch (...) {  // no memory even for the message: the status still says what happened
    clear_error();
  }
  return status;
}

edgeface_status status_of(Category category) noexcept {
  switch (category) {
    case Category::kBundle: return EDGEFACE_ERROR_BUNDLE;
    case Category::kManifest: return EDGEFACE_ERROR_MANIFEST;
    case Category::kChecksum: return EDGEFACE_ERROR_CHECKSUM;
    case Category::kModelLoad: return EDGEFACE_ERROR_MODEL_LOAD;
    case Category::kInference: return EDGEFACE_ERROR_INFERENCE;
    case Category::kArgument: return EDGEFACE_ERROR_ARGUMENT;
    case Category::kImage: return EDGEFACE_ERROR_IMAGE;
    case Category::kGallery: return EDGEFACE_ERROR_GALLERY;
  }
  return EDGEFACE_ERROR_INTERNAL;
}

const char* last_error() noexcept { return last.message.c_str(); }

const char* last_error_field() noexcept { return last.field.c_str(); }

}  // namespace edgeface::c_api
