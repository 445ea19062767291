"""A large store and retrieve stream: the server's memory does not grow with the file.

`make bigfile` runs the same at 2 GiB and prints the figures; this runs it at 256 MiB in `make test`.
"""

from __future__ import annotations

from pathlib import Path

from bench.bigfile import run


def test_a_256_mib_store_and_retrieve_do_not_grow_server_memory_with_the_file(tmp_path: Path) -> None:
    figures = run(256 * 2**20, tmp_path)
    print(figures)
    assert figures["file_mib"] >= 256
    # Buffers are bounded (8 MiB spool chunks, 4 MiB blob blocks); a tenth of the file is far above them.
    assert figures["server_growth_mib"] < figures["file_mib"] / 10
