"""The AI Hub token and service address, and a fast check that the service answers.

The token comes from the first of: an explicit token (``--api-token``, visible to other
users in ``ps``, or ``--api-token-file``, a file or stdin), ``$EDGEFACE_HUB_TOKEN`` (the
``qai-hub`` client itself reads no variable), and the client's own configuration file,
which ``qai-hub configure --api_token TOKEN`` writes: ``$QAIHUB_CLIENT_INI`` when set, else
``~/.qai_hub/client.ini`` (section ``[api]``: ``api_token``, ``api_url``, ``web_url``).
The token is sent only over https (plain http only to this machine, as to a test stand-in)
and never appears in a message.

Without a network the client retries each request for minutes; :func:`probe` asks the
service once, with a timeout of a few seconds, before any job is submitted, so a missing
network, a wrong address or a rejected token is reported at once.
"""

from __future__ import annotations

import configparser
import ipaddress
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from edgeface.errors import clip
from edgeface.hub import NO_TOKEN, TOKEN_ENV, HubAuthError, HubError, HubUnreachableError, require_client

CLIENT_INI_ENV = "QAIHUB_CLIENT_INI"
MAX_TOKEN_BYTES = 4096   # a token is a few dozen characters; a token file is no bigger than this
DEFAULT_INI = "~/.qai_hub/client.ini"
DEFAULT_URL = "https://workbench.aihub.qualcomm.com"
TOKEN_URL = "https://aihub.qualcomm.com"
PROBE_TIMEOUT_S = 4.0


@dataclass(frozen=True)
class HubConfig:
    api_token: str
    api_url: str = DEFAULT_URL
    web_url: str = DEFAULT_URL
    source: str = "--api-token"       # where the token came from, for messages


def client_ini_path() -> Path:
    """The file the qai-hub client reads: ``$QAIHUB_CLIENT_INI``, else ``~/.qai_hub/client.ini``."""
    return Path(os.path.expanduser(os.environ.get(CLIENT_INI_ENV) or DEFAULT_INI))


