"""The plain data passed between the request builder, the senders and the judge."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field

__all__ = ["Exchange", "PreparedRequest", "SendReport"]

# Slower than this per response, in step, looks like a lock or a throttle rather than a busy
# single-threaded server (which on a loaded machine can pace responses at 1-2 ms).
_SERIAL_STEP_MS = 3.0
# Answers spaced by less than this share of the first answer's latency come from a critical
# section inside handlers that otherwise ran together, not from a server that serialises requests.
_SECTION_RATIO = 0.5


@dataclass(frozen=True)
class PreparedRequest:
    """One fully rendered request. `Host` and `Content-Length` are added by each sender."""

    method: str
    target: str
    headers: tuple[tuple[str, str], ...]
    body: bytes


@dataclass
class Exchange:
    """One request's fate: the response (possibly truncated) or why there is none."""

    status: int | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)
    truncated: bool = False
    complete: bool = False
    error: str | None = None
    error_code: str | None = None
    early: bool = False
    released_ns: int | None = None
    response_ns: int | None = None

    @property
    def ok(self) -> bool:
        """A complete, well-formed response (whatever its status)."""
        return self.status is not None and self.error is None and self.complete

    def add_body(self, data: bytes, limit: int) -> bool:
        """Keep at most `limit` bytes; False once the limit is reached (stop reading)."""
        room = limit - len(self.body)
        if len(data) > room:
            self.body += data[: max(room, 0)]
            self.truncated = True
            return False
        self.body += data
        return True

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((value for key, value in self.headers if key.lower() == name), None)

    def fail(self, message: str, code: str) -> None:
        """Record the first problem and its error code, unless the response was already complete."""
        if self.complete or self.error is not None:
            return
        # A response that began but did not finish cannot be judged as a whole.
        self.error = message if self.status is None else f"incomplete response: {message}"
        self.error_code = code


@dataclass
class SendReport:
    """What a sender did: one exchange per request, in request order, and how tight it was."""

    exchanges: list[Exchange]
    release_ns: list[int]
    connections: int

    @property
    def send_spread_ms(self) -> float:
        """Time between the first and the last release write (0 for a single write)."""
        if len(self.release_ns) < 2:
            return 0.0
        return (max(self.release_ns) - min(self.release_ns)) / 1e6

    @property
    def response_spread_ms(self) -> float | None:
        times = [exchange.response_ns for exchange in self.exchanges if exchange.response_ns is not None]
        if len(times) < 2:
            return None
        return (max(times) - min(times)) / 1e6

    def serialised_step_ms(self) -> float | None:
        """The step between responses when the server answered them one by one, else None.

        A server that serialises (a session lock, a 1-request-per-ms throttle) answers at a
        steady pace of several milliseconds, so the arrival times grow linearly with their
        rank even when scheduling jitter makes single gaps uneven; parallel handling answers
        in a clump.
        """
        times = sorted(exchange.response_ns for exchange in self.exchanges if exchange.response_ns)
        if len(times) < 4 or times[-1] == times[0]:
            return None
        step = (times[-1] - times[0]) / 1e6 / (len(times) - 1)
        if step < _SERIAL_STEP_MS:
            return None
        if self.release_ns:
            # Whole requests handled one by one answer every request-time: the first answer takes
            # one step too. A lock around a short critical section (what a correct fix adds) spaces
            # the answers by that section only, while all requests ran together until they reached
            # it: the burst did test concurrency, and the verdict can rest on it.
            first_ms = (times[0] - max(self.release_ns)) / 1e6
            if first_ms > 0 and step < _SECTION_RATIO * first_ms:
                return None
        linear = statistics.correlation(range(len(times)), times) >= 0.9
        return step if linear else None
