// Version-3 galleries the Python SDK wrote (native/tests/core/data/galleries, made by
// scripts/make_native_galleries.py): the base with its journal replayed gives what the
// SDK's Gallery shows (expected.json), a torn journal tail is left out, a journal of
// another id is ignored, the stamp moves with the journal's whole records, and damage to
// the base or the journal is refused, naming the file and the fix.
#include <gtest/gtest.h>

#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "edgeface.h"
#include "error.h"
#include "gallery_file.h"
#include "sha256.h"
#include "test_paths.h"

namespace {

using edgeface::GalleryContents;
using edgeface::read_gallery_file;
using edgeface::testing::read_text;
using edgeface::testing::repo_path;
using Json = nlohmann::json;

const std::string kFix = "re-enroll, or restore from backup";

std::string data(const std::string& name) { return repo_path("native/tests/core/data/galleries/" + name); }

// Expects `contents` to be what expected.json says the SDK shows: the same identities in
// the same order, each with the same templates bit for bit, and the same embedder.
void expect_shown(const GalleryContents& contents, const Json& shown) {
  const Json& identities = shown["identities"];
  ASSERT_EQ(contents.names.size(), identities.size());
  int64_t count = 0;
  for (const Json& identity : identities) count += identity[1].get<int64_t>();
  ASSERT_EQ(contents.templates.size(), static_cast<size_t>(count * contents.dim));
  size_t row = 0;
  for (size_t i = 0; i < identities.size(); ++i) {
    const std::string name = identities[i][0].get<std::string>();
    EXPECT_EQ(contents.names[i], name);
    ASSERT_EQ(contents.counts[i], identities[i][1].get<int64_t>()) << name;
    for (const Json& template_row : shown["templates"][name]) {
      for (const Json& value : template_row) EXPECT_EQ(contents.templates[row++], value.get<float>()) << name;
    }
  }
  EXPECT_EQ(row, contents.templates.size());
  if (shown["embedder"].is_null()) {
    EXPECT_FALSE(contents.embedder);
  } else {
    ASSERT_TRUE(contents.embedder);
    EXPECT_EQ(contents.embedder->name, shown["embedder"]["name"]);
    EXPECT_EQ(contents.embedder->sha256, shown["embedder"]["sha256"]);
    EXPECT_EQ(contents.embedder->dim, shown["embedder"]["dim"]);
  }
}

Json expected() { return Json::parse(read_text(data("expected.json"))); }

// A journal record as journal.py frames it: length, body, sha256 of id + length + body.
std::string framed(const std::string& journal_id, const std::string& body) {
  std::string record;
  for (int i = 0; i < 4; ++i) record += static_cast<char>((body.size() >> (8 * i)) & 0xFF);
  record += body;
  edgeface::Sha256 digest;
  const std::string covered = journal_id + record;
  digest.update(reinterpret_cast<const uint8_t*>(covered.data()), covered.size());
  const auto sha = digest.digest();
  return record + std::string(sha.begin(), sha.end());
}

std::string remove_body(const std::string& name) {
  return std::string(1, '\x02') + static_cast<char>(name.size()) + '\0' + name;
}

TEST(GalleryV3, ReadsWhatTheSdksGalleryShowsOfEachPythonWrittenFile) {
  const Json shown = expected();
  ASSERT_EQ(shown.size(), 6u);
  for (const auto& [file, gallery] : shown.items()) {
    SCOPED_TRACE(file);
    expect_shown(read_gallery_file(data(file)).contents, gallery);
  }
  // what each fixture is for, so that a regenerated expected.json cannot make it moot
  const GalleryContents journal = read_gallery_file(data("v3_journal.efg")).contents;
  EXPECT_EQ(journal.names, (std::vector<std::string>{"ann", "ben", "dan", "eve", "cat", "Zoë \U0001F642"}))
      << "base order, then new names in order of first enrolment; a removed name enrolled again goes last";
  EXPECT_EQ(journal.counts, (std::vector<int64_t>{2, 3, 1, 2, 1, 1}));
  ASSERT_TRUE(journal.embedder) << "the journal's embedder record";
  EXPECT_EQ(read_gallery_file(data("v3_torn.efg")).contents.names, journal.names);
  EXPECT_EQ(read_gallery_file(data("v3_torn_sha.efg")).contents.names.size(), 5u) << "the failing last record left out";
  EXPECT_EQ(read_gallery_file(data("v3_zero_tail.efg")).contents.names, journal.names) << "zeros are a killed write";
  EXPECT_EQ(read_gallery_file(data("v3_stale.efg")).contents.counts, (std::vector<int64_t>{2, 1}))
      << "the journal of another id is not applied a second time";
}

class GalleryV3Copy : public edgeface::testing::ScratchDir {
 protected:
  // dir_/g.efg and its journal: the fixture's base and `journal` bytes
  std::string copy(const std::string& fixture, const std::string& journal) const {
    write("g.efg.journal", journal);
    return write("g.efg", read_text(data(fixture)));
  }
  static std::string journal_of(const std::string& fixture) { return read_text(data(fixture) + ".journal"); }
  static std::string id_of(const std::string& journal) { return journal.substr(11, 32); }
};

TEST_F(GalleryV3Copy, TheStampMovesWithTheJournalsWholeRecordsOnly) {
  const std::string journal = journal_of("v3_journal.efg");
  const std::string path = copy("v3_journal.efg", journal);
  const std::string stamp = edgeface::gallery_file_stamp(path);
  EXPECT_EQ(read_gallery_file(path).stamp, stamp);
  const std::string record = framed(id_of(journal), remove_body("ann"));

  write("g.efg.journal", journal + record.substr(0, 10));  // a killed append: no new record
  EXPECT_EQ(edgeface::gallery_file_stamp(path), stamp);
  EXPECT_EQ(read_gallery_file(path).stamp, stamp);

  write("g.efg.journal", journal + record);  // the next writer cut the torn bytes and appended
  const std::string grown = edgeface::gallery_file_stamp(path);
  EXPECT_NE(grown, stamp) << "another writer's record must show in the stamp, or a native save would lose it";
  const edgeface::GalleryFile file = read_gallery_file(path);
  EXPECT_EQ(file.stamp, grown);
  EXPECT_EQ(file.contents.names.front(), "ben") << "ann removed";

  write("g.efg.journal", "EFJOURNAL1\n" + std::string(32, 'f') + "\n" + record);  // another id's: ignored
  const std::string ignored = edgeface::gallery_file_stamp(path);
  EXPECT_NE(ignored, stamp);
  EXPECT_EQ(read_gallery_file(path).stamp, ignored);
  EXPECT_EQ(read_gallery_file(path).contents.names,
            (std::vector<std::string>{"ann", "ben", "cat", "dan"}))
      << "the base alone";
  std::filesystem::remove(dir_ / "g.efg.journal");
  EXPECT_EQ(edgeface::gallery_file_stamp(path), ignored) << "no journal and a journal of another id: the same";
}

TEST_F(GalleryV3Copy, WhereverTheJournalIsCutItsWholeRecordsAreRead) {
  const std::string journal = journal_of("v3_journal.efg");
  size_t last_count = 0;
  for (size_t size = 0; size <= journal.size(); ++size) {
    const std::string path = copy("v3_journal.efg", journal.substr(0, size));
    edgeface::GalleryFile file;
    ASSERT_NO_THROW(file = read_gallery_file(path)) << "cut at " << size;
    EXPECT_EQ(edgeface::gallery_file_stamp(path), file.stamp) << "cut at " << size;
    if (size == journal.size()) expect_shown(file.contents, expected()["v3_journal.efg"]);
    last_count = file.contents.names.size();
  }
  EXPECT_EQ(last_count, 6u);
}

TEST_F(GalleryV3Copy, CorruptJournalsAreRefusedNamingTheJournalAndTheFix) {
  const std::pair<const char*, std::string> cases[] = {
      {"v3_bad_record.efg", " is not a valid gallery journal (byte 44: a record does not match its sha256 and more "
                            "records follow): "},
      {"v3_unknown_remove.efg", " removes 'nobody', which it does not hold: "},
      {"v3_second_embedder.efg", " records a second embedder: "},
      {"v3_bad_magic.efg", " is not a valid gallery journal (byte 0: it does not start with the journal magic bytes): "},
      {"v3_huge_length.efg", " is not a valid gallery journal (byte 44: a record claims 4278190154 bytes, more than any "
                             "record holds): "},
  };
  for (const auto& [file, reason] : cases) {
    SCOPED_TRACE(file);
    edgeface_gallery* gallery = nullptr;
    EXPECT_EQ(edgeface_gallery_open(data(file).c_str(), 0, &gallery), EDGEFACE_ERROR_GALLERY);
    EXPECT_EQ(gallery, nullptr);
    EXPECT_EQ(std::string(edgeface_last_error()), data(file) + ".journal" + reason + kFix)
        << "the SDK's message for the same journal";

    // a journal damaged after a native gallery read it: its save refuses to merge it, and writes nothing
    const std::string path = copy("v3_journal.efg", journal_of("v3_journal.efg"));
    ASSERT_EQ(edgeface_gallery_open(path.c_str(), 0, &gallery), EDGEFACE_OK) << edgeface_last_error();
    const float row[8] = {1, 0, 0, 0, 0, 0, 0, 0};
    ASSERT_EQ(edgeface_gallery_enroll(gallery, "new", row, 8, 1, nullptr), EDGEFACE_OK);
    write("g.efg.journal", journal_of(file));
    EXPECT_EQ(edgeface_gallery_save(gallery, nullptr), EDGEFACE_ERROR_GALLERY);
    EXPECT_EQ(std::string(edgeface_last_error()), path + ".journal" + reason + kFix);
    EXPECT_EQ(read_text(path), read_text(data("v3_journal.efg")));
    edgeface_gallery_close(gallery);
  }
}

TEST_F(GalleryV3Copy, RecordsTheSdkWouldNotWriteAreRefused) {
  const std::string journal = journal_of("v3_journal.efg"), id = id_of(journal);
  std::string enroll_nan = std::string(1, '\x01') + '\x01' + '\0' + "x" + std::string("\x01\0\0\0", 4);
  for (int i = 0; i < 8; ++i) enroll_nan += std::string("\x00\x00\xc0\x7f", 4);  // NaN
  const std::string cases[] = {
      "",                                                  // no operation
      std::string(1, '\x07') + std::string("\x01\0x", 3),  // an unknown operation
      remove_body("ann") + "!",                            // bytes after the name
      remove_body("esc\x1b"),                              // a name the SDK refuses
      enroll_nan,                                          // a template that is not finite
      std::string(1, '\x01') + '\x01' + '\0' + "x" + std::string("\x02\0\0\0", 4) + std::string(32, '\0'),  // 2 rows said, 1 given
      std::string(1, '\x03') + "{\"name\": \"x\"}",        // an embedder without its fields
  };
  for (const std::string& body : cases) {
    SCOPED_TRACE(body.size());
    // followed by a whole record, so that the bad one cannot pass as a killed write
    const std::string path = copy("v3_journal.efg", journal + framed(id, body) + framed(id, remove_body("ann")));
    try {
      read_gallery_file(path);
      ADD_FAILURE() << "read";
    } catch (const edgeface::Error& refused) {
      EXPECT_EQ(refused.category(), edgeface::Category::kGallery);
      EXPECT_EQ(std::string(refused.what()).rfind(path + ".journal is not a valid gallery journal (byte " +
                                                      std::to_string(journal.size()) + ": an unreadable record", 0),
                0u)
          << refused.what();
    }
  }
}

TEST_F(GalleryV3Copy, DamagedJournalsAreRefusedOrCutNeverMisread) {
  const std::string journal = journal_of("v3_journal.efg");
  std::mt19937 engine(19);
  for (int trial = 0; trial < 300; ++trial) {
    std::string bytes = journal;
    const int edits = 1 + static_cast<int>(engine() % 4);
    for (int e = 0; e < edits; ++e) bytes[engine() % bytes.size()] = static_cast<char>(engine());
    if (engine() % 3 == 0) bytes.resize(engine() % bytes.size());
    const std::string path = copy("v3_journal.efg", bytes);
    edgeface_gallery* gallery = nullptr;
    const edgeface_status status = edgeface_gallery_open(path.c_str(), 0, &gallery);
    EXPECT_TRUE(status == EDGEFACE_OK || status == EDGEFACE_ERROR_GALLERY) << edgeface_status_name(status);
    edgeface_gallery_close(gallery);
  }
}

// The base alone (no journal beside it): every byte flipped but for a sample of the
// templates (87 of 8 floats, each chunk's sha256 is checked whole), and every truncation.
TEST_F(GalleryV3Copy, EveryFlippedByteOfTheBaseIsAGalleryErrorOrChangesNothing) {
  const std::string base = read_text(data("v3.efg"));
  const Json shown = expected()["v3.efg"];
  size_t header = 0;
  for (size_t i = 0; i < 8; ++i) header |= static_cast<size_t>(static_cast<uint8_t>(base[11 + i])) << (8 * i);
  const size_t templates_start = (19 + header + 63) / 64 * 64, templates_end = templates_start + 87 * 8 * sizeof(float);
  for (size_t at = 0; at < base.size(); at += at < templates_start || at >= templates_end ? 1 : 13) {
    std::string bytes = base;
    bytes[at] = static_cast<char>(bytes[at] ^ 0x20);
    const std::string path = write("g.efg", bytes);
    try {
      const GalleryContents contents = read_gallery_file(path).contents;
      SCOPED_TRACE("byte " + std::to_string(at) + " flipped, and read");  // the case of a \u escape's hex digit
      expect_shown(contents, shown);
    } catch (const edgeface::Error& refused) {
      EXPECT_EQ(refused.category(), edgeface::Category::kGallery);
      EXPECT_EQ(std::string(refused.what()).rfind(path + " is not a valid gallery file (", 0), 0u) << refused.what();
    }
  }
  for (size_t size = 0; size < base.size(); ++size) {
    const std::string path = write("g.efg", base.substr(0, size));
    EXPECT_THROW(read_gallery_file(path), edgeface::Error) << "cut at " << size;
  }
}

}  // namespace
