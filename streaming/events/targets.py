"""Where webhooks may be delivered (SSRF protection) and which header a webhook may name for its key.

Addresses are vetted where the connection is made: ``VettedResolver`` resolves a name once, drops
every address that is not globally routable and hands aiohttp only the vetted ones, so the address
checked is the address connected to (a name answering public first and loopback later cannot
rebind a delivery to loopback). aiohttp still sends the name in ``Host`` and TLS SNI.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

# headers a webhook's api_key_name may not set: they frame or route the request, not authenticate it
FORBIDDEN_KEY_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "content-type",
        "content-encoding",
        "transfer-encoding",
        "connection",
        "keep-alive",
        "upgrade",
        "te",
        "trailer",
        "expect",
    }
)


def key_header_problem(name: str) -> str | None:
    """Why ``name`` may not carry a webhook's API key (None when it may)."""
    lowered = name.strip().lower()
    if lowered in FORBIDDEN_KEY_HEADERS or lowered.startswith("proxy-"):
        return f"api_key_name {name!r} is a hop-by-hop or framing header, not one for an API key"
    if not lowered or any(c in name for c in " \t\r\n:"):
        return f"api_key_name {name!r} is not an HTTP header name"
    return None


# not globally reachable, though some Python versions' ``is_global`` says otherwise (3.11: 192.0.0.8),
# and NAT64 prefixes, which reach IPv4 addresses that are checked no further
_ALSO_REFUSED = tuple(ipaddress.ip_network(n) for n in ("192.0.0.0/24", "64:ff9b::/96", "64:ff9b:1::/48", "2002::/16"))


def address_problem(address: str) -> str | None:
    """Why a webhook may not connect to ``address`` (None: it is globally routable unicast)."""
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if not ip.is_global or ip.is_multicast or any(ip in net for net in _ALSO_REFUSED):
        return f"{ip} is not a public unicast address (loopback, private, shared, link-local or reserved)"
    return None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    return True


def url_problem(url: str, allow_private: bool) -> str | None:
    """What is wrong with ``url`` before any name is resolved (scheme, host, an IP literal's range)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "webhook URLs must be http(s) URLs with a host"
    if not allow_private and _is_ip(parts.hostname):
        return address_problem(parts.hostname)
    return None


def check_target(url: str, allow_private: bool) -> str | None:
    """Why ``url`` may not receive webhooks (None when it may), resolving its name now: the clear 400
    at registration. Delivery does not rely on it: ``VettedResolver`` checks again at connect time."""
    problem = url_problem(url, allow_private)
    parts = urlsplit(url)
    if problem or allow_private or parts.hostname is None or _is_ip(parts.hostname):
        return problem
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 80, type=socket.SOCK_STREAM)
    except OSError:
        return f"cannot resolve {parts.hostname}"
    for info in infos:
        problem = address_problem(str(info[4][0]))
        if problem:
            return f"{parts.hostname} resolves to {problem}"
    return None


class VettedResolver(AbstractResolver):
    """Resolves with ``inner`` once per connection and returns only the addresses that pass the check."""

    def __init__(self, inner: AbstractResolver | None = None, allow_private: bool = False) -> None:
        self.inner = inner  # aiohttp's default when None, made on first use (it needs a running loop)
        self.allow_private = allow_private

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if self.inner is None:
            self.inner = DefaultResolver()
        answers = await self.inner.resolve(host, port, family)
        if self.allow_private:
            return answers
        vetted = [a for a in answers if address_problem(a["host"]) is None]
        if not vetted:
            found = ", ".join(a["host"] for a in answers) or "nothing"
            raise OSError(f"webhook target {host} resolves to {found}: no public address")
        return vetted

    async def close(self) -> None:
        if self.inner is not None:
            await self.inner.close()
