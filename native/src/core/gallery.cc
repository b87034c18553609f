#include "gallery.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "bundle.h"
#include "edgeface/vision/align.h"
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

class Reader {
 public:
  explicit Reader(std::string path) : path_(std::move(path)) {
    file_ = FileHandle(::open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
    if (file_.get() < 0) throw Error(Category::kGallery, "cannot read " + path_ + ": " + std::strerror(errno) + ": " + kFix);
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
      if (got < 0) throw Error(Category::kGallery, "cannot read " + path_ + ": " + std::strerror(errno) + ": " + kFix);
      if (got == 0) invalid(std::string("truncated ") + what);
      bytes += got;
      count -= static_cast<size_t>(got);
    }
  }

 private:
  std::string path_;
  FileHandle file_;
  uint64_t size_ = 0;
};

// Python's json.dumps(..., ensure_ascii=True) of a string: what the version-2 sha256 covers.
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

// The canonical header JSON (sort_keys, no spaces) of the fields the sha256 covers.
std::string canonical_header(int64_t count, const std::vector<int64_t>& counts, int64_t dim,
                             const std::vector<std::string>& names) {
  std::string text = "{\"count\":" + std::to_string(count) + ",\"counts\":[";
  for (size_t i = 0; i < counts.size(); ++i) text += (i ? "," : "") + std::to_string(counts[i]);
  text += "],\"dim\":" + std::to_string(dim) + ",\"names\":[";
  for (size_t i = 0; i < names.size(); ++i) {
    if (i) text += ",";
    append_json_string(names[i], text);
  }
  return text + "]}";
}

bool is_int(const Json& value) { return value.is_number_integer(); }

bool is_blank(const std::string& text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c == ' ' || (c >= '\t' && c <= '\r'); });
}

}  // namespace

