/// The live status page the master serves at `GET /`: one static document (no CDN, no build
/// step) that polls `/v1/status` every second and draws the cluster — masters, problems, nodes
/// (state, heartbeat age, remaining lease, lag, heads/tails/chains), chains as head → tail rows
/// coloured by state, transfers with progress and ETA, and the latest reconfigurations. A standby
/// master's page says so and links to the leader. Elements carry `data-*` attributes so a browser
/// test can read the state without depending on the layout.
enum StatusPage {
    static let html = #"""
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>chainstore</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; background: #fafafa; }
  h1 { font-size: 20px; margin: 0 0 .3em; } h2 { font-size: 15px; margin: 1.4em 0 .4em; }
  table { border-collapse: collapse; background: white; } td, th { padding: 3px 10px; border-bottom: 1px solid #e4e4e4; text-align: left; }
  th { font-weight: 600; background: #f0f0f0; } .num { text-align: right; font-variant-numeric: tabular-nums; }
  .state { font-weight: 600; border-radius: 3px; padding: 0 6px; }
  .ok, .up, .leader { background: #d9f2dd; color: #17632a; }
  .joining, .reordering, .spare, .draining, .drained, .standby { background: #fff1cc; color: #7a5a00; }
  .degraded, .member-down, .unlinked, .down, .failed, .unknown, .bad { background: #fbdada; color: #8f1d1d; }
  #banner { font-size: 16px; margin: .3em 0 1em; } #problems li { color: #8f1d1d; }
  .bar { width: 160px; height: 9px; background: #eee; display: inline-block; vertical-align: middle; }
  .bar > div { height: 100%; background: #4a90d9; } .muted { color: #888; } #error { color: #8f1d1d; }
</style>
</head>
<body>
<h1>chainstore</h1>
<div id="banner" data-healthy="">loading…</div>
<div id="error"></div>
<div id="masters"></div>
<ul id="problems"></ul>
<h2>Nodes</h2>
<table id="nodes"><thead><tr><th>node</th><th>state</th><th>client</th><th class="num">heartbeat</th><th class="num">lease left</th><th class="num">lag (updates)</th><th class="num">heads</th><th class="num">tails</th><th class="num">chains</th></tr></thead><tbody></tbody></table>
<h2>Transfers</h2>
<table id="transfers"><thead><tr><th>chain</th><th>to</th><th>progress</th><th class="num">copied</th><th class="num">ETA</th></tr></thead><tbody></tbody></table>
<h2>Chains</h2>
<table id="chains"><thead><tr><th>chain</th><th>slots</th><th>state</th><th>members (head → tail)</th></tr></thead><tbody></tbody></table>
<h2>Latest reconfigurations</h2>
<table id="recent"><thead><tr><th class="num">epoch</th><th>when</th><th>what changed</th></tr></thead><tbody></tbody></table>
<p class="muted">Updated every second from <code>/v1/status</code>; <span id="updated"></span></p>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const esc = (s) => String(s ?? "").replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));
const ms = (v) => v == null ? "–" : v < 1000 ? v + " ms" : (v / 1000).toFixed(1) + " s";
const bytes = (n) => { if (n == null) return "–"; const u = ["B", "kB", "MB", "GB", "TB"]; let i = 0; while (n >= 1000 && i < 4) { n /= 1000; i++; } return (i ? n.toFixed(1) : n) + " " + u[i]; };
const ago = (t) => { const s = Math.max(0, Date.now() / 1000 - t); return s < 60 ? s.toFixed(0) + " s ago" : s < 3600 ? (s / 60).toFixed(0) + " min ago" : new Date(t * 1000).toLocaleString(); };
let token = sessionStorage.getItem("chainstore-token");
const seen = {};  // chain -> [time, bytes] of the previous poll, for transfer rates

function rows(id, html) { $(id).querySelector("tbody").innerHTML = html.join(""); }

function render(s) {
  $("error").textContent = "";
  const up = s.nodes.filter((n) => ["up", "spare", "draining", "drained"].includes(n.state)).length;
  const ok = s.chains.filter((c) => c.state === "ok").length;
  const banner = $("banner");
  banner.dataset.healthy = s.healthy;
  banner.dataset.epoch = s.epoch;
  banner.innerHTML = `<span class="state ${s.healthy ? "ok" : "bad"}">${s.healthy ? "HEALTHY" : "NOT HEALTHY"}</span>
    epoch ${s.epoch} · replication ${s.replication} · nodes ${up}/${s.nodes.length} up · chains ${ok}/${s.chains.length} ok`;
  const m = s.masters;
  $("masters").innerHTML = m ? "Masters (state in " + esc(m.store) + "): " + m.members.map((x) =>
    `<span class="state ${x.role === "leader" ? "leader" : "standby"}" data-master="${esc(x.address)}">${esc(x.address)} ${esc(x.role)}</span>`).join(" ") : "";
  $("problems").innerHTML = s.problems.map((p) => `<li>${esc(p)}</li>`).join("");
  const count = (id, pick) => s.chains.filter((c) => pick(c.members) === id).length;
  rows("nodes", s.nodes.map((n) => {
    const lease = s.lease_ms != null && n.last_heartbeat_ms != null ? Math.max(0, s.lease_ms - n.last_heartbeat_ms) : null;
    return `<tr data-node="${esc(n.id)}" data-state="${esc(n.state)}"><td>${esc(n.id)}</td><td><span class="state ${esc(n.state)}">${esc(n.state)}</span></td>
      <td>${esc(n.client)}</td><td class="num">${ms(n.last_heartbeat_ms)}</td><td class="num">${ms(lease)}</td><td class="num">${n.lag_updates ?? "–"}</td>
      <td class="num">${count(n.id, (m) => m[0])}</td><td class="num">${count(n.id, (m) => m[m.length - 1])}</td>
      <td class="num">${s.chains.filter((c) => c.members.includes(n.id)).length}</td></tr>`;
  }));
  const now = Date.now() / 1000;
  rows("transfers", s.chains.filter((c) => c.joining).map((c) => {
    const done = c.transferred_bytes ?? 0, total = c.estimated_bytes ?? 0;
    const prev = seen[c.id];
    let eta = "–";
    if (prev && done > prev[1] && total > done) eta = ms(Math.round((total - done) / ((done - prev[1]) / (now - prev[0])) * 1000));
    seen[c.id] = [now, done];
    const pct = total > 0 ? Math.min(100, 100 * done / total) : 0;
    return `<tr data-transfer="${c.id}"><td>${c.id}</td><td>${esc(c.joining)}</td><td><span class="bar"><div style="width:${pct.toFixed(0)}%"></div></span> ${pct.toFixed(0)}%</td>
      <td class="num">${bytes(done)} / ${bytes(total)}</td><td class="num">${eta}</td></tr>`;
  }));
  if (!s.chains.some((c) => c.joining)) rows("transfers", ['<tr><td colspan="5" class="muted">none</td></tr>']);
  rows("chains", s.chains.map((c) => `<tr data-chain="${c.id}" data-state="${esc(c.state)}"><td>${c.id}</td><td>${esc(c.slots)}</td>
    <td><span class="state ${esc(c.state)}">${esc(c.state)}</span></td>
    <td>${c.members.map(esc).join(" → ")}${c.joining ? ` <span class="muted">(+ ${esc(c.joining)} joining)</span>` : ""}</td></tr>`));
  rows("recent", (s.recent ?? []).map((r) => `<tr data-epoch="${r.epoch}"><td class="num">${r.epoch}</td><td>${ago(r.at)}</td><td>${esc(r.change)}</td></tr>`));
  $("updated").textContent = "last update " + new Date().toLocaleTimeString();
}

async function poll() {
  try {
    const r = await fetch("/v1/status", { headers: token ? { Authorization: "Bearer " + token } : {}, cache: "no-store" });
    if (r.status === 401) {
      token = prompt("This master wants its API token (--api-token-file):");
      if (token) sessionStorage.setItem("chainstore-token", token);
    } else if (r.status === 421) {
      const b = await r.json();
      $("banner").innerHTML = `<span class="state standby">STANDBY</span> this master stands by; ` +
        (b.leader ? `the leader is <a href="${location.protocol}//${esc(b.leader)}/">${esc(b.leader)}</a>` : "no leader is known yet");
    } else if (!r.ok) {
      $("error").textContent = "the master answered " + r.status + ": " + (await r.text());
    } else {
      render(await r.json());
    }
  } catch (e) {
    $("error").textContent = "cannot reach the master: " + e;
  }
  setTimeout(poll, 1000);
}
poll();
</script>
</body>
</html>
"""#
}
