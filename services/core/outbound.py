"""Calls made on a clinic's behalf (its FHIR server; later its token URL and webhooks) reach
public hosts only: server-side request forgery is what this stops.

A URL is checked when a clinic sets it (`check_url`) and again at every request: names are
resolved by `GuardedResolver`, which refuses the whole name if any of its addresses is not
public, and the connection is made to the addresses it checked, so a name cannot resolve
to a public address when checked and a private one when used (DNS rebinding). IP literals
in any form (`0x7f000001`, `127.1`, `2130706433`, `0177.0.0.1`, `::ffff:127.0.0.1`) are
read as the address they mean. A deployment whose EHR is on a private network lists the
networks it may reach (`OUTBOUND_ALLOWED_NETWORKS`).
"""

import ipaddress
import socket
from collections.abc import Iterable
from functools import lru_cache
from urllib.parse import urlsplit
from urllib.request import getproxies_environment, proxy_bypass_environment  # type: ignore[attr-defined]

from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from services.core.errors import Unprocessable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# Names that mean this machine or a cloud's internal services whatever they resolve to.
_LOCAL_NAMES = ("localhost", "ip6-localhost", "ip6-loopback", "metadata", "metadata.google.internal")
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain", ".home.arpa")
# Cloud metadata services that sit on otherwise ordinary-looking addresses.
_METADATA = {ipaddress.ip_address(a) for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254")}

# Answers that mean "later" (timeouts, rate limits, a server or gateway briefly down): such a call
# is tried again; any other refusal will not change by itself.
RETRYABLE = frozenset({408, 425, 429, 500, 502, 503, 504})


class UnsafeDestination(Unprocessable):
    title, slug = "Unsafe destination", "unsafe-destination"


class RefusedAddress(OSError):
    """The destination resolved to an address calls on a clinic's behalf may not reach."""


def literal_address(host: str) -> IPAddress | None:
    """The address an IP literal means, in any form a resolver or socket would accept; None for a name."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    try:  # the legacy inet_aton forms: 127.1, 2130706433, 0x7f000001, 0177.0.0.1
        return ipaddress.IPv4Address(socket.inet_aton(host))
    except OSError:
        return None


def refused(address: IPAddress, allowed: Iterable[Network] = ()) -> bool:
    """Not a public address: loopback, private, link-local, multicast, reserved, unspecified,
    a metadata address; IPv4-mapped IPv6 read as its IPv4 address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in network for network in allowed):
        return False
    return address in _METADATA or not address.is_global or address.is_multicast or address.is_reserved


def parse_networks(text: str) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip())


def _forbidden_name(host: str) -> bool:
    return host in _LOCAL_NAMES or host.endswith(_LOCAL_SUFFIXES)


def _resolve(host: str, port: int) -> list[IPAddress]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]


def check_url(url: str, allowed: tuple[Network, ...] = ()) -> None:
    """For a URL a clinic sets (in production): https, to a host that is, and resolves only to,
    public addresses. Raises UnsafeDestination saying what is wrong, never what is there."""
    parts = urlsplit(url)
    if parts.scheme != "https":
        raise UnsafeDestination("the URL must use https")
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:
        raise UnsafeDestination("the URL names no host")
    address = literal_address(host)
    if address is not None:
        if refused(address, allowed):
            raise UnsafeDestination("the URL must name a public host")
        return
    if _forbidden_name(host):
        raise UnsafeDestination("the URL must name a public host")
    try:
        addresses = _resolve(host, parts.port or 443)
    except (OSError, UnicodeError) as exc:
        raise UnsafeDestination("the URL's host does not resolve") from exc
    if not addresses or any(refused(a, allowed) for a in addresses):
        raise UnsafeDestination("the URL must name a public host")


class GuardedResolver(AbstractResolver):
    """aiohttp's resolver, refusing a name if any address it resolves to is not public. The
    connection goes to the addresses checked here, so a second lookup cannot swap them."""

    def __init__(self, allowed: tuple[Network, ...] = ()) -> None:
        self.allowed = allowed
        self._inner = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        name = host.lower().rstrip(".")
        if _forbidden_name(name):
            raise RefusedAddress("refused")
        results = await self._inner.resolve(host, port, family)
        for result in results:
            if refused(ipaddress.ip_address(result["host"].split("%", 1)[0]), self.allowed):
                raise RefusedAddress("refused")
        return results

    async def close(self) -> None:
        await self._inner.close()


def check_literal(url: str, allowed: tuple[Network, ...] = ()) -> None:
    """At request time: a URL whose host is an IP literal (which skips the resolver) must be public."""
    host = (urlsplit(url).hostname or "").lower().rstrip(".")
    address = literal_address(host)
    if address is not None and refused(address, allowed):
        raise RefusedAddress("refused")


@lru_cache(maxsize=1)
def _environment_proxies() -> dict[str, str]:
    return getproxies_environment()


def proxy_for(url: str) -> str | None:
    """The proxy HTTP(S)_PROXY names for `url`, unless NO_PROXY exempts its host; read from the
    environment once per process. Our HTTP sessions do not use aiohttp's trust_env, which reads
    the environment and ~/.netrc again on every request, in a thread: that was a third of the
    export worker's CPU (bench/). A proxy's credentials go in its URL (user:password@host)."""
    proxies = _environment_proxies()
    if not proxies:
        return None
    parts = urlsplit(url)
    if proxy_bypass_environment(parts.hostname or "", proxies):
        return None
    return proxies.get(parts.scheme)
