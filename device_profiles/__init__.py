"""Data, not code: the SoC table (``socs.yaml``) and one profile per real device.

Installed as the package ``edgeface.device_profiles`` so the files travel with edgeface;
read them through :mod:`edgeface.socs` and :mod:`edgeface.bench.profiles`.
"""
