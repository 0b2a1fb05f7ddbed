// Recordings views: history (assigned), one CRM record, unassigned (assign / delete).
"use strict";
const $ = (id) => document.getElementById(id);

function fmtTime(iso) { return iso ? iso.replace("T", " ").slice(0, 19) : ""; }
function fmtLen(s) { const m = Math.floor(s / 60); return m + ":" + String(Math.round(s % 60)).padStart(2, "0"); }

function player(r) {
  const src = `/api/recordings/${encodeURIComponent(r.id)}/play`;
  return el("td", {}, el("audio", { controls: true, preload: "none", src, "aria-label": "Play recording " + r.id }),
    " ", el("a", { href: `/api/recordings/${encodeURIComponent(r.id)}/download`, text: "Download" }));
}

function baseCells(r) {
  return [
    el("td", { text: fmtTime(r.started_at) }), el("td", { text: r.agent }),
    el("td", { text: r.campaign || r.queue || "—" }),
    el("td", { text: r.customer_e164 || r.customer_number_raw || "—" }),
    el("td", { text: fmtLen(r.duration_seconds) }),
  ];
}

function show(rows) {
  $("recordings").tBodies[0].replaceChildren(...rows);
  $("empty").hidden = rows.length > 0;
}

async function loadRecord() {
  const res = await api("GET", "/api/records/" + PAGE.record_id);
  if (!res.ok) { say(errorText(res), false); show([]); return; }
  const rec = res.data.record;
  document.querySelector("h1").textContent = (rec.name || rec.external_id) + " (" + rec.kind + ")";
  const facts = [["Record", "#" + rec.id + " · " + rec.external_id]];
  for (const p of rec.phones) facts.push([p.field + " phone", p.e164 || p.raw]);
  $("record-facts").replaceChildren(...facts.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })]));
  show(res.data.recordings.map((r) => el("tr", { "data-id": r.id }, ...baseCells(r), player(r))));
}

// -- unassigned ---------------------------------------------------------------------

function selectedIds() {
  return [...document.querySelectorAll("input.pick:checked")].map((b) => b.value);
}

function updateBulk() {
  const picks = document.querySelectorAll("input.pick");
  const n = selectedIds().length;
  const btn = $("bulk-delete");
  btn.disabled = n === 0;
  btn.textContent = n ? `Delete selected (${n})` : "Delete selected";
  $("select-all").checked = picks.length > 0 && n === picks.length;
}

function assignCell(r) {
  if (!can("assign")) return el("td", { class: "muted", text: "—" });
  const cands = r.candidates || [];
  if (!cands.length) return el("td", { class: "muted", text: "No matching CRM record" });
  const id = "assign-" + r.id;
  const select = el("select", { id, name: "record" }, ...cands.map((c) => el("option", {
    value: c.id, text: (c.name || c.external_id) + " (" + c.kind + ", " + c.match + ")" })));
  const btn = el("button", { type: "button", text: "Assign", onclick: async () => {
    btn.disabled = true;
    const res = await api("POST", `/api/recordings/${encodeURIComponent(r.id)}/assign`, { record_id: Number(select.value) });
    if (res.ok) { say("Assigned to " + select.selectedOptions[0].textContent, true); await loadUnassigned(); }
    else { say("Not assigned: " + errorText(res), false); btn.disabled = false; }
  } });
  return el("td", {}, el("div", { class: "assign" },
    el("label", { for: id, class: "sr-only", text: "Assign recording to" }), select, btn));
}

function deleteCell(r) {
  if (!can("delete_unassigned")) return el("td", { class: "muted", text: "—" });
  const btn = el("button", { type: "button", class: "danger", text: "Delete", "data-delete": r.id, onclick: async () => {
    if (!(await confirmDelete(1))) return;
    const res = await api("DELETE", `/api/recordings/${encodeURIComponent(r.id)}`, {});
    if (res.ok) { say("Deleted 1 recording", true); await loadUnassigned(); }
    else say("Not deleted: " + errorText(res), false);
  } });
  return el("td", {}, btn);
}

function confirmDelete(n) {
  const dialog = $("confirm");
  $("confirm-text").textContent = `Delete ${n} recording${n === 1 ? "" : "s"}? This cannot be undone.`;
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
  });
}

async function loadUnassigned() {
  const res = await api("GET", "/api/unassigned");
  if (!res.ok) { say(errorText(res), false); show([]); return; }
  const deletable = can("delete_unassigned");
  show(res.data.recordings.map((r) => el("tr", { "data-id": r.id },
    el("td", {}, deletable ? el("input", { type: "checkbox", class: "pick", value: r.id,
      "aria-label": "Select recording of " + fmtTime(r.started_at), onchange: updateBulk }) : ""),
    ...baseCells(r), player(r), assignCell(r), deleteCell(r))));
  $("select-all").disabled = !deletable;
  updateBulk();
}

function setupUnassigned() {
  $("select-all").addEventListener("change", (e) => {
    for (const b of document.querySelectorAll("input.pick")) b.checked = e.target.checked;
    updateBulk();
  });
  $("bulk-delete").addEventListener("click", async () => {
    const ids = selectedIds();
    if (!ids.length || !(await confirmDelete(ids.length))) return;
    const res = await api("POST", "/api/recordings/bulk-delete", { ids });
    if (!res.ok) { say("Not deleted: " + errorText(res), false); return; }
    const refused = Object.entries(res.data.refused);
    let text = `Deleted ${res.data.deleted.length} recording${res.data.deleted.length === 1 ? "" : "s"}`;
    if (refused.length) text += `; refused ${refused.length}: ` + refused.map(([, code]) => ruleText(code)).join(", ");
    say(text, refused.length === 0);
    await loadUnassigned();
  });
  loadUnassigned();
}

if (PAGE.view === "record") {
  loadRecord();
} else if (PAGE.view === "unassigned") {
  setupUnassigned();
}
