"""Live frames encoded once for every viewer (``server.wire``), checked with the websockets
library's own frame parser and inflater, and on the wire of a real server."""

from __future__ import annotations

import contextlib
import json
import logging
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
from uvicorn.protocols.http.h11_impl import H11Protocol
from websockets.extensions.permessage_deflate import PerMessageDeflate
from websockets.frames import Frame as WsFrame
from websockets.frames import Opcode
from websockets.streams import StreamReader
from websockets.sync.client import connect

from runwatch.server.app import create_app
from runwatch.server.frame_protocol import FrameProtocol, missing_support
from runwatch.server.serve import bind, websocket_protocol
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
class RawViewer:
    """A raw client socket: handshake (offering permessage-deflate as browsers do, or not), then
    a thread keeps every frame the server sends, undecoded, until its close frame."""

    def __init__(self, host: str, port: int, path: str, deflate: bool) -> None:
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
        self.sock = socket.create_connection((host, port), timeout=20)
        self.sock.sendall(request.encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            buf += self.sock.recv(65536)
        head, self._buf = buf.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 101")
        assert (b"permessage-deflate" in head.lower()) == deflate
        self.frames: list[tuple[int, bytes]] = []  # (first byte, payload)
        self.closed = False  # the server's close frame arrived
        self._thread = threading.Thread(target=self._read)
        self._thread.start()

    def _read(self) -> None:
        buf = self._buf
        while True:
            while len(buf) >= 2 and len(buf) >= _frame_size(buf):
                size = _frame_size(buf)
                self.frames.append((buf[0], buf[size - _payload_len(buf) : size]))
                if buf[0] & 0x0F == 0x8:
                    self.closed = True
                    return
                buf = buf[size:]
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                return  # the test failed or timed out and closed the socket
            if not chunk:
                return
            buf += chunk

    def texts(self) -> list[tuple[bool, bytes]]:
        """The text messages so far as (compressed, payload as sent): each one frame."""
        out = []
        for first, payload in list(self.frames):
            if first & 0x08:
                continue  # a control frame: close, ping, pong
            assert first & 0x8F == 0x81, f"not a whole text message: {first:#x}"  # FIN, text
            out.append((bool(first & 0x40), payload))
        return out

    def messages(self) -> list[dict[str, Any]]:
        """Every message so far, each compressed frame inflated on its own."""
        return [m for data in map(inflate_alone, self.texts()) for m in _messages(data)]

    def last_seq(self) -> int:
        """The seq of the last message so far (0: none yet)."""
        messages = self.messages()
        return int(messages[-1]["seq"]) if messages else 0

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the thread if it still waits in recv
        self.sock.close()
        self._thread.join(10)


def inflate_alone(text: tuple[bool, bytes]) -> bytes:
    """A frame's message, inflated with a fresh inflater (no earlier message to refer to)."""
    compressed, payload = text
    return (
        zlib.decompressobj(-15).decompress(payload + b"\x00\x00\xff\xff") if compressed else payload
    )


def _payload_len(buf: bytes) -> int:
    n = buf[1] & 0x7F
    if n == 126:
        return int.from_bytes(buf[2:4], "big")
    return int.from_bytes(buf[2:10], "big") if n == 127 else n


def _frame_size(buf: bytes) -> int:
    n = buf[1] & 0x7F
    head = 2 if n < 126 else 4 if n == 126 else 10
    return head + _payload_len(buf) if len(buf) >= head else head


def wide_batch(i: int) -> dict[str, Any]:
    """A batch whose points message is long and like the previous one (so a stateful
    compressor would refer back to it)."""
    values = {f"metric_{k}": float(i * k) for k in range(12)}
    return {"producer": "t", "batch_seq": i, "points": [[i, time.time(), values]]}


def test_a_served_viewer_offering_deflate_gets_self_contained_compressed_frames(
    server: ServerProcess,
) -> None:
    """``runwatch serve`` deflates each frame once for all viewers: every compressed message
    inflates on its own, with no reference to the ones before it (uvicorn's per-connection
    compressor would refer back to the previous, nearly identical message)."""
    batches = 20
    with server.client() as c:
        run_id = c.post("/api/v1/runs", json={"project": "wire"}).json()["id"]
    host, port = server.url.split("//", 1)[1].rsplit(":", 1)
    path = f"/api/v1/runs/{run_id}/live?since=0"
    before = subscribers(server)
    viewers = [RawViewer(host, int(port), path, deflate) for deflate in (True, False)]
    try:
        wait_until(lambda: subscribers(server) >= before + 2, what="both viewers subscribed")
        with server.client() as c:
            batch_url = f"/api/v1/runs/{run_id}/batches"
            for i in range(1, batches + 1):
                assert c.post(batch_url, json=wide_batch(i)).status_code == 200
                # Each record reaches both viewers before the next is logged: one message per
                # frame, each next to its near twin.
                wait_until(
                    lambda i=i: all(v.last_seq() == i + 1 for v in viewers),
                    what=f"batch {i} at both viewers",
                )
            final = {"state": "succeeded", "ts": time.time()}
            body = {"producer": "t", "batch_seq": batches + 1, "status": final}
            assert c.post(batch_url, json=body).status_code == 200
        wait_until(lambda: all(v.closed for v in viewers), what="both streams closed")
    finally:
        for viewer in viewers:
            viewer.close()
    deflated, plain = viewers
    assert not any(compressed for compressed, _ in plain.texts())
    # The status messages are below DEFLATE_MIN; every points message is above it.
    assert sum(compressed for compressed, _ in deflated.texts()) == batches
    assert all(
        compressed == (len(inflate_alone((compressed, p))) >= DEFLATE_MIN)
        for compressed, p in deflated.texts()
    )
    assert deflated.messages() == plain.messages()
    messages = deflated.messages()
    # Every record once, in order: the run's status, the batches, the final status; then the
    # end of the stream, which repeats the last seq.
    records = 1 + batches + 1
    assert [m["seq"] for m in messages[:-1]] == list(range(1, records + 1))
    kinds = [m["type"] for m in messages]
    assert kinds == ["status", *["points"] * batches, "status", "run.closed"]
    assert messages[-2]["state"] == "succeeded" and messages[-1]["seq"] == records


def _messages(data: bytes) -> list[dict[str, Any]]:
    decoded = json.loads(data)
    return decoded if isinstance(decoded, list) else [decoded]


# -- what the installed uvicorn offers ---------------------------------------------------------
def test_the_installed_uvicorn_has_what_shared_frames_rely_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """If this fails, a uvicorn release changed the private parts ``server.frame_protocol``
    uses: ``runwatch serve`` still starts (see the next test), but without shared frames."""
    problem = missing_support(FrameProtocol)
    assert problem is None, f"uvicorn {uvicorn.__version__}: {problem}"
    with caplog.at_level(logging.WARNING):
        assert websocket_protocol() is FrameProtocol
    assert not caplog.records


class WritableRenamed(FrameProtocol):
    """As a uvicorn release might have it: what FrameWriter waits on is called otherwise."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.can_write = self.__dict__.pop("writable")


def test_a_protocol_lacking_what_frames_rely_on_makes_serve_fall_back_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert missing_support(WritableRenamed) == "WritableRenamed has changed: no writable"
    # uvicorn's HTTP protocol: none of the WebSocket state (its conn is h11's), no handshake.
    problem = missing_support(H11Protocol)
    assert problem is not None and problem.startswith("H11Protocol has changed: ")
    for name in ("writable", "disconnected", "close_sent", "response", "scope"):
        assert f"no {name}," in f"{problem},"
    assert "conn is Connection, not ServerProtocol" in problem
    with caplog.at_level(logging.WARNING):
        assert websocket_protocol(WritableRenamed) == "auto"  # uvicorn's own, send_text
    (warning,) = caplog.records
    assert warning.levelno == logging.WARNING
    assert f"uvicorn {uvicorn.__version__}" in warning.getMessage()
    assert "no writable" in warning.getMessage()


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
