"""How sure a finding in code no entry point reaches can be (issue 11).

A finding's root is an entry point (a route, a task: high confidence; a management command: low),
a helper some entry point of another module calls (that entry's confidence, with its route), or
code nothing here is seen to reach: medium, since service code is often called in ways the index
does not follow (Django URLconfs, signal wiring, model methods called by views of other modules).
The review measured it: unreached findings were no less often true than reached ones (0.24 true,
0.58 true + plausible over 55, against 0.18 and 0.63 over 38 reached by a request or task), so
they are not lowered. Development tooling is the exception: a data seeder or a one-off script
runs once, by hand, with nobody racing it, so its findings are low; so does a migration.
"""

from __future__ import annotations

import re

from ...findings import Confidence
from ..core import model

__all__ = ["ONE_PROCESS_KINDS", "entry_confidence", "unreached_confidence"]

# Entry points one process runs at a time, by hand or at boot: a management command, a startup or
# shutdown hook (each worker runs it once, before it serves).
ONE_PROCESS_KINDS = frozenset({"command", "startup"})

# Modules named as development data or scripts: `populate.py`, `fake_data.py`, `random_data.py`,
# `seed_db.py`, `scripts/…`, `seeders/…`, factories for tests and demos, code generators
# (`scaffold.py`: netbox's writes new plugin files once, by hand), and schema or data migrations
# (`migrations.py` of functions `m001_…`, `migrations/`, `alembic/versions/`: run once per deploy,
# before the application serves; lnbits).
_DEV_PATH = re.compile(
    r"(?:^|/)(?:scripts?|seeds?|seeders?|factories|migrations|alembic/versions)/"
    r"|(?:^|/)(?:populate|seed|seeds|seeder|fake_?data|random_?data|dev_?data|demo_?data|sample_?data"
    r"|factories|generate_?data|scaffold|migrations?|migrate)\w*\.py$",
    re.IGNORECASE,
)


def unreached_confidence(module: model.ModuleModel) -> Confidence:
    """`low` for a development seeder or script, by its name, else `medium`. A `__main__` guard
    says nothing: long-running servers have one too (simple-login's `email_handler.py`)."""
    return "low" if _DEV_PATH.search(module.path.replace("\\", "/")) else "medium"


def entry_confidence(entry: model.EntryPoint) -> Confidence:
    """`high` for what requests, tasks and messages reach; `low` for a management command, and for
    a helper only a command reaches: it is run by hand or by one cron process, so its race needs a
    second writer nothing here shows. In the issue 11 review (six applications) none of the nine
    findings commands reached was a true race and one was plausible (a sync command racing a
    queued job of the same sync): as medium they were a fifth of the medium findings' errors.
    Startup and shutdown hooks likewise (lnbits' extension registry, reviewed false)."""
    return "low" if entry.kind in ONE_PROCESS_KINDS else "high"
