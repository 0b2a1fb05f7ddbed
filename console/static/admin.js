// Compliance administration: the audit log (filter, paging), legal holds, erasure requests.
"use strict";
const $ = (id) => document.getElementById(id);
const PAGE_SIZE = 50;
const audit = { offset: 0, recording: "" };

function fmtTime(iso) { return iso ? iso.replace("T", " ").slice(0, 19) : ""; }

function tell(id, text, good) {
  const node = $(id);
  node.textContent = text;
  node.className = "message " + (good ? "good" : "bad");
}

function detailText(detail) {
  return Object.entries(detail || {})
    .filter(([, v]) => v !== null && v !== "" && !(Array.isArray(v) && v.length === 0))
    .map(([k, v]) => k + ": " + (Array.isArray(v) ? v.join(", ") : typeof v === "object" ? JSON.stringify(v) : v))
    .join("; ");
}

async function loadAudit() {
  let q = `/api/audit?limit=${PAGE_SIZE}&offset=${audit.offset}`;
  if (audit.recording) q += "&recording_id=" + encodeURIComponent(audit.recording);
  const res = await api("GET", q);
  const body = $("audit").tBodies[0];
  if (!res.ok) {
    tell("audit-message", "Audit log not loaded: " + errorText(res), false);
    body.replaceChildren();
    $("audit-prev").disabled = $("audit-next").disabled = true;
    return;
  }
  const entries = res.data.entries;
  body.replaceChildren(...entries.map((e) => el("tr", { "data-entry": e.id, "data-action": e.action, "data-recording": e.recording_id || "" },
    el("td", { text: fmtTime(e.at) }), el("td", { text: e.actor }), el("td", { text: e.action }),
    el("td", {}, e.recording_id ? el("code", { text: e.recording_id }) : "—"),
    el("td", { class: "detail", text: detailText(e.detail) }))));
  $("audit-empty").hidden = entries.length > 0;
  $("audit-prev").disabled = audit.offset === 0;
  $("audit-next").disabled = !res.data.has_more;
  $("audit-range").textContent = entries.length
    ? `Entries ${audit.offset + 1}–${audit.offset + entries.length}` + (audit.recording ? " for " + audit.recording : "")
    : "";
  tell("audit-message", "", true);
}

function setupAudit() {
  $("audit-filter").addEventListener("submit", (e) => {
    e.preventDefault();
    audit.recording = $("audit-recording").value.trim();
    audit.offset = 0;
    loadAudit();
  });
  $("audit-clear").addEventListener("click", () => {
    $("audit-recording").value = "";
    audit.recording = "";
    audit.offset = 0;
    loadAudit();
  });
  $("audit-prev").addEventListener("click", () => {
    audit.offset = Math.max(0, audit.offset - PAGE_SIZE);
    loadAudit();
  });
  $("audit-next").addEventListener("click", () => {
    audit.offset += PAGE_SIZE;
    loadAudit();
  });
}

function setupHold() {
  $("hold-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const on = !(e.submitter && e.submitter.value === "off");
    const kind = $("hold-kind").value;
    const target = $("hold-target").value.trim();
    const reason = $("hold-reason").value.trim();
    const buttons = [$("hold-on"), $("hold-off")];
    buttons.forEach((b) => { b.disabled = true; });
    const res = kind === "number"
      ? await api("POST", "/api/holds", { number: target, on, reason })
      : await api("POST", `/api/recordings/${encodeURIComponent(target)}/hold`, { on, reason });
    buttons.forEach((b) => { b.disabled = false; });
    if (!res.ok) { tell("hold-message", (on ? "Hold not set: " : "Hold not released: ") + errorText(res), false); return; }
    const what = kind === "number" ? "Number " + res.data.number : "Recording " + res.data.recording_id;
    tell("hold-message", what + (on ? " is on legal hold" : ": legal hold released"), true);
    audit.offset = 0;
    await loadAudit();
  });
}

function confirmErasure(number) {
  const dialog = $("erase-confirm");
  $("erase-confirm-text").textContent =
    `Erase every recording of ${number}? Recordings under a legal hold are kept. This cannot be undone.`;
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
  });
}

function idItems(ids) {
  return ids.length ? ids.map((id) => el("li", {}, el("code", { text: id }))) : [el("li", { class: "muted", text: "none" })];
}

function setupErasure() {
  $("erase-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const number = $("erase-number").value.trim();
    const reason = $("erase-reason").value.trim();
    if (!(await confirmErasure(number))) { tell("erase-message", "Erasure cancelled", true); return; }
    $("erase").disabled = true;
    const res = await api("POST", "/api/erasure", { number, reason });
    $("erase").disabled = false;
    if (!res.ok) { tell("erase-message", "Not erased: " + errorText(res), false); $("erase-result").hidden = true; return; }
    const { deleted, held } = res.data;
    let text = `Erased ${res.data.number}: deleted ${deleted.length} recording${deleted.length === 1 ? "" : "s"}`;
    if (held.length) text += `; ${held.length} kept by a legal hold`;
    tell("erase-message", text, true);
    $("erase-deleted").replaceChildren(...idItems(deleted));
    $("erase-held").replaceChildren(...idItems(held));
    $("erase-result").hidden = false;
    audit.offset = 0;
    await loadAudit();
  });
}

setupAudit();
setupHold();
setupErasure();
loadAudit();
