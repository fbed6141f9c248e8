"""``invoke bench``: timing figures of the real commands and of the library at scale (:mod:`buildmatrix.bench`)."""

from __future__ import annotations

from pathlib import Path

from ..errors import EXIT_OK
from . import common as cli


@cli.guarded
def cmd_bench(root: str | Path) -> int:
    """Print the figures; exit 0 (a benchmark has nothing to fail but its own errors)."""
    from .. import bench

    for line in bench.run(Path(root)):
        print(line, flush=True)
    return EXIT_OK
