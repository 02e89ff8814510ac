"""Tool work off the event loop: a few pre-started worker processes, each call capped and cancellable.

The event loop only waits. `analyze_file`, `check_openapi` and `propose_patch` run their whole job
(path checks, reading, parsing, analysis, rendering) in a worker process, because the work is
CPU-bound on untrusted input: in a thread it holds the GIL (a `ping` waited 18 s), CPython's `ast`
is not safe to drive from many threads at once, and a thread cannot be stopped.

- Workers are forked from a `forkserver` that has imported the tool modules, so a fresh worker
  costs milliseconds. Each worker caps its own address space (`RLIMIT_AS`) and CPU time.
- A call waits for a free worker in a bounded queue; past the bound it fails at once with
  `[server-busy]` instead of piling up.
- A call that outlives its deadline, whose caller is cancelled (`notifications/cancelled`, a
  stdio client closing, an HTTP client disconnecting) kills its worker; a fresh one replaces it.
  A worker that dies (a segfault in a native parser) is a `[worker-crashed]` error, never the
  server's death.

Limits come from the environment (`RACE_MCP_WORKERS`, `RACE_MCP_QUEUE`, `RACE_MCP_TOOL_TIMEOUT`
seconds, `RACE_MCP_WORKER_MEMORY_MB`): they are the operator's, not the analysed project's.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import multiprocessing
import os
import resource
import signal
import threading
import traceback
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from multiprocessing import forkserver
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from ..errors import RaceMcpError

logger = logging.getLogger("race_mcp.server.work")

T = TypeVar("T")

# Imported once by the forkserver, so every worker starts with them loaded.
PRELOAD = ["race_mcp.cli", "race_mcp.server._analyze", "race_mcp.server._openapi", "race_mcp.server._patch"]


@dataclass(frozen=True)
class Limits:
    workers: int = 2
    # Calls waiting for a worker. 256 holds 200 clients that each wait for their answer.
    queue: int = 256
    # Per call, in the worker; well inside a client's usual 60 s request timeout.
    seconds: float = 50.0
    memory_mb: int = 1536

    @classmethod
    def from_environment(cls) -> Limits:
        def number(name: str, default: float) -> float:
            value = os.environ.get(name, "").strip()
            try:
                return float(value) if value else default
            except ValueError:
                logger.warning("ignoring %s=%r: not a number", name, value)
                return default

        defaults = cls()
        return cls(
            workers=max(1, int(number("RACE_MCP_WORKERS", defaults.workers))),
            queue=max(0, int(number("RACE_MCP_QUEUE", defaults.queue))),
            seconds=max(0.1, number("RACE_MCP_TOOL_TIMEOUT", defaults.seconds)),
            memory_mb=max(256, int(number("RACE_MCP_WORKER_MEMORY_MB", defaults.memory_mb))),
        )


def work_error(message: str, code: str) -> RaceMcpError:
    return RaceMcpError(message, code=code)


# ----------------------------------------------------------------------------------------------
# The worker process


def _worker_main(conn: Connection, memory_mb: int, seconds: float) -> None:
    """Serve jobs until the server closes the pipe (or dies: the pipe closes then too)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in the server's terminal is the server's
    _cap(resource.RLIMIT_AS, memory_mb * 1024 * 1024)
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        _cap_cpu(seconds)
        try:
            reply = _run_job(job)
        except MemoryError:  # raised while reporting a failure whose frames still held the memory
            reply = _MEMORY_LIMIT
        try:
            conn.send(reply)
        except (EOFError, OSError):
            return
        except Exception as exc:  # an answer that cannot be pickled is a bug, not a crash
            conn.send(("error", "internal-error", f"unsendable answer: {type(exc).__name__}"))


def _cap(kind: int, soft: int) -> None:
    _, hard = resource.getrlimit(kind)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(kind, (soft, hard))


