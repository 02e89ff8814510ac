"""RC701 (exclusive create) and RC501/RC503 (SET NX, SET NX EX before INCR) patches."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from race_mcp.remediate import propose_patches
from tests._patch_helpers import assert_diff_applies, assert_sound

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "analyzer"


def patch(before: str, rule: str) -> str:
    source = textwrap.dedent(before)
    report = propose_patches(source, "app.py", rule=rule)
    assert report.patches, report.unpatched
    return assert_sound(report, source, "app.py", rule=rule)


def test_open_after_exists_becomes_an_exclusive_open() -> None:
    before = """\
        import os
        from flask import Flask, abort

        app = Flask(__name__)


        @app.post("/uploads/<name>")
        def upload(name):
            path = os.path.join("/srv", name)
            if os.path.exists(path):
                abort(409)
            with open(path, "wb") as out:
                out.write(b"data")
            return {"saved": path}
        """
    after = """\
        import os
        from flask import Flask, abort

        app = Flask(__name__)


        @app.post("/uploads/<name>")
        def upload(name):
            path = os.path.join("/srv", name)
            try:
                with open(path, "xb") as out:
                    out.write(b"data")
            except FileExistsError:
                abort(409)
            return {"saved": path}
        """
    assert patch(before, "RC701") == textwrap.dedent(after)


def test_mkdir_if_absent_becomes_idempotent() -> None:
    before = """\
        import os
        from flask import Flask

        app = Flask(__name__)


        @app.post("/users/<user>")
        def make(user):
            directory = os.path.join("/srv", user)
            if not os.path.isdir(directory):
                os.makedirs(directory)
            return {"ok": True}
        """
    assert "    os.makedirs(directory, exist_ok=True)\n" in patch(before, "RC701")


def test_existence_check_then_set_becomes_set_nx() -> None:
    before = """\
        import redis
        from flask import Flask, request

        r = redis.Redis()
        app = Flask(__name__)


        @app.post("/coupons/<code>/use")
        def use_coupon(code):
            if r.get(f"coupon:{code}:used"):
                return {"error": "used"}, 409
            r.set(f"coupon:{code}:used", request.json["user"])
            return {"ok": True}
        """
    after_fragment = """\
            if not r.set(f"coupon:{code}:used", request.json["user"], nx=True):
                return {"error": "used"}, 409
            return {"ok": True}
        """
    assert textwrap.indent(textwrap.dedent(after_fragment), "    ") in patch(before, "RC501")


def test_incr_then_expire_creates_the_key_with_its_ttl_first() -> None:
    before = """\
        import redis

        r = redis.Redis()


        def allow_login(user: str) -> bool:
            key = f"attempts:{user}"
            attempts = r.incr(key)
            if attempts == 1:
                r.expire(key, 900)
            return attempts <= 5
        """
    after_fragment = """\
            r.set(key, 0, ex=900, nx=True)
            attempts = r.incr(key)
            return attempts <= 5
        """
    assert textwrap.indent(textwrap.dedent(after_fragment), "    ") in patch(before, "RC503")


def test_a_value_computed_from_the_read_is_declined_with_guidance() -> None:
    source = textwrap.dedent(
        """\
        import redis
        from flask import Flask

        r = redis.Redis()
        app = Flask(__name__)


        @app.post("/stock/<sku>/take")
        def take(sku):
            stock = int(r.get(f"stock:{sku}") or 0)
            if stock <= 0:
                return {"error": "sold out"}, 409
            r.set(f"stock:{sku}", stock - 1)
            return {"ok": True}
        """
    )
    report = propose_patches(source, "app.py", rule="RC501")
    assert report.patches == []
    assert [u.rule_id for u in report.unpatched] == ["RC501"]
    assert "WATCH" in report.unpatched[0].guidance


@pytest.mark.parametrize(
    ("fixture", "rule", "patched_lines", "declined_lines"),
    [
        ("RC7xx_files.py", "RC701", [30, 56, 82, 99, 164, 201], [122, 137, 153]),
        ("RC5xx_redis_sync.py", "RC501", [55], [33, 73, 92, 142, 172]),
        ("RC5xx_redis_sync.py", "RC503", [283], []),
        ("RC5xx_redis_asyncio.py", "RC501", [127], [28, 72, 97]),
        ("RC5xx_redis_asyncio.py", "RC503", [233], []),
    ],
)
def test_fixtures(
    tmp_path: Path, fixture: str, rule: str, patched_lines: list[int], declined_lines: list[int]
) -> None:
    source = (FIXTURES / fixture).read_text(encoding="utf-8")
    path = f"tests/fixtures/analyzer/{fixture}"
    report = propose_patches(source, path, rule=rule)
    assert sorted(p.line for p in report.patches) == patched_lines
    assert sorted(u.line for u in report.unpatched) == declined_lines
    assert all(u.guidance for u in report.unpatched)
    patched = assert_sound(report, source, path, rule=rule)
    assert_diff_applies(tmp_path, source, path, report.diff, patched)
