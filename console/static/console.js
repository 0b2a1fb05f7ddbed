// Agent console: live calls over /api/events, recording controls, transfer dialog.
"use strict";
const calls = new Map();
let selected = null;
let busy = false;

const $ = (id) => document.getElementById(id);
const MODE_TEXT = { all_force: "All Force", all_calls: "All calls", on_demand: "On demand", never: "Never" };
const POST_TEXT = {
  never: "Never recorded after a transfer",
  on_demand: "You choose whether the next agent is recorded",
  all_force: "All Force: always recorded after a transfer",
};

function connect() {
  const proto = location.protocol === "https:" ? "wss://" : "ws://";
  const ws = new WebSocket(proto + location.host + "/api/events");
  ws.onopen = () => { $("live").textContent = "Live"; };
  ws.onmessage = (msg) => {
    const ev = JSON.parse(msg.data);
    if (ev.type === "calls") {
      calls.clear();
      for (const c of ev.calls) calls.set(c.call_id, c);
    } else if (ev.type === "call") {
      calls.set(ev.call.call_id, ev.call);
    } else if (ev.type === "call_ended") {
      calls.delete(ev.call_id);
    }
    render();
  };
  ws.onclose = (ev) => {
    if (ev.code === 4401 || ev.code === 4403) { ended(ev); return; }
    $("live").textContent = "Disconnected; reconnecting…";
    setTimeout(connect, 2000);
  };
}

// 4401/4403: the socket's credentials no longer hold (common.js showSessionEnded).
function ended(ev) {
  calls.clear();
  render();
  showSessionEnded(ev);
}

function render() {
  if (selected && !calls.has(selected)) selected = null;
  if (!selected && calls.size) selected = calls.keys().next().value;
  const list = $("call-list");
  list.replaceChildren(...[...calls.values()].map((c) => el("li", {},
    el("button", {
      type: "button", "aria-pressed": String(c.call_id === selected), "data-call": c.call_id,
      onclick: () => { selected = c.call_id; render(); },
    }, el("span", { text: c.agent + (c.campaign ? " · " + c.campaign : "") }),
       el("span", { class: c.recording && !c.paused ? "rec-dot" : "muted",
                    text: c.recording ? (c.paused ? "paused" : "● rec") : "not recording" })))));
  $("no-calls").hidden = calls.size > 0;
  const call = selected ? calls.get(selected) : null;
  $("call").hidden = !call;
  if (call) renderCall(call);
}

function renderCall(c) {
  const d = c.decision || {};
  $("call").dataset.callId = c.call_id;
  $("call-agent").textContent = c.agent;
  $("call-campaign").textContent = c.campaign || c.queue || "—";
  $("call-direction").textContent = c.direction;
  $("call-mode").textContent = MODE_TEXT[d.mode] || d.mode || "deciding…";
  $("call-legs").textContent = { both: "Both sides", agent: "Agent side only", none: "None" }[d.legs] || "—";
  $("call-phase").textContent = c.phase === "post_transfer" ? "After transfer" : "Before transfer";
  $("call-post").textContent = POST_TEXT[c.post_transfer_mode] || "—";
  const state = $("rec-state");
  state.textContent = !c.recording ? "Not recording" : c.paused ? "Recording paused" : "Recording";
  state.className = "rec-state" + (c.recording ? (c.paused ? " paused" : " on") : "");
  state.dataset.recording = String(!!c.recording);
  state.dataset.paused = String(!!c.paused);

  const allowed = c.allowed || {};
  const recAction = c.recording ? "stop" : "start";
  const rec = $("btn-record");
  rec.textContent = c.recording ? "Stop recording" : "Start recording";
  rec.dataset.action = recAction;
  rec.disabled = busy || !(recAction in allowed) || allowed[recAction] !== null;
  $("record-reason").textContent = allowed[recAction] ? ruleText(allowed[recAction]) : "";

  const pauseAction = c.paused ? "resume" : "pause";
  const pause = $("btn-pause");
  pause.textContent = c.paused ? "Resume" : "Pause";
  pause.dataset.action = pauseAction;
  pause.disabled = busy || !(pauseAction in allowed) || allowed[pauseAction] !== null;
  const pauseWhy = allowed[pauseAction];
  $("pause-reason").textContent = pauseWhy && pauseWhy !== "action.not_recording" ? ruleText(pauseWhy) : "";
}

async function act(button) {
  const call = calls.get(selected);
  if (!call) return;
  busy = true; render();
  const res = await api("POST", `/api/calls/${encodeURIComponent(call.call_id)}/recording/${button.dataset.action}`);
  busy = false;
  if (res.ok) { calls.set(res.data.call_id, res.data); say("", true); }
  else say("Refused: " + errorText(res), false);
  render();
}

function openTransfer() {
  const call = calls.get(selected);
  if (!call) return;
  const box = $("transfer-continue");
  const mode = call.post_transfer_mode;
  box.checked = mode === "all_force";
  box.disabled = mode === "never" || mode === "all_force";
  $("transfer-note").textContent = POST_TEXT[mode] || "";
  $("transfer-agent").value = "";
  $("transfer-dialog").showModal();
  $("transfer-agent").focus();
}

async function doTransfer(event) {
  event.preventDefault();
  const call = calls.get(selected);
  const agent = $("transfer-agent").value.trim();
  if (!call || !agent) return;
  $("transfer-dialog").close();
  const res = await api("POST", `/api/calls/${encodeURIComponent(call.call_id)}/transfer`,
    { agent, continue_recording: $("transfer-continue").checked });
  if (res.ok) say("Transferred to " + agent, true);
  else say("Transfer failed: " + errorText(res), false);
}

$("btn-record").addEventListener("click", (e) => act(e.currentTarget));
$("btn-pause").addEventListener("click", (e) => act(e.currentTarget));
$("btn-transfer").addEventListener("click", openTransfer);
$("transfer-cancel").addEventListener("click", () => $("transfer-dialog").close());
$("transfer-form").addEventListener("submit", doTransfer);
connect();