def _cap_cpu(seconds: float) -> None:
    """A backstop for a worker whose server died mid-job: the kernel ends it past the deadline."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    _cap(resource.RLIMIT_CPU, int(usage.ru_utime + usage.ru_stime + seconds) + 10)


_MEMORY_LIMIT = ("retire", "memory-limit", "the input needs more memory than a tool call may use")
# A job that failed this close to the address-space cap ran out of memory (see `_reached_memory_cap`).
_MEMORY_MARGIN = 16 * 1024 * 1024


def _run_job(job: tuple[Callable[..., Any], dict[str, Any]]) -> tuple[Any, ...]:
    function, kwargs = job
    try:
        return ("ok", function(**kwargs))
    except RaceMcpError as exc:
        return ("error", exc.code, str(exc))
    except MemoryError:
        return _MEMORY_LIMIT
    except RecursionError:
        return ("error", "too-deeply-nested", "the input is nested too deeply to analyse")
    except Exception as exc:
        if _reached_memory_cap():
            return _MEMORY_LIMIT
        traceback.print_exc()
        return ("error", "internal-error", f"{type(exc).__name__}: {exc}")


def _reached_memory_cap() -> bool:
    """Whether this worker's address space came within `_MEMORY_MARGIN` of its cap.

    CPython does not always report a failed allocation as `MemoryError`: one raised while a
    generator is cleaned up is printed and dropped, and the caller then sees a `SystemError` ("error
    return without exception set"); a 17 MB OpenAPI spec under a 300 MB cap ended that way about
    half the time. The peak is what tells the two apart.
    """
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft == resource.RLIM_INFINITY:
        return False
    try:
        with open("/proc/self/status", "rb") as status:
            peak = next((line for line in status if line.startswith(b"VmPeak:")), b"VmPeak: 0 kB")
    except OSError:
        return False
    return int(peak.split()[1]) * 1024 >= soft - _MEMORY_MARGIN


# ----------------------------------------------------------------------------------------------
# The server side


@dataclass
class _Worker:
    process: BaseProcess
    conn: Connection

    def exchange(self, job: tuple[Callable[..., Any], dict[str, Any]]) -> tuple[Any, ...]:
        """Send one job and wait for its answer (in a thread: both may block on a full pipe).

        The pipe is closed here, by the thread that uses it, once the worker is gone: closing it
        from another thread while this one reads could hand the read a reused descriptor."""
        try:
            self.conn.send(job)
            reply: tuple[Any, ...] = self.conn.recv()
        except BaseException:
            self.conn.close()
            raise
        return reply

    def kill(self) -> None:
        """SIGKILL; a thread blocked in `exchange` then reads end-of-file and closes the pipe."""
        if self.process.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGKILL)

    def exit_description(self) -> str:
        self.process.join(timeout=2)
        code = self.process.exitcode
        if code is None:
            return "stopped answering"
        if code < 0:
            return f"was killed by {signal.Signals(-code).name}"
        return f"exited with status {code}"


@dataclass
class _Waiter:
    ready: anyio.Event = field(default_factory=anyio.Event)
    worker: _Worker | None = None
    may_start: bool = False


class WorkerPool:
    """Run picklable module-level functions in worker processes; see the module docstring."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._context = multiprocessing.get_context("forkserver")
        self._context.set_forkserver_preload(PRELOAD)
        # All bookkeeping happens on the event loop's thread: no lock.
        self._idle: list[_Worker] = []
        self._slots_used = 0  # idle, busy or being started
        self._waiters: deque[_Waiter] = deque()

    # -- lifecycle

    def start(self) -> None:
        """Start the forkserver now, in a thread: it imports the tool modules once (seconds), after
        which each worker is a fork (milliseconds). The server answers meanwhile."""
        threading.Thread(target=forkserver.ensure_running, name="race-mcp-forkserver", daemon=True).start()

    def shutdown(self) -> None:
        for worker in self._idle:
            worker.kill()
            worker.conn.close()
        self._idle.clear()

    def _spawn(self) -> _Worker:
        ours, theirs = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=_worker_main,
            args=(theirs, self.limits.memory_mb, self.limits.seconds),
            name="race-mcp-worker",
            daemon=True,
        )
        process.start()
        theirs.close()
        return _Worker(process=process, conn=ours)

    # -- calls

    async def run(self, function: Callable[..., T], /, **kwargs: Any) -> T:
        """`function(**kwargs)` in a worker; its `RaceMcpError`s come back as `RaceMcpError`s with
        their code, and the pool's own failures as `server-busy`, `time-limit`, `memory-limit`,
        `worker-crashed`."""
        worker = await self._acquire()
        keep = False
        try:
            with anyio.fail_after(self.limits.seconds):
                reply = await anyio.to_thread.run_sync(
                    worker.exchange, (function, kwargs), abandon_on_cancel=True
                )
            keep = reply[0] != "retire"
        except TimeoutError:
            logger.info("stopped worker %s: over the %g s limit", worker.process.pid, self.limits.seconds)
            raise work_error(
                f"the call took longer than {self.limits.seconds:g} s and was stopped", "time-limit"
            ) from None
        except (EOFError, OSError):
            with anyio.CancelScope(shield=True):
                died = await anyio.to_thread.run_sync(worker.exit_description)
            logger.warning("worker %s %s", worker.process.pid, died)
            raise work_error(
                f"the worker process {died} on this input; the server is fine and the next "
                "call gets a fresh worker",
                "worker-crashed",
            ) from None
        except BaseException:
            logger.info("stopped worker %s: the caller went away", worker.process.pid)
            raise
        finally:
            self._release(worker if keep else None, dead=worker if not keep else None)
        if reply[0] == "ok":
            result: T = reply[1]
            return result
        raise work_error(reply[2], reply[1])

    async def _acquire(self) -> _Worker:
        if self._idle:
            return self._idle.pop()
        if self._slots_used < self.limits.workers:
            self._slots_used += 1
            return await self._start_in_thread()
        if len(self._waiters) >= self.limits.queue:
            raise work_error(
                f"all {self.limits.workers} workers are busy and {len(self._waiters)} calls are "
                "waiting; retry in a few seconds",
                "server-busy",
            )
        waiter = _Waiter()
        self._waiters.append(waiter)
        try:
            await waiter.ready.wait()
        except BaseException:
            self._abandon(waiter)
            raise
        if waiter.worker is not None:
            return waiter.worker
        return await self._start_in_thread()

    async def _start_in_thread(self) -> _Worker:
        try:
            return await anyio.to_thread.run_sync(self._spawn)
        except BaseException:
            self._release(None)
            raise

    def _abandon(self, waiter: _Waiter) -> None:
        """A waiter cancelled while queued: give back what it may have been handed."""
        if waiter in self._waiters:
            self._waiters.remove(waiter)
        elif waiter.worker is not None:
            self._release(waiter.worker)
        elif waiter.may_start:
            self._release(None)

    def _release(self, worker: _Worker | None, *, dead: _Worker | None = None) -> None:
        """Hand a healthy worker (or, with None, the right to start one) to the next waiter."""
        if dead is not None:
            dead.kill()
        if self._waiters:
            waiter = self._waiters.popleft()
            waiter.worker, waiter.may_start = worker, worker is None
            waiter.ready.set()
        elif worker is not None:
            self._idle.append(worker)
        else:
            self._slots_used -= 1


