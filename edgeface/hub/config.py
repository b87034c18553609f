"""The AI Hub token and service address, and a fast check that the service answers.

The token comes from ``--api-token`` or from the client's own configuration file, which
``qai-hub configure --api_token TOKEN`` writes: ``$QAIHUB_CLIENT_INI`` when set, else
``~/.qai_hub/client.ini`` (section ``[api]``: ``api_token``, ``api_url``, ``web_url``).

Without a network the client retries each request for minutes; :func:`probe` asks the
service once, with a timeout of a few seconds, before any job is submitted, so a missing
network, a wrong address or a rejected token is reported at once.
"""

from __future__ import annotations

import configparser
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from edgeface.hub import NO_TOKEN, HubAuthError, HubError, HubUnreachableError, require_client

CLIENT_INI_ENV = "QAIHUB_CLIENT_INI"
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


def resolve_config(api_token: Optional[str] = None) -> HubConfig:
    """The token (``api_token``, else the client's configuration file) and the service URLs
    (the file's, else Qualcomm's). Raises ``HubAuthError`` with what to do when there is no token."""
    path = client_ini_path()
    ini = _read_ini(path)
    token = (api_token or "").strip()
    source = "--api-token"
    if not token:
        token = (ini.get("api_token") or "").strip()
        source = str(path)
    if not token:
        raise HubAuthError(NO_TOKEN)
    api_url = (ini.get("api_url") or DEFAULT_URL).strip()
    web_url = (ini.get("web_url") or api_url).strip()
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
            f"token at {TOKEN_URL} and run `qai-hub configure --api_token TOKEN` or pass --api-token")
    if status >= 500:
        raise HubError(f"Qualcomm AI Hub at {config.api_url} answered HTTP {status}: the service is "
                       f"unavailable right now; try again later")


def make_client(config: HubConfig):
    """A ``qai_hub.Client`` for ``config``, quiet (no progress bars on stdout)."""
    hub = require_client()
    client_config = hub.ClientConfig(api_token=config.api_token, api_url=config.api_url,
                                     web_url=config.web_url, verbose=False)
    return hub.Client(config=client_config)


def connect(api_token: Optional[str] = None, probe_timeout: float = PROBE_TIMEOUT_S):
    """Resolve the token, probe the service, and return ``(client, config)``."""
    require_client()
    config = resolve_config(api_token)
    probe(config, probe_timeout)
    return make_client(config), config