Gallery Gallery::open(const std::string& path, int dim) {
  Reader reader(path);
  std::string lead(kMagic2.size() + kLengthBytes, '\0');
  if (reader.size() < lead.size()) reader.invalid("it does not start with the gallery magic bytes");
  reader.read(lead.data(), lead.size(), "header");
  const std::string magic = lead.substr(0, kMagic2.size());
  if (magic != kMagic2 && magic != kMagic1) reader.invalid("it does not start with the gallery magic bytes");
  const bool version1 = magic == kMagic1;
  uint64_t header_length = 0;
  for (size_t i = 0; i < kLengthBytes; ++i) header_length |= static_cast<uint64_t>(static_cast<uint8_t>(lead[kMagic2.size() + i])) << (8 * i);
  if (header_length > reader.size() - lead.size() || header_length > kMaxHeaderBytes) reader.invalid("truncated header");
  std::string raw(header_length, '\0');
  reader.read(raw.data(), raw.size(), "header");

  Json header;
  if (nested_deeper_than(raw, 64)) reader.invalid("header is not UTF-8 JSON");
  try {
    header = Json::parse(raw);
  } catch (const Json::exception&) {
    reader.invalid("header is not UTF-8 JSON");
  }
  if (!header.is_object()) reader.invalid("header is not a JSON object");
  if (!version1 && (header.size() != 5 || !header.contains("dim") || !header.contains("count") ||
                    !header.contains("names") || !header.contains("counts") || !header.contains("sha256")))
    reader.invalid("header fields must be exactly dim, count, names, counts and sha256");
  const Json none;
  auto field = [&](const char* key) -> const Json& { return header.contains(key) ? header[key] : none; };
  const Json &dim_field = field("dim"), &count_field = field("count"), &names_field = field("names"),
             &counts_field = field("counts"), &sha_field = field("sha256");
  if (!is_int(dim_field) || !is_int(count_field) || dim_field.get<int64_t>() <= 0 || count_field.get<int64_t>() < 0)
    reader.invalid("dim or count missing or invalid");
  const int64_t file_dim = dim_field.get<int64_t>(), count = count_field.get<int64_t>();
  if (file_dim > kMaxDim) reader.invalid("dim above " + std::to_string(kMaxDim));
  std::vector<std::string> names;
  if (!names_field.is_array()) reader.invalid("names must be a list of non-blank strings");
  for (const Json& name : names_field) {
    if (!name.is_string() || is_blank(name.get<std::string>())) reader.invalid("names must be a list of non-blank strings");
    names.push_back(name.get<std::string>());
  }
  std::vector<std::string> sorted = names;
  std::sort(sorted.begin(), sorted.end());
  if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) reader.invalid("duplicate identity names");
  std::vector<int64_t> counts;
  if (!counts_field.is_array() || counts_field.size() != names.size())
    reader.invalid("counts must give a positive template count per name");
  int64_t total = 0;
  for (const Json& c : counts_field) {
    if (!is_int(c) || c.get<int64_t>() <= 0 || c.get<int64_t>() > count) reader.invalid("counts must give a positive template count per name");
    counts.push_back(c.get<int64_t>());
    total += counts.back();
  }
  if (total != count) reader.invalid("counts do not add up to count");
  if (!sha_field.is_string() || sha_field.get<std::string>().size() != 64 ||
      sha_field.get<std::string>().find_first_not_of("0123456789abcdef") != std::string::npos)
    reader.invalid("sha256 missing or invalid");
  if (dim > 0 && file_dim != dim)
    throw Error(Category::kGallery, path + " holds " + std::to_string(file_dim) + "-d templates but this model embeds " +
                                        std::to_string(dim) + "-d: use a gallery made with the same model");

  const uint64_t start = lead.size() + header_length;
  const uint64_t data_start = start + (kAlign - start % kAlign) % kAlign;
  // count <= size / 4 / dim before the product, so it cannot overflow
  if (static_cast<uint64_t>(count) > reader.size() / 4 / static_cast<uint64_t>(file_dim))
    reader.invalid(std::to_string(reader.size()) + " bytes where the header implies more; truncated or overwritten");
  const uint64_t expected = data_start + static_cast<uint64_t>(count) * static_cast<uint64_t>(file_dim) * 4;
  if (reader.size() != expected)
    reader.invalid(std::to_string(reader.size()) + " bytes where the header implies " + std::to_string(expected) +
                   "; truncated or overwritten");
  std::string padding(data_start - start, '\0');
  reader.read(padding.data(), padding.size(), "padding");
  if (padding.find_first_not_of('\0') != std::string::npos) reader.invalid("non-zero padding after the header");

  Gallery gallery;
  gallery.dim_ = static_cast<int>(file_dim);
  gallery.templates_.resize(static_cast<size_t>(count) * static_cast<size_t>(file_dim));
  reader.read(gallery.templates_.data(), gallery.templates_.size() * 4, "template data");
  static_assert(std::numeric_limits<float>::is_iec559, "templates are IEEE float32");
  Sha256 digest;
  if (!version1) {
    const std::string canonical = canonical_header(count, counts, file_dim, names);
    digest.update(reinterpret_cast<const uint8_t*>(kMagic2.data()), kMagic2.size());
    uint8_t length[kLengthBytes];
    for (size_t i = 0; i < kLengthBytes; ++i) length[i] = static_cast<uint8_t>(static_cast<uint64_t>(canonical.size()) >> (8 * i));
    digest.update(length, kLengthBytes);
    digest.update(reinterpret_cast<const uint8_t*>(canonical.data()), canonical.size());
  }
  digest.update(reinterpret_cast<const uint8_t*>(gallery.templates_.data()), gallery.templates_.size() * 4);
  if (to_hex(digest.digest()) != sha_field.get<std::string>())
    reader.invalid(std::string(version1 ? "template data" : "header and template data") +
                   " do not match their sha256; the file is corrupt or was edited");
  gallery.names_ = std::move(names);
  for (size_t identity = 0; identity < counts.size(); ++identity)
    gallery.owner_.insert(gallery.owner_.end(), static_cast<size_t>(counts[identity]), identity);
  return gallery;
}

std::vector<std::pair<size_t, float>> Gallery::search(const float* query, size_t top_k, float threshold) const {
  const size_t dim = static_cast<size_t>(dim_);
  std::vector<float> unit(query, query + dim);
  vision::l2_normalize({unit.data(), dim});
  std::vector<float> best(names_.size(), -std::numeric_limits<float>::infinity());
  for (size_t row = 0; row < owner_.size(); ++row) {
    const float* t = templates_.data() + row * dim;
    float score = 0.f;
    for (size_t i = 0; i < dim; ++i) score += unit[i] * t[i];
    best[owner_[row]] = std::max(best[owner_[row]], score);
  }
  std::vector<std::pair<size_t, float>> ranked;
  for (size_t identity = 0; identity < best.size(); ++identity) ranked.emplace_back(identity, best[identity]);
  const size_t keep = std::min(top_k, ranked.size());
  std::partial_sort(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(keep), ranked.end(),
                    [](const auto& a, const auto& b) { return a.second > b.second || (a.second == b.second && a.first < b.first); });
  ranked.resize(keep);
  ranked.erase(std::remove_if(ranked.begin(), ranked.end(), [&](const auto& m) { return !(m.second >= threshold); }),
               ranked.end());
  return ranked;
}

}  // namespace edgeface
