"""Outbound safety: a webhook URL may only reach the public internet.

Checked when the endpoint is saved (scheme, credentials, metadata names) and again at
every delivery on the addresses the name resolves to then; the request then connects to
the address that was checked (the URL's name is kept for Host and TLS SNI), so a DNS
answer that changes between check and connect (rebinding) cannot redirect it.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

METADATA_HOSTS = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "metadata.azure.com",
        "instance-data",
        "instance-data.ec2.internal",
    }
)
"""Cloud instance-metadata names, refused whatever they resolve to."""


class RefusedDestinationError(Exception):
    """The URL or the address it resolves to may not be called; the message says why."""


@dataclass(frozen=True, slots=True)
class Destination:
    scheme: str
    host: str
    port: int
    address: Address
    target: str
    """Path and query."""

    def url(self) -> str:
        """The URL with the checked address in place of the name."""
        shown = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        return f"{self.scheme}://{shown}:{self.port}{self.target}"


@dataclass(frozen=True, slots=True)
class OutboundPolicy:
    allowed_networks: tuple[Network, ...] = ()
    insecure_loopback: bool = False


def address_refusal(address: Address, policy: OutboundPolicy) -> str | None:
    """Why the address may not be called, or None."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in network for network in policy.allowed_networks):
        return None
    if address.is_loopback:
        return None if policy.insecure_loopback else "loopback address"
    if address.is_link_local:
        return "link-local address (cloud metadata lives there)"
    if address.is_private:
        return "private address"
    if not address.is_global or address.is_multicast:
        return "not a public address"
    return None


def url_refusal(url: str, policy: OutboundPolicy) -> str | None:
    """What is wrong with the URL itself, before any lookup."""
    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        return "no host"
    if parts.username or parts.password:
        return "credentials in the URL"
    if host in METADATA_HOSTS:
        return "cloud metadata host"
    if parts.scheme == "https":
        return None
    if parts.scheme == "http" and policy.insecure_loopback:
        return None
    return "only https:// is allowed"


async def resolve(url: str, policy: OutboundPolicy) -> Destination:
    """Check the URL and every address its name resolves to now; the first is used."""
    refusal = url_refusal(url, policy)
    if refusal:
        raise RefusedDestinationError(refusal)
    parts = urlsplit(url)
    host = (parts.hostname or "").rstrip(".").lower()
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except OSError as exc:
            raise RefusedDestinationError(f"cannot resolve {host}") from exc
        addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    for address in addresses:
        reason = address_refusal(address, policy)
        if reason:
            raise RefusedDestinationError(f"{host} resolves to a {reason}")
    if parts.scheme == "http" and not all(a.is_loopback for a in addresses):
        raise RefusedDestinationError("http:// is allowed only to loopback (development)")
    target = parts.path or "/"
    if parts.query:
        target += f"?{parts.query}"
    return Destination(parts.scheme, host, port, addresses[0], target)
