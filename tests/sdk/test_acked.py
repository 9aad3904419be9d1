"""The acknowledged position (``spool-<producer>.acked``) only ever names what the server holds,
in the spool as it is now: two `runwatch sync` processes of one spool never move it backwards,
and a sync beside a live producer never records a position of the spool from before the
producer cut it back to its header (which would skip the batches spooled after the cut). Real
`runwatch sync` processes, a real producer process, a real server behind proxies that hold
chosen requests back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

from runwatch.sdk.run import Run
from runwatch.sdk.sender import SenderConfig
from runwatch.sdk.spool import read_acked
from tests.proxy import RecordingProxy
from tests.reliability.test_burst import stored, with_repo_on_path
from tests.servers import ServerProcess, wait_until

ONE_BY_ONE = SenderConfig(vitals_interval=0, max_batch_records=1)
BATCHES = 8


def sync_process(spool: Path, url: str, log: Path) -> subprocess.Popen[str]:
    """A `runwatch sync` of one spool, its output in ``log`` (read while it runs)."""
    with log.open("w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "runwatch", "sync", str(spool), "--url", url],
            stdout=out, stderr=subprocess.STDOUT, text=True, env=with_repo_on_path(),
        )  # fmt: skip


class Gate:
    """For a proxy's ``before``: the ``hold``-th batch post waits until :meth:`open` (noted in
    ``held``), and the ``drop``-th is dropped unanswered (a server lost mid-sync)."""

    def __init__(self, hold: int, drop: int = 0) -> None:
        self.hold, self.drop = hold, drop
        self.posts = 0
        self.held = threading.Event()
        self._open = threading.Event()

    def open(self) -> None:
        self._open.set()

    def __call__(self, method: str, path: str) -> bool:
        if not path.endswith("/batches"):
            return True
        self.posts += 1
        if self.posts == self.hold:
            self.held.set()
            assert self._open.wait(120)
        return self.posts != self.drop


def test_two_syncs_of_one_spool_never_move_the_acknowledged_position_back(
    tmp_path: Path,
) -> None:
    server = ServerProcess(tmp_path / "data")  # not started: the producer runs offline
    run = Run(
        {"id": "acked01", "project": "p", "name": "acked01", "tags": [], "config": {}},
        [server.url], None, tmp_path / "run", ONE_BY_ONE,
    )  # fmt: skip
    for step in range(BATCHES):
        run.log({"loss": float(step)}, step=step)
    assert not run.finish(timeout=0.5)
    spool = run.spool_path
    server.start()
    gate = Gate(hold=2, drop=3)  # the first sync: its second batch waits, its third is lost
    first = second = None
    try:
        with RecordingProxy(server.url, before=gate) as proxy:
            first = sync_process(spool, proxy.url, tmp_path / "first.log")
            assert gate.held.wait(60)
            second = sync_process(spool, server.url, tmp_path / "second.log")
            wait_until(
                lambda: (
                    second.poll() is not None
                    or "another runwatch sync" in (tmp_path / "second.log").read_text()
                ),
                60,
                what="the second sync done, or waiting for the first",
            )
            seen = [read_acked(spool)]
            gate.open()
            assert first.wait(60) == 1  # its third batch went unanswered
            seen.append(read_acked(spool))
            assert second.wait(60) == 0, (tmp_path / "second.log").read_text()
            seen.append(read_acked(spool))
        assert seen == sorted(seen), seen  # never backwards
        assert "another runwatch sync is sending it" in (tmp_path / "second.log").read_text()
        assert seen[-1] == spool.stat().st_size
        again = subprocess.run(
            [sys.executable, "-m", "runwatch", "sync", str(spool), "--url", server.url],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert again.returncode == 0, again.stderr
        assert "nothing to send" in again.stdout
        assert stored(server, "acked01") == BATCHES  # each point once
    finally:
        for sync in (first, second):
            if sync is not None and sync.poll() is None:
                sync.kill()
                sync.wait(10)
        server.stop()


PHASE_ONE = 4_000  # rows of 50 values: ~6 MiB spooled, past outbox.COMPACT_BYTES
PHASE_TWO = 40


def test_a_sync_beside_a_producer_cutting_its_spool_skips_nothing_spooled_after_the_cut(
    tmp_path: Path,
) -> None:
    server = ServerProcess(tmp_path / "data").start()
    run_dir = tmp_path / "run"
    hold = threading.Event()
    hold.set()
    script = tmp_path / "producer.py"
    script.write_text(
        textwrap.dedent(f"""
            import sys
            from pathlib import Path
            from runwatch.sdk.run import Run
            from runwatch.sdk.sender import SenderConfig
            from tests.servers import wait_until
            config = SenderConfig(vitals_interval=0, backoff_base=0.02, backoff_cap=0.05,
                                  max_batch_records=200, flush_interval=1.0)
            spec = {{"id": "cut01", "project": "p", "name": "cut01", "tags": [], "config": {{}}}}
            run = Run(spec, [sys.argv[1]], None, Path({str(run_dir)!r}), config)
            for step in range({PHASE_ONE}):
                run.log({{f"k{{i}}": step + i / 7 for i in range(50)}}, step=step)
            wait_until(lambda: run._sender.taken == {PHASE_ONE}, 60, what="phase one spooled")
            print(run.spool_path, flush=True)
            sys.stdin.readline()  # its batches go through now
            wait_until(lambda: run._sender.unsent() == 0, 120, what="phase one acknowledged")
            print("acknowledged", flush=True)
            sys.stdin.readline()  # held back again: what follows stays unsent
            for step in range({PHASE_ONE}, {PHASE_ONE + PHASE_TWO}):
                run.log({{"late": float(step)}}, step=step)
            wait_until(lambda: run._sender.taken == {PHASE_ONE + PHASE_TWO}, 60, what="spooled")
            print("spooled", flush=True)
            sys.stdin.readline()
        """)
    )
    gate = Gate(hold=2)
    sync = None
    with (
        RecordingProxy(
            server.url, refuse=lambda m, p, b: hold.is_set() and p.endswith("/batches")
        ) as producer_proxy,
        RecordingProxy(server.url, before=gate) as sync_proxy,
    ):
        producer = subprocess.Popen(
            [sys.executable, str(script), producer_proxy.url], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=with_repo_on_path(),
        )  # fmt: skip
        try:
            assert producer.stdin is not None and producer.stdout is not None
            spool = Path(producer.stdout.readline().strip())
            # A sync from the spool's start: its second batch waits in the proxy.
            sync = sync_process(spool, sync_proxy.url, tmp_path / "sync.log")
            assert gate.held.wait(60)
            hold.clear()
            producer.stdin.write("go\n")
            producer.stdin.flush()
            assert producer.stdout.readline() == "acknowledged\n"
            hold.set()
            producer.stdin.write("go\n")
            producer.stdin.flush()
            assert producer.stdout.readline() == "spooled\n"
            gate.open()
            sync.wait(120)
            os.kill(producer.pid, signal.SIGKILL)  # before it records its own acknowledgements
            producer.wait(10)
            assert stored(server, "cut01", "k0") == PHASE_ONE
            again = subprocess.run(
                [sys.executable, "-m", "runwatch", "sync", str(spool), "--url", server.url],
                capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert again.returncode == 0, again.stderr
            assert stored(server, "cut01", "late") == PHASE_TWO, again.stdout
            assert stored(server, "cut01", "k0") == PHASE_ONE
        finally:
            if sync is not None and sync.poll() is None:
                sync.kill()
                sync.wait(10)
            if producer.poll() is None:
                producer.kill()
            producer.communicate(timeout=10)
            server.stop()
