"""A gallery held by Milvus, the distributed vector database: one watch list shared by
every machine that opens its URI (service_uri.py), behind the same API as a gallery file.

Why Milvus: it is on PyPI with an embedded form (Milvus Lite, ``milvus-lite:PATH.db``,
a real Milvus gRPC server inside this process) that speaks the same protocol as a cluster,
so the tests exercise the code path a city deployment runs; Qdrant's embedded form is a
separate local implementation that only mimics its server.

One collection per gallery, one entity per template:

    row       INT64 primary key, assigned by Milvus (increasing: enrolment order)
    key       INT64, the first 8 bytes of the name's BLAKE2b: filters never quote a name
    name      VARCHAR, the identity
    template  FLOAT_VECTOR(dim), unit float32, under an HNSW index (inner product)

and collection properties marking it as an edgeface gallery, the embedder's fingerprint
and the search calibration. Milvus keeps the templates durable (its write-ahead log) and
serialises writers; searches use Strong consistency, so every node sees an enrolment as
soon as its call returns.

Search follows the embedded gallery's rule (ann.py, ranking.py): the index proposes at
least ``CANDIDATES`` rows, their float32 templates come back with them and are scored
here, so the similarity that decides is computed exactly as a file gallery computes it.
The HNSW breadth (``ef``) is calibrated on the collection for the threshold with the
same synthetic at-threshold queries as the file index's probes, and stored in the
collection, so all nodes share it until the gallery doubles in size.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np

from edgeface.errors import BackendUnavailableError, GalleryError
from edgeface.gallery import ann
from edgeface.gallery.api import GalleryAPI
from edgeface.gallery.fingerprint import EmbedderFingerprint, Match, check_embedder_json
from edgeface.gallery.names import MAX_NAME_CHARS, check_name
from edgeface.gallery.ranking import best_identities, check_top_k, unit_rows
from edgeface.gallery.service_uri import TOKEN_VARIABLE, ServiceUri, parse

ROW, KEY, NAME, TEMPLATE = "row", "key", "name", "template"
MARK, EMBEDDER, CALIBRATION = "edgeface.gallery", "edgeface.embedder", "edgeface.calibration"
LAYOUT = "1"  # the MARK value: this module's collection layout
MAX_RESULTS = 16384  # Milvus's most results per query (its topk limit), and the widest ef tried
HNSW = {"M": 32, "efConstruction": 256}
FIRST_EF = 64
RECHECK_S = 60.0  # how often a searching process compares the gallery's size with its calibration's
_BATCH = 1024  # rows per insert, query page and iterator batch
_SCORE_SLACK = 1e-5  # float32 rounding between Milvus's inner products and numpy's
_CONNECT_TIMEOUT_S = 10.0


class _QuietIterator(logging.Filter):
    """Drops the query iterator's warning that Milvus Lite has no MVCC timestamp (the
    iterator then uses the client's clock, which is right for a server in this process)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "mvccTs" not in record.getMessage()


_QUIET_ITERATOR = _QuietIterator()


def _pymilvus() -> Any:
    try:
        with warnings.catch_warnings():  # its generated protobuf code is one major version behind the runtime
            warnings.filterwarnings("ignore", "Protobuf gencode version", UserWarning)
            import pymilvus
        logging.getLogger("pymilvus.client.iterator.query_iterator").addFilter(_QUIET_ITERATOR)
    except ImportError:
        raise BackendUnavailableError(
            "a gallery in Milvus needs pymilvus: pip install 'edgeface[milvus]'") from None
    return pymilvus


def name_key(name: str) -> int:
    """The identity's filter key: a signed 64-bit hash of its name (names are compared
    after the filter, so a collision costs nothing but a wider fetch)."""
    return int.from_bytes(hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest(), "little", signed=True)


