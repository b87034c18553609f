// Category names, as the Python SDK's exception classes (see error.h).
#include "error.h"

namespace edgeface {

const char* category_name(Category category) {
  switch (category) {
    case Category::kBundle: return "BundleError";
    case Category::kManifest: return "ManifestError";
    case Category::kChecksum: return "ChecksumError";
    case Category::kModelLoad: return "ModelLoadError";
    case Category::kInference: return "InferenceError";
    case Category::kArgument: return "ArgumentError";
    case Category::kImage: return "ImageError";
    case Category::kGallery: return "GalleryError";
  }
  return "Error";
}

}  // namespace edgeface
