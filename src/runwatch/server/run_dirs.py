"""Which directory of a run the server trusts: TensorBoard's logdir, a promoted artifact's root.

A path a producer merely reports (``run_dir`` in its snapshot) is not trusted on its word: any
writer could name ``/etc``. The server reads only a directory it knows belongs to the run.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from runwatch.protocol import RUN_DIR_MARKER
from runwatch.server.scheduler import run_dir_of
from runwatch.store.base import RunInfo


def known_run_dir(run: RunInfo, data_dir: Path) -> Path | None:
    """The run's directory, when the server knows it is one: the directory its scheduler
    launched the run in (under the data dir), or the one the run reports whose producer
    registered it on this machine (a :data:`RUN_DIR_MARKER` file naming the run, written by
    ``runwatch launch`` and by ``runwatch.init``). A path a producer claims without that
    (``/etc``) is None."""
    own = run_dir_of(data_dir, run.id)
    if own.is_dir():
        return own
    claimed = run.snapshot.get("run_dir")
    if not isinstance(claimed, str) or not os.path.isabs(claimed):
        return None
    marker = Path(claimed) / RUN_DIR_MARKER
    try:
        # Not followed: a link could point at any file that happens to name the run.
        info = os.lstat(marker)
        if not stat.S_ISREG(info.st_mode) or info.st_size > 256:
            return None
        if marker.read_text(encoding="utf-8").strip() != run.id:
            return None
    except (OSError, UnicodeDecodeError):
        return None
    return Path(claimed).resolve()
