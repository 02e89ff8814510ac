"""`race_mcp/__init__.py` is the front door: `__all__` lists exactly the public names."""

import race_mcp


def test_all_is_sorted_public_surface() -> None:
    public = sorted(name for name in dir(race_mcp) if not name.startswith("_") or name == "__version__")
    exported = sorted(race_mcp.__all__)
    modules = {"analyzer", "burst", "config", "errors", "findings", "openapi", "remediate", "roots", "rules"}
    assert [name for name in public if name not in modules and not _is_submodule(name)] == exported


def _is_submodule(name: str) -> bool:
    return type(getattr(race_mcp, name)).__name__ == "module"


def test_version_is_a_string() -> None:
    assert isinstance(race_mcp.__version__, str) and race_mcp.__version__.count(".") == 2
