"""Hostile and broken specs: each is refused or contained with a one-line message, never a crash.

The remote `$ref` tests run a real HTTP server on 127.0.0.1 and count the requests it receives.
"""

from __future__ import annotations

import json
import os
import threading
import time
import tracemalloc
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from race_mcp import InputError, Settings
from race_mcp.config import OpenApiSettings
from race_mcp.errors import RaceMcpError
from race_mcp.openapi import check_openapi

HEAD = "openapi: 3.0.3\ninfo: {title: t, version: '1'}\n"
IF_MATCH_PUT = """paths:
  /orders/{{id}}:
    put:
      parameters:
        - $ref: "{ref}"
      responses:
        "200": {{description: ok}}
        "412": {{description: stale}}
"""


def _spec(tmp_path: Path, text: str, name: str = "openapi.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _refuses(path: Path, *fragments: str, settings: Settings | None = None, code: str | None = None) -> str:
    with pytest.raises(InputError) as caught:
        check_openapi(path, settings=settings)
    message = str(caught.value)
    if code is not None:
        assert caught.value.code == code, (caught.value.code, message)
    assert "\n" not in message and "Traceback" not in message
    for fragment in fragments:
        assert fragment in message, message
    return message


# -- YAML bombs and limits --------------------------------------------------------------------------


def _billion_laughs() -> str:
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, 10):
        name, previous = chr(ord("a") + level), chr(ord("a") + level - 1)
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
    return HEAD + "x-bomb:\n" + "\n".join("  " + line for line in lines) + "\npaths: {}\n"


def test_alias_bomb_is_refused_fast_and_small(tmp_path: Path) -> None:
    spec = _spec(tmp_path, _billion_laughs())
    tracemalloc.start()
    started = time.perf_counter()
    message = _refuses(spec, "alias", "openapi.yaml:", code="yaml-alias-bomb")
    elapsed = time.perf_counter() - started
    _current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert elapsed < 1.0, elapsed
    assert peak < 20_000_000, peak
    assert "bomb" in message


def test_recursive_alias_is_refused(tmp_path: Path) -> None:
    _refuses(_spec(tmp_path, HEAD + "x-loop: &loop\n  self: *loop\npaths: {}\n"), code="yaml-alias-loop")


def test_legitimate_anchors_still_load(tmp_path: Path) -> None:
    text = HEAD + "x-ok: &ok {description: ok}\npaths:\n  /a:\n    get:\n      responses: {'200': *ok}\n"
    assert check_openapi(_spec(tmp_path, text)).errors == []


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("x: " + "[" * 100_000 + "]" * 100_000, "yaml-too-deep"),
        ("x: " + "[" * 300 + "]" * 300, "yaml-too-deep"),
        (
            "x:\n" + "".join("  " * level + f"k{level}:\n" for level in range(300)) + "  " * 300 + "v: 1\n",
            "yaml-too-deep",
        ),
        ('{"a":' * 100_000 + "1" + "}" * 100_000, "json-too-deep"),
    ],
    ids=["yaml-flow", "yaml-flow-300", "yaml-block-300", "json"],
)
def test_deep_nesting_is_refused_not_crashed(tmp_path: Path, text: str, code: str) -> None:
    # The reason code, not the wording: which parser notices first (ours or libyaml's) may change.
    _refuses(_spec(tmp_path, text), code=code)


def test_file_over_the_size_cap_is_refused_before_reading(tmp_path: Path) -> None:
    huge = tmp_path / "huge.yaml"
    with huge.open("wb") as handle:  # sparse: 40 MB on paper, nothing on disk
        handle.truncate(40_000_000)
    started = time.perf_counter()
    _refuses(huge, "40,000,000 bytes", "32,000,000-byte limit", code="too-large")
    assert time.perf_counter() - started < 0.5
    small_cap = Settings(openapi=OpenApiSettings(max_spec_bytes=100))
    _refuses(_spec(tmp_path, HEAD + "paths: {}\n" + "#" * 200), "over the 100-byte limit", settings=small_cap)


