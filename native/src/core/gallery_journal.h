// The journal beside a version-3 base file, `<gallery>.journal` (edgeface/gallery/journal.py
// documents it): the enrolments, removals and embedder the Python SDK appended since it
// last wrote the base. Read and replayed as its Gallery takes them in, so that the native
// core holds the gallery the SDK shows. The native core never appends to it: it saves
// the merged gallery as version 2, whose header names no journal (gallery_file.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "gallery_file.h"

namespace edgeface {

struct JournalRecord {
  enum class Op : uint8_t { kEnroll = 1, kRemove = 2, kEmbedder = 3 };
  Op op = Op::kEnroll;
  std::string name;                             // kEnroll, kRemove
  std::vector<float> rows;                      // kEnroll: rows x dim, as written
  std::optional<EmbedderFingerprint> embedder;  // kEmbedder
};

// A journal's whole records, and the offset just after the last one (0: no journal applies).
struct Journal {
  std::vector<JournalRecord> records;
  uint64_t end = 0;
};

std::string journal_path(const std::string& gallery_path);

// The journal beside `gallery_path` when its id is `journal_id`, its records checked for
// templates of `dim`. Empty when there is none or it is another id's: a compaction killed
// between its two renames, or a base rewritten by a version-2 writer that had read it, and
// either way the base holds its records. A last record cut short or failing its sha256 is
// a write killed before it returned: left out. A bad record with more bytes after it is
// corruption: Error(Category::kGallery) naming the journal, the byte and the fix.
Journal read_journal(const std::string& gallery_path, const std::string& journal_id, int dim);

// `contents` (a base file's) with `journal`'s records replayed as the SDK's Gallery does:
// an enrolment adds rows to its identity, or a new identity at the end (a removed name
// enrolled again is a new one); a removal deletes an identity; an embedder record sets the
// fingerprint. A removal of a name not held, or a second embedder, is corruption as above.
void apply_journal(const std::string& gallery_path, const Journal& journal, GalleryContents& contents);

}  // namespace edgeface
