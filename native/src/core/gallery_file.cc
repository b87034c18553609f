#include "gallery_file.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <numeric>
#include <random>

#include "gallery_base_file.h"
#include "gallery_fileio.h"
#include "gallery_journal.h"

namespace edgeface {
namespace {

using namespace gallery_io;

constexpr const char* kTempSuffix = ".tmp";
constexpr size_t kTempRandomChars = 8;  // as tempfile.mkstemp: [a-z0-9_]{8}, what fsutil's cleanup matches

static_assert(std::numeric_limits<float>::is_iec559, "templates are IEEE float32");

int64_t template_count(const GalleryContents& contents) {
  return static_cast<int64_t>(contents.templates.size() / static_cast<size_t>(contents.dim));
}

// What a version-2 sha256 covers before the templates: the magic, then the canonical JSON
// (sorted keys, no spaces) of the other header fields, the fingerprint included, with its length.
Sha256 content_digest(const GalleryContents& contents) {
  return header_digest(kMagic2, "{\"count\":" + std::to_string(template_count(contents)) +
                                    ",\"counts\":" + json_integers(contents.counts, ",") +
                                    ",\"dim\":" + std::to_string(contents.dim) +
                                    (contents.embedder ? ",\"embedder\":" + json_embedder(*contents.embedder, true) : "") +
                                    ",\"names\":" + json_strings(contents.names, ",") + "}");
}

void update(Sha256& digest, const std::vector<float>& templates) {
  digest.update(reinterpret_cast<const uint8_t*>(templates.data()), templates.size() * sizeof(float));
}

bool is_int(const Json& value) { return value.is_number_integer(); }

// A version 1 or 2 header's fields, checked as edgeface/gallery/legacy_file.py's _parse_header checks them.
GalleryContents parse_header(const Reader& reader, const std::string& raw, bool version1, std::string& sha256) {
  const Bad bad = [&](const std::string& reason) { return reader.error(reason); };
  const Json header = parse_json_header(raw, bad);
  const bool has_embedder = !version1 && header.contains("embedder");  // version 1 has none: an unchecked one is not believed
  if (!version1 && (header.size() != 5u + has_embedder || !header.contains("dim") || !header.contains("count") ||
                    !header.contains("names") || !header.contains("counts") || !header.contains("sha256")))
    reader.invalid("header fields must be exactly dim, count, names, counts, sha256 and optionally embedder");
  const Json none;
  auto field = [&](const char* key) -> const Json& { return header.contains(key) ? header[key] : none; };
  const Json &dim_field = field("dim"), &count_field = field("count"), &names_field = field("names"),
             &counts_field = field("counts"), &sha_field = field("sha256");
  if (!is_int(dim_field) || !is_int(count_field) || dim_field.get<int64_t>() <= 0 || count_field.get<int64_t>() < 0)
    reader.invalid("dim or count missing or invalid");
  const int64_t dim = dim_field.get<int64_t>(), count = count_field.get<int64_t>();
  if (dim > kMaxDim) reader.invalid("dim above " + std::to_string(kMaxDim));
  GalleryContents contents;
  contents.dim = static_cast<int>(dim);
  if (!names_field.is_array()) reader.invalid("names must be a list of non-blank strings");
  for (const Json& name : names_field) {
    if (!name.is_string() || is_blank(name.get<std::string>())) reader.invalid("names must be a list of non-blank strings");
    contents.names.push_back(name.get<std::string>());
  }
  std::vector<std::string> sorted = contents.names;
  std::sort(sorted.begin(), sorted.end());
  if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) reader.invalid("duplicate identity names");
  if (!counts_field.is_array() || counts_field.size() != contents.names.size())
    reader.invalid("counts must give a positive template count per name");
  int64_t total = 0;
  for (const Json& c : counts_field) {
    if (!is_int(c) || c.get<int64_t>() <= 0 || c.get<int64_t>() > count) reader.invalid("counts must give a positive template count per name");
    contents.counts.push_back(c.get<int64_t>());
    total += contents.counts.back();
  }
  if (total != count) reader.invalid("counts do not add up to count");
  if (!is_sha256(sha_field)) reader.invalid("sha256 missing or invalid");
  sha256 = sha_field.get<std::string>();
  if (has_embedder) contents.embedder = parse_embedder(header["embedder"], contents.dim, bad);
  return contents;
}

void write_all(int fd, const void* data, size_t size, const std::string& path) {
  const auto* bytes = static_cast<const uint8_t*>(data);
  while (size > 0) {
    const ssize_t wrote = ::write(fd, bytes, size);
    if (wrote < 0 && errno == EINTR) continue;
    if (wrote < 0) throw Error(Category::kGallery, system_error("cannot write", path));
    bytes += wrote;
    size -= static_cast<size_t>(wrote);
  }
}

std::string temp_prefix(const std::filesystem::path& path) { return "." + path.filename().string() + "."; }

// A new temporary file next to `path` named as fsutil.atomic_write names its own, opened
// for writing with mode 0600 less the umask; its path goes to `temp`.
FileHandle create_temp(const std::filesystem::path& path, std::string& temp) {
  static const char kChars[] = "abcdefghijklmnopqrstuvwxyz0123456789_";
  std::random_device seed;
  std::mt19937_64 random(seed());
  for (int attempt = 0; attempt < 100; ++attempt) {
    std::string name = temp_prefix(path);
    for (size_t i = 0; i < kTempRandomChars; ++i) name += kChars[random() % (sizeof(kChars) - 1)];
    temp = (path.parent_path() / (name + kTempSuffix)).string();
    FileHandle file(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (file.get() >= 0) return file;
    if (errno != EEXIST) throw Error(Category::kGallery, system_error("cannot write", temp));
  }
  throw Error(Category::kGallery, "cannot write " + path.string() + ": no free temporary file name next to it");
}

void remove_stale_temp_files(const std::filesystem::path& path) {
  const std::string prefix = temp_prefix(path);
  const std::filesystem::path folder = path.parent_path().empty() ? "." : path.parent_path();
  std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(folder.c_str()), ::closedir);
  if (!dir) return;
  const size_t length = prefix.size() + kTempRandomChars + std::strlen(kTempSuffix);
  while (const dirent* entry = ::readdir(dir.get())) {
    const std::string name = entry->d_name;
    if (name.size() != length || name.compare(0, prefix.size(), prefix) != 0 ||
        name.compare(length - std::strlen(kTempSuffix), std::string::npos, kTempSuffix) != 0)
      continue;
    const std::string middle = name.substr(prefix.size(), kTempRandomChars);
    if (middle.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") == std::string::npos)
      ::unlink((folder / name).c_str());
  }
}

void make_parent_folder(const std::filesystem::path& path) {
  std::error_code failed;
  if (!path.parent_path().empty()) std::filesystem::create_directories(path.parent_path(), failed);
  if (failed) throw Error(Category::kGallery, "cannot write " + path.string() + ": " + failed.message());
}

void fsync_folder(const std::filesystem::path& path) {
  const std::filesystem::path folder = path.parent_path().empty() ? "." : path.parent_path();
  FileHandle dir(::open(folder.c_str(), O_RDONLY | O_CLOEXEC));
  if (dir.get() >= 0) ::fsync(dir.get());
}

bool is_version3(const std::string& lead) { return lead.compare(0, kMagic3.size(), kMagic3) == 0; }

// A version-3 gallery's stamp: the base's, and how far the journal's whole records reach
// (the base names the journal, which only grows until the next base replaces it), so that
// a record appended by another writer changes the stamp as a new base does.
std::string version3_stamp(const std::string& base_stamp, const std::string& journal_id, const Journal& journal) {
  return base_stamp + "+" + journal_id + ":" + std::to_string(journal.end);
}

}  // namespace

bool EmbedderFingerprint::same_model(const EmbedderFingerprint& other) const {
  return sha256 == other.sha256 && dim == other.dim && normalization == other.normalization;
}

std::string EmbedderFingerprint::label() const { return "'" + name + "' (sha256 " + sha256.substr(0, 12) + ")"; }

GalleryFile read_gallery_file(const std::string& path) {
  Reader reader(path);
  const auto [lead, raw] = reader.head();
  if (is_version3(lead)) {
    BaseFile base = read_base_file(reader, lead, raw);
    const Journal journal = read_journal(path, base.journal_id, base.contents.dim);
    apply_journal(path, journal, base.contents);
    return {std::move(base.contents), version3_stamp(stamp_of(lead, raw), base.journal_id, journal)};
  }
  const bool version1 = lead.compare(0, kMagic1.size(), kMagic1) == 0;
  std::string sha256;
  GalleryFile file{parse_header(reader, raw, version1, sha256), stamp_of(lead, raw)};
  GalleryContents& contents = file.contents;
  const auto count = static_cast<uint64_t>(std::accumulate(contents.counts.begin(), contents.counts.end(), int64_t{0}));
  const auto dim = static_cast<uint64_t>(contents.dim);

  const uint64_t start = lead.size() + raw.size();
  const uint64_t data_start = start + (kAlign - start % kAlign) % kAlign;
  // count <= size / 4 / dim before the product, so it cannot overflow
  if (count > reader.size() / 4 / dim)
    reader.invalid(std::to_string(reader.size()) + " bytes where the header implies more; truncated or overwritten");
  const uint64_t expected = data_start + count * dim * 4;
  if (reader.size() != expected)
    reader.invalid(std::to_string(reader.size()) + " bytes where the header implies " + std::to_string(expected) +
                   "; truncated or overwritten");
  std::string padding(data_start - start, '\0');
  reader.read(padding.data(), padding.size(), "padding");
  if (padding.find_first_not_of('\0') != std::string::npos) reader.invalid("non-zero padding after the header");
  contents.templates.resize(static_cast<size_t>(count * dim));
  reader.read(contents.templates.data(), contents.templates.size() * 4, "template data");

  Sha256 digest = version1 ? Sha256() : content_digest(contents);
  update(digest, contents.templates);
  if (to_hex(digest.digest()) != sha256)
    reader.invalid(std::string(version1 ? "template data" : "header and template data") +
                   " do not match their sha256; the file is corrupt or was edited");
  return file;
}

std::string gallery_file_stamp(const std::string& path) {
  if (::access(path.c_str(), F_OK) != 0 && errno == ENOENT) return "";
  Reader reader(path);
  const auto [lead, raw] = reader.head();
  if (!is_version3(lead)) return stamp_of(lead, raw);
  const BaseFile base = read_base_header(reader, raw);
  return version3_stamp(stamp_of(lead, raw), base.journal_id, read_journal(path, base.journal_id, base.contents.dim));
}

std::string write_gallery_file(const std::string& path, const GalleryContents& contents) {
  Sha256 digest = content_digest(contents);
  update(digest, contents.templates);
  // json.dumps' default layout, in the order edgeface/gallery.py writes the fields
  const std::string header = "{\"dim\": " + std::to_string(contents.dim) +
                             ", \"count\": " + std::to_string(template_count(contents)) +
                             ", \"names\": " + json_strings(contents.names, ", ") +
                             ", \"counts\": " + json_integers(contents.counts, ", ") +
                             (contents.embedder ? ", \"embedder\": " + json_embedder(*contents.embedder, false) : "") +
                             ", \"sha256\": \"" + to_hex(digest.digest()) + "\"}";
  std::string head = kMagic2;
  for (size_t i = 0; i < kLengthBytes; ++i) head += static_cast<char>(static_cast<uint64_t>(header.size()) >> (8 * i));
  head += header;
  const std::string stamp = stamp_of(head, "");
  head.append((kAlign - head.size() % kAlign) % kAlign, '\0');

  const std::filesystem::path target(path);
  make_parent_folder(target);
  std::string temp;
  FileHandle file = create_temp(target, temp);
  try {
    write_all(file.get(), head.data(), head.size(), temp);
    write_all(file.get(), contents.templates.data(), contents.templates.size() * sizeof(float), temp);
    if (::fsync(file.get()) != 0) throw Error(Category::kGallery, system_error("cannot write", temp));
    if (::rename(temp.c_str(), path.c_str()) != 0) throw Error(Category::kGallery, system_error("cannot write", path));
  } catch (...) {
    ::unlink(temp.c_str());
    throw;
  }
  fsync_folder(target);
  return stamp;
}

GalleryWriterLock::GalleryWriterLock(const std::string& path) {
  const std::filesystem::path target(path);
  make_parent_folder(target);
  const std::string lock = (target.parent_path() / ("." + target.filename().string() + ".lock")).string();
  fd_ = ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd_ < 0) throw Error(Category::kGallery, system_error("cannot lock", lock));
  while (::flock(fd_, LOCK_EX) != 0) {
    if (errno == EINTR) continue;
    const std::string message = system_error("cannot lock", lock);
    ::close(fd_);
    throw Error(Category::kGallery, message);
  }
  remove_stale_temp_files(target);
}

GalleryWriterLock::~GalleryWriterLock() { ::close(fd_); }

}  // namespace edgeface