# -- not OpenAPI, not text, not well-formed ---------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "fragment", "code"),
    [
        ("binary.yaml", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary file", "binary-file"),
        ("latin1.yaml", "openapi: 3.0.0\ntitle: caf\xe9\n".encode("latin-1"), "not UTF-8", "not-utf8"),
        ("bad.yaml", b"openapi: 3.0.0\npaths:\n  /a: [1, 2\n", "bad.yaml:4:1:", "invalid-yaml"),
        ("bad.json", b'{"openapi": "3.0.0",\n "paths": {,}}', "bad.json:2:12:", "invalid-json"),
        ("list.yaml", b"- openapi: 3.0.0\n", "the top level is list", "not-openapi"),
        ("empty.yaml", b"", "the top level is empty", "not-openapi"),
        ("plain.yaml", b"just some text\n", "the top level is str", "not-openapi"),
        ("other.yaml", b"name: my-chart\nversion: 1.0.0\n", "no 'openapi' or 'swagger' field", "not-openapi"),
        ("v4.yaml", b"openapi: 4.0.0\n", "unsupported OpenAPI version '4.0.0'", "unsupported-version"),
        ("swagger1.json", b'{"swagger": "1.2"}', "unsupported Swagger version '1.2'", "unsupported-version"),
        ("paths.yaml", b"openapi: 3.1.0\npaths: [1]\n", "#/paths: must be a mapping", "not-openapi"),
        (
            "two.yaml",
            b"openapi: 3.1.0\n---\nopenapi: 3.1.0\n",
            "more than one YAML document",
            "yaml-many-documents",
        ),
        ("key.yaml", b"openapi: 3.1.0\n? [a, b]\n: c\n", "used as a mapping key", "yaml-complex-key"),
        ("alias.yaml", b"openapi: 3.1.0\nx: *nowhere\n", "*nowhere", "yaml-unknown-alias"),
    ],
)
def test_unusable_files_get_one_line_errors(
    tmp_path: Path, name: str, content: bytes, fragment: str, code: str
) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    _refuses(path, fragment, code=code)


def test_missing_spec_and_directory(tmp_path: Path) -> None:
    _refuses(tmp_path / "nope.yaml", "nope.yaml: no such file", code="not-found")
    _refuses(tmp_path, code="is-directory")


# -- $refs that try to leave ------------------------------------------------------------------------


def _ref_error(tmp_path: Path, ref: str, code: str) -> tuple[str, list[str]]:
    report = check_openapi(_spec(tmp_path, HEAD + IF_MATCH_PUT.format(ref=ref)))
    assert len(report.errors) == 1, report.errors
    assert report.errors[0].code == code, report.errors[0]
    assert report.spec is not None
    return report.errors[0].message, report.spec.files


@pytest.mark.parametrize("ref", ["../../../../../../etc/passwd", "/etc/passwd", "file:///etc/passwd"])
def test_file_refs_may_not_escape_the_spec_directory(tmp_path: Path, ref: str) -> None:
    message, files = _ref_error(tmp_path, ref, "ref-outside-roots")
    assert "openapi.yaml#/paths/~1orders~1{id}/put/parameters/0" in message
    assert "outside the spec's directory and the allowed roots" in message
    assert all("passwd" not in name for name in files)


def test_symlink_out_of_the_spec_directory_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.yaml").write_text("IfMatch: {name: If-Match, in: header}\n", encoding="utf-8")
    api = tmp_path / "api"
    api.mkdir()
    os.symlink(outside / "secret.yaml", api / "link.yaml")
    message, _files = _ref_error(api, "link.yaml#/IfMatch", "ref-outside-roots")
    assert "outside" in message


def test_ref_roots_and_configured_roots_widen_the_sandbox(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "params.yaml").write_text("IfMatch: {name: If-Match, in: header}\n", encoding="utf-8")
    api = tmp_path / "api"
    api.mkdir()
    spec = _spec(api, HEAD + IF_MATCH_PUT.format(ref="../shared/params.yaml#/IfMatch"))
    assert len(check_openapi(spec).errors) == 1
    assert check_openapi(spec, ref_roots=[shared]).errors == []
    configured = Settings(roots=["shared"], config_dir=str(tmp_path))
    assert check_openapi(spec, settings=configured).errors == []


