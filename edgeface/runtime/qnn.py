"""onnxruntime's Qualcomm QNN execution provider (extra ``qnn``), HTP backend.

``onnxruntime-qnn`` ships the provider as a plugin library with Qualcomm's HTP libraries.
On a Snapdragon it runs models on the Hexagon NPU; on x86_64 the same HTP backend is a
simulator, so numerical parity can be checked here (its timings mean nothing). The
library is registered with onnxruntime once per process.
"""

from __future__ import annotations

import functools
import sys

from edgeface.errors import BackendUnavailableError

PROVIDER = "QNNExecutionProvider"
INSTALL_HINT = "pip install 'edgeface[qnn]' (onnxruntime-qnn)"


@functools.cache
def qnn_devices() -> tuple:
    """The QNN provider's onnxruntime EP devices, after registering its library."""
    try:
        import onnxruntime as ort
        import onnxruntime_qnn
    except ImportError:
        if sys.platform == "darwin":
            raise BackendUnavailableError("the Qualcomm HTP compiler and simulator (onnxruntime-qnn) have no macOS "
                                          "build: compile on Linux or Windows, or use Qualcomm AI Hub "
                                          "(edgeface hub)") from None
        raise BackendUnavailableError(f"the Qualcomm HTP needs the qnn extra: {INSTALL_HINT}") from None
    if PROVIDER not in ort.get_available_providers():
        ort.register_execution_provider_library(PROVIDER, onnxruntime_qnn.get_library_path())
    devices = tuple(d for d in ort.get_ep_devices() if d.ep_name == PROVIDER)
    if not devices:
        raise BackendUnavailableError(f"onnxruntime lists no {PROVIDER} device after registering "
                                      f"{onnxruntime_qnn.get_library_path()}: reinstall {INSTALL_HINT}")
    return devices


def add_htp(options, **provider_options: str) -> None:
    """Put the QNN HTP backend on ``options`` (an ``onnxruntime.SessionOptions``)."""
    options.add_provider_for_devices(list(qnn_devices()), {"backend_type": "htp", **provider_options})


def available() -> bool:
    try:
        qnn_devices()
    except BackendUnavailableError:
        return False
    return True
