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

#include "bundle.h"
#include "error.h"
#include "fields.h"
#include "sha256.h"

namespace edgeface {
namespace {

const std::string kMagic2 = "EFGALLERY2\n";
const std::string kMagic1 = "EFGALLERY1\n";  // read only: its sha256 covers the templates alone
constexpr size_t kLengthBytes = 8;
constexpr size_t kAlign = 64;
constexpr uint64_t kMaxHeaderBytes = 256ull << 20;  // names of millions of identities fit well below
constexpr int64_t kMaxDim = 65536;                  // the largest embedding_size a manifest may give
constexpr const char* kFix = "re-enroll, or restore from backup";
constexpr const char* kTempSuffix = ".tmp";
constexpr size_t kTempRandomChars = 8;  // as tempfile.mkstemp: [a-z0-9_]{8}, what fsutil's cleanup matches

static_assert(std::numeric_limits<float>::is_iec559, "templates are IEEE float32");

std::string system_error(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

class Reader {
 public:
  explicit Reader(std::string path) : path_(std::move(path)) {
    file_ = FileHandle(::open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
    if (file_.get() < 0) throw Error(Category::kGallery, system_error("cannot read", path_) + ": " + kFix);
    struct stat status {};
    if (::fstat(file_.get(), &status) != 0 || !S_ISREG(status.st_mode))
      throw Error(Category::kGallery, path_ + " is not a regular file: open the gallery file itself");
    size_ = static_cast<uint64_t>(status.st_size);
  }
  uint64_t size() const { return size_; }
  [[noreturn]] void invalid(const std::string& reason) const {
    throw Error(Category::kGallery, path_ + " is not a valid gallery file (" + reason + "): " + kFix);
  }
  void read(void* out, size_t count, const char* what) {
    auto* bytes = static_cast<uint8_t*>(out);
    while (count > 0) {
      const ssize_t got = ::read(file_.get(), bytes, count);
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) throw Error(Category::kGallery, system_error("cannot read", path_) + ": " + kFix);
      if (got == 0) invalid(std::string("truncated ") + what);
      bytes += got;
      count -= static_cast<size_t>(got);
    }
  }
  // The magic with the header's length, and the raw JSON header.
  std::pair<std::string, std::string> head() {
    std::string lead(kMagic2.size() + kLengthBytes, '\0');
    if (size() < lead.size()) invalid("it does not start with the gallery magic bytes");
    read(lead.data(), lead.size(), "header");
    const std::string magic = lead.substr(0, kMagic2.size());
    if (magic != kMagic2 && magic != kMagic1) invalid("it does not start with the gallery magic bytes");
    uint64_t length = 0;
    for (size_t i = 0; i < kLengthBytes; ++i)
      length |= static_cast<uint64_t>(static_cast<uint8_t>(lead[kMagic2.size() + i])) << (8 * i);
    if (length > size() - lead.size() || length > kMaxHeaderBytes) invalid("truncated header");
    std::string raw(length, '\0');
    read(raw.data(), raw.size(), "header");
    return {lead, raw};
  }

 private:
  std::string path_;
  FileHandle file_;
  uint64_t size_ = 0;
};

// Python's json.dumps(..., ensure_ascii=True) of a string: what the header holds and the
// version-2 sha256 covers.
void append_json_string(const std::string& utf8, std::string& out) {
  static const char kHex[] = "0123456789abcdef";
  auto unit = [&](uint32_t u) {
    out += "\\u";
    for (int shift = 12; shift >= 0; shift -= 4) out += kHex[(u >> shift) & 15];
  };
  out += '"';
  for (size_t i = 0; i < utf8.size();) {
    const auto lead = static_cast<uint8_t>(utf8[i]);
    const int extra = lead < 0x80 ? 0 : lead >= 0xF0 ? 3 : lead >= 0xE0 ? 2 : 1;
    uint32_t code = extra == 0 ? lead : lead & (0x3F >> extra);
    for (int k = 1; k <= extra && i + k < utf8.size(); ++k) code = (code << 6) | (static_cast<uint8_t>(utf8[i + k]) & 0x3F);
    i += 1 + extra;
    if (code == '"') out += "\\\"";
    else if (code == '\\') out += "\\\\";
    else if (code == '\n') out += "\\n";
    else if (code == '\r') out += "\\r";
    else if (code == '\t') out += "\\t";
    else if (code == '\b') out += "\\b";
    else if (code == '\f') out += "\\f";
    else if (code >= 0x20 && code < 0x7F) out += static_cast<char>(code);
    else if (code < 0x10000) unit(code);
    else {
      code -= 0x10000;
      unit(0xD800 + (code >> 10));
      unit(0xDC00 + (code & 0x3FF));
    }
  }
  out += '"';
}

// The header fields as JSON lists, with `separator` between items.
std::string json_counts(const std::vector<int64_t>& counts, const char* separator) {
  std::string text = "[";
  for (size_t i = 0; i < counts.size(); ++i) text += (i ? separator : "") + std::to_string(counts[i]);
  return text + "]";
}

std::string json_names(const std::vector<std::string>& names, const char* separator) {
  std::string text = "[";
  for (size_t i = 0; i < names.size(); ++i) {
    if (i) text += separator;
    append_json_string(names[i], text);
  }
  return text + "]";
}

// The fingerprint as Python's json.dumps writes it: the written header's layout (field
// order, ", " and ": "), or the canonical one the sha256 covers (sorted keys, no spaces).
std::string json_embedder(const EmbedderFingerprint& embedder, bool canonical) {
  std::string name, sha256;
  append_json_string(embedder.name, name);
  append_json_string(embedder.sha256, sha256);
  std::string normalization;
  append_json_string(embedder.normalization, normalization);
  const std::string dim = std::to_string(embedder.dim);
  if (canonical)
    return "{\"dim\":" + dim + ",\"name\":" + name + ",\"normalization\":" + normalization + ",\"sha256\":" + sha256 + "}";
  return "{\"name\": " + name + ", \"sha256\": " + sha256 + ", \"dim\": " + dim + ", \"normalization\": " + normalization + "}";
}

int64_t template_count(const GalleryContents& contents) {
  return static_cast<int64_t>(contents.templates.size() / static_cast<size_t>(contents.dim));
}

// What a version-2 sha256 covers before the templates: the magic, then the canonical JSON
// (sorted keys, no spaces) of the other header fields, the fingerprint included, with its length.
Sha256 content_digest(const GalleryContents& contents) {
  const std::string canonical = "{\"count\":" + std::to_string(template_count(contents)) +
                                ",\"counts\":" + json_counts(contents.counts, ",") +
                                ",\"dim\":" + std::to_string(contents.dim) +
                                (contents.embedder ? ",\"embedder\":" + json_embedder(*contents.embedder, true) : "") +
                                ",\"names\":" + json_names(contents.names, ",") + "}";
  Sha256 digest;
  digest.update(reinterpret_cast<const uint8_t*>(kMagic2.data()), kMagic2.size());
  uint8_t length[kLengthBytes];
  for (size_t i = 0; i < kLengthBytes; ++i) length[i] = static_cast<uint8_t>(static_cast<uint64_t>(canonical.size()) >> (8 * i));
  digest.update(length, kLengthBytes);
  digest.update(reinterpret_cast<const uint8_t*>(canonical.data()), canonical.size());
  return digest;
}

void update(Sha256& digest, const std::vector<float>& templates) {
  digest.update(reinterpret_cast<const uint8_t*>(templates.data()), templates.size() * sizeof(float));
}

std::string stamp_of(const std::string& lead, const std::string& raw_header) {
  const std::string head = lead + raw_header;
  return sha256_hex(reinterpret_cast<const uint8_t*>(head.data()), head.size());
}

bool is_int(const Json& value) { return value.is_number_integer(); }

bool is_sha256(const Json& value) {
  return value.is_string() && value.get<std::string>().size() == 64 &&
         value.get<std::string>().find_first_not_of("0123456789abcdef") == std::string::npos;
}

bool is_blank(const std::string& text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c == ' ' || (c >= '\t' && c <= '\r'); });
}

// The header's embedder fingerprint, checked as edgeface/gallery.py's _check_embedder does.
EmbedderFingerprint parse_embedder(const Reader& reader, const Json& field, int dim) {
  if (!field.is_object() || field.size() != 4 || !field.contains("name") || !field.contains("sha256") ||
      !field.contains("dim") || !field.contains("normalization"))
    reader.invalid("embedder must hold exactly name, sha256, dim and normalization");
  const Json &name = field["name"], &sha256 = field["sha256"], &size = field["dim"], &normalization = field["normalization"];
  if (!name.is_string() || is_blank(name.get<std::string>()) || !is_sha256(sha256) || !is_int(size) ||
      size.get<int64_t>() != dim || normalization != "l2")
    reader.invalid("embedder name, sha256, dim or normalization invalid");
  return {name.get<std::string>(), sha256.get<std::string>(), dim, "l2"};
}

// The header's fields, checked as edgeface/gallery.py's _parse_header checks them.
GalleryContents parse_header(const Reader& reader, const std::string& raw, bool version1, std::string& sha256) {
  Json header;
  if (nested_deeper_than(raw, 64)) reader.invalid("header is not UTF-8 JSON");
  try {
    header = Json::parse(raw);
  } catch (const Json::exception&) {
    reader.invalid("header is not UTF-8 JSON");
  }
  if (!header.is_object()) reader.invalid("header is not a JSON object");
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
  if (has_embedder) contents.embedder = parse_embedder(reader, header["embedder"], contents.dim);
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

}  // namespace

bool EmbedderFingerprint::same_model(const EmbedderFingerprint& other) const {
  return sha256 == other.sha256 && dim == other.dim && normalization == other.normalization;
}

std::string EmbedderFingerprint::label() const { return "'" + name + "' (sha256 " + sha256.substr(0, 12) + ")"; }

GalleryFile read_gallery_file(const std::string& path) {
  Reader reader(path);
  const auto [lead, raw] = reader.head();
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
  return stamp_of(lead, raw);
}

std::string write_gallery_file(const std::string& path, const GalleryContents& contents) {
  Sha256 digest = content_digest(contents);
  update(digest, contents.templates);
  // json.dumps' default layout, in the order edgeface/gallery.py writes the fields
  const std::string header = "{\"dim\": " + std::to_string(contents.dim) +
                             ", \"count\": " + std::to_string(template_count(contents)) +
                             ", \"names\": " + json_names(contents.names, ", ") +
                             ", \"counts\": " + json_counts(contents.counts, ", ") +
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
