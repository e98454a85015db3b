#!/usr/bin/env python3
"""Turns deploy/bench.sh's RESULT lines into markdown tables: per configuration the median over
the repeats, the [min-max] spread, and the ratios the issues set targets for.

usage: bench-report.py RESULTS.log… [--update Docs/BENCHMARKS.md]
Several logs (runs of different sections, or repeats on another day) are reported together.
With --update the tables replace the text between the bench.sh markers in that file (appended
with the markers when they are missing); otherwise they are printed.
"""
import argparse
import datetime
import statistics
import sys

BEGIN, END = "<!-- bench.sh:begin -->", "<!-- bench.sh:end -->"


def parse(paths):
    rows = []
    for line in (l for p in paths for l in open(p)):
        if not line.startswith("RESULT ") or "status=fail" in line:
            continue
        rows.append(dict(t.split("=", 1) for t in line.split()[1:] if "=" in t))
    return rows


def values(rows, key, **match):
    out = []
    for r in rows:
        if all(r.get(k) == str(v) for k, v in match.items()) and key in r:
            try:
                out.append(float(r[key]))
            except ValueError:
                pass
    return out


def med(xs):
    return statistics.median(xs) if xs else None


def fmt(x, ops=False):
    if x is None:
        return "–"
    if ops:
        return f"{x / 1000:.1f}k" if x >= 10000 else f"{x:.0f}"
    return f"{x:.2f}" if x < 10 else f"{x:.1f}"


def cell(xs, ops=False):
    if not xs:
        return "–"
    s = fmt(med(xs), ops)
    if len(xs) > 1 and min(xs) != max(xs):
        s += f" [{fmt(min(xs), ops)}–{fmt(max(xs), ops)}]"
    return s


def ratio(a, b):
    if not a or not b or med(b) == 0:
        return "–"
    return f"**{med(a) / med(b):.2f}×**"


def runs(*lists):
    n = [len(x) for x in lists if x]
    return str(min(n)) if n else "0"


def loadgen(rows):
    lines = ["### Is the load generator the limit? chainload vs redis-benchmark", "",
             "Both against the same `redis-server` (no persistence), GET, 50 connections, 100-byte values; "
             "target: chainload ≥ 0.9× redis-benchmark.", "",
             "| pipeline | redis-benchmark ops/s | chainload ops/s | ratio | runs |", "|---|---|---|---|---|"]
    for p in ("1", "16"):
        rb = values(rows, "ops_per_s", section="loadgen", tool="redis-benchmark", P=p)
        cl = values(rows, "ops_per_s", section="loadgen", tool="chainload", P=p)
        if rb or cl:
            lines.append(f"| {p} | {cell(rb, True)} | {cell(cl, True)} | {ratio(cl, rb)} | {runs(rb, cl)} |")
    return lines


SYSTEMS = [("redis", "Redis, 1 node"), ("redis-wait2", "Redis primary+2, WAIT 2"), ("chainstore-memory", "chainstore R=3, memory"),
           ("chainstore-fsync", "chainstore R=3, fsync"), ("etcd", "etcd, 3 members (fsync)")]


def ycsb(rows):
    out = ["### YCSB A / B / C and writes only (W)", "",
           "Throughput, median [min–max] over the repeats. chainstore: 3 nodes, R=3, 12 interleaved chains, smart client; "
           "Redis through chainload (`--wait-replicas 2` for the replicated setup); etcd through the harness's etcdload with "
           "linearizable gets, its mixes made of two loaders (get and put clients in the workload's proportion).", "",
           "| value | workload | " + " | ".join(n for _, n in SYSTEMS) + " | fsync / etcd | memory / Redis WAIT 2 | memory / Redis 1 node |",
           "|---|---|" + "---|" * (len(SYSTEMS) + 3)]
    lat = ["", "Latency p50 / p99 in ms (reads, then writes; medians over the repeats):", "",
           "| value | workload | " + " | ".join(n for _, n in SYSTEMS) + " |", "|---|---|" + "---|" * len(SYSTEMS)]
    added = False
    for vs in ("100", "4096"):
        for wl in ("a", "b", "c", "w"):
            got = {s: values(rows, "ops_per_s", section="ycsb", system=s, workload=wl, value=vs) for s, _ in SYSTEMS}
            if not any(got.values()):
                continue
            added = True
            size = "100 B" if vs == "100" else "4 KiB"
            out.append(f"| {size} | {wl.upper()} | " + " | ".join(cell(got[s], True) for s, _ in SYSTEMS) + " | "
                       f"{ratio(got['chainstore-fsync'], got['etcd'])} | {ratio(got['chainstore-memory'], got['redis-wait2'])} | "
                       f"{ratio(got['chainstore-memory'], got['redis'])} |")
            cells = []
            for s, _ in SYSTEMS:
                m = lambda k: med(values(rows, k, section="ycsb", system=s, workload=wl, value=vs))
                parts = []
                if wl != "w":
                    parts.append(f"{fmt(m('get_p50_ms'))} / {fmt(m('get_p99_ms'))}")
                if wl != "c":
                    parts.append(f"{fmt(m('set_p50_ms'))} / {fmt(m('set_p99_ms'))}")
                cells.append(" · ".join(parts))
            lat.append(f"| {size} | {wl.upper()} | " + " | ".join(cells) + " |")
    return out + lat if added else []