def _read_ini(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    parser = configparser.ConfigParser()
    try:
        parser.read(path)
    except (configparser.Error, OSError, UnicodeDecodeError) as exc:
        raise HubError(f"{path}: cannot read the Qualcomm AI Hub client configuration "
                       f"({type(exc).__name__}): rewrite it with `qai-hub configure --api_token TOKEN`") from None
    return dict(parser["api"]) if parser.has_section("api") else {}


def read_token_file(path: str) -> str:
    """The token in the file ``path`` (``-``: standard input), for ``--api-token-file``: a
    token on the command line is visible to every user of the machine."""
    name = f"--api-token-file {path}"
    if path == "-":
        data = sys.stdin.buffer.read(MAX_TOKEN_BYTES + 1)
        if len(data) > MAX_TOKEN_BYTES:
            raise HubAuthError(f"{name}: more than {MAX_TOKEN_BYTES} bytes on standard input: not a token")
    else:
        from edgeface.safe_yaml import read_bounded

        try:
            data = read_bounded(Path(path).expanduser(), HubAuthError, name, MAX_TOKEN_BYTES)
        except FileNotFoundError:
            raise HubAuthError(f"{name}: no such file") from None
    try:
        return data.decode("ascii").strip()
    except UnicodeDecodeError:
        raise HubAuthError(f"{name}: not an API token (it is not ASCII text)") from None


def _check_token(token: str, source: str) -> None:
    """A token is printable ASCII without spaces; anything else would be refused by the
    service, or break the HTTP header it goes into. Never shown: it may be a real secret."""
    if len(token) > MAX_TOKEN_BYTES or not all("!" <= ch <= "~" for ch in token):
        raise HubAuthError(f"the API token from {source} is not a Qualcomm AI Hub token (it has spaces, "
                           f"control or non-ASCII characters; not shown here): copy it again from {TOKEN_URL}")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _check_url(api_url: str, where: Path) -> None:
    """The token goes in a header of every request to ``api_url``: plain http would show it
    to anyone on the network path. Loopback (a local stand-in or tunnel) is allowed."""
    from urllib.parse import urlsplit

    parts = urlsplit(api_url)
    if parts.scheme.lower() == "http" and not _is_loopback(parts.hostname or ""):
        raise HubError(f"{where}: api_url {clip(api_url, 100)} is plain http: the API token would cross the "
                       f"network unencrypted; use an https:// URL")


def _first_token(candidates: list[tuple[Optional[str], str]]) -> tuple[str, str]:
    """The first non-empty token and where it came from; ("", "") when there is none."""
    for token, source in candidates:
        if token and token.strip():
            return token.strip(), source
    return "", ""


def resolve_config(api_token: Optional[str] = None, token_source: str = "--api-token") -> HubConfig:
    """The token (``api_token``, named ``token_source`` in messages; else ``$EDGEFACE_HUB_TOKEN``;
    else the client's configuration file) and the service URLs (the file's, else Qualcomm's).
    Raises ``HubAuthError`` with what to do when there is no usable token, ``HubError`` for
    an ``http://`` api_url that is not this machine."""
    path = client_ini_path()
    ini = _read_ini(path)
    token, source = _first_token([(api_token, token_source), (os.environ.get(TOKEN_ENV), f"${TOKEN_ENV}"),
                                  (ini.get("api_token"), str(path))])
    if not token:
        raise HubAuthError(NO_TOKEN)
    _check_token(token, source)
    api_url = (ini.get("api_url") or DEFAULT_URL).strip()
    web_url = (ini.get("web_url") or api_url).strip()
    _check_url(api_url, path)
    return HubConfig(api_token=token, api_url=api_url, web_url=web_url, source=source)


def _endpoint(config: HubConfig, *parts: str) -> str:
    """The URL the client itself builds for an API path (``api_utils.api_url``)."""
    import posixpath
    from urllib.parse import urljoin

    return urljoin(config.api_url, posixpath.join("api", "v1", *parts, ""))


def _reason(exc: Exception) -> str:
    """A short reason for a requests exception: 'connection refused', 'timed out', ..."""
    import requests

    text = str(exc)
    if isinstance(exc, (requests.exceptions.ConnectTimeout, requests.exceptions.ReadTimeout)):
        return "no answer within the timeout"
    if isinstance(exc, (requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema,
                        requests.exceptions.InvalidURL, ValueError)):
        return "api_url is not a valid http(s) URL: fix it in the client configuration"
    for needle, words in (("Connection refused", "connection refused"),
                          ("Name or service not known", "unknown host name"),
                          ("Temporary failure in name resolution", "no DNS: the host name cannot be resolved"),
                          ("nodename nor servname", "unknown host name"),
                          ("Network is unreachable", "network unreachable"),
                          ("No route to host", "no route to host"),
                          ("CERTIFICATE_VERIFY_FAILED", "TLS certificate not trusted"),
                          ("ProxyError", "the proxy refused the connection")):
        if needle in text:
            return words
    return type(exc).__name__


def probe(config: HubConfig, timeout: float = PROBE_TIMEOUT_S) -> None:
    """Ask the service who the token belongs to, once, all within ``timeout`` seconds (name
    lookup included: it runs in a helper thread that is abandoned if it hangs).

    Raises ``HubUnreachableError`` (no network, wrong address), ``HubAuthError`` (token
    rejected) or ``HubError`` (the service is down); returns quietly otherwise, including
    when the service does not know this endpoint (a later call will say more)."""
    require_client()  # requests comes with the client; the same install line if neither is there
    import requests

    url = _endpoint(config, "users", "auth", "user")
    headers = {"Authorization": f"token {config.api_token}", "Content-Type": "application/x-protobuf"}
    outcome: dict = {}

    def ask() -> None:
        try:
            with requests.Session() as session:  # no retry adapter: one try
                outcome["response"] = session.get(url, headers=headers, timeout=(timeout, timeout),
                                                  allow_redirects=False)
        except requests.exceptions.RequestException as exc:
            outcome["error"] = exc
        except Exception as exc:  # a malformed URL and the like
            outcome["error"] = exc

    worker = threading.Thread(target=ask, name="aihub-probe", daemon=True)
    worker.start()
    worker.join(timeout)
    unreachable = ("cannot reach Qualcomm AI Hub at {url} ({why}): check the network connection or proxy "
                   "settings (AI Hub jobs run in Qualcomm's cloud; there is no offline mode)")
    if worker.is_alive():
        raise HubUnreachableError(unreachable.format(url=config.api_url, why=f"no answer within {timeout:g} s"))
    if "error" in outcome:
        raise HubUnreachableError(unreachable.format(url=config.api_url, why=_reason(outcome["error"])))
    status = outcome["response"].status_code
    if status in (401, 403):
        raise HubAuthError(
            f"Qualcomm AI Hub rejected the API token from {config.source} (HTTP {status}): get a current "
            f"token at {TOKEN_URL} and run `qai-hub configure --api_token TOKEN` or set ${TOKEN_ENV}")
    if status >= 500:
        raise HubError(f"Qualcomm AI Hub at {config.api_url} answered HTTP {status}: the service is "
                       f"unavailable right now; try again later")


def make_client(config: HubConfig):
    """A ``qai_hub.Client`` for ``config``, quiet (no progress bars on stdout)."""
    hub = require_client()
    client_config = hub.ClientConfig(api_token=config.api_token, api_url=config.api_url,
                                     web_url=config.web_url, verbose=False)
    return hub.Client(config=client_config)


def connect(api_token: Optional[str] = None, probe_timeout: float = PROBE_TIMEOUT_S,
            token_source: str = "--api-token"):
    """Resolve the token, probe the service, and return ``(client, config)``."""
    require_client()
    config = resolve_config(api_token, token_source)
    probe(config, probe_timeout)
    return make_client(config), config
