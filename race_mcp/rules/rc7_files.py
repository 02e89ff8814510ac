"""Catalog entries for the RC7xx filesystem rules."""

from __future__ import annotations

from ._model import Rule, snippet

__all__ = ["FAMILY", "PREFIX", "RULES"]

PREFIX = "RC7"
FAMILY = "RC7xx filesystem"


RULES: list[Rule] = [
    Rule(
        id="RC701",
        name="fs-exists-then-create",
        title="Path checked for existence, then created or replaced in a separate call",
        family=FAMILY,
        severity="medium",
        cwe="CWE-367",
        fix=(
            "Create atomically: a file with `open(path, 'x')` or `os.open(path, os.O_CREAT | "
            "os.O_EXCL)`; a directory with `os.makedirs(path, exist_ok=True)` (or `os.mkdir` in a "
            "`try` that catches `FileExistsError` when it must be new)."
        ),
        what_it_does=(
            "Flags `os.path.exists()`, `os.path.isfile()`, `os.path.isdir()` or `Path.exists()` "
            "on a path, followed by a call that creates or replaces that same path: `open(path, "
            "'w' / 'wb')` (not `'a'`: appending never truncates), `Path.open('w')`, `os.mkdir` / "
            "`os.makedirs` / `Path.mkdir`, "
            "`os.rename` / `os.replace`, `os.symlink`, `shutil.move` / `shutil.copy`; the same "
            "through python-fsutil (`fsutil.exists` then `fsutil.write_file`, unless "
            "`atomic=True`) and aiofiles. Also flags a file created exclusively (`os.open(path, "
            "O_CREAT | O_EXCL)`, `open(path, 'x')`) and filled afterwards while the request that "
            "lost the creation reads it in its `except FileExistsError:` (it can read the file "
            "empty). A check whose branch only removes the path before an overwrite (`if "
            "final.exists(): final.unlink()` then a move) decides nothing and is left alone."
        ),
        why_bad=(
            "The check and the creation are two system calls. Between them another request, "
            "worker or process can create the file: two uploads with the same name both pass "
            "`exists()` and the second silently overwrites the first, two workers both take a "
            "lock file, `makedirs` raises `FileExistsError` in the request that lost. When the "
            "directory is writable by others, an attacker can plant a symlink in the window and "
            "redirect the write (the classic TOCTOU)."
        ),
        example=snippet(
            """
            import os
            from flask import Flask, abort, request

            app = Flask(__name__)

            @app.post("/uploads/<name>")
            def upload(name):
                path = os.path.join("/srv/uploads", os.path.basename(name))
                if os.path.exists(path):
                    abort(409)
                with open(path, "wb") as out:
                    out.write(request.get_data())
                return {"saved": name}, 201
            """
        ),
        use_instead=snippet(
            """
            import os
            from flask import Flask, abort, request

            app = Flask(__name__)

            @app.post("/uploads/<name>")
            def upload(name):
                path = os.path.join("/srv/uploads", os.path.basename(name))
                try:
                    with open(path, "xb") as out:
                        out.write(request.get_data())
                except FileExistsError:
                    abort(409)
                return {"saved": name}, 201
            """
        ),
        fix_safety=(
            "`open(path, 'x')` and `os.open(path, O_CREAT | O_EXCL)` make the existence check and "
            "the creation one atomic system call; the losing caller gets `FileExistsError`, which "
            "must be handled where the old check answered. `os.makedirs(..., exist_ok=True)` "
            "changes a crash into success, which is right for shared directories and wrong for "
            "a directory that must be new. To replace a file atomically, write a temporary file in "
            "the same directory and `os.replace` it; to publish without overwriting, use `os.link`."
        ),
        known_problems=(
            "The checked path and the created path are compared as expressions after simple "
            "assignments are followed; two different expressions for the same file are missed. A "
            "check that only guards a read is not reported. A check written below the write in "
            "the same function is taken as an earlier call's or loop turn's (the local then named "
            "another path), so a retry loop that re-checks one fixed path after writing it is missed."
        ),
        references=[
            "CWE-367: Time-of-check Time-of-use (TOCTOU) Race Condition",
            "https://docs.python.org/3/library/functions.html#open (mode 'x')",
            "https://docs.python.org/3/library/os.html#os.open (O_CREAT | O_EXCL)",
            "CodeQL js/file-system-race (FileSystemRace.ql)",
        ],
    ),
]
