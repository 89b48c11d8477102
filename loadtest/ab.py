#!/usr/bin/env python3
"""The A/B behind `loadtest/ab.sh`: every scenario of `driver.py` on two binaries, run in
turn A B B A for each round, so that both sides meet the machine's drift alike; then a
table of each scenario's ratios to its own run's baselines on either side (ours and the
bare actix-web app's), B's change against A, and how far a side's own runs differ (the
noise a change must exceed).

Run it through `loadtest/ab.sh`, which builds the two binaries and, once, the bare
actix-web app (the same for both sides). Each run is a full, bounded run of the driver
(the same checkout's driver for both sides).
"""

import argparse
import datetime
import statistics
from pathlib import Path

import driver
from common import ROOT, log, machine, stop_on_sigterm, write_report

ORDER = ("A", "B", "B", "A")  # one round
NOISE_FLOOR = 0.03  # a change smaller than this is never read as one
BUSY = 0.10  # others' CPU share in a scenario past which the machine was not quiet


def spread(values):
    """How far apart a side's runs are, as a share of their mean."""
    mean = statistics.fmean(values)
    return (max(values) - min(values)) / mean if mean else 0.0


def verdict(change, noise):
    if abs(change) <= max(noise, NOISE_FLOOR):
        return "within the noise"
    return "**B slower**" if change < 0 else "B faster"


def drift(sides):
    """The most a baseline (ours or the bare app's) moved between the start and the end of
    one run: what the machine alone does to a figure, with nothing changed."""
    return max(spread([rows[start]["rps"], rows[end]["rps"]])
               for runs in sides.values() for rows in runs
               for start, end in (("baseline", "baseline-end"), ("bare", "bare-end")))


