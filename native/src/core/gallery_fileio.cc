#include "gallery_fileio.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace edgeface::gallery_io {
namespace {

constexpr uint64_t kMaxHeaderBytes = 256ull << 20;  // names of millions of identities fit well below

}  // namespace

std::string system_error(const std::string& what, const std::string& path) {
  return what + " " + path + ": " + std::strerror(errno);
}

uint64_t aligned(uint64_t offset) { return offset + (kAlign - offset % kAlign) % kAlign; }

uint64_t little_endian(const void* bytes, size_t count) {
  uint64_t value = 0;
  for (size_t i = 0; i < count; ++i) value |= static_cast<uint64_t>(static_cast<const uint8_t*>(bytes)[i]) << (8 * i);
  return value;
}

Reader::Reader(std::string path, const std::string& not_regular_fix) : path_(std::move(path)) {
  file_ = FileHandle(::open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (file_.get() < 0) throw Error(Category::kGallery, system_error("cannot read", path_) + ": " + kFix);
  struct stat status {};
  if (::fstat(file_.get(), &status) != 0 || !S_ISREG(status.st_mode))
    throw Error(Category::kGallery, path_ + " is not a regular file: " + not_regular_fix);
  size_ = static_cast<uint64_t>(status.st_size);
}

Error Reader::error(const std::string& reason) const {
  return Error(Category::kGallery, path_ + " is not a valid gallery file (" + reason + "): " + kFix);
}

size_t Reader::read_some(void* out, size_t count) {
  auto* bytes = static_cast<uint8_t*>(out);
  size_t got = 0;
  while (got < count) {
    const ssize_t n = ::read(file_.get(), bytes + got, count - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw Error(Category::kGallery, system_error("cannot read", path_) + ": " + kFix);
    if (n == 0) break;
    got += static_cast<size_t>(n);
  }
  return got;
}

void Reader::read(void* out, size_t count, const char* what) {
  if (read_some(out, count) < count) invalid(std::string("truncated ") + what);
}

std::pair<std::string, std::string> Reader::head() {
  std::string lead(kMagic2.size() + kLengthBytes, '\0');
  if (size() < lead.size()) invalid("it does not start with the gallery magic bytes");
  read(lead.data(), lead.size(), "header");
  const std::string magic = lead.substr(0, kMagic2.size());
  if (magic != kMagic1 && magic != kMagic2 && magic != kMagic3) invalid("it does not start with the gallery magic bytes");
  const uint64_t length = little_endian(lead.data() + kMagic2.size(), kLengthBytes);
  if (length > size() - lead.size() || length > kMaxHeaderBytes) invalid("truncated header");
  std::string raw(length, '\0');
  read(raw.data(), raw.size(), "header");
  return {lead, raw};
}

std::string stamp_of(const std::string& lead, const std::string& raw_header) {
  const std::string head = lead + raw_header;
  return sha256_hex(reinterpret_cast<const uint8_t*>(head.data()), head.size());
}

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

std::string json_integers(const std::vector<int64_t>& values, const char* separator) {
  std::string text = "[";
  for (size_t i = 0; i < values.size(); ++i) text += (i ? separator : "") + std::to_string(values[i]);
  return text + "]";
}

std::string json_strings(const std::vector<std::string>& values, const char* separator) {
  std::string text = "[";
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) text += separator;
    append_json_string(values[i], text);
  }
  return text + "]";
}

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

Sha256 header_digest(const std::string& magic, const std::string& canonical) {
  Sha256 digest;
  digest.update(reinterpret_cast<const uint8_t*>(magic.data()), magic.size());
  uint8_t length[kLengthBytes];
  for (size_t i = 0; i < kLengthBytes; ++i) length[i] = static_cast<uint8_t>(static_cast<uint64_t>(canonical.size()) >> (8 * i));
  digest.update(length, kLengthBytes);
  digest.update(reinterpret_cast<const uint8_t*>(canonical.data()), canonical.size());
  return digest;
}

bool is_sha256(const Json& value) {
  return value.is_string() && value.get<std::string>().size() == 64 &&
         value.get<std::string>().find_first_not_of("0123456789abcdef") == std::string::npos;
}

bool is_blank(const std::string& text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c == ' ' || (c >= '\t' && c <= '\r'); });
}

Json parse_json_header(const std::string& raw, const Bad& bad) {
  Json header;
  if (nested_deeper_than(raw, 64)) throw bad("header is not UTF-8 JSON");
  try {
    header = Json::parse(raw);
  } catch (const Json::exception&) {
    throw bad("header is not UTF-8 JSON");
  }
  if (!header.is_object()) throw bad("header is not a JSON object");
  return header;
}

EmbedderFingerprint parse_embedder(const Json& field, int dim, const Bad& bad) {
  if (!field.is_object() || field.size() != 4 || !field.contains("name") || !field.contains("sha256") ||
      !field.contains("dim") || !field.contains("normalization"))
    throw bad("embedder must hold exactly name, sha256, dim and normalization");
  const Json &name = field["name"], &sha256 = field["sha256"], &size = field["dim"], &normalization = field["normalization"];
  if (!name.is_string() || is_blank(name.get<std::string>()) || !is_sha256(sha256) || !size.is_number_integer() ||
      size.get<int64_t>() != dim || normalization != "l2")
    throw bad("embedder name, sha256, dim or normalization invalid");
  return {name.get<std::string>(), sha256.get<std::string>(), dim, "l2"};
}

}  // namespace edgeface::gallery_io
