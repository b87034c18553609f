"""Qualcomm AI Hub jobs: compile, profile and run models on real Snapdragon devices.

Everything goes through Qualcomm's own ``qai-hub`` client (the ``hub`` extra), imported
only when a job is about to run. What this package adds around it:

- :mod:`edgeface.hub.config`: the API token (the client's ``client.ini`` /
  ``$QAIHUB_CLIENT_INI``, or an explicit token) and a probe of the service that fails in
  seconds, not after the client's minutes of retries, with one line saying what to do;
- :mod:`edgeface.hub.devices`: ``--device`` as an AI Hub device name, a SoC part number
  (SM8650 -> every device with that chipset) or a device profile id;
- :mod:`edgeface.hub.jobs`: waiting with a deadline, and the client's exceptions as one-line
  :class:`HubError` messages;
- :mod:`edgeface.hub.compile`, :mod:`edgeface.hub.profile`, :mod:`edgeface.hub.infer`: the
  three jobs; a profile becomes an :class:`edgeface.bench.result.BenchResult`, an inference
  a :class:`edgeface.quantization.fidelity.FidelityReport` against the local model.
"""

from __future__ import annotations

from edgeface.errors import EdgefaceError

INSTALL_HINT = "Qualcomm AI Hub needs the hub extra: pip install 'edgeface[hub]'"
TOKEN_ENV = "EDGEFACE_HUB_TOKEN"  # the token, kept off command lines (the qai-hub client reads no variable)
NO_TOKEN = (f"no Qualcomm AI Hub token: run `qai-hub configure --api_token TOKEN`, set ${TOKEN_ENV} or pass "
            f"--api-token-file (get one at https://aihub.qualcomm.com)")


class HubError(EdgefaceError):
    """An AI Hub job cannot run or failed: no client, no token, no network, a failed job."""


class HubNotInstalledError(HubError):
    """The ``qai-hub`` client is not installed."""


class HubAuthError(HubError):
    """No API token, or the service rejected it."""


class HubUnreachableError(HubError):
    """The service cannot be reached (no network, a proxy, a wrong api_url)."""


class HubJobFailedError(HubError):
    """AI Hub ran the job and it failed; the message carries the service's reason."""


class HubTimeoutError(HubError):
    """A job did not finish within the time given."""


def require_client():
    """The ``qai_hub`` module, or ``HubNotInstalledError`` with the install line."""
    try:
        import qai_hub
    except ImportError:
        raise HubNotInstalledError(INSTALL_HINT) from None
    return qai_hub


__all__ = ["HubError", "HubNotInstalledError", "HubAuthError", "HubUnreachableError",
           "HubJobFailedError", "HubTimeoutError", "require_client", "INSTALL_HINT", "NO_TOKEN", "TOKEN_ENV"]
