"""Live frames encoded once for every viewer (``server.wire``), checked with the websockets
library's own frame parser and inflater, and on the wire of a real server."""

from __future__ import annotations

import json
import socket
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.frames import Frame as WsFrame
from websockets.frames import Opcode
from websockets.streams import StreamReader
from websockets.sync.client import connect

from runwatch.server.app import create_app
from runwatch.server.serve import bind
from runwatch.server.settings import Settings
from runwatch.server.wire import DEFLATE_MIN, Frame, encode_frame
from tests.servers import ServerProcess, subscribers, wait_until


def parse_frames(data: bytes, inflater: PerMessageDeflate | None) -> list[WsFrame]:
    """Every frame in ``data``, as a client parses and inflates them (one inflater throughout:
    the context takeover browsers agree to)."""
    reader = StreamReader()
    reader.feed_data(data)
    reader.feed_eof()
    out = []
    while reader.buffer:
        parser = WsFrame.parse(
            reader.read_exact, mask=False, extensions=[inflater] if inflater else []
        )
        try:
            next(parser)
        except StopIteration as done:
            out.append(done.value)
    return out


def client_inflater() -> PerMessageDeflate:
    # The client's view: remote = the server, which compresses with a 12-bit window at most.
    return PerMessageDeflate(False, False, 12, 15)


@pytest.mark.parametrize("size", [1, 125, 126, 65_535, 65_536, 300_000])
def test_frame_lengths_and_payloads_round_trip_plain_and_deflated(size: int) -> None:
    text = json.dumps({"seq": size, "pad": "x" * size})
    frame = Frame(text)
    (plain,) = parse_frames(frame.wire(0), None)
    assert plain.opcode is Opcode.TEXT and plain.fin and not plain.rsv1
    assert plain.data.decode() == text
    (deflated,) = parse_frames(frame.wire(12), client_inflater())
    assert deflated.data.decode() == text
    compressed = frame.wire(12)[0] == 0xC1  # RSV1 set
    assert compressed == (len(text) >= DEFLATE_MIN)  # small messages are not worth deflating


def test_a_message_below_the_threshold_goes_plain_even_when_deflate_was_agreed() -> None:
    small, large = b"x" * (DEFLATE_MIN - 1), b"x" * DEFLATE_MIN
    assert encode_frame(small, 12) == encode_frame(small, 0)
    assert encode_frame(small, 0)[0] == 0x81  # FIN, text, RSV1 clear
    assert encode_frame(large, 12)[0] == 0xC1  # RSV1 set: compressed
    assert len(encode_frame(large, 12)) < len(encode_frame(large, 0))


def test_shared_frames_decode_in_any_order_after_any_history() -> None:
    """Each deflated frame stands alone, so one copy suits every connection, whatever that
    connection's inflater saw before."""
    texts = [
        json.dumps({"seq": i, "type": "points", "values": list(range(i, i + 60))}) for i in range(5)
    ]
    frames = [Frame(t) for t in texts]
    for order in ([0, 1, 2, 3, 4], [4, 2, 0, 3, 1]):
        inflater = client_inflater()
        got = [parse_frames(frames[i].wire(12), inflater)[0].data.decode() for i in order]
        assert got == [texts[i] for i in order]
    assert frames[1].wire(12) is frames[1].wire(12)  # encoded once, then shared


