"""Where a gallery held by a vector database lives: its URI, read and checked.

    milvus://HOST[:PORT][?collection=NAME&db=DB]          a Milvus server (port 19530)
    milvus+https://HOST[:PORT][?collection=NAME&db=DB]    the same over TLS
    milvus-lite:PATH.db[?collection=NAME]                 Milvus Lite, in this process

The collection defaults to ``edgeface_gallery``. A token (``user:password`` or an API
key), when the server wants one, comes from the environment variable
``EDGEFACE_MILVUS_TOKEN``, never from the URI, so that configs can be shared.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from edgeface.errors import GalleryError

SCHEMES = ("milvus", "milvus+https", "milvus-lite")
DEFAULT_COLLECTION = "edgeface_gallery"
DEFAULT_PORT = 19530
TOKEN_VARIABLE = "EDGEFACE_MILVUS_TOKEN"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")  # Milvus's rule for collection and database names
_EXAMPLE = "milvus://HOST:19530?collection=NAME or milvus-lite:PATH.db"


def is_service_uri(location: object) -> bool:
    """Whether ``location`` names a gallery in a vector database rather than a file."""
    return isinstance(location, str) and location.split(":", 1)[0] in SCHEMES and ":" in location


@dataclass(frozen=True)
class ServiceUri:
    text: str  # as the user wrote it: what error messages name
    address: str  # what pymilvus connects to: http(s)://host:port, or the Milvus Lite file
    collection: str
    database: str | None

    @property
    def lite(self) -> bool:
        return not self.address.startswith(("http://", "https://"))

    def token(self) -> str:
        return os.environ.get(TOKEN_VARIABLE, "")


def parse(text: str) -> ServiceUri:
    """The parts of a gallery URI; a clear error naming the URI when it is malformed."""
    def bad(why: str) -> GalleryError:
        return GalleryError(f"gallery URI {text!r}: {why} (expected {_EXAMPLE})")

    scheme, _, rest = text.partition(":")
    parts = urlsplit(text)
    options = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(options) - {"collection", "db"})
    if unknown:
        raise bad(f"unknown option {', '.join(unknown)} (options: collection, db)")
    repeated = sorted(key for key, values in options.items() if len(values) > 1)
    if repeated:
        raise bad(f"option {', '.join(repeated)} given more than once")
    collection = options.get("collection", [DEFAULT_COLLECTION])[0]
    database = options.get("db", [None])[0]
    for what, value in (("collection", collection), ("db", database)):
        if value is not None and not _NAME.fullmatch(value):
            raise bad(f"{what} {value!r} is not a Milvus name (a letter or _, then letters, digits or _)")
    if scheme == "milvus-lite":
        if database is not None:
            raise bad("Milvus Lite has no databases: drop db=")
        path = rest.split("?", 1)[0]
        if not path.endswith(".db"):
            raise bad("a Milvus Lite path must end in .db")
        return ServiceUri(text, str(Path(path).expanduser().absolute()), collection, None)
    if parts.username or parts.password:
        raise bad(f"put credentials in the environment variable {TOKEN_VARIABLE}, not in the URI")
    if parts.path not in ("", "/") or parts.fragment:
        raise bad("the collection goes in ?collection=NAME")
    try:
        port = parts.port or DEFAULT_PORT
    except ValueError:
        raise bad("the port must be a number from 1 to 65535") from None
    if not parts.hostname:
        raise bad("no host")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    web = "https" if scheme == "milvus+https" else "http"
    return ServiceUri(text, f"{web}://{host}:{port}", collection, database)
