"""How the project says it is served: a WSGI server that runs requests on threads.

Sync Django views are modelled as served by worker processes (gunicorn's default sync workers),
where module state is not shared between concurrent requests. A project that declares a threaded
server shares it: waitress always serves from a thread pool, gunicorn with `threads = N` (or
`--threads N`, `worker_class = "gthread"`), uWSGI and mod_wsgi with `threads=N`. NetBox ships
`contrib/gunicorn.py` with `threads = 3`; a Pyramid app's `production.ini` names
`egg:waitress#main`. The evidence is read from a bounded set of deployment and dependency files
at the project root and in its usual deployment folders, never above the root.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

__all__ = ["threaded_server"]

# Folders of a checkout where deployment files usually live (the root itself first).
_FOLDERS = ("", "contrib", "deploy", "deployment", "docker", "config", "conf", "etc", "ops", "server")
_FILE_NAMES = re.compile(
    r"^(?:gunicorn[\w.-]*\.(?:py|conf|cfg)|[\w.-]*\.ini|uwsgi[\w.-]*|Procfile|Dockerfile[\w.-]*"
    r"|docker-compose[\w.-]*\.ya?ml|compose[\w.-]*\.ya?ml|requirements[\w.-]*\.(?:txt|in)|setup\.py"
    r"|setup\.cfg|pyproject\.toml|Pipfile|[\w.-]*\.wsgi|[\w.-]*apache[\w.-]*\.conf|supervisor[\w.-]*\.conf)$"
)
_MAX_FILES = 60
_MAX_BYTES = 64_000
# Each applied to one line at a time, and linear: a hostile config file costs its length.
_THREADS_SETTING = re.compile(r"^[ \t]*threads[ \t]*=[ \t]*(\d+)")  # gunicorn.conf.py, uwsgi.ini
_THREADS_FLAG = re.compile(r"--threads[= ]+(\d+)")  # gunicorn / uwsgi command lines
_THREADS_OPTION = re.compile(r"\bthreads=(\d+)")  # mod_wsgi's WSGIDaemonProcess
_GTHREAD = re.compile(r"""worker[_-]class[ \t]*(?:=[ \t]*)?["']?gthread|(?:^|[ \t])-k[ \t]+gthread\b""")
_WAITRESS = re.compile(r"^[ \t]*[\"']?waitress\b|egg:waitress|waitress-serve|\bwaitress\.serve\(")


def threaded_server(root: str | Path | None) -> str | None:
    """`"<file>: <line>"` of the first declaration of a threaded server under `root`, else None."""
    if root is None:
        return None
    # Cached per root while its folders are unchanged (a long-running server sees a new config).
    return _scan(str(root), tuple(_mtime(Path(root) / folder) for folder in _FOLDERS))


def _mtime(directory: Path) -> int:
    try:
        return directory.stat().st_mtime_ns
    except OSError:
        return -1


@lru_cache(maxsize=64)
def _scan(root: str, _stamps: tuple[int, ...]) -> str | None:
    base = Path(root)
    seen = 0
    for folder in _FOLDERS:
        directory = base / folder if folder else base
        try:
            entries = sorted(directory.iterdir()) if directory.is_dir() and not directory.is_symlink() else []
        except OSError:
            continue
        for path in entries:
            if not _FILE_NAMES.match(path.name) or path.is_symlink() or not path.is_file():
                continue
            seen += 1
            if seen > _MAX_FILES:
                return None
            found = _declares(path)
            if found is not None:
                return f"{path.relative_to(base).as_posix()}: {found}"
    return None


def _declares(path: Path) -> str | None:
    try:
        with path.open("rb") as handle:
            text = handle.read(_MAX_BYTES).decode("utf-8", errors="replace")
    except OSError:
        return None
    for line in text.splitlines():
        if _threads(line) > 1 or _GTHREAD.search(line) or _WAITRESS.search(line):
            return line.strip()[:80]
    return None


def _threads(line: str) -> int:
    """The thread count a line sets (0 when it sets none)."""
    found = _THREADS_SETTING.match(line) or _THREADS_FLAG.search(line)
    if found is None and "WSGIDaemonProcess" in line:
        found = _THREADS_OPTION.search(line)
    return int(found.group(1)) if found is not None else 0
