"""Failed-login throttling that an attacker can neither use against a user nor fill memory with.

Issue 8 found two faults in the first version: every attempted user name was kept forever
(600 logins with 1 MB names took the server from 56 to 641 MB), and ten wrong passwords for
a name from anywhere locked its real owner out for five minutes. Now:

* **Per user name, a progressive delay instead of a lockout.** The first `free_failures`
  failures cost nothing; after that each further attempt must wait 1, 2, 4, ... seconds
  (at most `max_delay`) after the previous failure. Guessing stays slow from any number of
  addresses (at most one guess per `max_delay` per name), and the real user waits seconds,
  not minutes.
* **Per client address, a limit**: `address_limit` failures in `window` seconds, then 429
  until the window has passed. Behind a reverse proxy the address is the one the trusted
  proxy reports (`client_address`), otherwise every user would share the proxy's.
* **Bounded and expiring**: names longer than a user name can be are refused before they
  reach the throttle; records older than `window` are dropped; at most `max_keys` records
  are kept (the least recently failed go first).
"""

from __future__ import annotations

import ipaddress
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from starlette.requests import HTTPConnection

MAX_NAME_LENGTH = 64
"""User names are 1-64 characters (store/accounts.py); longer ones are refused unseen."""

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass
class _Record:
    failures: int
    first: float
    last: float


class LoginThrottle:
    """Progressive delay per user name, a failure limit per client address; bounded memory."""

    def __init__(
        self,
        *,
        window: float = 900.0,
        free_failures: int = 3,
        max_delay: float = 30.0,
        address_limit: int = 30,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.window, self.free_failures, self.max_delay = window, free_failures, max_delay
        self.address_limit, self.max_keys, self.clock = address_limit, max_keys, clock
        self._records: OrderedDict[str, _Record] = OrderedDict()

    def __len__(self) -> int:
        return len(self._records)

    def wait(self, name: str, address: str) -> float:
        """Seconds before this name may be tried from this address (0: now)."""
        now = self.clock()
        self._expire(now)
        waits = [0.0]
        record = self._records.get(_name_key(name))
        if record is not None and record.failures >= self.free_failures:
            delay = min(self.max_delay, 2.0 ** (record.failures - self.free_failures))
            waits.append(record.last + delay - now)
        record = self._records.get(_address_key(address))
        if record is not None and record.failures >= self.address_limit:
            waits.append(record.first + self.window - now)
        return max(waits)

    def fail(self, name: str, address: str) -> None:
        now = self.clock()
        for key in (_name_key(name), _address_key(address)):
            record = self._records.pop(key, None)
            if record is None or now - record.first > self.window:
                record = _Record(0, now, now)
            record.failures += 1
            record.last = now
            self._records[key] = record  # most recently failed at the end
        while len(self._records) > self.max_keys:
            self._records.popitem(last=False)

    def succeed(self, name: str, address: str) -> None:
        """A correct password clears the name's delay (the address keeps its count)."""
        self._records.pop(_name_key(name), None)

    def _expire(self, now: float) -> None:
        """Drop records whose last failure is older than the window (oldest are first)."""
        while self._records:
            key, record = next(iter(self._records.items()))
            if now - record.last <= self.window:
                break
            del self._records[key]


def _name_key(name: str) -> str:
    return "user:" + name[:MAX_NAME_LENGTH]


def _address_key(address: str) -> str:
    return "addr:" + address[:64]


# --- client addresses behind a proxy ------------------------------------------------------------


def parse_networks(specs: Iterable[str]) -> tuple[Network, ...]:
    """`10.0.0.0/8`, `127.0.0.1`, `::1` -> networks; ValueError names a bad one."""
    out = []
    for spec in specs:
        for part in spec.replace(",", " ").split():
            try:
                out.append(ipaddress.ip_network(part, strict=False))
            except ValueError:
                raise ValueError(f"trusted proxy {part!r} is not an IP address or network") from None
    return tuple(out)


def _trusted(address: str, proxies: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in net for net in proxies)


def client_address(conn: HTTPConnection, proxies: tuple[Network, ...] = ()) -> str:
    """The address of the client: the peer, or, when the peer is a trusted proxy, the nearest
    address in `X-Forwarded-For` that is not itself a trusted proxy.

    Without trusted proxies the header is ignored (anyone can send it); with them, only the
    entries the trusted proxies appended are believed, read from the right.
    """
    peer = conn.client.host if conn.client else "unknown"
    if not proxies or not _trusted(peer, proxies):
        return peer
    hops = [h.strip() for h in ",".join(conn.headers.getlist("x-forwarded-for")).split(",") if h.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, proxies):
            return hop[:64]
    return hops[0][:64] if hops else peer
