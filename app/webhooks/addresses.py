"""Which webhook URLs may be saved, and which addresses a delivery may reach.

Saving checks the URL alone: http or https, a host, no credentials in it, not too
long; a literal address or a localhost name that delivery would refuse is refused at
once. Delivering resolves the host and refuses it if any address it resolves to is
loopback, private, link-local, multicast, reserved, unspecified or a cloud metadata
address; the sender then connects to one of the addresses checked here, so a second
lookup cannot point the request elsewhere (DNS rebinding).

`WEBHOOK_ALLOW_HOSTS` (comma-separated host names, addresses, or `host:port`) names
receivers an admin allows anyway, such as one on the same network.
"""
from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import current_app

from app.errors import DomainError

SCHEMES = {"http": 80, "https": 443}
METADATA = frozenset(ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254"))
ALLOW_SETTING = "WEBHOOK_ALLOW_HOSTS"


class Refused(Exception):
    """The address policy says no: trying again will not help."""


class Unresolved(Exception):
    """The host name did not resolve (now): worth trying again."""


@dataclass(frozen=True)
class Target:
    """Where one delivery goes: the URL's parts and the vetted addresses to connect to."""

    scheme: str
    host: str
    port: int
    netloc: str
    path: str
    addresses: tuple[str, ...]


def allow_list(value: str | list[str] | tuple[str, ...] | None = None) -> frozenset[str]:
    """The allowed hosts, lower-cased, from the setting (or `value`)."""
    if value is None:
        value = current_app.config.get(ALLOW_SETTING, "")
    items = value.split(",") if isinstance(value, str) else value
    out = set()
    for item in items:
        item = item.strip().lower()
        if item.startswith("[") and item.endswith("]"):
            item = item[1:-1]
        if item:
            out.add(item)
    return frozenset(out)


def is_allowed(host: str, port: int, allow: frozenset[str]) -> bool:
    host = host.lower()
    shown = f"[{host}]" if ":" in host else host
    return host in allow or f"{shown}:{port}" in allow


def why_forbidden(address: str) -> str | None:
    """What keeps a delivery from this address, or None for a public one."""
    ip = ipaddress.ip_address(address)
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    checks = ((ip in METADATA, "a cloud metadata address"), (ip.is_unspecified, "an unspecified address"),
              (ip.is_loopback, "a loopback address"), (ip.is_link_local, "a link-local address"),
              (ip.is_multicast, "a multicast address"), (ip.is_private, "a private address"),
              (ip.is_reserved, "a reserved address"), (not ip.is_global, "not a public address"))
    return next((what for hit, what in checks if hit), None)


def _refusal(host: str, address: str, why: str) -> str:
    said = host if host == address else f"{host} ({address})"
    return (f"{said} is {why}; webhooks go only to public addresses unless {ALLOW_SETTING} "
            f"names the host.")


def check_url(url: str | None, *, field: str = "url", max_length: int = 2000,
              allow: frozenset[str] | None = None) -> str:
    """The URL as it will be stored, or a DomainError saying what is wrong with it."""
    url = (url or "").strip()
    if len(url) > max_length:
        raise DomainError(f"Keep the webhook URL under {max_length} characters.", field)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise DomainError("That webhook URL cannot be read; give the full http:// or https:// address.",
                          field) from None
    if parts.scheme not in SCHEMES or not parts.hostname:
        raise DomainError("A webhook URL is a full http:// or https:// address.", field)
    if parts.username is not None or parts.password is not None:
        raise DomainError("Leave credentials out of the webhook URL.", field)
    allow = allow_list() if allow is None else allow
    host = parts.hostname
    if is_allowed(host, port or SCHEMES[parts.scheme], allow):
        return url
    if host == "localhost" or host.endswith(".localhost"):
        raise DomainError(_refusal(host, host, "a loopback address"), field)
    try:
        why = why_forbidden(host)
    except ValueError:  # a name: checked when delivering, after resolving it
        return url
    if why:
        raise DomainError(_refusal(host, host, why), field)
    return url


def vet(url: str, allow: frozenset[str] | None = None) -> Target:
    """Resolve the URL's host and check every address it has (unless allowed)."""
    parts = urlsplit(url)
    try:
        port = parts.port or SCHEMES.get(parts.scheme)
    except ValueError:
        port = None
    if parts.scheme not in SCHEMES or not parts.hostname or port is None:
        raise Refused("the webhook URL is not an http:// or https:// address")
    host = parts.hostname
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        raise Unresolved(f"could not resolve {host}: {error}") from None
    addresses = tuple(dict.fromkeys(str(info[4][0]) for info in infos))
    if not addresses:
        raise Unresolved(f"could not resolve {host}")
    allow = allow_list() if allow is None else allow
    if not is_allowed(host, port, allow):
        for address in addresses:
            why = why_forbidden(address.split("%")[0])
            if why:
                raise Refused(_refusal(host, address, why))
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(scheme=parts.scheme, host=host, port=port, netloc=parts.netloc, path=path, addresses=addresses)
