#!/usr/bin/env python3
"""Turns a results file of bench.py (`run.sh all` writes tuning/results/<date>-<host>.json
and .md) into a plot, and copies its tables into tuning/README.md.

    report.py plot tuning/results/2026-11-30-dev.json   # writes the .png beside it (gnuplot)
    report.py readme                                     # the latest .md into tuning/README.md

`plot` draws two panels: open-loop latency percentiles (p50, p99, p99.9) per proxy and load
level (the openloop scenario), and memory per idle keep-alive connection per proxy (idle).
`readme` replaces what lies between `<!-- perf:begin -->` and `<!-- perf:end -->` in the
README with the date, the machine and the tables of the chosen scenarios.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import subprocess
import sys
import tempfile
from pathlib import Path

TUNING = Path(__file__).resolve().parents[1]
RESULTS = TUNING / "results"
README = TUNING / "README.md"
BEGIN, END = "<!-- perf:begin -->", "<!-- perf:end -->"
# The scenarios the README shows: throughput, latency and memory (not the attack runs).
README_SCENARIOS = ("proxy", "tls", "idle", "bulk", "large", "openloop", "scaling")
PERCENTILES = (("p50 ms", "p50", 1), ("p99 ms", "p99", 2), ("p99.9 ms", "p99.9", 4))


def finite(value: object) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def openloop_series(scenarios: dict) -> dict[str, list[tuple[int, dict]]]:
    """Proxy name -> [(load %, columns)] from the openloop rows (not the wrk capacity rows)."""
    series: dict[str, list[tuple[int, dict]]] = {}
    for row in scenarios.get("openloop", []):
        load = str(row["columns"].get("load", ""))
        if load.endswith("%"):
            proxy = row["name"].split(":")[0].split(",")[0]
            series.setdefault(proxy, []).append((int(load[:-1]), row["columns"]))
    return series


def plot(results: Path, out: Path) -> None:
    data = json.loads(results.read_text())
    meta, scenarios = data["meta"], data["scenarios"]
    work = Path(tempfile.mkdtemp(prefix="ringfence-plot-"))
    commands = []
    series = openloop_series(scenarios)
    if series:
        lines = []
        for i, (proxy, points) in enumerate(series.items()):
            path = work / f"openloop-{i}.dat"
            # Infinite percentiles (requests lost) cannot be drawn: left out, said in the key.
            path.write_text("".join(
                f"{load} " + " ".join(str(c[key]) if finite(c.get(key)) else "NaN"
                                      for key, _, _ in PERCENTILES) + "\n"
                for load, c in sorted(points)))
            for column, (_, label, dash) in enumerate(PERCENTILES, start=2):
                lines.append(f"'{path}' using 1:{column} with linespoints lc {i + 1} dt {dash} "
                             f"pt {i + 5} title '{proxy} {label}'")
        commands += ["set title \"Open-loop latency at a share of each proxy's capacity "
                     "(loadgen, 64 connections)\"", "set logscale y",
                     "set ylabel 'ms from the scheduled time'", "set xrange [45:95]",
                     "set xtics ('50%%' 50, '70%%' 70, '90%%' 90)", "set key outside below horizontal font ',8'",
                     "set grid", "plot " + ", ".join(lines), "unset logscale y", "unset xrange",
                     "unset xtics", "set xtics"]
    idle = [(row["name"], row["columns"].get("KiB/conn (RSS)"))
            for row in scenarios.get("idle", []) if finite(row["columns"].get("KiB/conn (RSS)"))]
    if idle:
        path = work / "idle.dat"
        path.write_text("".join(f"{i} {value} \"{name.split(',')[0]}\"\n"
                                for i, (name, value) in enumerate(idle)))
        commands += ["set title 'Memory per idle keep-alive connection (RSS)'",
                     "set ylabel 'KiB per connection'", "set style fill solid 0.6",
                     "set boxwidth 0.6", "set yrange [0:*]", "set xrange [-0.6:*]",
                     "set xtics rotate by -20 font ',8'", "unset key",
                     f"plot '{path}' using 1:2:xtic(3) with boxes lc 3, "
                     f"'' using 1:2:(sprintf('%.1f', $2)) with labels offset 0,0.7"]
    if not commands:
        sys.exit(f"{results}: no openloop or idle results to plot")
    panels = (1 if series else 0) + (1 if idle else 0)
    script = [f"set terminal pngcairo noenhanced size {700 * panels},600 font 'sans,10'",
              f"set output '{out}'",
              f"set multiplot layout 1,{panels} title 'Ringfence load results, {meta['date']}, "
              f"{meta['host']} ({meta['cores']} cores)'",
              *commands, "unset multiplot"]
    subprocess.run(["gnuplot"], input="\n".join(script), text=True, check=True)
    print(f"wrote {out}")


def latest_markdown() -> Path:
    files = sorted(RESULTS.glob("*.md"), key=lambda p: p.stat().st_mtime)
    if not files:
        sys.exit(f"no results in {RESULTS}: run tuning/load/run.sh all first")
    return files[-1]


def sections(markdown: str) -> tuple[list[str], dict[str, str]]:
    """The header lines before the first table, and each `## scenario` section's text."""
    parts = re.split(r"^## (\S+)\s*$", markdown, flags=re.M)
    header = [line for line in parts[0].splitlines() if line.startswith("- ")]
    return header, {parts[i]: parts[i + 1].strip() for i in range(1, len(parts) - 1, 2)}


def readme(results: Path, target: Path, wanted: tuple[str, ...]) -> None:
    header, tables = sections(results.read_text())
    title = results.read_text().splitlines()[0].lstrip("# ")
    link = results.relative_to(target.parent) if results.is_relative_to(target.parent) else results
    body = [BEGIN,
            "<!-- Written by tuning/load/report.py readme from the latest results file; "
            "edits here are overwritten. -->",
            f"{title} ([full results]({link}), plot: [{link.with_suffix('.png').name}]"
            f"({link.with_suffix('.png')})):", "", *header]
    for name in wanted:
        if name in tables:
            body += ["", f"#### {name}", "", tables[name]]
    body.append(END)
    text = target.read_text()
    if BEGIN not in text or END not in text:
        sys.exit(f"{target}: no {BEGIN} ... {END} markers")
    before, rest = text.split(BEGIN, 1)
    after = rest.split(END, 1)[1]
    target.write_text(before + "\n".join(body) + after)
    print(f"updated {target} from {results}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("plot", help="a PNG of the openloop and idle results")
    p.add_argument("results", type=Path, help="a .json written by bench.py --json")
    p.add_argument("--out", type=Path, help="default: the results file with .png")
    r = commands.add_parser("readme", help="copy the tables into the README's perf section")
    r.add_argument("results", type=Path, nargs="?", help="a .md written by bench.py --markdown "
                                                         "(default: the latest in tuning/results)")
    r.add_argument("--readme", type=Path, default=README)
    r.add_argument("--scenarios", default=",".join(README_SCENARIOS))
    args = parser.parse_args()
    if args.command == "plot":
        plot(args.results, args.out or args.results.with_suffix(".png"))
    else:
        readme((args.results or latest_markdown()).resolve(), args.readme.resolve(),
               tuple(s for s in args.scenarios.split(",") if s))


if __name__ == "__main__":
    main()
