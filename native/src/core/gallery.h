// A gallery file written by the Python SDK (edgeface/gallery.py: EFGALLERY2, and version 1
// read only), read whole and checked against its sha256, searched 1:N by cosine
// similarity: an identity scores its best template, as Gallery.search ranks them.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace edgeface {

class Gallery {
 public:
  // Reads and checks the file (kGallery naming the file and the fix); `dim` > 0 requires
  // that template size.
  static Gallery open(const std::string& path, int dim);
  int dim() const { return dim_; }
  size_t identity_count() const { return names_.size(); }
  size_t template_count() const { return owner_.size(); }
  // The `top_k` best identities for `query` (dim floats; normalised here), best first,
  // then those below `threshold` dropped: (identity index, similarity).
  std::vector<std::pair<size_t, float>> search(const float* query, size_t top_k, float threshold) const;
  const std::string& name(size_t identity) const { return names_[identity]; }

 private:
  int dim_ = 0;
  std::vector<std::string> names_;
  std::vector<size_t> owner_;     // per template: its identity
  std::vector<float> templates_;  // template_count x dim, unit rows
};

}  // namespace edgeface
