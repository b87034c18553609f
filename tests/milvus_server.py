"""A Milvus server for tests: Milvus Lite's gRPC server in a child process, on a free
local port, so that clients reach it over the network protocol a Milvus cluster speaks."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

START_S = 60.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@contextlib.contextmanager
def milvus_server(data_dir: Path):
    """Yields the server's ``milvus://127.0.0.1:PORT`` address (add ``?collection=``)."""
    pytest.importorskip("milvus_lite", reason="the milvus extra is not installed")
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-W", "ignore", "-m", "milvus_lite", "server", "--data-dir",
                               str(data_dir), "--host", "127.0.0.1", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + START_S
        while not _listening(port):
            if server.poll() is not None:
                raise RuntimeError(f"the Milvus Lite server exited: {server.stderr.read().decode()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Milvus Lite server did not listen within {START_S} s")
            time.sleep(0.1)
        yield f"milvus://127.0.0.1:{port}"
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
