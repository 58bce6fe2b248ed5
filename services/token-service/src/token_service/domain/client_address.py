"""Who is the client? The answer the rate limit keys on.

`X-Forwarded-For` is believed only when the direct peer is one of our proxies
(`TRUSTED_PROXY_CIDRS`). Each proxy appends the address it saw, so the list is read
from the right, skipping our own proxies; the first address that is not ours is the
client. Anything left of it was written by the client and is ignored. A malformed
entry stops the walk at the last proxy we trusted, so garbage never becomes an
identity a client can vary at will.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# One IPv6 subscriber usually holds a whole /64, so a per-address limit would be no limit.
IPV6_CLIENT_PREFIX = 64
UNKNOWN_CLIENT = "unknown"


def parse_address(text: str) -> IPAddress | None:
    try:
        address = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_trusted(address: IPAddress, proxies: Sequence[IPNetwork]) -> bool:
    return any(address in network for network in proxies)


def resolve_client_address(
    peer: str | None, forwarded_for: Iterable[str], proxies: Sequence[IPNetwork]
) -> IPAddress | None:
    """The client's address, or None when the peer is not an IP address at all."""
    peer_address = parse_address(peer) if peer else None
    if peer_address is None or not _is_trusted(peer_address, proxies):
        return peer_address
    hops = [hop for header in forwarded_for for hop in header.split(",")]
    candidate = peer_address
    for hop in reversed(hops):
        address = parse_address(hop)
        if address is None:
            return candidate
        if not _is_trusted(address, proxies):
            return address
        candidate = address
    return candidate


def rate_limit_key(address: IPAddress | None) -> str:
    """The bucket a client's requests count against (IPv6 by /64)."""
    if address is None:
        return UNKNOWN_CLIENT
    if isinstance(address, ipaddress.IPv6Address):
        network = ipaddress.IPv6Network((address, IPV6_CLIENT_PREFIX), strict=False)
        return str(network)
    return str(address)
