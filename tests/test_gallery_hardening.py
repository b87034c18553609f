"""Gallery hardening (issue 14): concurrent writers lose nothing, the checksums cover the
header and the tables, files are private, killed compactions leave no litter, and names
are printable text."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgeface.errors import GalleryError
from edgeface.fsutil import writer_lock
from edgeface.gallery import MAGIC, MAX_NAME_CHARS, Gallery
from edgeface.safetext import is_control
from tests.gallery_files import header_span, legacy_file, v3_tables
from tests.test_gallery import templates_of

TESTS = Path(__file__).parent
ENROLLER, WRITER = TESTS / "gallery_enroller.py", TESTS / "gallery_writer.py"
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS.parent), os.environ.get("PYTHONPATH", "")])}


def saved(path, **identities):
    """A gallery saved at ``path`` with the given name -> number of templates."""
    rng = np.random.default_rng(len(identities))
    g = Gallery(8, path)
    for name, count in identities.items():
        g.enroll(name, rng.standard_normal((count, 8)))
    g.save()
    return g


def same_contents(a, b):
    assert a.identities() == b.identities() and a.dim == b.dim
    for name, _ in a.identities():
        np.testing.assert_array_equal(templates_of(a, name), templates_of(b, name))


# --------------------------------------------------------------------- the checksums cover header and tables


def edit_tables(raw, counts=None, names=None):
    """``raw`` with its identity tables replaced (names given as the blob, name ends kept)."""
    old_counts, ends, blob, start = v3_tables(raw)
    counts = old_counts if counts is None else np.asarray(counts, "<i8")
    return raw[:start] + counts.tobytes() + ends.tobytes() + (blob if names is None else names)


@pytest.mark.parametrize("edit", [
    lambda raw: edit_tables(raw, names=b"alicfbobby"),  # one flipped bit relabels alice
    lambda raw: edit_tables(raw, names=b"bobbyalice"),  # swapped names
    lambda raw: edit_tables(raw, counts=[1, 2]),  # templates moved to the other identity, counts still add up
], ids=["flipped-name", "swapped-names", "moved-counts"])
def test_edited_tables_fail_their_checksum(tmp_path, edit):
    path = tmp_path / "g.efg"
    saved(path, alice=2, bobby=1)
    path.write_bytes(edit(path.read_bytes()))
    with pytest.raises(GalleryError, match="identity tables do not match their sha256"):
        Gallery.open(path)


def test_header_fields_outside_the_checksum_are_refused(tmp_path):
    path = tmp_path / "g.efg"
    saved(path, alice=1)
    raw = path.read_bytes()
    start, end = header_span(raw)
    payload = raw[-(-end // 64) * 64 :]
    extended = json.dumps({**json.loads(raw[start:end]), "x": 1}).encode()  # sha256 still right for the rest
    head = MAGIC + len(extended).to_bytes(8, "little") + extended
    path.write_bytes(head + b"\0" * (-len(head) % 64) + payload)
    with pytest.raises(GalleryError, match="header fields must be exactly"):
        Gallery.open(path)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(1, 255)), min_size=1, max_size=3))
def test_header_byte_flips_fail_or_change_nothing(tmp_path, flips):
    """A flip may still spell the same header (a space for a tab); it can never load as another gallery."""
    path = tmp_path / "g.efg"
    path.unlink(missing_ok=True)  # hypothesis reuses tmp_path
    original = saved(path, alice=2, bobby=1, carol=3)
    raw = bytearray(path.read_bytes())
    start, end = header_span(raw)
    for pos, mask in flips:
        raw[start + pos % (end - start)] ^= mask
    path.write_bytes(bytes(raw))
    try:
        loaded = Gallery.open(path)
    except GalleryError:
        return
    same_contents(loaded, original)


def test_version_1_files_load_and_the_next_save_protects_the_header(tmp_path):
    """Version-1 headers are unprotected (documented); saving upgrades the file to version 3."""
    path = tmp_path / "old.efg"
    path.write_bytes(legacy_file(["alice", "bob"], [2, 1], np.eye(4)[[0, 1, 2]], version=1))
    g = Gallery.open(path)
    assert g.identities() == [("alice", 2), ("bob", 1)]
    g.save()
    raw = path.read_bytes()
    assert raw.startswith(MAGIC)
    path.write_bytes(raw.replace(b"alicebob", b"alicfbob"))
    with pytest.raises(GalleryError, match="sha256"):
        Gallery.open(path)


# --------------------------------------------------------------------- private files, no litter


def test_gallery_files_are_private_whatever_the_umask(tmp_path):
    path = tmp_path / "g.efg"
    path.write_bytes(b"")
    path.chmod(0o644)
    old = os.umask(0o022)
    try:
        g = Gallery(8, tmp_path / "new.efg")
        g.enroll("alice", np.ones(8))
        g.save()
        g.save(path)  # replaces a world-readable file
    finally:
        os.umask(old)
    for made in (tmp_path / "new.efg", tmp_path / "new.efg.journal", path, tmp_path / "g.efg.journal"):
        assert made.stat().st_mode & 0o777 == 0o600, made


def temp_files(directory):
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_temp_files_of_killed_compactions_are_removed_by_the_next_one(tmp_path):
    path = tmp_path / "g.efg"
    other = tmp_path / "g.efg.bak"  # another file's temp names must survive
    stranger = tmp_path / f".{other.name}.abcd1234.tmp"
    stranger.write_bytes(b"not ours")
    left = [kill_mid_save(path) for _ in range(4)]
    assert sum(left) >= 2  # the kills landed while a temp file was being written
    g = Gallery.open(path, 256)
    g.enroll("after the kills", np.ones(256))
    g.save()
    assert temp_files(tmp_path) == [stranger.name]
    assert ("after the kills", 1) in Gallery.open(path).identities()


def kill_mid_save(path, timeout=30.0):
    """Run the writer with big enrolments until a temp file of the gallery appears, SIGKILL
    it then; return whether its temp file was left behind."""
    proc = subprocess.Popen([sys.executable, str(WRITER), str(path), "256", "20000", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
    before = set(temp_files(path.parent))
    try:
        deadline = time.monotonic() + timeout
        while not set(temp_files(path.parent)) - before:
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "the writer never started a compaction"
            time.sleep(0.001)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout)
        proc.stderr.close()
    return bool(set(temp_files(path.parent)) - before)


# --------------------------------------------------------------------- concurrent writers


def test_enroll_waits_for_the_writer_lock(tmp_path):
    path = tmp_path / "g.efg"
    g = Gallery(8, path)
    done = threading.Event()
    with writer_lock(path):
        thread = threading.Thread(target=lambda: (g.enroll("alice", np.ones(8)), done.set()))
        thread.start()
        assert not done.wait(0.3) and not path.exists()
    thread.join(10)
    assert done.is_set() and Gallery.open(path).identities() == [("alice", 1)]


def test_changes_of_two_objects_apply_in_lock_order_and_both_see_them(tmp_path):
    path = tmp_path / "g.efg"
    saved(path, alice=2, bob=1, carol=1)
    mine, theirs = Gallery.open(path), Gallery.open(path)
    rng = np.random.default_rng(7)
    theirs.remove("bob")
    theirs.enroll("dave", rng.standard_normal(8))
    theirs.enroll("alice", rng.standard_normal(8))
    mine.remove("carol")
    mine.enroll("erin", rng.standard_normal((2, 8)))
    mine.enroll("bob", rng.standard_normal(8))  # bob again, after they removed him
    on_disk = Gallery.open(path)
    assert on_disk.identities() == [("alice", 3), ("dave", 1), ("erin", 2), ("bob", 1)]
    same_contents(mine, on_disk)
    same_contents(theirs, on_disk)  # a reader takes in what others wrote
    mine.save()  # compaction changes nothing anyone sees
    same_contents(theirs, Gallery.open(path))
    same_contents(theirs, on_disk)


def test_remove_then_reenroll_replaces_what_others_added(tmp_path):
    """Changes apply in lock order: a removal made later also removes templates added before it."""
    path = tmp_path / "g.efg"
    saved(path, alice=1)
    mine, theirs = Gallery.open(path), Gallery.open(path)
    theirs.enroll("alice", np.ones(8))
    mine.remove("alice")
    mine.enroll("alice", -np.ones(8))
    on_disk = Gallery.open(path)
    assert on_disk.identities() == [("alice", 1)]
    np.testing.assert_allclose(templates_of(on_disk, "alice"), -np.ones((1, 8)) / np.sqrt(8), rtol=1e-6)


def test_a_change_to_a_file_of_another_dim_is_refused_and_changes_nothing(tmp_path):
    path = tmp_path / "g.efg"
    mine = Gallery.open(path, 8)
    other = Gallery(4, path)
    other.enroll("bob", np.ones(4))
    with pytest.raises(GalleryError, match="holds 4-d templates"):
        mine.enroll("alice", np.ones(8))
    assert Gallery.open(path).identities() == [("bob", 1)] and Gallery.open(path).dim == 4


def race(tmp_path, mode, *extra, per_process, location=None):
    """Two processes enroll ``per_process`` identities each into one gallery (a file in
    ``tmp_path``, or ``location``) at the same time."""
    path, go = location or tmp_path / "shared.efg", tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, str(ENROLLER), mode, str(path), prefix, str(per_process), str(go),
                               *map(str, extra)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
             for prefix in ("a", "b")]
    try:
        for proc in procs:
            assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        go.touch()
        for proc in procs:
            _, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, err
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    return Gallery.open(path)


@pytest.mark.slow
def test_two_processes_enrolling_1000_each_at_once_keep_all_2000(tmp_path):
    g = race(tmp_path, "api", per_process=1000)
    expected = {f"{p}{i}" for p in "ab" for i in range(1000)}
    assert {n for n, _ in g.identities()} == expected
    assert all(count == 2 for _, count in g.identities()) and len(g) == 4000


@pytest.mark.slow
def test_concurrent_cli_enrolments_are_all_kept(tmp_path, fixture_bundle):
    from PIL import Image

    from tests.test_analyzer import SQUARE, textured

    image = tmp_path / "face.png"
    Image.fromarray(textured(1, SQUARE)).save(image)
    g = race(tmp_path, "cli", fixture_bundle(), image, per_process=20)
    assert {n for n, _ in g.identities()} == {f"{p}{i}" for p in "ab" for i in range(20)}


# --------------------------------------------------------------------- names


@pytest.mark.parametrize("name, message", [
    ("ann\x1b[31m", "control characters"),
    ("bob\n", "control characters"),
    ("\u202eecila", "control characters"),  # right-to-left override: displays as "alice"
    ("x\u2028y", "control characters"),
    ("caf\udce9", "not valid text in this locale"),  # a Latin-1 byte through surrogateescape
    ("a" * (MAX_NAME_CHARS + 1), f"use at most {MAX_NAME_CHARS}"),
])
def test_unprintable_or_absurd_names_are_refused(name, message):
    g = Gallery(4)
    with pytest.raises(GalleryError, match=message):
        g.enroll(name, np.ones(4))
    assert g.identities() == []


@pytest.mark.parametrize("name", ["José Núñez", "Zoë", "李小龍", "می\u200cخواهم", "👩\u200d💻 dev", "a" * MAX_NAME_CHARS,
                                  "ann[/]", "[link=https://example.com]bob[/link]"])
def test_real_names_are_accepted(tmp_path, name):
    g = Gallery(4, tmp_path / "g.efg")
    g.enroll(name, np.ones(4))
    g.save()
    assert Gallery.open(g.path).identities() == [(name, 1)]


def test_odd_names_already_in_a_file_still_load_and_save(tmp_path):
    """Names that enroll now refuses may sit in older files: they load and save again."""
    path = tmp_path / "g.efg"
    g = Gallery(4, path)
    g._append("ann\x1b[2J", np.eye(4, dtype=np.float32)[:1])
    g._append("caf\udce9", np.eye(4, dtype=np.float32)[1:2])
    g.save()
    assert [n for n, _ in Gallery.open(path).identities()] == ["ann\x1b[2J", "caf\udce9"]


ACTIONS = st.lists(st.tuples(st.sampled_from("AB"), st.sampled_from(["enroll", "enroll", "remove", "compact"]),
                             st.sampled_from(["ann", "bob", "cy"]), st.integers(1, 2)), max_size=25)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(actions=ACTIONS)
def test_interleaved_changes_equal_a_serial_replay(tmp_path, actions):
    """Two objects on one file, enrolling, removing and compacting in any order: the file,
    and each object, always hold what replaying the changes in the order they were made gives."""
    path = tmp_path / "g.efg"
    path.unlink(missing_ok=True)  # hypothesis reuses tmp_path
    expected: dict[str, list[int]] = {}  # name -> ids of its templates, in order; dicts keep enrollment order
    objects = {who: Gallery.open(path, 64) for who in "AB"}
    row = iter(range(64))
    for who, op, name, k in actions:
        g = objects[who]
        if op == "enroll":
            ids = [next(row) for _ in range(k)]
            g.enroll(name, np.eye(64)[ids])
            expected.setdefault(name, []).extend(ids)
        elif op == "remove" and name in g:
            g.remove(name)
            expected.pop(name)
        elif op == "compact":
            g.compact()
        assert gallery_ids(Gallery.open(path, 64)) == expected
        assert gallery_ids(objects["A"]) == gallery_ids(objects["B"]) == expected


def gallery_ids(g):
    """name -> the basis-vector ids of its templates, in the gallery's identity order."""
    return {name: [int(i) for i in templates_of(g, name).argmax(axis=1)] for name, _ in g.identities()}


@settings(max_examples=300, deadline=None)
@given(name=st.text(st.characters(blacklist_categories=()), max_size=12))
def test_any_name_is_refused_clearly_or_round_trips(tmp_path_factory, name):
    path = tmp_path_factory.mktemp("names") / "g.efg"
    g = Gallery(4, path)
    try:
        g.enroll(name, np.ones(4))
    except GalleryError:
        return
    g.save()
    assert Gallery.open(path).identities() == [(name, 1)]
    assert not any(is_control(c) for c in name) and len(name) <= MAX_NAME_CHARS