_shared: WorkerPool | None = None


def shared_pool() -> WorkerPool:
    """The process's one pool (workers are a machine resource, not a per-server one)."""
    global _shared
    if _shared is None:
        _shared = WorkerPool(Limits.from_environment())
        atexit.register(_shared.shutdown)
    return _shared


# ----------------------------------------------------------------------------------------------
# Callers that go away


def client_gone_event(ctx: Any) -> anyio.Event | None:
    """The HTTP request's disconnect event (set by `DisconnectWatch`), or None (stdio)."""
    from ._http import CLIENT_GONE

    try:
        request = ctx.request_context.request
    except (AttributeError, ValueError):
        return None
    scope = getattr(request, "scope", None)
    if not isinstance(scope, dict):
        return None
    event = scope.get("state", {}).get(CLIENT_GONE)
    return event if isinstance(event, anyio.Event) else None


async def unless_client_leaves(ctx: Any, work: Callable[[], Awaitable[T]]) -> T:
    """Await `work()`, cancelling it when the HTTP client disconnects.

    The 2026-07-28 HTTP wire and `notifications/cancelled` already cancel the call; a handshake-era
    HTTP session keeps a call running after its POST stream is gone, so this watches for that.
    """
    gone = client_gone_event(ctx)
    if gone is None:
        return await work()
    outcome: list[T] = []
    failure: list[Exception] = []

    async def watch(scope: anyio.CancelScope) -> None:
        await gone.wait()
        scope.cancel()

    async with anyio.create_task_group() as group:
        group.start_soon(watch, group.cancel_scope)
        try:  # raised in here, an error would reach the caller wrapped in an ExceptionGroup
            outcome.append(await work())
        except Exception as exc:
            failure.append(exc)
        group.cancel_scope.cancel()
    if failure:
        raise failure[0]
    if not outcome:
        raise work_error("the client disconnected; the call was stopped", "client-gone")
    return outcome[0]
