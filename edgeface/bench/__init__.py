"""Latency measured on this host, on a phone over adb, on Qualcomm AI Hub, or estimated
for a device profile; every backend reports a :class:`~edgeface.bench.result.BenchResult`."""
