#!/usr/bin/env python3
"""How many heartbeating nodes one leading master serves: registers N simulated nodes with the
master (they become spares), then has each heartbeat every --interval-ms, as real nodes do (one
HTTP request per connection), for --duration seconds. Prints the heartbeats/s achieved against
the rate asked for, the latency percentiles, and the master's CPU over the run.

  deploy/bench-master-heartbeats.py --master 127.0.0.1:7000 --nodes 1000 [--interval-ms 500] [--duration 20] [--pid PID]
"""
import argparse, asyncio, json, os, random, sys, time


async def post(host, port, path, body):
    reader, writer = await asyncio.open_connection(host, port)
    data = json.dumps(body).encode()
    writer.write(f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n"
                 f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n".encode() + data)
    raw = await reader.read()
    writer.close()
    status = int(raw.split(b" ", 2)[1]) if raw.startswith(b"HTTP/") else 0
    return status, raw.split(b"\r\n\r\n", 1)[-1]


def cpu_seconds(pid):
    if not pid:
        return None
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def node(i, args, host, port, stats, stop_at):
    nid = f"bench-{i:05d}"
    base = 40000 + i * 3
    info = {"id": nid, "client": f"127.0.0.2:{base}", "peer": f"127.0.0.2:{base + 1}", "http": f"127.0.0.2:{base + 2}"}
    status, body = await post(host, port, "/v1/nodes/register", info)
    if status != 200:
        stats["register_errors"] += 1
        return
    # Like a real node, report the epoch it knows (the reply then carries no configuration).
    epoch = json.loads(body).get("epoch", 0)
    await asyncio.sleep(random.random() * args.interval_ms / 1000)
    while time.monotonic() < stop_at:
        t0 = time.monotonic()
        try:
            status, body = await post(host, port, "/v1/nodes/heartbeat", {"id": nid, "epoch": epoch, "chains": []})
            if status == 200:
                epoch = json.loads(body).get("epoch", epoch)
        except OSError:
            status = 0
        dt = time.monotonic() - t0
        if status == 200:
            stats["ok"] += 1
            stats["lat"].append(dt)
        else:
            stats["errors"] += 1
        await asyncio.sleep(max(0, args.interval_ms / 1000 - dt))


async def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--master", required=True)
    p.add_argument("--nodes", type=int, default=1000)
    p.add_argument("--interval-ms", type=int, default=500)
    p.add_argument("--duration", type=float, default=20)
    p.add_argument("--pid", type=int, help="the master's PID, for its CPU time")
    args = p.parse_args()
    host, port = args.master.rsplit(":", 1)
    port = int(port)
    stats = {"ok": 0, "errors": 0, "register_errors": 0, "lat": []}
    start = time.monotonic()
    stop_at = start + args.duration
    cpu0 = cpu_seconds(args.pid)
    await asyncio.gather(*(node(i, args, host, port, stats, stop_at) for i in range(args.nodes)))
    elapsed = time.monotonic() - start
    cpu1 = cpu_seconds(args.pid)
    lat = sorted(stats["lat"]) or [0]
    pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000
    asked = args.nodes * 1000 / args.interval_ms
    result = {
        "nodes": args.nodes, "interval_ms": args.interval_ms, "duration_s": round(elapsed, 1),
        "heartbeats_per_s": round(stats["ok"] / elapsed), "asked_per_s": round(asked),
        "errors": stats["errors"], "register_errors": stats["register_errors"],
        "p50_ms": round(pct(0.5), 2), "p99_ms": round(pct(0.99), 2), "max_ms": round(lat[-1] * 1000, 2),
        "master_cpu_percent": None if cpu0 is None else round(100 * (cpu1 - cpu0) / elapsed, 1),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