def chainlen(rows):
    out = ["### Writes versus chain length", "",
           "chainstore, `--durability fsync`, as many nodes as the chain is long (R = length), 100% writes.", "",
           "| length | 1 client: write p50 / p99 ms | 1 client ops/s | many clients ops/s | many clients p50 / p99 ms |",
           "|---|---|---|---|---|"]
    for n in "12345":
        one = dict(section="chainlen", length=n, c="1")
        many = [r for r in rows if r.get("section") == "chainlen" and r.get("length") == n and r.get("c") != "1"]
        if not values(rows, "ops_per_s", **one) and not many:
            continue
        c = many[0]["c"] if many else "–"
        mv = lambda k: [float(r[k]) for r in many if k in r]
        out.append(f"| {n} | {fmt(med(values(rows, 'set_p50_ms', **one)))} / {fmt(med(values(rows, 'set_p99_ms', **one)))} | "
                   f"{cell(values(rows, 'ops_per_s', **one), True)} | {cell(mv('ops_per_s'), True)} (c={c}) | "
                   f"{fmt(med(mv('set_p50_ms')))} / {fmt(med(mv('set_p99_ms')))} |")
    return out


def chains(rows):
    out = ["### Reads: one chain versus the interleaved table", "",
           "chainstore, 3 nodes, R=3, `--durability memory`, YCSB C (reads only), 50 clients.", "",
           "| chains | ops/s | reads served per node (last run) |", "|---|---|---|"]
    for c in ("1", "12"):
        got = [r for r in rows if r.get("section") == "chains" and r.get("chains") == c]
        if not got:
            continue
        last = got[-1]
        try:
            before = [float(x) for x in last.get("reads_before", "").split(",")]
            after = [float(x) for x in last.get("reads_after", "").split(",")]
            served = [a - b for a, b in zip(after, before)]
            total = sum(served) or 1
            share = " / ".join(f"{100 * s / total:.0f}%" for s in served)
        except ValueError:
            share = "–"
        out.append(f"| {c} | {cell([float(r['ops_per_s']) for r in got], True)} | {share} |")
    return out


def kill(rows):
    got = [r for r in rows if r.get("section") == "kill"]
    if not got:
        return []
    v = lambda k: [float(r[k]) for r in got if k in r]
    return ["### A node killed during YCSB B", "",
            "chainstore, 4 nodes, R=3, fsync, 20 clients; one node SIGKILLed 8 s into a 20 s run; the picture is the last run.", "",
            "| runs | ops/s over the run | errors seen by the client | longest operation (the failover), ms | configuration changes |",
            "|---|---|---|---|---|",
            f"| {len(got)} | {cell(v('ops_per_s'), True)} | {cell(v('errors'), True)} | {cell(v('max_ms'))} | {cell(v('events'), True)} |", "",
            "![throughput and latency with a node killed](img/bench-kill-b.svg)"]


def report(rows, source):
    head = [BEGIN, "", f"## Suite results ({datetime.date.today().isoformat()}, `deploy/bench.sh`)", "",
            f"Produced by `deploy/bench.sh` on this machine (all systems in one run, servers and load generators "
            f"sharing its cores); raw lines: `{source}`. Rerun the command to refresh these tables.", ""]
    body = []
    for part in (loadgen, ycsb, chainlen, chains, kill):
        lines = part(rows)
        if len(lines) > 6 or (lines and part is kill):
            body += lines + [""]
    return head + body + [END]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results", nargs="+")
    ap.add_argument("--update")
    a = ap.parse_args()
    text = "\n".join(report(parse(a.results), ", ".join(a.results))) + "\n"
    if not a.update:
        sys.stdout.write(text)
        return
    doc = open(a.update).read()
    if BEGIN in doc and END in doc:
        doc = doc[:doc.index(BEGIN)] + text.rstrip("\n") + doc[doc.index(END) + len(END):]
    else:
        doc = doc.rstrip("\n") + "\n\n" + text
    open(a.update, "w").write(doc)


if __name__ == "__main__":
    main()
