"""Live frames encoded once for every viewer: framed (and deflated) per frame, not per socket.

uvicorn frames every ``send_text`` afresh for its connection and, with permessage-deflate
(every browser offers it), compresses it again in that connection's own zlib stream: 1,000
viewers of a run cost 1,000 encodings and compressions of the same delta. A :class:`Frame` is
encoded at most once per wire form (plain, or deflated with a given window) and the very same
bytes are written to every socket. Sharing deflated bytes is valid even with the context
takeover the client agreed to: each message comes from a fresh compressor and so refers to no
earlier message, a choice RFC 7692 leaves to the sender.

:class:`~runwatch.server.frame_protocol.FrameProtocol` (uvicorn's websockets-sansio protocol)
puts a :class:`FrameWriter` into each connection's ASGI scope (``scope["extensions"]``);
``runwatch serve`` runs with it when the installed uvicorn allows. Otherwise, and under another
server, the extension is absent and the live route sends with ``send_text`` instead.
"""

from __future__ import annotations

import asyncio
import zlib
from typing import Any, Protocol

from starlette.websockets import WebSocketDisconnect
from websockets.extensions.permessage_deflate import PerMessageDeflate

EXTENSION = "runwatch.frame_writer"
# Below this many bytes a message goes uncompressed (RSV1 clear; RFC 7692 allows it per message):
# deflating a tiny message costs more than it saves.
DEFLATE_MIN = 128
TEXT, TEXT_DEFLATED = 0x81, 0xC1  # FIN + opcode text, and the same with RSV1 (compressed)


class Frame:
    """One text message, its wire bytes built on first use per window size and then shared."""

    __slots__ = ("_wire", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._wire: dict[int, bytes] = {}

    def wire(self, window_bits: int) -> bytes:
        """The whole frame, header included; ``window_bits`` 0: not compressed."""
        data = self._wire.get(window_bits)
        if data is None:
            data = self._wire[window_bits] = encode_frame(self.text.encode(), window_bits)
        return data


def encode_frame(payload: bytes, window_bits: int) -> bytes:
    """A server (unmasked) text frame; deflated when ``window_bits`` and the size warrant it."""
    first = TEXT
    if window_bits and len(payload) >= DEFLATE_MIN:
        compressor = zlib.compressobj(wbits=-window_bits)
        deflated = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
        first, payload = TEXT_DEFLATED, deflated[:-4]  # RFC 7692 drops the 00 00 ff ff tail
    n = len(payload)
    if n < 126:
        return bytes((first, n)) + payload
    if n < 1 << 16:
        return bytes((first, 126)) + n.to_bytes(2, "big") + payload
    return bytes((first, 127)) + n.to_bytes(8, "big") + payload


def deflate_window(extensions: list[Any]) -> int:
    """The window our messages may use under the agreed extensions; 0: send them plain."""
    for extension in extensions:
        if isinstance(extension, PerMessageDeflate):
            return int(extension.local_max_window_bits)  # 9..15: websockets refuses 8
    return 0


class Connection(Protocol):
    """What a :class:`FrameWriter` uses of the server's protocol object for one connection."""

    transport: asyncio.Transport
    writable: asyncio.Event  # clear while the transport has paused writing
    disconnected: bool
    close_sent: bool


class FrameWriter:
    """Writes shared frames straight to one connection's transport.

    Once a route writes through it, every data frame of the connection must: uvicorn's own
    compressor assumes the client's inflater saw only its messages."""

    __slots__ = ("_protocol", "window_bits")

    def __init__(self, protocol: Connection, window_bits: int) -> None:
        self._protocol = protocol
        self.window_bits = window_bits

    def writable(self, max_buffered: int) -> bool:
        """True when a frame can be written now without growing the kernel-side backlog past
        ``max_buffered`` bytes (and the connection is open)."""
        p = self._protocol
        return (
            not p.disconnected
            and not p.close_sent
            and p.writable.is_set()
            and not p.transport.is_closing()  # closed but not yet told: a write would raise
            and p.transport.get_write_buffer_size() <= max_buffered
        )

    def write(self, frame: Frame) -> None:
        """Write now, whatever is buffered: callers check :meth:`writable` first."""
        self._protocol.transport.write(frame.wire(self.window_bits))

    async def send(self, frame: Frame) -> None:
        """Write once the transport accepts more, as ``send_text`` does."""
        p = self._protocol
        await p.writable.wait()
        if p.disconnected or p.close_sent or p.transport.is_closing():
            raise WebSocketDisconnect(1006)
        self.write(frame)


def frame_writer(scope: Any) -> FrameWriter | None:
    """The connection's writer when the server offers one."""
    writer = (scope.get("extensions") or {}).get(EXTENSION)
    return writer if isinstance(writer, FrameWriter) else None
