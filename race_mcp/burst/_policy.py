"""Who may be burst and how hard: the allowlist, address pinning and the hard caps.

The policy comes from the user's configuration (`[tool.race-mcp.burst]`) and CLI flags, built
by the adapters; nothing in a burst request can widen it. A target's host is resolved once,
every address it resolves to is checked, and the connection goes to the checked address (the
name stays in SNI and `Host`), so a second lookup cannot point the burst somewhere else.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import SplitResult, urlsplit

import anyio

from ..config import BurstSettings, Settings
from ..errors import BurstError, InputError, PolicyError

__all__ = ["METADATA_ADDRESSES", "BurstPolicy", "Target", "check_url", "resolve_target"]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Cloud instance-metadata endpoints: credentials live there, so no policy can allow them.
METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    ipaddress.ip_address(address)
    for address in (
        "169.254.169.254",  # AWS, GCP, Azure, DigitalOcean, OpenStack, Hetzner
        "169.254.170.2",  # AWS ECS task metadata
        "fd00:ec2::254",  # AWS IMDS over IPv6
        "100.100.100.200",  # Alibaba Cloud
        "192.0.0.192",  # Oracle Cloud
    )
)

_DEFAULTS = BurstSettings()


@dataclass(frozen=True)
class BurstPolicy:
    """The allowlist and caps one run must respect. The default allows loopback only."""

    allow_hosts: tuple[str, ...] = ()
    max_requests: int = _DEFAULTS.max_requests
    max_bursts: int = _DEFAULTS.max_bursts
    max_total_seconds: float = _DEFAULTS.max_total_seconds
    max_body_bytes: int = _DEFAULTS.max_body_bytes
    max_response_bytes: int = _DEFAULTS.max_response_bytes
    connect_timeout: float = _DEFAULTS.connect_timeout
    response_timeout: float = _DEFAULTS.response_timeout
    ca_file: Path | None = None
    _networks: tuple[IPNetwork, ...] = field(init=False, repr=False, compare=False)
    _names: tuple[str, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        networks: list[IPNetwork] = []
        names: list[str] = []
        for entry in self.allow_hosts:
            entry = entry.strip().lower().rstrip(".")
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                names.append(entry)
        object.__setattr__(self, "_networks", tuple(networks))
        object.__setattr__(self, "_names", tuple(names))

    @classmethod
    def from_settings(cls, settings: Settings, *, allow_hosts: Sequence[str] = ()) -> BurstPolicy:
        """The policy of `[tool.race-mcp.burst]`, plus hosts from the command line (`--allow-host`)."""
        burst = settings.burst
        ca_file = None
        if burst.ca_file:
            base = Path(settings.config_dir) if settings.config_dir else Path.cwd()
            ca_file = (base / burst.ca_file).resolve()
        return cls(
            allow_hosts=(*burst.allow_hosts, *allow_hosts),
            max_requests=burst.max_requests,
            max_bursts=burst.max_bursts,
            max_total_seconds=burst.max_total_seconds,
            max_body_bytes=burst.max_body_bytes,
            max_response_bytes=burst.max_response_bytes,
            connect_timeout=burst.connect_timeout,
            response_timeout=burst.response_timeout,
            ca_file=ca_file,
        )

    def name_allowed(self, host: str) -> bool:
        """An exact allowlisted name, or a `*.example.com` entry covering it."""
        host = host.lower().rstrip(".")
        return any(
            host == name or (name.startswith("*.") and host.endswith(name[1:])) for name in self._names
        )

    def address_allowed(self, address: IPAddress) -> bool:
        return address.is_loopback or any(address in network for network in self._networks)

    def ssl_context(self, *, verify: bool, alpn: Sequence[str]) -> ssl.SSLContext:
        """A client TLS context: system CAs plus `ca_file`, ALPN as asked, verification unless told."""
        context = ssl.create_default_context()
        if self.ca_file is not None:
            try:
                context.load_verify_locations(cafile=str(self.ca_file))
            except (OSError, ssl.SSLError) as exc:
                raise InputError(
                    f"{self.ca_file}: cannot load the CA file: {exc}", code="bad-ca-file"
                ) from None
        if not verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        if alpn:
            context.set_alpn_protocols(list(alpn))
        return context


@dataclass(frozen=True)
class Target:
    """Where one burst goes: the origin as named, and the one address it was pinned to."""

    scheme: str
    host: str
    port: int
    address: str
    host_is_ip: bool
    addresses: tuple[str, ...] = ()

    @property
    def family(self) -> socket.AddressFamily:
        return socket.AF_INET6 if ":" in self.address else socket.AF_INET

    @property
    def origin(self) -> tuple[str, str, int]:
        return self.scheme, self.host, self.port

    @property
    def tls(self) -> bool:
        return self.scheme == "https"

    @property
    def authority(self) -> str:
        """`Host` / `:authority`: the name, with the port only when it is not the default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.tls else 80
        return host if self.port == default else f"{host}:{self.port}"

    @property
    def label(self) -> str:
        """How errors name the target: the name and, when different, the pinned address."""
        shown = f"{self.scheme}://{self.authority}"
        return shown if self.host_is_ip else f"{shown} ({self.address})"


