"""The one-euro filter (Casiez, Roussel and Vogel, CHI 2012): an exponential smoother
whose cutoff frequency rises with speed, so a still face stops jittering while a moving
one is followed without visible lag.

    cutoff = min_cutoff + beta * |speed| / scale

Speeds are divided by ``scale`` (the face size in pixels here) so that ``beta`` is in
face sizes per second and one setting suits near and far faces.

Given the value's own ``velocity`` (the tracker's Kalman estimate), the filter smooths
in the moving frame: the last output is first carried forward by that velocity, and the
speed that opens the cutoff is the departure from it. A face moving steadily is then
followed without the lag a plain low-pass filter has on a ramp, while jitter around its
path is still smoothed away.
"""

from __future__ import annotations

import math

import numpy as np


def _alpha(cutoff, dt_s: float):
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt_s)


class OneEuroFilter:
    def __init__(self, min_cutoff: float = 1.0, beta: float = 1.0, d_cutoff: float = 1.0):
        self.min_cutoff = min_cutoff
        self.beta = beta
        self.d_cutoff = d_cutoff
        self._value: np.ndarray | None = None
        self._speed: np.ndarray | None = None
        self._t_s = 0.0

    def __call__(self, value, t_s: float, scale: float = 1.0, velocity=None) -> np.ndarray:
        """The filtered ``value`` (any array shape) at time ``t_s`` seconds; ``velocity``
        (same shape, units per second) is the expected rate of change, if known."""
        value = np.asarray(value, np.float64)
        if self._value is None:
            self._value, self._speed, self._t_s = value.copy(), np.zeros_like(value), t_s
            return value.copy()
        dt_s = t_s - self._t_s
        if dt_s <= 0:  # the same instant again: nothing new to follow
            return self._value.copy()
        if velocity is not None:
            self._value += np.asarray(velocity, np.float64) * dt_s
        speed = (value - self._value) / dt_s
        self._speed += _alpha(self.d_cutoff, dt_s) * (speed - self._speed)
        cutoff = self.min_cutoff + self.beta * np.abs(self._speed) / max(scale, 1e-6)
        self._value += _alpha(cutoff, dt_s) * (value - self._value)
        self._t_s = t_s
        return self._value.copy()
