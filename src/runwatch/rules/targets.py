"""Where a webhook may be delivered: no server-side request forgery.

A webhook URL is checked in full when a rule is saved (:func:`check_url`: http or https, a
host httpx can connect to, a valid port), and its target twice: when saved, for addresses
written in the URL (in any spelling: ``0x7f000001`` is 127.0.0.1) and ``localhost`` names; and
at every delivery, after DNS resolution, for every address the name resolves to. The request
then goes to an address that was checked (a second lookup could answer differently), with the
URL's host in ``Host`` and, for https, in TLS (SNI and certificate check).

Loopback, link-local, private and other non-public addresses are refused unless the operator
allows their network (``runwatch serve --webhook-allow 10.0.0.0/8,…``).
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import httpx

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
_NUMERIC_HOST = re.compile(r"^[0-9a-fx.]+$")  # what inet_aton may read as an IPv4 address
_KINDS = ("loopback", "link_local", "private", "multicast", "unspecified", "reserved")
MAX_ALLOWED = 1_000  # networks an operator may allow
MAX_ADDRESSES = 4  # addresses of one name tried in turn (IPv6 and IPv4, say)


class TargetRefused(ValueError):
    """A webhook URL that may not be delivered to; the message says why and how to allow it.
    ``retryable``: the cause may pass (a name that did not resolve this time)."""

    def __init__(self, message: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


def check_url(url: str) -> None:
    """Refuse (``ValueError``) a URL that no delivery could use: not http(s), no host, a bad
    port, or a host name that is not a valid (IDNA) name."""
    try:
        parts = urlsplit(url)
        host, _port = parts.hostname, parts.port
    except ValueError as exc:
        raise ValueError(f"the webhook url cannot be parsed: {exc}") from None
    if parts.scheme not in ("http", "https"):
        raise ValueError("the webhook url must be http:// or https://")
    if not host:
        raise ValueError("the webhook url needs a host")
    try:
        httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ValueError(f"the webhook url cannot be used: {exc}") from None


def parse_networks(items: Iterable[str]) -> tuple[Network, ...]:
    """``["10.0.0.0/8", "127.0.0.1,::1"]`` as networks (a bare address is its own network)."""
    networks: list[Network] = []
    for item in items:
        for text in item.split(","):
            if not text.strip():
                continue
            try:
                networks.append(ipaddress.ip_network(text.strip(), strict=False))
            except ValueError:
                raise ValueError(
                    f"--webhook-allow: {text.strip()!r} is not a network (e.g. 10.0.0.0/8)"
                ) from None
    if len(networks) > MAX_ALLOWED:
        raise ValueError(f"--webhook-allow: more than {MAX_ALLOWED} networks")
    return tuple(networks)


def literal_address(host: str) -> Address | None:
    """The address a host names literally, in any spelling the resolver accepts
    (``127.1``, ``0x7f000001``, ``2130706433``), or None for a name."""
    try:
        return ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        pass
    if _NUMERIC_HOST.match(host.lower()):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _kind(address: Address) -> str:
    for kind in _KINDS:
        if getattr(address, f"is_{kind}"):
            return kind.replace("_", "-")
    return "non-public"


class WebhookPolicy:
    """Which addresses webhooks may reach: public ones, and those in ``allow``."""

    def __init__(self, allow: Iterable[Network] = ()) -> None:
        self.allow = tuple(allow)

    def permits(self, address: Address) -> bool:
        """True for a public address, or one inside an allowed network."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if any(address.version == net.version and address in net for net in self.allow):
            return True
        return address.is_global and not address.is_multicast

    def _refuse(self, host: str, address: Address) -> TargetRefused:
        named = "" if str(address) == host else f" ({host} is {address})"
        return TargetRefused(
            f"webhook target {address} is a {_kind(address)} address{named}: refused unless "
            f"the server allows it (runwatch serve --webhook-allow NETWORK)"
        )

    def check(self, url: str) -> None:
        """At save: the URL in full, and a target written as an address or a localhost name."""
        check_url(url)
        host = urlsplit(url).hostname or ""
        address = literal_address(host)
        if address is not None:
            candidates = [address]
        elif host == "localhost" or host.endswith(".localhost"):
            candidates = [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")]
        else:
            return  # a name: resolved and checked at each delivery
        for candidate in candidates:
            if not self.permits(candidate):
                raise self._refuse(host, candidate)

    async def resolve(self, url: str) -> list[Address]:
        """At delivery: the addresses the URL's host resolves to (at most
        :data:`MAX_ADDRESSES`), all permitted; :class:`TargetRefused` if any is not."""
        check_url(url)
        target = httpx.URL(url)
        host = target.raw_host.decode("ascii")
        address = literal_address(host)
        if address is not None:
            addresses = [address]
        else:
            port = target.port or (443 if target.scheme == "https" else 80)
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(
                    host, port, type=socket.SOCK_STREAM
                )
            except OSError as exc:
                message = f"webhook host {host!r} does not resolve: {exc}"
                raise TargetRefused(message, retryable=True) from None
            found = (literal_address(str(info[4][0])) for info in infos)
            addresses = list(dict.fromkeys(a for a in found if a is not None))
            if not addresses:
                raise TargetRefused(f"webhook host {host!r} resolves to no address")
        for candidate in addresses:
            if not self.permits(candidate):
                raise self._refuse(host, candidate)
        return addresses[:MAX_ADDRESSES]


def pinned(url: str, address: Address) -> tuple[httpx.URL, dict[str, str], dict[str, Any]]:
    """The request for ``url`` sent to ``address`` (one that was checked): the URL with the
    address in place of the host, the ``Host`` header, and for https the name TLS must verify
    (SNI and the certificate's host)."""
    target = httpx.URL(url)
    host = target.raw_host.decode("ascii")
    extensions: dict[str, Any] = {"sni_hostname": host} if target.scheme == "https" else {}
    headers = {"Host": target.netloc.decode("ascii")}
    return target.copy_with(host=str(address)), headers, extensions
