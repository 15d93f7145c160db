#!/usr/bin/env python3
"""Reads the Surefire report of one YAML REST suite run and compares its failures with
known-failures.txt (tests that also fail directly on the embedded node).

    report.py REPORT_DIR KNOWN_FILE [--write-failures FILE] [--update-known]

Prints the counts (run, passed, failed, skipped), the failures that are not known (each with
the first line of its message), and as a note the known failures that passed. Exit status: 0
when every failure is known, 1 otherwise, 2 when the report is missing or unreadable.

A test is named by its YAML path, `<api dir>/<file>/<test name>`, as the runner prints it
(`indices.create/10_basic/Create index with mappings`). known-failures.txt holds one such
name per line; `#` starts a comment, also after a name (kept as the reason on --update-known).
Only known failures that ran in this run count: a run of a subset (YAML_REST_SUITE) does not
call the others newly passing.
"""

import argparse
import pathlib
import re
import sys
import xml.etree.ElementTree as ET

NAME = re.compile(r"^test \{yaml=(.*)\}$")
# Longest reason kept when a new known failure is written.
MAX_REASON_CHARS = 140


def read_report(report_dir):
    """Returns {test path: (status, message)}, status in passed/failed/skipped."""
    results = {}
    files = sorted(pathlib.Path(report_dir).glob("TEST-*.xml"))
    if not files:
        raise FileNotFoundError(f"no TEST-*.xml in {report_dir}")
    for path in files:
        for case in ET.parse(path).getroot().iter("testcase"):
            match = NAME.match(case.get("name", ""))
            # Class-level problems (a suite that could not start) have no yaml name.
            name = match.group(1) if match else f"<{case.get('classname')}.{case.get('name')}>"
            status, message = "passed", ""
            for kind in ("failure", "error", "flakyFailure", "rerunFailure"):
                node = case.find(kind)
                if node is not None:
                    status = "failed"
                    message = node.get("message") or (node.text or "")
                    break
            if status == "passed" and case.find("skipped") is not None:
                status = "skipped"
            results[name] = (status, message)
    return results


def read_known(path):
    """Returns {test path: reason} in file order."""
    known = {}
    try:
        lines = pathlib.Path(path).read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return known
    for line in lines:
        name, _, reason = line.partition(" #")
        name = name.strip()
        if not name or name.startswith("#"):
            continue
        known[name] = reason.strip()
    return known


STATUS = re.compile(r"api \[([^\]]+)\] returned \[(\d{3})")
ROOT_CAUSE = re.compile(r'"type":"([^"]+)","reason":"((?:[^"\\]|\\.)*)"')


def first_line(message):
    """A one-line reason: `api: status type: reason` for an error answer, else the message."""
    text = " ".join(message.split())
    status, cause = STATUS.search(text), ROOT_CAUSE.search(text)
    if status and cause:
        text = f"{status.group(1)}: {status.group(2)} {cause.group(1)}: {cause.group(2)}"
    else:
        # "Failure at [search/10_source_filtering:12]: expected [2xx] ..." -> keep the cause.
        text = re.sub(r"^Failure at \[[^\]]*\]: ", "", text)
    return text[:MAX_REASON_CHARS]


def write_known(path, failures, results, old_known):
    header = [
        "# YAML REST tests that fail directly on the embedded OpenSearch 2.19.6 node",
        "# (scripts/backend.sh: netty4, analysis-common, painless, reindex; run.sh adds path.repo",
        "# and node.attr.testattr), with the seed in pom.xml. run.sh fails on any other failure.",
        "# Regenerate: tests/yaml-rest/run.sh --direct --update-known (see README.md).",
        "# Format: <api dir>/<file>/<test name>  # reason (first line of the failure)",
    ]
    lines = []
    for name in sorted(failures):
        reason = old_known.get(name) or first_line(results[name][1])
        lines.append(f"{name}  # {reason}" if reason else name)
    pathlib.Path(path).write_text("\n".join(header + lines) + "\n", encoding="utf-8")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("report_dir")
    parser.add_argument("known_file")
    parser.add_argument("--write-failures", help="write this run's failures, one per line")
    parser.add_argument("--update-known", action="store_true", help="rewrite KNOWN_FILE from this run")
    args = parser.parse_args()

    try:
        results = read_report(args.report_dir)
    except (OSError, ET.ParseError) as error:
        print(f"yaml-rest: cannot read the Surefire report: {error}", file=sys.stderr)
        return 2
    known = read_known(args.known_file)

    counts = {"passed": 0, "failed": 0, "skipped": 0}
    for status, _ in results.values():
        counts[status] += 1
    failures = sorted(name for name, (status, _) in results.items() if status == "failed")
    print(
        f"yaml-rest: {len(results)} tests: {counts['passed']} passed, "
        f"{counts['failed']} failed, {counts['skipped']} skipped"
    )
    if args.write_failures:
        pathlib.Path(args.write_failures).write_text("".join(f"{n}\n" for n in failures), encoding="utf-8")

    if args.update_known:
        write_known(args.known_file, failures, results, known)
        print(f"yaml-rest: wrote {len(failures)} known failures to {args.known_file}")
        return 0

    unexpected = [name for name in failures if name not in known]
    passing = sorted(name for name in known if results.get(name, ("",))[0] == "passed")
    if passing:
        print(f"note: {len(passing)} known failures passed (remove them from {args.known_file}?):")
        for name in passing:
            print(f"  {name}")
    if unexpected:
        print(f"FAIL: {len(unexpected)} failures not in {args.known_file}:")
        for name in unexpected:
            print(f"  {name}\n      {first_line(results[name][1])}")
        return 1
    print(f"yaml-rest: every failure is in {args.known_file} ({len(failures)} of {len(known)} known)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
