#include "gallery_base_file.h"

#include <algorithm>
#include <cstdint>
#include <optional>
#include <vector>

#include "identity_name.h"

namespace edgeface {
namespace {

using namespace gallery_io;

constexpr size_t kTableBytes = 8;  // each identity's template count and name end: int64 little-endian
constexpr size_t kJournalIdDigits = 32;

struct BaseHeader {
  int64_t dim = 0, count = 0, identities = 0, chunk_rows = 0;
  std::string journal, tables_sha256;
  std::vector<std::string> templates_sha256;
  std::optional<EmbedderFingerprint> embedder;
};

bool is_journal_id(const Json& value) {
  return value.is_string() && value.get<std::string>().size() == kJournalIdDigits &&
         value.get<std::string>().find_first_not_of("0123456789abcdef") == std::string::npos;
}

// A non-negative JSON integer within int64 (larger ones cannot describe a file here).
bool is_count(const Json& value) {
  return value.is_number_unsigned() && value.get<uint64_t>() <= static_cast<uint64_t>(INT64_MAX);
}

// The header, checked as base_file.py's _parse_header checks it; the sha256 is compared
// once the fields have the types its canonical JSON is written from.
BaseHeader parse_base_header(const Reader& reader, const std::string& raw) {
  const Bad bad = [&](const std::string& reason) { return reader.error(reason); };
  const Json header = parse_json_header(raw, bad);
  static const char* const kFields[] = {"dim", "count", "identities", "journal", "chunk_rows",
                                        "templates_sha256", "tables_sha256", "sha256"};
  const bool has_embedder = header.contains("embedder");
  if (header.size() != std::size(kFields) + has_embedder ||
      !std::all_of(std::begin(kFields), std::end(kFields), [&](const char* key) { return header.contains(key); }))
    reader.invalid("header fields must be exactly chunk_rows, count, dim, identities, journal, sha256, "
                   "tables_sha256, templates_sha256 and optionally embedder");
  const Json &dim = header["dim"], &count = header["count"], &identities = header["identities"],
             &rows = header["chunk_rows"], &hashes = header["templates_sha256"];
  if (!is_count(dim) || !is_count(count) || !is_count(identities) || !is_count(rows) || dim.get<int64_t>() == 0 ||
      rows.get<int64_t>() == 0 || dim.get<int64_t>() > kMaxDim)
    reader.invalid("dim, count, identities or chunk_rows invalid");
  BaseHeader fields;
  fields.dim = dim.get<int64_t>();
  fields.count = count.get<int64_t>();
  fields.identities = identities.get<int64_t>();
  fields.chunk_rows = rows.get<int64_t>();
  const int64_t chunks = fields.count / fields.chunk_rows + (fields.count % fields.chunk_rows != 0);
  if (!hashes.is_array() || static_cast<int64_t>(hashes.size()) != chunks ||
      !std::all_of(hashes.begin(), hashes.end(), is_sha256))
    reader.invalid("templates_sha256 must hold one sha256 per chunk of chunk_rows templates");
  if (!is_sha256(header["tables_sha256"]) || !is_journal_id(header["journal"]))
    reader.invalid("tables_sha256 or journal invalid");
  for (const Json& hash : hashes) fields.templates_sha256.push_back(hash.get<std::string>());
  fields.tables_sha256 = header["tables_sha256"].get<std::string>();
  fields.journal = header["journal"].get<std::string>();
  if (has_embedder) fields.embedder = parse_embedder(header["embedder"], static_cast<int>(fields.dim), bad);

  // base_file.py's _header_digest: the canonical JSON (sorted keys, no spaces) of every field but sha256
  std::string canonical = "{\"chunk_rows\":" + std::to_string(fields.chunk_rows) +
                          ",\"count\":" + std::to_string(fields.count) + ",\"dim\":" + std::to_string(fields.dim);
  if (fields.embedder) canonical += ",\"embedder\":" + json_embedder(*fields.embedder, true);
  canonical += ",\"identities\":" + std::to_string(fields.identities) + ",\"journal\":";
  append_json_string(fields.journal, canonical);
  canonical += ",\"tables_sha256\":";
  append_json_string(fields.tables_sha256, canonical);
  canonical += ",\"templates_sha256\":" + json_strings(fields.templates_sha256, ",") + "}";
  if (!header["sha256"].is_string() || to_hex(header_digest(kMagic3, canonical).digest()) != header["sha256"])
    reader.invalid("header does not match its sha256; the file is corrupt or was edited");
  return fields;
}

void expect_zeros(Reader& reader, uint64_t count) {
  std::string padding(count, '\0');
  reader.read(padding.data(), padding.size(), "padding");
  if (padding.find_first_not_of('\0') != std::string::npos) reader.invalid("non-zero padding");
}

std::string sha256_of(const void* data, size_t size) { return sha256_hex(static_cast<const uint8_t*>(data), size); }

// The two tables and the names after them (`tables`), checked as base_file.py's
// _check_tables, into `contents`; names must also be valid identity names, each once.
void read_tables(const Reader& reader, const BaseHeader& header, const std::string& tables, GalleryContents& contents) {
  const auto identities = static_cast<size_t>(header.identities);
  const char* counts = tables.data();
  const char* ends = counts + identities * kTableBytes;
  const uint64_t names_size = tables.size() - 2 * identities * kTableBytes;
  int64_t total = 0;
  for (size_t i = 0; i < identities; ++i) {
    const uint64_t templates = little_endian(counts + i * kTableBytes, kTableBytes);
    if (templates < 1 || templates > static_cast<uint64_t>(header.count - total))
      reader.invalid("identity template counts must be positive and add up to count");
    total += static_cast<int64_t>(templates);
    contents.counts.push_back(static_cast<int64_t>(templates));
  }
  if (total != header.count) reader.invalid("identity template counts must be positive and add up to count");
  if (identities == 0 && names_size != 0) reader.invalid("bytes after the identity tables");
  uint64_t start = 0;
  for (size_t i = 0; i < identities; ++i) {
    const uint64_t end = little_endian(ends + i * kTableBytes, kTableBytes);
    if (end <= start || end > names_size || (i + 1 == identities && end != names_size))
      reader.invalid("identity name offsets must rise and end at the end of the file");
    contents.names.push_back(tables.substr(2 * identities * kTableBytes + start, end - start));
    start = end;
  }
  for (size_t i = 0; i < identities; ++i) {
    try {
      check_identity_name(contents.names[i]);
    } catch (const Error& refused) {
      reader.invalid("identity " + std::to_string(i) + "'s name: " + refused.what());
    }
  }
  std::vector<std::string> sorted = contents.names;
  std::sort(sorted.begin(), sorted.end());
  if (std::adjacent_find(sorted.begin(), sorted.end()) != sorted.end()) reader.invalid("duplicate identity names");
}

}  // namespace

BaseFile read_base_file(Reader& reader, const std::string& lead, const std::string& raw) {
  const BaseHeader header = parse_base_header(reader, raw);
  const auto dim = static_cast<uint64_t>(header.dim), count = static_cast<uint64_t>(header.count),
             identities = static_cast<uint64_t>(header.identities), size = reader.size();
  const uint64_t data_start = aligned(lead.size() + raw.size());
  // each product is bounded by the file size before it is taken, so none overflows
  if (count > size / sizeof(float) / dim || identities > size / (2 * kTableBytes))
    reader.invalid(std::to_string(size) + " bytes, fewer than the header's templates and identities need");
  const uint64_t template_bytes = count * dim * sizeof(float);
  const uint64_t tables_start = aligned(data_start + template_bytes);
  if (size < tables_start + 2 * identities * kTableBytes)
    reader.invalid(std::to_string(size) + " bytes, fewer than the header's " + std::to_string(count) + " templates and " +
                   std::to_string(identities) + " identities need");

  BaseFile file;
  GalleryContents& contents = file.contents;
  contents.dim = static_cast<int>(dim);
  contents.embedder = header.embedder;
  expect_zeros(reader, data_start - lead.size() - raw.size());
  contents.templates.resize(static_cast<size_t>(count * dim));
  reader.read(contents.templates.data(), template_bytes, "template data");
  expect_zeros(reader, tables_start - data_start - template_bytes);
  std::string tables(size - tables_start, '\0');
  reader.read(tables.data(), tables.size(), "identity tables");
  if (sha256_of(tables.data(), tables.size()) != header.tables_sha256)
    reader.invalid("identity tables do not match their sha256; the file is corrupt or was edited");
  read_tables(reader, header, tables, contents);

  const auto rows = static_cast<uint64_t>(header.chunk_rows);
  for (uint64_t chunk = 0; chunk < header.templates_sha256.size(); ++chunk) {
    const uint64_t first = chunk * rows, last = std::min(count, first + rows);
    if (sha256_of(contents.templates.data() + first * dim, (last - first) * dim * sizeof(float)) !=
        header.templates_sha256[chunk])
      reader.invalid("templates " + std::to_string(first) + " to " + std::to_string(first + rows - 1) +
                     " do not match their sha256; the file is corrupt or was edited");
  }
  file.journal_id = header.journal;
  return file;
}

BaseFile read_base_header(const Reader& reader, const std::string& raw) {
  BaseHeader header = parse_base_header(reader, raw);
  BaseFile file;
  file.contents.dim = static_cast<int>(header.dim);
  file.contents.embedder = std::move(header.embedder);
  file.journal_id = std::move(header.journal);
  return file;
}

}  // namespace edgeface
