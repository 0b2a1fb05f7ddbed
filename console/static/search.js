// Recordings search: filters, sort, keyset pages (next_cursor), CSV export of the same search.
// The form's state is kept in the address, so a search can be bookmarked or shared.
"use strict";
const $ = (id) => document.getElementById(id);
const form = $("search");
let cursors = [];   // cursor (or offset) of each page shown so far; [0] is the first page
let next = null;    // how to ask for the page after this one, or null at the end

function fmtTime(iso) { return iso ? iso.replace("T", " ").slice(0, 19) : ""; }
function fmtLen(s) { const m = Math.floor(s / 60); return m + ":" + String(Math.round(s % 60)).padStart(2, "0"); }

function filters() {
  const q = new URLSearchParams();
  for (const [k, v] of new FormData(form)) if (String(v).trim() !== "") q.set(k, String(v).trim());
  if (!q.has("state")) q.set("state", "");  // "any" must survive a reload
  return q;
}

function apiQuery(q) {
  const out = new URLSearchParams();
  for (const [k, v] of q) if (v !== "") out.set(k, v);
  return out;
}

function fill(q) {
  for (const el of form.elements) if (el.name && q.has(el.name)) el.value = q.get(el.name);
}

function row(r) {
  const id = encodeURIComponent(r.id);
  return el("tr", { "data-id": r.id },
    el("td", {}, el("a", { href: "/recordings/" + id, text: fmtTime(r.started_at), title: "The recording's story" })),
    el("td", { text: r.agent }), el("td", { text: r.campaign || r.queue || "—" }),
    el("td", { text: r.customer_e164 || r.customer_number_raw || "—" }),
    el("td", { text: fmtLen(r.duration_seconds) }),
    el("td", { class: "outcome", text: r.verification || "—" }),
    el("td", {}, ...(r.record_ids || []).map((n) => el("a", { href: "/records/" + n, text: "#" + n + " " }))),
    el("td", {}, el("audio", { controls: true, preload: "none", src: `/api/recordings/${id}/play`, "aria-label": "Play recording " + r.id }),
      " ", el("a", { href: `/api/recordings/${id}/download`, text: "Download" })));
}

async function load(page, initial) {
  const q = filters();
  // The address follows the user's searches (not the first load: it already says what was asked).
  if (!initial) history.replaceState(null, "", "/recordings?" + q.toString());
  const aq = apiQuery(q);
  $("csv").href = "/api/recordings.csv?" + aq.toString();
  const at = cursors[page];
  if (at && at.cursor) aq.set("cursor", at.cursor);
  if (at && at.offset) aq.set("offset", String(at.offset));
  const res = await api("GET", "/api/recordings?" + aq.toString());
  if (!res.ok) { say(errorText(res), false); show([], page); next = null; updatePager(page, 0); return; }
  say("", true);
  const rows = res.data.recordings;
  show(rows.map(row), page);
  const limit = Number(aq.get("limit") || 100);
  // Keyset pages when the API gives a cursor; otherwise count on by offset.
  if (res.data.next_cursor) next = { cursor: res.data.next_cursor };
  else if (!("next_cursor" in res.data) && rows.length === limit) next = { offset: ((at && at.offset) || 0) + limit };
  else next = null;
  updatePager(page, rows.length);
}

let current = 0;
function show(rows, page) {
  current = page;
  $("recordings").tBodies[0].replaceChildren(...rows);
  $("empty").hidden = rows.length > 0;
}

function updatePager(page, n) {
  $("next-page").disabled = next === null;
  $("first-page").disabled = page === 0;
  $("range").textContent = n ? `Page ${page + 1}: ${n} recording${n === 1 ? "" : "s"}` : "";
}

form.addEventListener("submit", (e) => { e.preventDefault(); cursors = [null]; load(0); });
form.addEventListener("reset", () => { setTimeout(() => { cursors = [null]; load(0); }, 0); });
$("next-page").addEventListener("click", () => { cursors[current + 1] = next; load(current + 1); });
$("first-page").addEventListener("click", () => { cursors = [null]; load(0); });

fill(new URLSearchParams(location.search));
cursors = [null];
load(0, true);