# -- on the wire of a real server -------------------------------------------------------------
def read_frames(
    host: str, port: int, path: str, deflate: bool, count: int
) -> list[tuple[bool, bytes]]:
    """A raw client: handshake (offering permessage-deflate as browsers do, or not), then the
    first ``count`` text frames as (compressed, payload), undecoded."""
    offer = (
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
        if deflate
        else ""
    )
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        f"Sec-WebSocket-Version: 13\r\n{offer}\r\n"
    )
    with socket.create_connection((host, port), timeout=20) as sock:
        sock.sendall(request.encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += sock.recv(65536)
        head, buf = buf.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 101")
        assert (b"permessage-deflate" in head.lower()) == deflate
        out: list[tuple[bool, bytes]] = []
        while len(out) < count:
            while len(buf) < 2 or len(buf) < _frame_size(buf):
                chunk = sock.recv(65536)
                assert chunk, "the server closed the connection"
                buf += chunk
            size = _frame_size(buf)
            b0, head_len = buf[0], size - _payload_len(buf)
            if b0 & 0x0F == 0x1:
                out.append((bool(b0 & 0x40), buf[head_len:size]))
            buf = buf[size:]
        return out


def _payload_len(buf: bytes) -> int:
    n = buf[1] & 0x7F
    if n == 126:
        return int.from_bytes(buf[2:4], "big")
    return int.from_bytes(buf[2:10], "big") if n == 127 else n


def _frame_size(buf: bytes) -> int:
    n = buf[1] & 0x7F
    head = 2 if n < 126 else 4 if n == 126 else 10
    return head + _payload_len(buf) if len(buf) >= head else head


def log_wide_batches(server: ServerProcess, run_id: str, n: int) -> None:
    """n batches whose points messages are long and alike (so a stateful compressor would
    refer back to the previous one)."""
    with server.client() as c:
        for i in range(1, n + 1):
            values = {f"metric_{k}": float(i * k) for k in range(12)}
            body = {"producer": "t", "batch_seq": i, "points": [[i, time.time(), values]]}
            assert c.post(f"/api/v1/runs/{run_id}/batches", json=body).status_code == 200


def test_a_served_viewer_offering_deflate_gets_self_contained_compressed_frames(
    server: ServerProcess,
) -> None:
    """``runwatch serve`` deflates each frame once for all viewers: every compressed message
    inflates on its own, with no reference to the ones before it (uvicorn's per-connection
    compressor would refer back to the previous, nearly identical message)."""
    with server.client() as c:
        run_id = c.post("/api/v1/runs", json={"project": "wire"}).json()["id"]
    host, port = server.url.split("//", 1)[1].rsplit(":", 1)
    path = f"/api/v1/runs/{run_id}/live?since=0"
    before = subscribers(server)
    results: dict[bool, list[tuple[bool, bytes]]] = {}
    readers = [
        threading.Thread(
            target=lambda d=d: results.__setitem__(d, read_frames(host, int(port), path, d, 6))
        )
        for d in (True, False)
    ]
    for reader in readers:
        reader.start()
    wait_until(lambda: subscribers(server) >= before + 2, what="both viewers subscribed")
    log_wide_batches(server, run_id, 20)
    for reader in readers:
        reader.join(30)
    deflated, plain = results[True], results[False]
    assert not any(compressed for compressed, _ in plain)
    # The first record (the run's status) is below DEFLATE_MIN; the points messages are not.
    assert sum(compressed for compressed, _ in deflated) >= 4
    alone = [
        zlib.decompressobj(-15).decompress(p + b"\x00\x00\xff\xff") if compressed else p
        for compressed, p in deflated
    ]
    assert all(
        compressed == (len(data) >= DEFLATE_MIN)
        for (compressed, _), data in zip(deflated, alone, strict=True)
    )
    seqs_deflated = [m["seq"] for data in alone for m in _messages(data)]
    seqs_plain = [m["seq"] for _, data in plain for m in _messages(data)]
    assert seqs_deflated[: len(seqs_plain)] == seqs_plain[: len(seqs_deflated)]
    assert seqs_deflated == list(range(seqs_deflated[0], seqs_deflated[0] + len(seqs_deflated)))


def _messages(data: bytes) -> list[dict[str, Any]]:
    decoded = json.loads(data)
    return decoded if isinstance(decoded, list) else [decoded]


# -- under a server without the frame writer --------------------------------------------------
@pytest.fixture
def plain_uvicorn(tmp_path: Path) -> Iterator[str]:
    """The app under uvicorn's own WebSocket protocol, as another deployment might run it."""
    sock = bind("127.0.0.1", 0)
    config = uvicorn.Config(create_app(Settings(data_dir=tmp_path)), log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    wait_until(lambda: server.started, what="uvicorn started")
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(10)


def test_live_falls_back_to_send_text_under_another_server(plain_uvicorn: str) -> None:
    with httpx.Client(base_url=plain_uvicorn, timeout=10) as c:
        run_id = c.post("/api/v1/runs", json={"project": "plain"}).json()["id"]
        ws = plain_uvicorn.replace("http://", "ws://") + f"/api/v1/runs/{run_id}/live?since=0"
        with connect(ws, open_timeout=10) as viewer:
            seqs: list[int] = []
            for i in range(1, 31):
                body = {"producer": "t", "batch_seq": i, "points": [[i, time.time(), {"x": 1.0}]]}
                assert c.post(f"/api/v1/runs/{run_id}/batches", json=body).status_code == 200
            status = {"state": "succeeded", "ts": time.time()}
            c.post(
                f"/api/v1/runs/{run_id}/batches",
                json={"producer": "t", "batch_seq": 31, "status": status},
            )
            kinds: list[str] = []
            while not kinds or kinds[-1] != "run.closed":
                for m in _messages(viewer.recv(timeout=10).encode()):
                    seqs.append(m["seq"])
                    kinds.append(m["type"])
    points = [s for s, k in zip(seqs, kinds, strict=True) if k == "points"]
    assert len(points) == 30
    assert seqs[:-1] == sorted(set(seqs[:-1]))  # each once, in order (run.closed repeats the last)
