"""How sure a finding in code no entry point reaches can be (issue 11).

A finding's root is an entry point (a route, a task, a command: high confidence), a helper some
entry point of another module calls (high, with that entry's route), or code nothing here is seen
to reach: medium, since service code is often called in ways the index does not follow (Django
URLconfs, plugin registries). Development tooling is the exception: a data seeder or a one-off
script runs once, by hand, with nobody racing it, so its findings are low.
"""

from __future__ import annotations

import re

from ...findings import Confidence
from ..core import model

__all__ = ["entry_confidence", "unreached_confidence"]

# Modules named as development data or scripts: `populate.py`, `fake_data.py`, `random_data.py`,
# `seed_db.py`, `scripts/…`, `seeders/…`, factories for tests and demos.
_DEV_PATH = re.compile(
    r"(?:^|/)(?:scripts?|seeds?|seeders?|factories)/"
    r"|(?:^|/)(?:populate|seed|seeds|seeder|fake_?data|random_?data|dev_?data|demo_?data|sample_?data"
    r"|factories|generate_?data)\w*\.py$",
    re.IGNORECASE,
)


def unreached_confidence(module: model.ModuleModel) -> Confidence:
    """`low` for a development seeder or script, by its name, else `medium`. A `__main__` guard
    says nothing: long-running servers have one too (simple-login's `email_handler.py`)."""
    return "low" if _DEV_PATH.search(module.path.replace("\\", "/")) else "medium"


def entry_confidence(entry: model.EntryPoint) -> Confidence:
    """`high` for what requests, tasks and messages reach; `medium` for a management command: it is
    run by hand or by one cron process, so its race needs a second writer nothing here shows
    (healthchecks' and oscar's commands were most of their false findings in the review)."""
    return "medium" if entry.kind == "command" else "high"
