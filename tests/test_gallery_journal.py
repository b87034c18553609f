"""The gallery journal: torn and corrupt records, stale journals, migration from version
2, automatic compaction, and what readers see while another process writes."""

import os
import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgeface.errors import GalleryError
from edgeface.gallery import MAGIC, Gallery, journal
from tests.gallery_files import header_of, legacy_file
from tests.test_gallery import templates_of


def journal_of(path):
    return path.with_name(path.name + ".journal")


def with_records(path, *names):
    """A gallery at ``path`` compacted empty, then one journal record per name."""
    g = Gallery(4, path)
    g.save()
    for i, name in enumerate(names):
        g.enroll(name, np.eye(4)[i % 4])
    return g


def test_changes_are_appended_not_rewritten(tmp_path):
    path = tmp_path / "g.efg"
    g = with_records(path, "a")
    base = path.read_bytes()
    size = journal_of(path).stat().st_size
    g.enroll("b", np.ones(4))
    g.remove("a")
    assert path.read_bytes() == base  # the base file is untouched
    assert journal_of(path).stat().st_size > size
    assert Gallery.open(path).identities() == [("b", 1)]


def test_a_torn_last_record_is_ignored_then_cut_by_the_next_writer(tmp_path):
    path = tmp_path / "g.efg"
    with_records(path, "a", "b")
    whole = journal_of(path).read_bytes()
    record = journal.enroll_record(header_of(path.read_bytes())["journal"], "c", np.eye(4, dtype=np.float32)[:1])
    for cut in range(1, len(record)):  # a write killed after any number of its bytes
        journal_of(path).write_bytes(whole + record[:cut])
        assert Gallery.open(path).identities() == [("a", 1), ("b", 1)]
    g = Gallery.open(path)
    g.enroll("d", np.ones(4))
    assert Gallery.open(path).identities() == [("a", 1), ("b", 1), ("d", 1)]
    jid = header_of(path.read_bytes())["journal"]
    assert journal_of(path).read_bytes() == whole + journal.enroll_record(jid, "d", np.full((1, 4), 0.5, np.float32))


def test_a_bad_record_with_records_after_it_is_corruption(tmp_path):
    path = tmp_path / "g.efg"
    with_records(path, "a", "b", "c")
    raw = bytearray(journal_of(path).read_bytes())
    raw[journal.HEAD_BYTES + 6] ^= 0x01  # inside the first record
    journal_of(path).write_bytes(bytes(raw))
    with pytest.raises(GalleryError, match=r"g\.efg\.journal is not a valid gallery journal \(byte 44: a record does "
                       "not match its sha256 and more records follow\\): re-enroll, or restore from backup"):
        Gallery.open(path)


def test_a_record_spliced_from_another_journal_fails_its_sha256(tmp_path):
    path = tmp_path / "g.efg"
    with_records(path, "a")
    foreign = journal.enroll_record("0" * 32, "mallory", np.ones((1, 4), np.float32))
    journal_of(path).write_bytes(journal_of(path).read_bytes() + foreign + foreign)
    with pytest.raises(GalleryError, match="does not match its sha256"):
        Gallery.open(path)


def test_a_journal_of_another_id_is_ignored_and_replaced_by_the_next_writer(tmp_path):
    """What a compaction killed between its two renames leaves: the base already holds the
    old journal's records, so replaying them again would enroll them twice."""
    path = tmp_path / "g.efg"
    g = with_records(path, "a", "b")
    stale = journal_of(path).read_bytes()
    g.save()
    journal_of(path).write_bytes(stale)
    assert Gallery.open(path).identities() == [("a", 1), ("b", 1)]
    Gallery.open(path).enroll("c", np.ones(4))
    assert Gallery.open(path).identities() == [("a", 1), ("b", 1), ("c", 1)]


def test_a_missing_journal_means_no_changes_since_the_base(tmp_path):
    path = tmp_path / "g.efg"
    with_records(path, "a").save()
    journal_of(path).unlink()
    g = Gallery.open(path)
    assert g.identities() == [("a", 1)]
    g.enroll("b", np.ones(4))
    assert Gallery.open(path).identities() == [("a", 1), ("b", 1)]


def test_a_journal_deleted_under_a_writer_that_read_it_is_refused(tmp_path):
    path = tmp_path / "g.efg"
    g = with_records(path, "a", "b")
    journal_of(path).unlink()
    with pytest.raises(GalleryError, match="g.efg.journal was deleted or replaced after its records were read"):
        g.enroll("c", np.ones(4))


def test_a_version_2_file_migrates_on_the_first_change(tmp_path):
    path = tmp_path / "old.efg"
    rows = np.eye(4)[[0, 1, 2]]
    path.write_bytes(legacy_file(["alice", "bob"], [2, 1], rows))
    g = Gallery.open(path)
    assert g.identities() == [("alice", 2), ("bob", 1)] and not journal_of(path).exists()
    g.enroll("carol", np.ones(4))
    assert path.read_bytes().startswith(MAGIC) and journal_of(path).exists()
    h = Gallery.open(path)
    assert h.identities() == [("alice", 2), ("bob", 1), ("carol", 1)]
    np.testing.assert_array_equal(templates_of(h, "alice"), rows[:2])


