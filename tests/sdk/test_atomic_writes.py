"""The SDK's whole-or-nothing writes (the acknowledged offset beside a spool, image blobs) leave
no temporary file when the write fails: real files in a child process whose file size limit
(RLIMIT_FSIZE 0) makes every write of a byte fail as a full disk does, after the temporary file
was created."""

from __future__ import annotations

import errno
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="RLIMIT_FSIZE is POSIX")

CHILD = textwrap.dedent(
    """
    import json, resource, signal, sys
    from pathlib import Path
    from runwatch.sdk.blobs import BlobStore, remove_dir
    from runwatch.sdk.spool import write_acked

    run_dir = Path(sys.argv[1])
    spool = run_dir / "spool-p.jsonl"
    blob_dir = run_dir / "blobs" / "p"
    blob_dir.mkdir(parents=True)
    write_acked(spool, 7)  # before the limit: the offset a failed write must keep
    # Past the limit a write fails with EFBIG instead of killing the process with SIGXFSZ.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
    errors = []
    for attempt in range(3):  # a producer retrying on a full disk
        try:
            write_acked(spool, 1000 + attempt)
        except OSError as err:
            errors.append(["acked", err.errno])
        try:
            BlobStore(blob_dir).keep(b"\\x89PNG" + bytes([attempt]) * 100, "image/png")
        except OSError as err:
            errors.append(["blob", err.errno])
    left_in_blobs = sorted(p.name for p in blob_dir.iterdir())
    remove_dir(blob_dir)
    print(json.dumps({"errors": errors, "left_in_blobs": left_in_blobs}))
    """
)


def test_a_failed_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(run_dir)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["errors"] == [["acked", errno.EFBIG], ["blob", errno.EFBIG]] * 3
    assert report["left_in_blobs"] == []
    assert not (run_dir / "blobs" / "p").exists()
    assert sorted(p.name for p in run_dir.iterdir()) == ["blobs", "spool-p.acked"]
    assert (run_dir / "spool-p.acked").read_bytes() == b"7"
