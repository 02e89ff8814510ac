"""The JavaScript/TypeScript recognizers, each registered on the store's existing `StoreSpec`
(`core.stores.add_recognizer`): the same keys, rules and messages as Python's."""

from __future__ import annotations

__all__: list[str] = []
