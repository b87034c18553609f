// The Python SDK's gallery files, read as it reads them and written in a format it reads
// (edgeface/gallery/ documents them): version 3, the base file beside its journal
// (gallery_base_file.h, gallery_journal.h), read with the journal replayed on top; versions
// 2 and 1 (read only), one file whose JSON header's sha256 covers the header fields (the
// optional embedder fingerprint included) and the 64-byte aligned float32 templates.
//
// The native core writes version 2: a phone's gallery is small enough to rewrite whole,
// and a version-2 header names no journal, so the SDK ignores the journal left beside it
// (whose records the native core merged into what it wrote) and starts a new one on its
// next change. Saves go through a temporary file and a rename under the SDK's writer
// lock, so Python and native writers of one file take turns and a killed writer leaves
// the old file whole.
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

// What a gallery holds: identities in the order the SDK's Gallery.identities() lists them
// (file order, then those a journal enrolled), each owning `counts[i]` consecutive rows of
// `templates` (count x dim unit rows), and the embedder that made them, if known.
struct GalleryContents {
  int dim = 0;
  std::vector<std::string> names;
  std::vector<int64_t> counts;
  std::vector<float> templates;
  std::optional<EmbedderFingerprint> embedder;
};

// A gallery's contents and its stamp, which changes whenever what a read gives changes:
// for versions 1 and 2 the sha256 of the magic, length and header, which (through the
// header's sha256) pins the whole file, as edgeface/gallery/fileio.py's stamp_of; for
// version 3 the base's, the journal id and the end of the journal's whole records.
struct GalleryFile {
  GalleryContents contents;
  std::string stamp;
};

// Reads and checks the file (and its journal); any problem is an Error of
// Category::kGallery naming the file at fault.
GalleryFile read_gallery_file(const std::string& path);

// The stamp read_gallery_file(path) would give (without reading the templates), or ""
// when there is no file.
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
