"""The `dicomweb` command as a person sees it: run in a real terminal (a tmux pane, 100 columns) against the local
host on Azurite, and the screen read back with tmux capture-pane."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

from tests.test_cli import DICOMWEB, folder, run  # noqa: F401 - the fixture is used by name

WIDTH = 100


def on_screen(tmp_path: Path, *arguments: str, url: str) -> str:
    """The pane's text once `dicomweb <arguments>` has finished in it (tmux wait-for: no sleeping)."""
    socket = f"dicomweb-test-{os.getpid()}-{tmp_path.name}"
    screen = tmp_path / "screen.txt"
    tmux = f"tmux -L {shlex.quote(socket)}"
    command = (f"{shlex.quote(str(DICOMWEB))} {shlex.join(arguments)}; "
               f"{tmux} capture-pane -p > {shlex.quote(str(screen))}; {tmux} wait-for -S done")  # fmt: skip
    env = {name: value for name, value in os.environ.items() if name not in ("COLUMNS", "LINES", "TMUX")}
    env.update(DICOMWEB_URL=url, DICOMWEB_AUTH="none", TERM="xterm-256color")
    subprocess.run([*shlex.split(tmux), "new-session", "-d", "-x", str(WIDTH), "-y", "50", command],
                   env=env, check=True, timeout=30)  # fmt: skip
    try:
        subprocess.run([*shlex.split(tmux), "wait-for", "done"], check=True, timeout=120)
    finally:
        subprocess.run([*shlex.split(tmux), "kill-server"], check=False, timeout=30)
    return screen.read_text()


def test_a_table_fits_the_terminal_and_folds_uids_instead_of_cutting_them(
    folder: dict,  # noqa: F811
    base_url: str,
    tmp_path: Path,
) -> None:
    (folder["root"] / "broken.dcm").unlink()
    assert run(base_url, "upload", str(folder["root"])).returncode == 0
    screen = on_screen(tmp_path, "search", "instances", "--study", folder["study"], url=base_url)
    rows = [line for line in screen.splitlines() if line.startswith("│")]
    assert rows, screen
    assert all(len(line) <= WIDTH for line in screen.splitlines())
    assert "…" not in screen
    first_column = "".join(line.split("│")[1].strip() for line in rows)
    for uid in folder["files"].values():
        assert uid in first_column, screen


def test_the_upload_progress_bar_is_one_line_redrawn_in_place(folder: dict, base_url: str, tmp_path: Path) -> None:  # noqa: F811
    (folder["root"] / "broken.dcm").unlink()
    screen = on_screen(tmp_path, "upload", str(folder["root"]), "--batch-size", "1", "--parallel", "1", url=base_url)
    (bar,) = [line for line in screen.splitlines() if "uploading" in line]
    assert "5/5 files" in bar and "━" in bar, screen
    assert "stored: 5  already stored: 0  failed: 0" in screen