def test_unsupported_scheme_missing_target_and_missing_file(tmp_path: Path) -> None:
    assert "'python'" in _ref_error(tmp_path, "python://os/path", "ref-unsupported-scheme")[0]
    assert "/components" in _ref_error(tmp_path, "#/components/parameters/Nope", "ref-target-missing")[0]
    assert "absent.yaml" in _ref_error(tmp_path, "absent.yaml#/IfMatch", "not-found")[0]
    assert "#IfMatch" in _ref_error(tmp_path, "#IfMatch", "ref-bad-pointer")[0]


def test_circular_refs_are_reported_and_recursive_schemas_are_fine(tmp_path: Path) -> None:
    text = (
        HEAD
        + IF_MATCH_PUT.format(ref="#/components/parameters/A")
        + (
            "components:\n  parameters:\n    A: {$ref: '#/components/parameters/B'}\n"
            "    B: {$ref: '#/components/parameters/A'}\n"
            "  schemas:\n    Tree: {type: object, properties: {\n"
            "      children: {type: array, items: {$ref: '#/components/schemas/Tree'}},\n"
            "      parent: {$ref: '#/components/schemas/Tree'}}}\n"
        )
    )
    text = text.replace(
        '"200": {description: ok}',
        '"200": {description: ok, content: {application/json: '
        "{schema: {$ref: '#/components/schemas/Tree'}}}}",
    )
    report = check_openapi(_spec(tmp_path, text))
    assert [error.message.split(": $ref")[0] for error in report.errors] == [
        f"{tmp_path / 'openapi.yaml'}#/paths/~1orders~1{{id}}/put/parameters/0"
    ]
    assert report.errors[0].code == "ref-circular"


def test_errors_are_all_from_the_one_exception_tree(tmp_path: Path) -> None:
    for text in (_billion_laughs(), "[" * 50_000, "\x00"):
        with pytest.raises(RaceMcpError):
            check_openapi(_spec(tmp_path, text))


# -- remote $refs -----------------------------------------------------------------------------------


class _Recorder(BaseHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self) -> None:
        type(self).requests.append(self.path)
        body = json.dumps({"IfMatch": {"name": "If-Match", "in": "header", "schema": {"type": "string"}}})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def loopback_server() -> Iterator[tuple[str, list[str]]]:
    recorder = type("Recorder", (_Recorder,), {"requests": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", recorder.requests
    finally:
        server.shutdown()
        server.server_close()


def test_remote_ref_is_not_fetched_by_default(tmp_path: Path, loopback_server: tuple[str, list[str]]) -> None:
    host, requests = loopback_server
    spec = _spec(tmp_path, HEAD + IF_MATCH_PUT.format(ref=f"http://{host}/headers.json#/Precondition"))
    report = check_openapi(spec)
    assert requests == []
    [error] = report.errors
    assert error.path == str(spec)
    assert "#/paths/~1orders~1{id}/put/parameters/0" in error.message
    assert error.code == "remote-not-allowed" and host in error.message


def test_unfetched_remote_ref_named_for_a_header_still_counts(tmp_path: Path) -> None:
    ref = "https://opensource.zalando.com/restful-api-guidelines/models/headers-1.0.0.yaml#/If-Match"
    report = check_openapi(
        _spec(tmp_path, HEAD + IF_MATCH_PUT.format(ref=ref)), settings=Settings(select=["RA101"])
    )
    assert report.findings == [] and len(report.errors) == 1


def test_allowlisted_remote_ref_is_fetched_once(
    tmp_path: Path, loopback_server: tuple[str, list[str]]
) -> None:
    host, requests = loopback_server
    text = HEAD + IF_MATCH_PUT.format(ref=f"http://{host}/headers.json#/IfMatch")
    text += (
        "  /carts/{id}:\n    put:\n      parameters: [{$ref: 'http://" + host + "/headers.json#/IfMatch'}]\n"
    )
    text += "      responses: {'200': {description: ok}, '412': {description: stale}}\n"
    spec = _spec(tmp_path, text)
    report = check_openapi(spec, allow_remote_hosts=[host], settings=Settings(select=["RA101"]))
    assert report.errors == [] and report.findings == []
    assert requests == ["/headers.json"]
    configured = Settings(select=["RA101"], openapi=OpenApiSettings(remote_hosts=[host]))
    assert check_openapi(spec, settings=configured).errors == []
