"""A constant-velocity Kalman filter on a face box, stepped by the real time between
frames so that dropped frames and irregular timestamps only widen the prediction.

State: centre x, centre y, width, height and their rates (pixels, pixels per second).
Noise is relative to the box size, so one setting fits near and far faces: the detector
is trusted to about ``measurement_std`` box sizes, and the motion may change by about
``acceleration_std`` box sizes per second squared (white-noise acceleration).
"""

from __future__ import annotations

import numpy as np

_H = np.hstack([np.eye(4), np.zeros((4, 4))])  # we measure the box, not its rates


def box_to_state(box) -> np.ndarray:
    x0, y0, x1, y1 = (float(v) for v in box)
    return np.array([(x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0])


def state_to_box(z: np.ndarray) -> np.ndarray:
    cx, cy, w, h = z[:4]
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])


class BoxKalman:
    def __init__(self, box, measurement_std: float = 0.05, acceleration_std: float = 3.0,
                 initial_velocity_std: float = 1.5):
        self.measurement_std = measurement_std
        self.acceleration_std = acceleration_std
        z = box_to_state(box)
        size = self.size_of(z)
        self.x = np.concatenate([z, np.zeros(4)])
        # Position as uncertain as one measurement; the rates unknown (about
        # initial_velocity_std box sizes per second) until a second detection.
        self.P = np.diag(np.r_[np.full(4, (measurement_std * size) ** 2),
                               np.full(4, (initial_velocity_std * size) ** 2)])

    @staticmethod
    def size_of(z: np.ndarray) -> float:
        return float(np.sqrt(max(z[2], 1.0) * max(z[3], 1.0)))

    @property
    def size(self) -> float:
        return self.size_of(self.x)

    @property
    def box(self) -> np.ndarray:
        return state_to_box(self.x)

    @property
    def velocity(self) -> np.ndarray:
        """Centre and size rates, pixels per second."""
        return self.x[4:].copy()

    def predict(self, dt_s: float) -> np.ndarray:
        """Move the state ``dt_s`` seconds ahead; returns the predicted box."""
        if dt_s > 0:
            f = np.array([[1.0, dt_s], [0.0, 1.0]])
            # Continuous white-noise acceleration, integrated over dt.
            q = (self.acceleration_std * self.size) ** 2 * np.array(
                [[dt_s ** 3 / 3, dt_s ** 2 / 2], [dt_s ** 2 / 2, dt_s]])
            F = np.kron(f, np.eye(4))
            self.x = F @ self.x
            self.P = F @ self.P @ F.T + np.kron(q, np.eye(4))
            self.x[2:4] = np.maximum(self.x[2:4], 1.0)  # a box never turns inside out
        return self.box

    def update(self, box) -> np.ndarray:
        """Fold in a detected box; returns the corrected box."""
        z = box_to_state(box)
        R = np.eye(4) * (self.measurement_std * self.size_of(z)) ** 2
        S = _H @ self.P @ _H.T + R
        K = np.linalg.solve(S, _H @ self.P).T  # P H^T S^-1 (S and P are symmetric)
        self.x = self.x + K @ (z - _H @ self.x)
        self.P = (np.eye(8) - K @ _H) @ self.P
        return self.box
