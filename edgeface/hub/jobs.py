"""Waiting for AI Hub jobs with a deadline, and the client's exceptions as one-line errors.

The client's own ``Job.wait`` polls every 10 s and, without a timeout, waits as long as
the service keeps the job; :func:`wait_for` polls with a short, growing interval and
stops at a deadline shared by every job of a command, saying (through a ``progress``
callback) where the job can be followed on the web as soon as it is submitted, and each
change of its state: a job can wait in AI Hub's queue for many minutes, and a user who
sees nothing until the end cannot tell a queued job from a hung command.
:func:`hub_errors` turns the client's ``UserError`` / ``InternalError`` (multi-line boxes)
and ``requests`` exceptions into one-line :class:`~edgeface.hub.HubError` messages.
"""

from __future__ import annotations

import contextlib
import io
import re
import time
from typing import Callable, Iterator, Optional

from edgeface.hub import (TOKEN_ENV, HubAuthError, HubError, HubJobFailedError, HubTimeoutError,
                          HubUnreachableError, require_client)
from edgeface.hub.config import TOKEN_URL

DEFAULT_TIMEOUT_S = 1800.0
FIRST_POLL_S = 0.5
MAX_POLL_S = 10.0

_BOX = re.compile(r"[┌┐└┘─│|]+")


def one_line(exc: BaseException, limit: int = 300) -> str:
    """The client's message without its text box and line breaks, at most ``limit`` characters."""
    text = _BOX.sub(" ", str(exc))
    text = " ".join(text.split())
    if not text:
        text = type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


class Deadline:
    """Seconds left of a budget that starts now (``None``: the default budget)."""

    def __init__(self, seconds: Optional[float] = None):
        self.seconds = float(DEFAULT_TIMEOUT_S if seconds is None else seconds)
        if self.seconds <= 0:
            raise HubError(f"--timeout {seconds}: give a positive number of seconds")
        self._end = time.monotonic() + self.seconds

    def left(self) -> float:
        return max(0.0, self._end - time.monotonic())


@contextlib.contextmanager
def hub_errors(what: str) -> Iterator[None]:
    """Run client calls for ``what`` ("uploading model.onnx", "the compile job"), their
    printing silenced, their exceptions turned into one-line ``HubError``s."""
    hub = require_client()
    import requests
    from qai_hub.public_rest_api import APIException

    sink = io.StringIO()
    try:
        with contextlib.redirect_stdout(sink):  # the client prints "Downloaded ... to ..." etc.
            yield
    except HubError:
        raise
    except hub.UserError as exc:
        message = one_line(exc)
        if "authenticate" in message or "API token" in message:
            raise HubAuthError(f"{what}: Qualcomm AI Hub rejected the API token (HTTP 401): get a current "
                               f"token at {TOKEN_URL} and run `qai-hub configure --api_token TOKEN` or set "
                               f"${TOKEN_ENV}") from None
        raise HubError(f"{what}: {message}") from None
    except hub.Error as exc:  # InternalError, RateLimitedError
        message = one_line(exc).removeprefix("Internal API failure. ")
        raise HubError(f"{what}: {message}") from None
    except requests.exceptions.RequestException as exc:
        raise HubUnreachableError(f"{what}: lost the connection to Qualcomm AI Hub ({type(exc).__name__}): "
                                  f"check the network and run the command again") from None
    except TimeoutError as exc:
        raise HubTimeoutError(f"{what}: {one_line(exc)}") from None
    except APIException as exc:
        raise HubError(f"{what}: Qualcomm AI Hub answered: {one_line(exc)}") from None
    except (ValueError, KeyError, OSError) as exc:  # the client's own checks and file handling
        raise HubError(f"{what}: {type(exc).__name__}: {one_line(exc)}") from None


Progress = Optional[Callable[[str], None]]


def wait_for(job, deadline: Deadline, what: str, progress: Progress = None) -> None:
    """Poll ``job`` until it finishes; raise ``HubJobFailedError`` with the service's reason
    if it failed, ``HubTimeoutError`` when the deadline passes first. ``progress`` is told
    the job's URL before the first poll, then each new state and the time it took."""
    say = progress or (lambda message: None)
    say(f"{what} {job.job_id} submitted: {job.url}")
    poll, state, start = FIRST_POLL_S, None, time.monotonic()
    while True:
        with hub_errors(what):
            status = job.get_status()
        if status.code != state:
            state = status.code
            say(f"{what} {job.job_id}: {state} after {time.monotonic() - start:.0f} s")
        if status.finished:
            if status.failure:
                reason = (status.message or "no reason given").strip()
                raise HubJobFailedError(f"{what} {job.job_id} failed on Qualcomm AI Hub: {one_line(reason)} "
                                        f"(details: {job.url})")
            return
        left = deadline.left()
        if left <= 0:
            raise HubTimeoutError(
                f"{what} {job.job_id} did not finish within {deadline.seconds:g} s (still {status.code}); "
                f"it goes on on Qualcomm AI Hub ({job.url}): raise --timeout, or look it up there later")
        time.sleep(min(poll, left))
        poll = min(poll * 1.5, MAX_POLL_S)
