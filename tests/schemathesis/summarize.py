"""Summarize the schemathesis runs of `.ci/schemathesis.sh run`.

Usage: summarize.py NAME:EXIT_CODE:REPORT_JSON ...

Each argument is one configuration: its name, the exit code of `st run`
(124 when `timeout` stopped it) and the JSON report it wrote (which may be
missing if it crashed or was stopped). Prints a line per configuration and
per kind of failure, then one closing line:

    schemathesis: PASS: 4 configurations (open PASS, …), 17 operations, N test cases, 0 unique failures

and exits 1 when any configuration failed, else 0.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Outcome:
    name: str
    exit_code: int
    report: dict | None
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems


def load(argument: str) -> Outcome:
    name, exit_code, path = argument.split(":", 2)
    report = None
    report_path = Path(path)
    if report_path.is_file():
        try:
            report = json.loads(report_path.read_text())
        except json.JSONDecodeError as error:
            outcome = Outcome(name, int(exit_code), None)
            outcome.problems.append(f"unreadable report {path}: {error}")
            return outcome
    outcome = Outcome(name, int(exit_code), report)
    if outcome.exit_code == 124:
        outcome.problems.append("stopped by the time bound")
    if report is None:
        outcome.problems.append(f"no report at {path} (st exit code {outcome.exit_code})")
        return outcome
    failures = report["test_cases"]["unique_failures"]
    errors = len(report.get("errors", []))
    if failures:
        outcome.problems.append(f"{failures} unique failures")
    if errors:
        outcome.problems.append(f"{errors} errors")
    if not report.get("complete", False):
        outcome.problems.append(f"incomplete run ({report.get('stop_reason')})")
    if report["operations"]["tested"] == 0:
        outcome.problems.append("no operation tested")
    if outcome.exit_code != 0 and not outcome.problems:
        outcome.problems.append(f"st exit code {outcome.exit_code}")
    return outcome


def describe(outcome: Outcome) -> list[str]:
    verdict = "PASS" if outcome.passed else "FAIL"
    report = outcome.report
    if report is None:
        return [f"  {outcome.name:<12} {verdict}  {'; '.join(outcome.problems)}"]
    operations = report["operations"]
    cases = report["test_cases"]
    phases = ", ".join(
        f"{phase} {info['status']}" for phase, info in report["phases"].items() if info["status"] != "skip"
    )
    # The counts are on the line already; say what else went wrong.
    others = [problem for problem in outcome.problems if not problem.endswith("unique failures")]
    lines = [
        f"  {outcome.name:<12} {verdict}  {operations['tested']}/{operations['total']} operations, "
        f"{cases['generated']} test cases, {cases['unique_failures']} unique failures, "
        f"{len(report.get('errors', []))} errors, {report['running_time']:.0f}s, "
        f"seed {report['seed']}" + (f"; {'; '.join(others)}" if others else "")
    ]
    lines.append(f"  {'':<12}       phases: {phases}")
    for failure in report.get("failures", []):
        lines.append(
            f"  {'':<12}       {failure['code']} {failure['title']} (x{failure['count']}): "
            + ", ".join(failure["operations"])
        )
    for error in report.get("errors", []):
        lines.append(f"  {'':<12}       error: {json.dumps(error)[:300]}")
    warnings = {name: ops for name, ops in report.get("warnings", {}).items() if ops}
    for name, ops in warnings.items():
        shown = ", ".join(ops) if isinstance(ops, list) else json.dumps(ops)[:200]
        lines.append(f"  {'':<12}       warning {name}: {shown}")
    return lines


def main(arguments: list[str]) -> int:
    if not arguments:
        print(__doc__, file=sys.stderr)
        return 2
    outcomes = [load(argument) for argument in arguments]
    print("schemathesis results:")
    for outcome in outcomes:
        for line in describe(outcome):
            print(line)
    reports = [outcome.report for outcome in outcomes if outcome.report is not None]
    operations = max((report["operations"]["tested"] for report in reports), default=0)
    cases = sum(report["test_cases"]["generated"] for report in reports)
    failures = sum(report["test_cases"]["unique_failures"] for report in reports)
    passed = all(outcome.passed for outcome in outcomes)
    configurations = ", ".join(
        f"{outcome.name} {'PASS' if outcome.passed else 'FAIL'}" for outcome in outcomes
    )
    print(
        f"schemathesis: {'PASS' if passed else 'FAIL'}: {len(outcomes)} configurations "
        f"({configurations}), {operations} operations, {cases} test cases, "
        f"{failures} unique failures"
    )
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
