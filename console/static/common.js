// Shared helpers: page data, JSON API calls with the session's CSRF token.
"use strict";
const PAGE = JSON.parse(document.getElementById("page-data").textContent);
const CSRF = document.querySelector('meta[name="csrf-token"]').content;

function can(perm) {
  return PAGE.permissions.includes(perm) || PAGE.permissions.includes("admin");
}

function ruleText(id) {
  return PAGE.rules[id] || id || "";
}

async function api(method, path, body) {
  const opts = { method, credentials: "same-origin", headers: { "X-CSRF-Token": CSRF } };
  if (method !== "GET") {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body === undefined ? {} : body);
  }
  const resp = await fetch(path, opts);
  let data = null;
  try { data = await resp.json(); } catch (e) { data = null; }
  if (resp.status === 401) { location.href = "/login?next=" + encodeURIComponent(location.pathname); }
  return { ok: resp.ok, status: resp.status, data };
}

function errorText(res) {
  const err = res.data && res.data.error;
  if (!err) return "Request failed (" + res.status + ")";
  return ruleText(err.rule || err.code) + (err.rule || PAGE.rules[err.code] ? "" : ": " + err.message);
}

function say(text, good) {
  const el = document.getElementById("message");
  if (!el) return;
  el.textContent = text;
  el.className = "message " + (good ? "good" : "bad");
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

// The live websocket closed with 4401 (the session or password this page opened it
// with no longer holds: logged out here, in another tab or on another node; expired)
// or 4403 (permission withdrawn). Reconnecting would only be refused: say why instead.
function showSessionEnded(ev) {
  const live = document.getElementById("live");
  const login = "/login?next=" + encodeURIComponent(location.pathname);
  live.replaceChildren(ev.code === 4401 ? "Logged out (" + ev.reason + "). " : "No longer permitted to watch calls. ",
    el("a", { href: login, text: "Log in again" }));
  live.dataset.ended = String(ev.code);
}
