// The gallery file of the Python SDK (edgeface/gallery.py documents the layout), read and
// written byte for byte as it does: EFGALLERY2 (version 1 read only), a JSON header whose
// sha256 covers the header fields (the optional embedder fingerprint included) and the
// templates, 64-byte aligned float32 rows. Saves
// go through a temporary file and a rename under the SDK's writer lock, so Python and
// native writers of one file take turns and a killed writer leaves the old file whole.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace edgeface {

// Which embedder made a gallery's templates (edgeface.gallery.EmbedderFingerprint): the
// bundle's name, the embedder model file's sha256, the embedding size and how templates
// are normalised. Two are one model when all but the name agree: the name only labels it.
struct EmbedderFingerprint {
  std::string name, sha256;
  int dim = 0;
  std::string normalization = "l2";

  bool same_model(const EmbedderFingerprint& other) const;
  std::string label() const;  // 'name' (sha256 <first 12 hex digits>)
};

// What a gallery file holds: identities in file order, each owning `counts[i]` consecutive
// rows of `templates` (count x dim unit rows), and the embedder that made them, if known.
struct GalleryContents {
  int dim = 0;
  std::vector<std::string> names;
  std::vector<int64_t> counts;
  std::vector<float> templates;
  std::optional<EmbedderFingerprint> embedder;
};

// A file's contents and its stamp: the sha256 of its magic, length and header, which
// (through the header's sha256) pins the whole file, as edgeface/gallery.py's _stamp_of.
struct GalleryFile {
  GalleryContents contents;
  std::string stamp;
};

// Reads and checks the file; any problem is an Error of Category::kGallery naming it.
GalleryFile read_gallery_file(const std::string& path);

// The stamp of the file at `path`, or "" when there is none.
std::string gallery_file_stamp(const std::string& path);

// Writes `contents` (version 2, mode 0600 less the umask) atomically to `path`; returns the
// new file's stamp. The caller holds GalleryWriterLock(path).
std::string write_gallery_file(const std::string& path, const GalleryContents& contents);

// flock on the sidecar ".NAME.lock" next to `path`, as edgeface.fsutil.writer_lock: held
// from construction to destruction, released by the kernel if the process dies. While
// held, temporary files a killed writer left are deleted.
class GalleryWriterLock {
 public:
  explicit GalleryWriterLock(const std::string& path);
  ~GalleryWriterLock();
  GalleryWriterLock(const GalleryWriterLock&) = delete;
  GalleryWriterLock& operator=(const GalleryWriterLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace edgeface
