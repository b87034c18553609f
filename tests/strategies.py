"""Hypothesis strategies shared by the tests of untrusted inputs."""

from __future__ import annotations

from hypothesis import strategies as st

# Any scalar a YAML config can hold: null, booleans, integers of any size PyYAML builds
# (up to Python's 4,300-digit limit), floats with NaN and infinities, and strings.
yaml_scalars = (st.none() | st.booleans() | st.integers() | st.integers(-10**500, 10**500)
                | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=300))
