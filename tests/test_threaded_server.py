"""A project that declares a threaded WSGI server shares module state between its sync views.

Real projects written to a temporary folder and analysed whole (`analyze_paths`, the project index
included): the same Django/DRF code is a race behind `gunicorn --threads` and not behind the
default process workers, and only code a request handler reaches is run on request threads.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from race_mcp import analyze_paths
from race_mcp.analyzer.python.deployment import threaded_server
from race_mcp.findings import Finding

_REGISTRY = """\
import importlib
import sys

_plugins: dict[str, object] = {}
_memo: dict[str, str] = {}


def register(name: str, plugin: object) -> bool:
    if name in _plugins:
        return False
    _plugins[name] = plugin
    return True


def reload_plugin(name: str):
    if name in sys.modules:
        del sys.modules[name]
    return importlib.import_module(name)


def remember(name: str, value: str) -> None:
    # No handler calls this: it keeps its one-call-at-a-time reading.
    if name not in _memo:
        _memo[name] = value
"""

_LOCKED = """\
import threading

_seen: dict[str, int] = {}
_guard = threading.Lock()


def mark(name: str) -> bool:
    with _guard:
        if name in _seen:
            return False
        _seen[name] = 1
        return True
"""

_VIEWS = """\
from django.http import JsonResponse
from rest_framework.views import APIView

from plugins.locked import mark
from plugins.registry import register, reload_plugin


class PluginView(APIView):
    def post(self, request, name: str):
        module = reload_plugin(name)
        if not register(name, module):
            return JsonResponse({"error": "exists"}, status=409)
        mark(name)
        return JsonResponse({"ok": True})
"""


def _project(root: Path, deployment: dict[str, str]) -> Path:
    (root / "plugins").mkdir(parents=True)
    (root / "pyproject.toml").write_text('[project]\nname = "plugins"\nversion = "0"\n', encoding="utf-8")
    (root / "plugins" / "__init__.py").write_text("", encoding="utf-8")
    (root / "plugins" / "registry.py").write_text(_REGISTRY, encoding="utf-8")
    (root / "plugins" / "locked.py").write_text(_LOCKED, encoding="utf-8")
    (root / "plugins" / "views.py").write_text(_VIEWS, encoding="utf-8")
    for name, text in deployment.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


def _memory_findings(root: Path) -> list[Finding]:
    report = analyze_paths([str(root)])
    return [f for f in report.findings if f.rule_id.startswith("RC1")]


def _line(text: str, needle: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if needle in line)


@pytest.mark.parametrize(
    "deployment",
    [
        {"gunicorn.conf.py": "workers = 4\nthreads = 8\n"},
        {"Procfile": "web: gunicorn plugins.wsgi -k gthread --workers 2\n"},
        {"requirements.txt": "django>=4.2\nwaitress==3.0.0\n"},
        {"deploy/uwsgi.ini": "[uwsgi]\nprocesses = 2\nthreads = 4\n"},
    ],
    ids=["gunicorn-threads", "gthread", "waitress", "uwsgi-threads"],
)
def test_a_declared_threaded_server_runs_views_and_their_helpers_on_threads(
    tmp_path: Path, deployment: dict[str, str]
) -> None:
    found = _memory_findings(_project(tmp_path, deployment))
    starts = {(Path(f.path).name, f.line) for f in found}
    assert starts == {
        ("registry.py", _line(_REGISTRY, "if name in _plugins")),
        ("registry.py", _line(_REGISTRY, "if name in sys.modules")),
    }
    assert all(f.rule_id == "RC102" and "threaded server" in f.message for f in found)
    declared = next(iter(deployment))
    assert all(f"`{declared}: " in f.message for f in found)


def test_without_a_threaded_server_django_views_run_in_processes(tmp_path: Path) -> None:
    assert _memory_findings(_project(tmp_path, {"gunicorn.conf.py": "workers = 4\nthreads = 1\n"})) == []


def test_the_declaration_is_read_at_the_project_root_and_never_above(tmp_path: Path) -> None:
    (tmp_path / "gunicorn.conf.py").write_text("threads = 4\n", encoding="utf-8")
    project = tmp_path / "app"
    (project / "contrib").mkdir(parents=True)
    assert threaded_server(project) is None
    (project / "contrib" / "gunicorn.py").write_text("# per worker\nthreads = 3\n", encoding="utf-8")
    assert threaded_server(project) == "contrib/gunicorn.py: threads = 3"
    assert threaded_server(None) is None


def test_a_hostile_config_costs_its_length(tmp_path: Path) -> None:
    """Long runs of whitespace and repeated keywords without a value: the patterns stay linear."""
    hostile = "worker_class" + " " * 60_000 + "x\n" + "WSGIDaemonProcess " * 3_000
    hostile += "\nthreads =" + " " * 60_000
    (tmp_path / "gunicorn.conf.py").write_text(hostile, encoding="utf-8")
    started = time.perf_counter()
    assert threaded_server(tmp_path) is None
    assert time.perf_counter() - started < 0.5
