// A face gallery, as the Python SDK's edgeface.Gallery: named identities with unit
// templates, searched 1:N by cosine similarity (an identity scores its best template),
// enrolled into, and saved in the SDK's file format (gallery_file.h) so that either side
// reads what the other wrote.
//
// Saving to the file the gallery was opened from (or last saved to) merges: under the
// writer lock, when another writer (Python or native) changed the file since then (a
// record appended to a version-3 gallery's journal counts: see GalleryFile's stamp), the
// file is re-read and this gallery's enrolments and removals since then are replayed on
// top, so no change that returned is lost (the SDK's Gallery takes in others' changes too).
//
// A gallery may record the embedder that made its templates (EmbedderFingerprint): bind
// refuses another one, and a gallery that records none adopts the first bound to it and
// writes it with its next save.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "gallery_file.h"

namespace edgeface {

class Gallery {
 public:
  // An empty gallery of `dim`-float templates, bound to no file.
  explicit Gallery(int dim);
  // Reads and checks the file (kGallery naming the file and the fix); `dim` > 0 requires
  // that template size.
  static Gallery open(const std::string& path, int dim);

  int dim() const { return dim_; }
  size_t identity_count() const { return names_.size(); }
  size_t template_count() const { return owner_.size(); }
  const std::string& name(size_t identity) const { return names_[identity]; }
  const std::string& path() const { return path_; }
  const std::optional<EmbedderFingerprint>& embedder() const { return embedder_; }

  // Refuses (kGallery, naming the file, both embedders and the fix) a gallery whose
  // templates another embedder made, or of another template size; one that records no
  // embedder adopts `embedder`. Raw templates need no bind (edgeface.Gallery.bind).
  void bind(const EmbedderFingerprint& embedder);

  // The `top_k` best identities for `query` (dim floats; normalised here), best first,
  // then those below `threshold` dropped: (identity index, similarity).
  std::vector<std::pair<size_t, float>> search(const float* query, size_t top_k, float threshold) const;

  // Adds `count` templates (count x dim finite floats, none all zero; normalised here) to
  // `name` (check_identity_name's rule); returns the identity's template count.
  size_t enroll(const std::string& name, const float* rows, size_t count);
  // Deletes `name` and its templates; returns how many templates went (kArgument if none).
  size_t remove(const std::string& name);
  // Writes the file atomically (mode 0600) to `path`, or to the gallery's own path when
  // `path` is empty; that path becomes the gallery's. See the merge rule above.
  void save(const std::string& path);

 private:
  void append(const std::string& name, const float* unit_rows, size_t count);
  std::vector<float> templates_of(size_t identity) const;  // in enrolment order
  GalleryContents contents() const;                        // grouped by identity, for the file
  // When the file at `path` changed since stamp_: becomes the file's gallery with this
  // one's enrolments and removals since then replayed on top.
  void take_file_changes(const std::string& path);

  int dim_ = 0;
  std::vector<std::string> names_;
  std::map<std::string, size_t> ids_;  // name -> identity index
  std::vector<size_t> counts_;         // per identity: its template count
  std::vector<size_t> owner_;     // per template: its identity
  std::vector<float> templates_;  // template_count x dim, unit rows
  std::optional<EmbedderFingerprint> embedder_;  // what made the templates, when known
  std::string path_;              // "" when bound to no file
  std::string stamp_;             // gallery_file_stamp of the file as last read or written; "" for none
  std::set<std::string> removed_;                         // identities removed since then
  std::map<std::string, size_t> added_;  // templates enrolled since then (after any removal), per identity
  std::vector<std::string> added_order_; // names in order of enrolment since then (may repeat)
};

}  // namespace edgeface