def compare(sides, labels, seconds, started):
    """The markdown comparison of the runs of both sides."""
    runs = {side: [(driver.ratios(rows), rows) for rows in sides[side]] for side in sides}
    machine_drift = drift(sides)
    slower, busiest = [], max(row["other_cpu_share"] for rows in sides["A"] + sides["B"] for row in rows.values())
    info = machine()
    lines = [
        f"# presence A/B, {started:%Y-%m-%d %H:%M %Z}",
        "",
        f"- **A**: {labels['A']}",
        f"- **B**: {labels['B']}",
        f"- {len(sides['A'])} runs of each, in the order {' '.join(ORDER * (len(sides['A']) // 2))}; "
        f"{seconds} s a scenario; the same driver and load for both (loadtest/README.md)",
        f"- machine: {info['nproc']} CPUs ({info['cpu']}), Linux {info['kernel']}, {info['rustc']}, {info['wrk']}",
        "",
        "| scenario | A × baseline | B × baseline | change | A × bare actix-web | B × bare actix-web | change "
        "| A requests/s | B requests/s | change | noise | verdict |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, label in driver.LABELS.items():
        if not all(name in rows for side in runs for _, rows in runs[side]):
            continue
        shares = {side: [ratio[name].baseline for ratio, _ in runs[side]] for side in runs}
        bare = {side: [ratio[name].bare for ratio, _ in runs[side]] for side in runs}
        rps = {side: [rows[name]["rps"] for _, rows in runs[side]] for side in runs}
        share_a, share_b = statistics.fmean(shares["A"]), statistics.fmean(shares["B"])
        bare_a, bare_b = statistics.fmean(bare["A"]), statistics.fmean(bare["B"])
        rps_a, rps_b = statistics.fmean(rps["A"]), statistics.fmean(rps["B"])
        # Every row is read by a ratio to a baseline of its own run. Ours are 1 × baseline
        # by construction, so they are read × bare actix-web, the one app that is the same on
        # both sides: whether the HTTP stack itself changed. The bare app's rows are the same
        # app on both sides: their change is the machine's alone, and gets no verdict.
        judged = bare if name.startswith("baseline") and "sized" not in name else shares
        change = statistics.fmean(judged["B"]) / statistics.fmean(judged["A"]) - 1
        noise = max(machine_drift, *(spread(judged[side]) for side in runs))
        if name.startswith("bare"):
            read = "the same app on both sides"
        else:
            read = verdict(change, noise)
            if read == "**B slower**":
                slower.append(f"{label} ({change:+.1%})")
        lines.append(
            f"| {label} | {share_a:.2f} | {share_b:.2f} | {share_b / share_a - 1:+.1%} | {bare_a:.2f} | {bare_b:.2f} "
            f"| {bare_b / bare_a - 1:+.1%} | {rps_a:,.0f} | {rps_b:,.0f} | {rps_b / rps_a - 1:+.1%} | {noise:.1%} "
            f"| {read} |")
    lines += [
        "",
        ("**B is slower beyond the noise** in: " + "; ".join(slower) + "." if slower
         else "**No scenario is slower on B beyond the noise.**")
        + (f" The machine was not quiet (other processes took up to {busiest:.0%} of the CPUs in a scenario): "
           "run it again on a quiet one before trusting a verdict." if busiest > BUSY else ""),
        "",
        "Each figure is the mean over a side's runs. × baseline is requests/s over the mean of the same run's "
        "baseline (our stack) at its start and end, so a machine that slows down for a whole run moves both and "
        "the ratio less; every row but our baselines is judged by it. × bare actix-web is over the bare app's "
        "same-shaped baseline in the same run (for our baseline rows, their twin run right after them; for the "
        "others, the bare app's plain baseline): the bare app is built once from the working tree and is the same "
        "on both sides, so our baseline rows, whose × baseline is 1 by construction, are judged by it. The noise "
        "is the larger of the spread between a side's own runs and the most a baseline (ours or the bare app's) "
        f"moved within one run ({machine_drift:.1%} here, the machine alone); a change is read as one only when "
        f"it is larger than the noise and {NOISE_FLOOR:.0%}.",
        "",
        "| run | side | baseline at start / end, requests/s | bare actix-web at start / end | "
        "others' CPU, most in a scenario |",
        "|---:|---|---:|---:|---:|",
    ]
    counters = {"A": 0, "B": 0}
    for number, side in enumerate(ORDER * (len(sides["A"]) // 2), 1):
        rows = sides[side][counters[side]]
        counters[side] += 1
        others = max(row["other_cpu_share"] for row in rows.values())
        lines.append(f"| {number} | {side} | {rows['baseline']['rps']:,.0f} / {rows['baseline-end']['rps']:,.0f} "
                     f"| {rows['bare']['rps']:,.0f} / {rows['bare-end']['rps']:,.0f} | {others:.0%} |")
    return "\n".join(lines) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--a", required=True, help="side A's binary (built with --features bench-baseline)")
    parser.add_argument("--b", required=True, help="side B's binary")
    parser.add_argument("--a-label", default="A", help="what A is, for the report")
    parser.add_argument("--b-label", default="B", help="what B is, for the report")
    parser.add_argument("--bare", help="the bare actix-web app (examples/bare_baseline.rs, release), the same for "
                                       "both sides (default: build it once now, from the working tree)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of A B B A (1 to 5, default 1)")
    parser.add_argument("--seconds", type=int, default=10, help="seconds a scenario (1 to 30, default 10)")
    parser.add_argument("--out", default=str(ROOT / "loadtest/results/ab-latest.md"),
                        help="where the comparison goes (default: loadtest/results/ab-latest.md)")
    parser.add_argument("--runs", default=str(ROOT / "target/ab/runs"),
                        help="where each run's own table goes (default: target/ab/runs)")
    args = parser.parse_args()
    if not 1 <= args.rounds <= 5:
        parser.error("--rounds must be 1 to 5")
    if not 1 <= args.seconds <= 30:
        parser.error("--seconds must be 1 to 30 (the tabs' TTL is 45 s)")
    stop_on_sigterm()
    started = datetime.datetime.now().astimezone()
    binaries, labels = {"A": args.a, "B": args.b}, {"A": args.a_label, "B": args.b_label}
    runs_dir = Path(args.runs) / f"{started:%Y%m%d-%H%M%S}"
    order = ORDER * args.rounds
    sides = {"A": [], "B": []}
    bare = str(args.bare or driver.build_bare())
    for number, side in enumerate(order, 1):
        log(f"== run {number} of {len(order)}: {side}, {labels[side]}")
        out = runs_dir / f"{number:02d}-{side}.md"
        _, rows = driver.run(driver.parse_args(["--bin", binaries[side], "--bare", bare,
                                                "--seconds", str(args.seconds), "--out", str(out)]))
        sides[side].append(rows)
    text = compare(sides, labels, args.seconds, started)
    print(text)
    write_report(args.out, text)
    log(f"each run's table is in {runs_dir}")


if __name__ == "__main__":
    main()
