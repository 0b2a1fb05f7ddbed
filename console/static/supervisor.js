// Supervisor view: every call in progress (websocket /api/events) and the alerts (/api/alerts).
"use strict";
const $ = (id) => document.getElementById(id);
const calls = new Map();

function since(epoch) {
  if (!epoch) return "";
  const s = Math.max(0, Math.floor(Date.now() / 1000 - epoch));
  return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
}

function row(c) {
  const tr = el("tr", { "data-call-id": c.call_id, class: c.recording_state.replace(" ", "-") },
    el("td", { text: c.agent }), el("td", { text: c.campaign || c.queue || "—" }),
    el("td", { text: c.customer_number || "—" }),
    el("td", { class: "rec-state", text: c.recording_state }),
    el("td", { text: c.legs || "—" }), el("td", { text: c.mode || "—" }),
    el("td", { text: c.segment_no ? String(c.segment_no) : "—" }),
    el("td", { class: "time", "data-since": c.since, text: since(c.since) }));
  return tr;
}

function render() {
  const list = [...calls.values()].sort((a, b) => a.since - b.since);
  $("calls").tBodies[0].replaceChildren(...list.map(row));
  $("no-calls").hidden = list.length > 0;
}

function tick() {
  for (const td of document.querySelectorAll("td.time")) td.textContent = since(Number(td.dataset.since));
}

function connect() {
  const proto = location.protocol === "https:" ? "wss://" : "ws://";
  const ws = new WebSocket(proto + location.host + "/api/events");
  ws.onopen = () => { $("live").textContent = "Live"; };
  ws.onmessage = (msg) => {
    const ev = JSON.parse(msg.data);
    if (ev.type === "calls") { calls.clear(); for (const c of ev.calls) calls.set(c.call_id, c); }
    else if (ev.type === "call") calls.set(ev.call.call_id, ev.call);
    else if (ev.type === "call_ended") calls.delete(ev.call_id);
    render();
  };
  ws.onclose = (ev) => {
    if (ev.code === 4401 || ev.code === 4403) { ended(ev); return; }
    $("live").textContent = "Disconnected; reconnecting…";
    setTimeout(connect, 2000);
  };
}

// 4401/4403: the socket's credentials no longer hold (common.js showSessionEnded);
// the alerts poll stops too (it would only redirect to the login page).
function ended(ev) {
  clearInterval(alertsTimer);
  calls.clear();
  render();
  showSessionEnded(ev);
}

async function loadAlerts() {
  const res = await api("GET", "/api/alerts");
  if (!res.ok) { $("alerts-status").textContent = errorText(res); return; }
  const items = [];
  for (const a of res.data.upload.alerts) items.push(el("li", { class: "alert", text: `Upload alert ${a.code}: ${a.message} (since ${a.raised_at})` }));
  for (const f of res.data.upload.failing) items.push(el("li", { class: "alert", text: `Upload failing after ${f.attempts} attempts: ${f.remote_name}: ${f.error}` }));
  for (const v of res.data.verification) {
    const li = el("li", { class: "alert" }, `Verification ${v.outcome}: agent ${v.agent || "?"}, campaign ${v.campaign || "—"}: ${v.reason} `);
    if (v.recording_id) li.append(el("a", { href: "/recordings/" + encodeURIComponent(v.recording_id), text: "recording" }));
    items.push(li);
  }
  $("alerts").replaceChildren(...items);
  $("alerts-status").textContent = items.length ? items.length + " alert(s)" : "No alerts.";
}

$("alerts-refresh").addEventListener("click", loadAlerts);
connect();
loadAlerts();
setInterval(tick, 1000);
const alertsTimer = setInterval(loadAlerts, 15000);
