// What the gallery's file readers and writer share (the C++ side of the Python SDK's
// edgeface/gallery/fileio.py): a file read to the last byte or refused, the JSON text
// Python's json.dumps gives the header values (the sha256s cover it), and the check of a
// recorded embedder fingerprint.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "bundle.h"
#include "error.h"
#include "fields.h"
#include "gallery_file.h"
#include "sha256.h"

namespace edgeface::gallery_io {

inline const std::string kMagic1 = "EFGALLERY1\n";  // read only: its sha256 covers the templates alone
inline const std::string kMagic2 = "EFGALLERY2\n";  // what the native core writes
inline const std::string kMagic3 = "EFGALLERY3\n";  // the Python SDK's base file, beside its journal
constexpr size_t kLengthBytes = 8;
constexpr size_t kAlign = 64;
constexpr int64_t kMaxDim = 65536;  // the largest embedding_size a manifest may give
constexpr const char* kFix = "re-enroll, or restore from backup";

// Makes the exception a reader throws for `reason`, as the Python readers' `bad`.
using Bad = std::function<Error(const std::string& reason)>;

std::string system_error(const std::string& what, const std::string& path);
uint64_t aligned(uint64_t offset);
uint64_t little_endian(const void* bytes, size_t count);  // a count-byte unsigned integer

// A regular file read front to back; every problem an Error of Category::kGallery naming it.
class Reader {
 public:
  // `not_regular_fix`: what the message for a folder (or device) tells the user to do.
  explicit Reader(std::string path, const std::string& not_regular_fix = "open the gallery file itself");
  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }
  Error error(const std::string& reason) const;  // "<path> is not a valid gallery file (<reason>): <fix>"
  [[noreturn]] void invalid(const std::string& reason) const { throw error(reason); }
  void read(void* out, size_t count, const char* what);  // exactly count bytes, else invalid
  size_t read_some(void* out, size_t count);              // up to count bytes: fewer at the end of the file
  // The magic with the header's length, and the raw JSON header (any of the three versions).
  std::pair<std::string, std::string> head();

 private:
  std::string path_;
  FileHandle file_;
  uint64_t size_ = 0;
};

// The sha256 of the head read, which (through the header's sha256) pins the whole file: a
// version 1 or 2 file's stamp, and a version-3 base's part of its gallery's stamp.
std::string stamp_of(const std::string& lead, const std::string& raw_header);

// Python's json.dumps (ensure_ascii) of a string, a list of integers and a list of
// strings, with `separator` between items.
void append_json_string(const std::string& utf8, std::string& out);
std::string json_integers(const std::vector<int64_t>& values, const char* separator);
std::string json_strings(const std::vector<std::string>& values, const char* separator);
// The fingerprint as json.dumps writes it: the written header's layout (field order, ", "
// and ": "), or the canonical one the sha256s cover (sorted keys, no spaces).
std::string json_embedder(const EmbedderFingerprint& embedder, bool canonical);
// The sha256 over `magic`, the length of `canonical` (8 bytes little-endian) and
// `canonical` itself, open for more data: what the headers' sha256s cover first.
Sha256 header_digest(const std::string& magic, const std::string& canonical);

bool is_sha256(const Json& value);  // 64 lowercase hex digits, as the files write them
bool is_blank(const std::string& text);
// The header text as a JSON object, else bad("header is not UTF-8 JSON"/"... not a JSON object").
Json parse_json_header(const std::string& raw, const Bad& bad);
// A recorded fingerprint (exactly its four fields, for templates of `dim`), checked as
// edgeface/gallery/fingerprint.py's check_embedder_json.
EmbedderFingerprint parse_embedder(const Json& field, int dim, const Bad& bad);

}  // namespace edgeface::gallery_io