def test_a_version_2_base_ignores_the_journal_of_the_version_3_base_it_replaced(tmp_path):
    """A version-2 writer (the native core) that read base and journal writes both into
    one file: the journal beside it must not be applied again."""
    path = tmp_path / "g.efg"
    with_records(path, "a", "b")
    merged = Gallery.open(path)
    path.write_bytes(legacy_file(["a", "b"], [1, 1], np.stack([templates_of(merged, n)[0] for n in "ab"])))
    assert Gallery.open(path).identities() == [("a", 1), ("b", 1)]


def test_the_write_that_grows_the_journal_past_the_limit_compacts(tmp_path, monkeypatch):
    from edgeface.gallery import gallery as gallery_module

    monkeypatch.setattr(gallery_module, "COMPACT_BYTES", 1000)
    path = tmp_path / "g.efg"
    g = Gallery(64, path)
    sizes = []
    for i in range(12):
        g.enroll(f"p{i}", np.ones(64))
        sizes.append(journal_of(path).stat().st_size)
    assert max(sizes) <= 1000 and sizes.count(journal.HEAD_BYTES) >= 3
    assert [n for n, _ in Gallery.open(path).identities()] == [f"p{i}" for i in range(12)]


def test_readers_see_whole_prefixes_of_what_a_writer_appends(tmp_path):
    """A reader searching while another object enrolls and compacts: each call sees some
    prefix of the enrolments, in order, never a half or a reordering."""
    path = tmp_path / "g.efg"
    writer = Gallery(16, path)
    writer.save()
    reader = Gallery.open(path)
    stop, seen, errors = threading.Event(), [], []

    def read():
        try:
            while not stop.is_set():
                names = [n for n, _ in reader.identities()]
                seen.append(len(names))
                assert names == [f"p{i}" for i in range(len(names))]
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    thread = threading.Thread(target=read)
    thread.start()
    for i in range(150):
        writer.enroll(f"p{i}", np.random.default_rng(i).standard_normal(16))
        if i % 40 == 39:
            writer.compact()
    stop.set()
    thread.join(30)
    assert not errors, errors[0]
    assert seen == sorted(seen) and len(reader) == 150


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(0, 2000), flips=st.lists(st.tuples(st.integers(0, 2000), st.integers(1, 255)), max_size=3))
def test_mangled_journals_give_gallery_error_or_a_prefix_of_the_records(tmp_path, cut, flips):
    path = tmp_path / "g.efg"
    for leftover in (path, journal_of(path)):
        leftover.unlink(missing_ok=True)  # hypothesis reuses tmp_path
    with_records(path, "a", "b", "c", "d")
    raw = bytearray(journal_of(path).read_bytes())
    raw = raw[: cut % (len(raw) + 1)]
    for pos, mask in flips:
        if raw:
            raw[pos % len(raw)] ^= mask
    journal_of(path).write_bytes(bytes(raw))
    try:
        names = [n for n, _ in Gallery.open(path).identities()]
    except GalleryError:
        return
    assert names == ["a", "b", "c", "d"][: len(names)]


def test_journal_files_are_private(tmp_path):
    old = os.umask(0)
    try:
        with_records(tmp_path / "g.efg", "a")
    finally:
        os.umask(old)
    assert journal_of(tmp_path / "g.efg").stat().st_mode & 0o777 == 0o600


def test_a_pickled_gallery_is_a_copy_in_memory(tmp_path):
    """What the feeds processor sends its Ray actors: the templates present, no file."""
    import pickle

    path = tmp_path / "g.efg"
    with_records(path, "a", "b", "c").remove("b")
    original = Gallery.open(path)
    copy = pickle.loads(pickle.dumps(original))
    assert copy.path is None and copy.identities() == [("a", 1), ("c", 1)]
    np.testing.assert_array_equal(templates_of(copy, "c"), templates_of(original, "c"))
    copy.enroll("d", np.ones(4))
    assert "d" not in Gallery.open(path)


def test_zeros_after_the_last_record_are_a_killed_write_and_a_huge_length_is_corruption(tmp_path):
    path = tmp_path / "g.efg"
    with_records(path, "a", "b")
    whole = journal_of(path).read_bytes()
    journal_of(path).write_bytes(whole + bytes(4096))  # a crash left the new size, not the data
    assert Gallery.open(path).identities() == [("a", 1), ("b", 1)]
    Gallery.open(path).enroll("c", np.ones(4))
    assert Gallery.open(path).identities() == [("a", 1), ("b", 1), ("c", 1)]
    raw = bytearray(journal_of(path).read_bytes())
    raw[journal.HEAD_BYTES + 3] = 0xFF  # the first record's length, now 4 GB
    journal_of(path).write_bytes(bytes(raw))
    with pytest.raises(GalleryError, match="byte 44: a record claims .* bytes, more than any record holds"):
        Gallery.open(path)