class MilvusGallery(GalleryAPI):
    """A gallery in a Milvus collection; open it with ``Gallery.open(URI)`` or ``open``."""

    def __init__(self, uri: ServiceUri, client: Any, dim: int, embedder: EmbedderFingerprint | None):
        self._uri, self._client, self._dim = uri, client, dim
        self._embedder, self._embedder_on_service = embedder, embedder is not None
        self._ef: tuple[float, int, int] | None = None  # (cosine, ef, rows) this process searches with
        self._ef_checked = -RECHECK_S  # time.monotonic() when the size was last compared with _ef's

    # ----------------------------------------------------------------- opening

    @classmethod
    def open(cls, location: str, dim: int | None = None, *,
             embedder: EmbedderFingerprint | None = None) -> MilvusGallery:
        """The gallery at ``location``; with ``dim``, a new empty one is created there if
        the collection does not exist yet (and an existing one must match)."""
        uri = parse(location)
        client = _connect(uri)
        call = _caller(uri)
        if not call("has_collection", client.has_collection, uri.collection):
            if dim is None:
                raise GalleryError(f"{uri.text}: no such gallery: pass the model's embedding dim to start one")
            _create(client, uri, dim)
        found = call("describe_collection", client.describe_collection, uri.collection)
        file_dim, recorded = _check_layout(found, uri)
        if dim is not None and dim != file_dim:
            raise GalleryError(f"{uri.text} holds {file_dim}-d templates but this model embeds {dim}-d: "
                               f"use a gallery made with the same model, or another collection")
        call("load_collection", client.load_collection, uri.collection)
        gallery = cls(uri, client, file_dim, recorded)
        if embedder is not None:
            gallery.bind(embedder)
        return gallery

    def __reduce__(self) -> tuple:
        """Pickle as the way to reach the same collection, not a copy: the actors of a Ray
        job search the one watch list, changes included. A Milvus Lite gallery is served
        by the process that opened it, so its pickle reaches it only from this machine."""
        address = self._uri.address
        if self._uri.lite:
            from milvus_lite.server_manager import server_manager_instance

            address = server_manager_instance.start_and_get_uri(self._uri.address)
        text = address.replace("https://", "milvus+https://").replace("http://", "milvus://")
        text += f"?collection={self._uri.collection}" + (f"&db={self._uri.database}" if self._uri.database else "")
        return _reopen, (text, self._dim)

    def __repr__(self) -> str:
        return f"MilvusGallery({self._uri.text!r}, dim={self._dim})"

    # ----------------------------------------------------------------- basics

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def embedder(self) -> EmbedderFingerprint | None:
        return self._embedder

    @property
    def ef(self) -> int | None:
        """The HNSW search breadth this process searches with (None before a search or
        ``build_index``)."""
        return self._ef[1] if self._ef else None

    def bind(self, embedder: EmbedderFingerprint) -> None:
        if embedder.dim != self._dim:
            raise GalleryError(f"{self._uri.text} holds {self._dim}-d templates but this model embeds "
                               f"{embedder.dim}-d: use a gallery made with the same model")
        recorded = _check_layout(self._describe(), self._uri)[1]
        self._embedder = recorded or self._embedder or embedder
        self._embedder_on_service = recorded is not None
        if not self._embedder.same_model(embedder):
            raise GalleryError(
                f"{self._uri.text} was enrolled with embedder {self._embedder.label()}, not this bundle's "
                f"{embedder.label()}: re-enroll the gallery with this bundle, or use the bundle that made it")

    def __len__(self) -> int:
        found = self._call("count", self._client.query, self._uri.collection, filter="",
                           output_fields=["count(*)"])
        return int(found[0]["count(*)"])

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and bool(self._rows_of(name, [ROW]))

    def identities(self) -> list[tuple[str, int]]:
        counts: dict[str, int] = {}
        first: dict[str, int] = {}
        for entity in self._every_row([ROW, NAME]):
            name = entity[NAME]
            counts[name] = counts.get(name, 0) + 1
            first[name] = min(first.get(name, entity[ROW]), entity[ROW])
        return [(name, counts[name]) for name in sorted(counts, key=first.__getitem__)]

    def templates(self, name: str) -> np.ndarray:
        rows = sorted(self._rows_of(name, [ROW, TEMPLATE]), key=lambda entity: entity[ROW])
        if not rows:
            raise GalleryError(f"no identity named {name!r} in the gallery")
        return np.asarray([entity[TEMPLATE] for entity in rows], np.float32)

    def verify(self) -> None:
        """Check that the collection still holds an edgeface gallery of this size and
        embedder (Milvus checks its own storage)."""
        found = self._describe()
        dim, recorded = _check_layout(found, self._uri)
        if dim != self._dim or (recorded and self._embedder and not recorded.same_model(self._embedder)):
            raise GalleryError(f"{self._uri.text} was replaced by another gallery since it was opened: open it again")

    def compact(self) -> None:
        """Ask Milvus to merge segments and purge removed templates (it runs on the server)."""
        self._call("compact", self._client.compact, self._uri.collection)

    def save(self, path: str | Path | None = None) -> None:
        """Write a copy of the whole watch list to the gallery file ``path`` (for a phone,
        or a backup); the collection stays where it is."""
        from edgeface.gallery.gallery import from_rows

        if path is None:
            raise GalleryError(f"{self._uri.text} is kept by Milvus: pass a file path to save a copy")
        by_name: dict[str, list] = {}  # in enrolment order
        for entity in sorted(self._every_row([ROW, NAME, TEMPLATE]), key=lambda entity: entity[ROW]):
            by_name.setdefault(entity[NAME], []).append(entity[TEMPLATE])
        counts = np.array([len(templates) for templates in by_name.values()], np.int64)
        rows = np.asarray([row for templates in by_name.values() for row in templates], np.float32)
        from_rows(self._dim, self._embedder, list(by_name), counts, rows.reshape(-1, self._dim)).save(path)

    # ----------------------------------------------------------------- changes

    def enroll(self, name: str, embeddings: Any, *, embedder: EmbedderFingerprint | None = None) -> int:
        check_name(name)
        rows = unit_rows(embeddings, self._dim, "embeddings")
        if embedder is not None:
            self.bind(embedder)
        self._insert([name] * len(rows), rows)
        return len(self._rows_of(name, [ROW]))

    def enroll_many(self, names: list[str], embeddings: Any) -> None:
        """Add one template per name (row ``i`` of ``embeddings`` to ``names[i]``), a
        thousand per call to Milvus: how a watch list of millions is loaded."""
        for name in names:
            check_name(name)
        rows = unit_rows(embeddings, self._dim, "embeddings")
        if len(rows) != len(names):
            raise GalleryError(f"enroll_many: {len(names)} names for {len(rows)} embeddings")
        self._insert(names, rows)

    def _insert(self, names: list[str], rows: np.ndarray) -> None:
        """Insert checked unit rows, the adopted embedder first if the collection lacks it."""
        if self._embedder is not None and not self._embedder_on_service:
            self._call("record the embedder", self._client.alter_collection_properties, self._uri.collection,
                       properties={EMBEDDER: json.dumps(self._embedder.to_json())})
            self._embedder_on_service = True
        for start in range(0, len(rows), _BATCH):
            batch = [{KEY: name_key(name), NAME: name, TEMPLATE: row.tolist()}
                     for name, row in zip(names[start : start + _BATCH], rows[start : start + _BATCH])]
            self._call("enroll", self._client.insert, self._uri.collection, batch)

    def remove(self, name: str) -> int:
        rows = [entity[ROW] for entity in self._rows_of(name, [ROW])]
        if not rows:
            raise GalleryError(f"no identity named {name!r} in the gallery")
        self._call("remove", self._client.delete, self._uri.collection, ids=rows)
        return len(rows)

    # ----------------------------------------------------------------- search

    def search(self, queries: Any, top_k: int = 5, threshold: float | None = None) -> list[list[Match]]:
        check_top_k(top_k)
        q = unit_rows(queries, self._dim, "queries")
        ef = self._ef_for(ann.DEFAULT_COSINE if threshold is None else float(threshold))
        if ef is None:  # nothing enrolled
            return [[] for _ in q]
        limit = min(MAX_RESULTS, max(ann.CANDIDATES, 2 * int(top_k)))
        results = []
        for query, hits in zip(q, self._candidates(q, limit, ef)):
            matches = _ranked(query, hits, int(top_k), threshold)
            while len(matches) < top_k and len(hits) == limit < MAX_RESULTS:  # one identity, many templates
                limit = min(MAX_RESULTS, 4 * limit)
                hits = self._candidates(query[None], limit, ef)[0]
                matches = _ranked(query, hits, int(top_k), threshold)
            results.append(matches)
        return results

    def build_index(self, threshold: float = ann.DEFAULT_COSINE) -> None:
        """Calibrate the search breadth for ``threshold`` now (Milvus builds the index as
        templates arrive)."""
        self._ef = None
        self._ef_checked = -RECHECK_S
        self._ef_for(float(threshold), stored=False)

    def _candidates(self, q: np.ndarray, limit: int, ef: int) -> list:
        return self._call("search", self._client.search, self._uri.collection, data=q.tolist(), limit=limit,
                          anns_field=TEMPLATE, output_fields=[NAME, TEMPLATE],
                          search_params={"metric_type": "IP", "params": {"ef": max(ef, limit)}})

    def _ef_for(self, cosine: float, stored: bool = True) -> int | None:
        """The HNSW breadth with which searches find their matches at ``cosine`` and above:
        this process's, else the collection's, else calibrated now and recorded there. A
        calibration holds until the gallery doubles (its size is looked at once a
        minute, not per search); None while the gallery is empty."""
        now = time.monotonic()
        if self._ef is not None and self._ef[0] <= cosine and now < self._ef_checked + RECHECK_S:
            return self._ef[1]
        rows, self._ef_checked = len(self), now
        if rows == 0:
            return None
        for known in (self._ef, _stored_calibration(self._describe()) if stored else None):
            if known is not None and known[0] <= cosine and rows <= 2 * known[2]:
                self._ef = known
                return known[1]
        ef, recall = self._calibrate(cosine, rows)
        if recall < ann.PROBE_RECALL:
            warnings.warn(f"{self._uri.text}: with the widest search (ef {ef}) only {recall:.1%} of the "
                          f"calibration queries at cosine {cosine} find their template", stacklevel=3)
        self._ef = (cosine, ef, rows)
        self._call("record the calibration", self._client.alter_collection_properties, self._uri.collection,
                   properties={CALIBRATION: json.dumps({"cosine": cosine, "ef": ef, "rows": rows})})
        return ef

    def _calibrate(self, cosine: float, rows: int) -> tuple[int, float]:
        """The smallest ef (64, 128, ...) with which ``ann.PROBES`` synthetic queries at the
        threshold (ann.threshold_queries) find their own template, or a row that scores at
        least as high, among the candidates: the first of ann.calibrate's two rules (a
        template among near-copies of itself may rank behind them without changing the
        decision)."""
        rng = np.random.default_rng(1)
        sample = self._sample(rows, rng)
        templates = np.asarray([e[TEMPLATE] for e in sample], np.float32)
        queries = ann.threshold_queries(templates, cosine, rng)
        wanted = np.array([e[ROW] for e in sample])
        own = (templates * queries).sum(axis=1) - _SCORE_SLACK
        limit = min(ann.CANDIDATES, rows)
        ef = FIRST_EF
        while True:
            found = self._call("calibrate", self._client.search, self._uri.collection, data=queries.tolist(),
                               limit=limit, anns_field=TEMPLATE, output_fields=[KEY],
                               search_params={"metric_type": "IP", "params": {"ef": max(ef, limit)}})
            recall = float(np.mean([any(hit[ROW] == w or hit["distance"] >= floor for hit in hits)
                                    for w, floor, hits in zip(wanted, own, found)]))
            if recall >= ann.PROBE_RECALL or ef >= MAX_RESULTS:
                return ef, recall
            ef *= 2

    def _sample(self, rows: int, rng: np.random.Generator) -> list[dict]:
        """About ``ann.PROBES`` templates spread over the collection: rows whose key falls
        in random windows of the hash space (keys are uniform), or all when few."""
        if rows <= ann.PROBES:
            return list(self._every_row([ROW, TEMPLATE]))
        per_window = 20
        width = int(2**64 * per_window / rows)
        picked: dict[int, dict] = {}
        for _ in range(4 * ann.PROBES // per_window):
            low = int(rng.integers(-(2**63), 2**63 - width, dtype=np.int64))
            found = self._call("sample", self._client.query, self._uri.collection,
                               filter=f"{KEY} >= {low} and {KEY} < {low + width}",
                               output_fields=[ROW, TEMPLATE], limit=per_window)
            picked.update((entity[ROW], entity) for entity in found)
            if len(picked) >= ann.PROBES:
                break
        return list(picked.values())[: ann.PROBES]

    # ----------------------------------------------------------------- helpers

    def _call(self, what: str, fn: Callable, *args, **kwargs) -> Any:
        return _caller(self._uri)(what, fn, *args, **kwargs)

    def _describe(self) -> dict:
        return self._call("describe_collection", self._client.describe_collection, self._uri.collection)

    def _rows_of(self, name: str, fields: list[str]) -> list[dict]:
        """Every template row of ``name`` with ``fields`` (the key filter, then the name)."""
        found = self._call("query", self._client.query, self._uri.collection, filter=f"{KEY} == {name_key(name)}",
                           output_fields=[NAME, *fields])
        return [entity for entity in found if entity[NAME] == name]

    def _every_row(self, fields: list[str]):
        iterator = self._call("query", self._client.query_iterator, self._uri.collection, batch_size=_BATCH,
                              filter="", output_fields=fields)
        try:
            while batch := self._call("query", iterator.next):
                yield from batch
        finally:
            iterator.close()


def _ranked(query: np.ndarray, hits: list, top_k: int, threshold: float | None) -> list[Match]:
    """The hits re-scored with their float32 templates, as a file gallery scores rows."""
    if not hits:
        return []
    templates = np.asarray([hit["entity"][TEMPLATE] for hit in hits], np.float32)
    names = [hit["entity"][NAME] for hit in hits]
    sims = templates @ query
    order = np.argsort(-sims, kind="stable")
    ids: dict[str, int] = {}
    owners = np.array([ids.setdefault(names[i], len(ids)) for i in order])
    by_id = list(ids)
    return best_identities(owners, sims[order], top_k, threshold, by_id.__getitem__)


def _reopen(text: str, dim: int) -> MilvusGallery:
    return MilvusGallery.open(text, dim)


def _connect(uri: ServiceUri) -> Any:
    pymilvus = _pymilvus()
    # keepalive pings only while a call is in flight: pymilvus pings idle connections every
    # 10 s, which a gRPC server with default settings (Milvus Lite's) answers after three
    # with "too many pings" and a dropped connection; an idle channel reconnects on use
    kwargs = {"uri": uri.address, "timeout": _CONNECT_TIMEOUT_S,
              "grpc_options": {"grpc.keepalive_permit_without_calls": 0}}
    if not uri.lite:
        kwargs.update(token=uri.token(), db_name=uri.database or "")
    try:
        return pymilvus.MilvusClient(**kwargs)
    except Exception as exc:  # pymilvus raises MilvusException, grpc and OS errors alike here
        fix = ("install it: pip install 'edgeface[milvus]'" if uri.lite else
               f"check that Milvus runs there, and the token in {TOKEN_VARIABLE} if it asks for one")
        raise GalleryError(f"{uri.text}: cannot reach the gallery ({_reason(exc)}): {fix}") from None


def _caller(uri: ServiceUri) -> Callable:
    """A call into pymilvus whose failure is a GalleryError naming the URI and the step."""
    def call(what: str, fn: Callable, *args, **kwargs) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if isinstance(exc, (GalleryError, KeyboardInterrupt)):
                raise
            raise GalleryError(f"{uri.text}: {what} failed: {_reason(exc)}") from None
    return call


def _reason(exc: Exception) -> str:
    return str(getattr(exc, "message", None) or exc).strip() or type(exc).__name__


def _create(client: Any, uri: ServiceUri, dim: int) -> None:
    """Create the collection of an empty gallery (a creation raced by another process is
    fine: the layout check that follows reads whichever won)."""
    DataType = _pymilvus().DataType
    schema = client.create_schema(auto_id=True, enable_dynamic_field=False)
    schema.add_field(ROW, DataType.INT64, is_primary=True)
    schema.add_field(KEY, DataType.INT64)
    schema.add_field(NAME, DataType.VARCHAR, max_length=4 * MAX_NAME_CHARS)  # bytes of UTF-8
    schema.add_field(TEMPLATE, DataType.FLOAT_VECTOR, dim=dim)
    index = client.prepare_index_params()
    index.add_index(TEMPLATE, index_type="HNSW", metric_type="IP", params=HNSW)
    try:
        client.create_collection(uri.collection, schema=schema, index_params=index, consistency_level="Strong",
                                 properties={MARK: LAYOUT})
    except Exception as exc:
        if not client.has_collection(uri.collection):
            raise GalleryError(f"{uri.text}: cannot create the gallery: {_reason(exc)}") from None


def _check_layout(found: dict, uri: ServiceUri) -> tuple[int, EmbedderFingerprint | None]:
    """The collection's template size and recorded embedder; an error naming the URI when
    it is not a gallery this version of edgeface made."""
    properties = found.get("properties") or {}
    fields = {field["name"]: field for field in found.get("fields", [])}
    if properties.get(MARK) != LAYOUT or set(fields) != {ROW, KEY, NAME, TEMPLATE}:
        raise GalleryError(f"{uri.text}: collection {uri.collection!r} is not an edgeface gallery "
                           f"(another program's, or a newer layout): choose another ?collection=")
    dim = int(fields[TEMPLATE].get("params", {}).get("dim", 0))
    return dim, _recorded_embedder(found, uri, dim)


def _recorded_embedder(found: dict, uri: ServiceUri, dim: int) -> EmbedderFingerprint | None:
    text = (found.get("properties") or {}).get(EMBEDDER)
    if text is None:
        return None

    def bad(why: str) -> GalleryError:
        return GalleryError(f"{uri.text}: the recorded embedder is invalid ({why}): re-enroll the gallery")

    try:
        recorded = json.loads(text)
    except ValueError:
        raise bad("not JSON") from None
    return check_embedder_json(recorded, dim, bad)


def _stored_calibration(found: dict) -> tuple[float, int, int] | None:
    """(cosine, ef, rows) recorded by whichever node calibrated last; None if absent or odd."""
    try:
        stored = json.loads((found.get("properties") or {})[CALIBRATION])
        known = (float(stored["cosine"]), int(stored["ef"]), int(stored["rows"]))
    except (KeyError, ValueError, TypeError):
        return None
    return known if 0 < known[1] <= MAX_RESULTS and known[2] > 0 else None
