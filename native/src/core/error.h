// The one exception type of the C++ core: a category (the Python SDK's exception classes,
// which the C interface turns into status codes) and, for manifest errors, the dotted path
// of the field at fault.
#pragma once

#include <stdexcept>
#include <string>

namespace edgeface {

enum class Category {
  kBundle,     // BundleError: a bundle or one of its files is missing, unreadable, too large
  kManifest,   // ManifestError: manifest.json does not follow the bundle schema
  kChecksum,   // ChecksumError: a model file does not match its sha256
  kModelLoad,  // ModelLoadError: LiteRT cannot load or compile a model
  kInference,  // InferenceError: a loaded model failed while running
  kArgument,   // a caller's argument is wrong (a null pointer, a wrong buffer size)
  kImage,      // ImageError: an image's sizes, strides or buffers do not hold its pixels
  kGallery,    // GalleryError: a gallery file is missing, damaged or of another template size
};

// The Python exception class name of a category ("ManifestError").
const char* category_name(Category category);

class Error : public std::runtime_error {
 public:
  Error(Category category, const std::string& message, std::string field = "")
      : std::runtime_error(message), category_(category), field_(std::move(field)) {}
  Category category() const { return category_; }
  // For manifest errors: the field's dotted path below the manifest ("models.detector.nms").
  const std::string& field() const { return field_; }

 private:
  Category category_;
  std::string field_;
};

}  // namespace edgeface