def check_url(url: str) -> tuple[SplitResult, str, int]:
    """The parts, host and port of an http(s) URL; `InputError` for anything else."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise InputError(f"{url!r}: not a valid URL: {exc}", code="bad-url") from None
    if parts.scheme not in ("http", "https"):
        raise InputError(f"{url!r}: only http:// and https:// URLs can be burst", code="bad-url")
    if not parts.hostname:
        raise InputError(f"{url!r}: the URL has no host", code="bad-url")
    if parts.username is not None or parts.password is not None:
        raise InputError(f"{url!r}: put credentials in headers, not in the URL", code="bad-url")
    if "{{" in parts.netloc:
        raise InputError(
            f"{url!r}: templates are allowed in the path and query, not in the host", code="bad-url"
        )
    return parts, parts.hostname, port or (443 if parts.scheme == "https" else 80)


# Where an IPv6 address carries an IPv4 one that the network may end up dialling.
_NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215: the operator picks /48 to /96
_NAT64_LOCAL_PREFIXES = (48, 56, 64, 96)
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated ::a.b.c.d
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
_BROADCAST = ipaddress.ip_address("255.255.255.255")


def _rfc6052_ipv4(address: ipaddress.IPv6Address, prefix_length: int) -> ipaddress.IPv4Address:
    """The IPv4 address behind a NAT64 prefix of `prefix_length` bits (RFC 6052 section 2.2).

    The four octets follow the prefix, skipping octet 8 (the reserved "u" octet).
    """
    packed = address.packed
    octets = [packed[index] for index in range(prefix_length // 8, 16) if index != 8][:4]
    return ipaddress.IPv4Address(bytes(octets))


def _embedded(address: IPAddress) -> list[tuple[ipaddress.IPv4Address, bool]]:
    """(IPv4 address, certain) for each IPv4 address an IPv6 address may stand for.

    Local-use NAT64 does not say where its IPv4 address sits, so each reading is a guess.
    """
    if isinstance(address, ipaddress.IPv4Address):
        return []
    found: list[tuple[ipaddress.IPv4Address, bool]] = []
    if address.ipv4_mapped is not None:
        found.append((address.ipv4_mapped, True))
    if address in _IPV4_COMPATIBLE and int(address) > 1:  # not :: or ::1 (IPv6's own)
        found.append((ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF), True))
    if address in _NAT64_WELL_KNOWN:
        found.append((_rfc6052_ipv4(address, 96), True))
    if address in _NAT64_LOCAL:
        found.extend((_rfc6052_ipv4(address, length), False) for length in _NAT64_LOCAL_PREFIXES)
    if address.sixtofour is not None:
        found.append((address.sixtofour, True))
    if address.teredo is not None:
        server, client = address.teredo  # the client's address comes un-XOR'ed
        found.extend([(server, True), (client, True)])
    return found


def embedded_ipv4(address: IPAddress) -> tuple[ipaddress.IPv4Address, ...]:
    """Every IPv4 address an IPv6 address may stand for: mapped, compatible, NAT64, 6to4, Teredo."""
    return tuple(inner for inner, _ in _embedded(address))


def _refusal(address: IPAddress) -> tuple[str, str] | None:
    """(code, why) an address can never be a target, whatever the allowlist says."""
    if address in METADATA_ADDRESSES:
        return "metadata-address", "a cloud metadata address"
    if address.is_link_local:
        return "metadata-address", "a link-local address (where cloud metadata services live)"
    if address.is_unspecified or address.is_multicast or address == _BROADCAST:
        return "address-not-unicast", "not a unicast host address"
    if isinstance(address, ipaddress.IPv4Address) and address in _THIS_NETWORK:
        return "address-not-unicast", "in 0.0.0.0/8, which means this host, not a target"
    return None


def _refused(host: str, address: IPAddress) -> PolicyError | None:
    """The refusal of `address` or of an IPv4 address embedded in it, if any."""
    refusal = _refusal(address)
    if refusal is not None:
        code, why = refusal
        return PolicyError(f"{host} resolves to {address}, {why}; bursts never target it", code=code)
    # A guessed reading (local-use NAT64) counts only for metadata: any address of that prefix
    # reads as 0.0.0.0 at one prefix length or another.
    refused = [
        (inner, refusal)
        for inner, certain in _embedded(address)
        if (refusal := _refusal(inner)) is not None and (certain or refusal[0] == "metadata-address")
    ]
    if not refused:
        return None
    inner, (code, why) = min(refused, key=lambda item: item[1][0] != "metadata-address")  # metadata first
    return PolicyError(
        f"{host} resolves to {address}, which carries {inner}, {why}; bursts never target it", code=code
    )


async def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise BurstError(
            f"cannot resolve host {host!r}: {exc.strerror or exc}", code="resolve-failed"
        ) from None
    addresses: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise BurstError(f"cannot resolve host {host!r}: no addresses", code="resolve-failed")
    return addresses


async def resolve_target(url: str, policy: BurstPolicy) -> Target:
    """Check `url` and every address its host resolves to; `PolicyError` if refused.

    The target carries all the checked addresses, the first one pinned; `pin_reachable` moves
    the pin to the first that accepts a connection (e.g. IPv4 when `localhost` lists ::1 first).
    """
    parts, host, port = check_url(url)
    addresses = await _resolve(host, port)
    named = policy.name_allowed(host)
    for address in addresses:
        refused = _refused(host, address)
        if refused is not None:
            raise refused
        unwrapped = getattr(address, "ipv4_mapped", None) or address
        if not (named or policy.address_allowed(unwrapped)):
            raise PolicyError(
                f"{host} ({unwrapped}) is not on the burst allowlist (loopback only by default); "
                f"the user can add it to [tool.race-mcp.burst] allow_hosts in pyproject.toml "
                f"or pass --allow-host {host} on the command line",
                code="host-not-allowed",
            )
    return Target(
        scheme=parts.scheme,
        host=host,
        port=port,
        address=str(addresses[0]),
        host_is_ip=_is_ip(host),
        addresses=tuple(str(address) for address in addresses),
    )


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
