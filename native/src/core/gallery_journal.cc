#include "gallery_journal.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <map>

#include "gallery_fileio.h"
#include "identity_name.h"

namespace edgeface {
namespace {

using namespace gallery_io;

const std::string kJournalMagic = "EFJOURNAL1\n";
constexpr size_t kIdDigits = 32;
constexpr uint64_t kHeadBytes = 11 + kIdDigits + 1;  // the magic, the id and "\n"
constexpr uint64_t kRecordLengthBytes = 4;
constexpr uint64_t kDigestBytes = 32;
constexpr uint64_t kMaxBody = 1ull << 28;  // journal.py's MAX_BODY

Error corrupt(const std::string& path, uint64_t offset, const std::string& reason) {
  return Error(Category::kGallery, path + " is not a valid gallery journal (byte " + std::to_string(offset) + ": " +
                                       reason + "): " + kFix);
}

// What a write killed before it returned can leave (journal.py's _killed_write): fewer
// bytes than a length, or zeros (a crash can leave a file's new size with unwritten blocks).
bool killed_write(const uint8_t* rest, size_t size) {
  return size < kRecordLengthBytes || std::all_of(rest, rest + size, [](uint8_t b) { return b == 0; });
}

// One record's body (`size` bytes from `body`, at byte `offset`), checked as journal.py's
// _decode: a journal is as untrusted as any file.
JournalRecord decode(const std::string& path, uint64_t offset, const uint8_t* body, uint64_t size, int dim) {
  const auto unreadable = [&](const std::string& why) {
    return corrupt(path, offset, "an unreadable record" + (why.empty() ? "" : ": " + why));
  };
  if (size == 0) throw unreadable("no operation");
  JournalRecord record;
  record.op = static_cast<JournalRecord::Op>(body[0]);
  if (record.op == JournalRecord::Op::kEmbedder) {
    const std::string text(body + 1, body + size);
    Json fingerprint;
    try {
      if (nested_deeper_than(text, 64)) throw unreadable("the embedder is not JSON");
      fingerprint = Json::parse(text);
    } catch (const Json::exception&) {
      throw unreadable("the embedder is not JSON");
    }
    record.embedder = parse_embedder(fingerprint, dim, unreadable);
    return record;
  }
  const uint64_t name_size = size >= 3 ? little_endian(body + 1, 2) : 0;
  if (size < 3 + name_size) throw unreadable("cut short");
  record.name.assign(body + 3, body + 3 + name_size);
  try {
    check_identity_name(record.name);
  } catch (const Error& refused) {
    throw unreadable(refused.what());
  }
  const uint64_t rows_at = 3 + name_size + 4, dim_bytes = static_cast<uint64_t>(dim) * sizeof(float);
  if (record.op == JournalRecord::Op::kRemove && size == 3 + name_size) return record;
  if (record.op == JournalRecord::Op::kEnroll && size >= rows_at) {
    const uint64_t rows = little_endian(body + 3 + name_size, 4);
    if (rows >= 1 && size - rows_at == rows * dim_bytes) {
      record.rows.resize(rows * static_cast<uint64_t>(dim));
      std::memcpy(record.rows.data(), body + rows_at, size - rows_at);
      bool finite = true;
      for (float value : record.rows) finite = finite && std::isfinite(value);
      if (finite) return record;
    }
  }
  throw unreadable("");
}

}  // namespace

std::string journal_path(const std::string& gallery_path) { return gallery_path + ".journal"; }

Journal read_journal(const std::string& gallery_path, const std::string& journal_id, int dim) {
  const std::string path = journal_path(gallery_path);
  if (::access(path.c_str(), F_OK) != 0 && errno == ENOENT) return {};
  Reader reader(path, kFix);
  std::string head(kHeadBytes, '\0');
  head.resize(reader.read_some(head.data(), head.size()));
  if (head != kJournalMagic + journal_id + "\n") {
    if (head.size() >= kJournalMagic.size() && head.compare(0, kJournalMagic.size(), kJournalMagic) != 0)
      throw corrupt(path, 0, "it does not start with the journal magic bytes");
    return {};
  }
  // whatever a writer appends after the size was taken is for the next read
  std::vector<uint8_t> data(reader.size() > kHeadBytes ? reader.size() - kHeadBytes : 0);
  data.resize(reader.read_some(data.data(), data.size()));

  Journal journal;
  uint64_t at = 0;
  while (at < data.size() && !killed_write(data.data() + at, data.size() - at)) {
    const uint64_t length = little_endian(data.data() + at, kRecordLengthBytes);
    if (length > kMaxBody)  // a killed write leaves a prefix of its bytes, never a wrong length
      throw corrupt(path, kHeadBytes + at,
                    "a record claims " + std::to_string(length) + " bytes, more than any record holds");
    const uint64_t end = at + kRecordLengthBytes + length + kDigestBytes;
    if (end > data.size()) break;  // the last record a killed write left
    Sha256 digest;  // covers the id, so that a record cannot pass into another journal
    digest.update(reinterpret_cast<const uint8_t*>(journal_id.data()), journal_id.size());
    digest.update(data.data() + at, kRecordLengthBytes + length);
    const auto expected = digest.digest();
    if (std::memcmp(expected.data(), data.data() + end - kDigestBytes, kDigestBytes) != 0) {
      if (end == data.size()) break;
      throw corrupt(path, kHeadBytes + at, "a record does not match its sha256 and more records follow");
    }
    journal.records.push_back(decode(path, kHeadBytes + at, data.data() + at + kRecordLengthBytes, length, dim));
    at = end;
  }
  journal.end = kHeadBytes + at;
  return journal;
}

void apply_journal(const std::string& gallery_path, const Journal& journal, GalleryContents& contents) {
  if (journal.records.empty()) return;
  // Each identity as the SDK's Gallery holds it: its rows in the base, then those each
  // enrolment added. A removed identity's slot stays empty; its name, enrolled again, takes
  // a new slot at the end.
  struct Slot {
    std::string name;
    size_t base_row = 0, base_count = 0;
    std::vector<const std::vector<float>*> added;
    bool removed = false;
  };
  std::vector<Slot> slots;
  std::map<std::string, size_t> present;  // name -> slot
  size_t row = 0;
  for (size_t i = 0; i < contents.names.size(); ++i) {
    const auto count = static_cast<size_t>(contents.counts[i]);
    slots.push_back({contents.names[i], row, count, {}, false});
    present[contents.names[i]] = i;
    row += count;
  }
  const std::string path = journal_path(gallery_path);
  for (const JournalRecord& record : journal.records) {
    if (record.op == JournalRecord::Op::kEnroll) {
      const auto [found, added] = present.emplace(record.name, slots.size());
      if (added) slots.push_back({record.name, 0, 0, {}, false});
      slots[found->second].added.push_back(&record.rows);
    } else if (record.op == JournalRecord::Op::kRemove) {
      const auto found = present.find(record.name);
      if (found == present.end())
        throw Error(Category::kGallery, path + " removes '" + record.name + "', which it does not hold: " + kFix);
      slots[found->second].removed = true;
      present.erase(found);
    } else {
      if (contents.embedder && !contents.embedder->same_model(*record.embedder))
        throw Error(Category::kGallery, path + " records a second embedder: " + kFix);
      contents.embedder = record.embedder;
    }
  }

  const size_t dim = static_cast<size_t>(contents.dim);
  GalleryContents replayed;
  replayed.dim = contents.dim;
  replayed.embedder = contents.embedder;
  for (const Slot& slot : slots) {
    if (slot.removed) continue;
    const auto base = contents.templates.begin() + static_cast<std::ptrdiff_t>(slot.base_row * dim);
    replayed.templates.insert(replayed.templates.end(), base, base + static_cast<std::ptrdiff_t>(slot.base_count * dim));
    size_t count = slot.base_count;
    for (const std::vector<float>* rows : slot.added) {
      replayed.templates.insert(replayed.templates.end(), rows->begin(), rows->end());
      count += rows->size() / dim;
    }
    replayed.names.push_back(slot.name);
    replayed.counts.push_back(static_cast<int64_t>(count));
  }
  contents = std::move(replayed);
}

}  // namespace edgeface
