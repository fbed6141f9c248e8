"""Hardware detection: which variants of variants.toml run on this host, and which one to pick.

host: the records detection fills; cpu / gpu: the two probes; fit: one variant against a host;
choice: the recommendation; probe: detection end to end and its text (``python -m buildmatrix.detect``).
"""
