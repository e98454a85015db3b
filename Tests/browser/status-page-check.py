#!/usr/bin/env python3
"""Loads a chainmaster's status page in headless Chromium and follows it over the DevTools
protocol: waits until the page lists NODE as up, kills PID (that node's process), and measures
when the master's own /v1/status and when the page's DOM first show the node no longer up.
Prints one JSON object; exit 1 with a reason on failure. Used by MonitoringTests/StatusPageTests.

  status-page-check.py --master 127.0.0.1:7000 --node n3 --kill 12345 [--timeout 30]
"""
import argparse, json, os, shutil, signal, subprocess, sys, tempfile, time, urllib.request

import websocket  # Debian: python3-websocket


def fail(msg):
    print(json.dumps({"error": msg}))
    sys.exit(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--master", required=True)
    ap.add_argument("--node", required=True)
    ap.add_argument("--kill", type=int, required=True)
    ap.add_argument("--timeout", type=float, default=30)
    a = ap.parse_args()
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if not browser:
        fail("chromium is not installed (deploy/install-deps.sh installs it)")
    profile = tempfile.mkdtemp(prefix="chainstore-browser-")
    proc = subprocess.Popen([browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                             "--remote-debugging-port=0", "--user-data-dir=" + profile, "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        run(a, profile)
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(profile, ignore_errors=True)


def until(timeout, what, check, every=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = check()
        if v:
            return v
        time.sleep(every)
    fail("timed out waiting for " + what)


def run(a, profile):
    def port():
        try:
            return int(open(os.path.join(profile, "DevToolsActivePort")).readline())
        except (OSError, ValueError):
            return None
    devtools = until(20, "Chromium's DevTools port", port)
    targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{devtools}/json/list", timeout=5))
    page = next(t for t in targets if t.get("type") == "page")
    ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=10)
    ids = iter(range(1, 1 << 30))

    def cdp(method, params=None):
        i = next(ids)
        ws.send(json.dumps({"id": i, "method": method, "params": params or {}}))
        while True:
            m = json.loads(ws.recv())
            if m.get("id") == i:
                if "error" in m:
                    fail(f"{method}: {m['error']}")
                return m.get("result", {})

    def evaluate(expr):
        return cdp("Runtime.evaluate", {"expression": expr, "returnByValue": True}).get("result", {}).get("value")

    def dom_state():
        return evaluate(f'(document.querySelector(\'[data-node="{a.node}"]\') || {{dataset: {{}}}}).dataset.state || ""')

    def master_state():
        s = json.load(urllib.request.urlopen(f"http://{a.master}/v1/status", timeout=2))
        return next((n["state"] for n in s["nodes"] if n["id"] == a.node), "")

    cdp("Page.navigate", {"url": f"http://{a.master}/"})
    until(a.timeout, f"the page to show {a.node} up", lambda: dom_state() == "up")
    before = {
        "healthy": evaluate('document.getElementById("banner").dataset.healthy'),
        "chain_rows": evaluate('document.querySelectorAll("[data-chain]").length'),
        "ok_chain_rows": evaluate('document.querySelectorAll("[data-chain][data-state=ok]").length'),
        "node_rows": evaluate('document.querySelectorAll("[data-node]").length'),
        "recent_rows": evaluate('document.querySelectorAll("[data-epoch]").length'),
    }
    killed = time.monotonic()
    os.kill(a.kill, signal.SIGKILL)
    seen = {}

    def changed():
        now = time.monotonic()
        if "master" not in seen and master_state() != "up":
            seen["master"] = now
        if "page" not in seen and dom_state() not in ("up", ""):
            seen["page"] = now
        return len(seen) == 2
    until(a.timeout, f"the master and the page to show {a.node} down", changed)
    print(json.dumps({"before": before, "page_state": dom_state(),
                      "master_s": round(seen["master"] - killed, 3), "page_s": round(seen["page"] - killed, 3),
                      "page_behind_master_s": round(seen["page"] - seen["master"], 3)}))


if __name__ == "__main__":
    main()
