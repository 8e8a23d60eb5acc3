/* veritee console: reads the broker's admin API with the console token
 * from the URL fragment (`veritee admin console-url`) and draws it.
 * Everything shown comes from attestation evidence or operators: text is
 * set with textContent only, never parsed as HTML. */
"use strict";

(function () {
  const API = "/kbs/v0";
  const STORE = "veritee-console-token";
  const REFRESH_MS = 10000;
  const SVG = "http://www.w3.org/2000/svg";
  let timer = null;

  const $ = (id) => document.getElementById(id);

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }

  function svg(tag, attrs) {
    const e = document.createElementNS(SVG, tag);
    for (const k in attrs) e.setAttribute(k, String(attrs[k]));
    return e;
  }

  /* The token: from the fragment (then out of the address bar and the
   * history), else from this tab's storage. */
  function takeToken() {
    if (location.hash.length > 1) {
      const t = new URLSearchParams(location.hash.slice(1)).get("token");
      history.replaceState(null, "", location.pathname + location.search);
      if (t) sessionStorage.setItem(STORE, t);
    }
    return sessionStorage.getItem(STORE);
  }

  function tokenExp(t) {
    try {
      const p = t.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      const exp = JSON.parse(atob(p)).exp;
      return typeof exp === "number" ? exp : null;
    } catch (e) {
      return null;
    }
  }

  function setState(state, title, text) {
    document.body.dataset.state = state;
    const m = $("message");
    if (state === "signin" || state === "refused") {
      $("message-title").textContent = title;
      $("message-text").textContent = text;
      m.hidden = false;
      $("error").hidden = true;
      $("content").hidden = true;
      for (const tb of document.querySelectorAll("#content tbody")) tb.replaceChildren();
      for (const c of document.querySelectorAll(".chart")) c.replaceChildren();
    } else {
      m.hidden = true;
    }
  }

  function refused(detail) {
    sessionStorage.removeItem(STORE);
    if (timer) clearTimeout(timer);
    timer = null;
    setState("refused", "The broker refused this console token.",
      (detail ? detail + ". " : "") + "It has expired or is not signed by one of the broker's admin keys: " +
      "get a new link with veritee admin console-url.");
  }

  class Refused extends Error {}
  class Missing extends Error {}

  async function get(token, path) {
    const r = await fetch(API + path, {
      headers: { Authorization: "Bearer " + token, Accept: "application/json" },
      cache: "no-store", credentials: "omit", referrerPolicy: "no-referrer", redirect: "error",
    });
    let body = null;
    try {
      body = await r.json();
    } catch (e) {
      body = null;
    }
    const type = body && typeof body.type === "string" ? body.type : "";
    if ((r.status === 401 || r.status === 403) && /AdminAuth/.test(type))
      throw new Refused(body && body.detail ? String(body.detail) : "HTTP " + r.status);
    if (r.status === 404) throw new Missing(path);
    if (!r.ok) throw new Error(path + ": HTTP " + r.status + (body && body.detail ? ": " + body.detail : ""));
    return body;
  }

  function fmtTime(s) {
    const d = new Date(s * 1000);
    const p = (n) => String(n).padStart(2, "0");
    return d.getFullYear() + "-" + p(d.getMonth() + 1) + "-" + p(d.getDate()) + " " +
      p(d.getHours()) + ":" + p(d.getMinutes()) + ":" + p(d.getSeconds());
  }

  function row(cells) {
    const tr = document.createElement("tr");
    for (const c of cells) tr.appendChild(c);
    return tr;
  }

  function fill(id, rows, empty, cols) {
    const tb = document.querySelector("#" + id + " tbody");
    if (rows.length === 0) {
      const td = el("td", "empty", empty);
      td.colSpan = cols;
      rows = [row([td])];
    }
    tb.replaceChildren(...rows);
  }

  function attestationRows(list) {
    return list.map((a) => {
      const failing = [];
      if (a.step) failing.push("step " + a.step);
      if (a.rule) failing.push("rule " + a.rule);
      if (a.field) failing.push("field " + a.field);
      const verdict = el("td", "c-verdict");
      verdict.appendChild(el("span", "badge " + (a.ok ? "ok" : "failed"), a.ok ? "ok" : "failed"));
      const tr = row([
        el("td", "c-time", typeof a.time === "number" ? fmtTime(a.time) : ""),
        el("td", "c-tee", a.tee),
        verdict,
        el("td", "c-status", a.status),
        el("td", "c-failing", failing.join(" \u00b7 ")),
        el("td", "c-explanation", a.explanation || a.detail || ""),
        el("td", "c-client", a.client),
        el("td", "c-duration num", typeof a.duration_ms === "number" ? a.duration_ms.toFixed(1) : ""),
        el("td", "c-request-id mono", a.request_id),
      ]);
      tr.dataset.requestId = String(a.request_id || "");
      tr.dataset.tee = String(a.tee || "");
      tr.dataset.ok = a.ok ? "true" : "false";
      tr.dataset.status = String(a.status || "");
      tr.dataset.step = String(a.step || "");
      tr.dataset.rule = String(a.rule || "");
      tr.className = a.ok ? "ok" : "failed";
      return tr;
    });
  }

  /* Stacked bars: ok below, failed above, one per minute. */
  function perMinuteChart(stats) {
    const W = 640, H = 180, L = 34, B = 22, T = 8;
    const pm = Array.isArray(stats.per_minute) ? stats.per_minute : [];
    const max = Math.max(1, ...pm.map((m) => (m.ok | 0) + (m.failed | 0)));
    const bw = (W - L - 4) / Math.max(pm.length, 1);
    const y = (v) => T + (H - T - B) * (1 - v / max);
    const s = svg("svg", { viewBox: "0 0 " + W + " " + H, class: "chart-svg", id: "per-minute-svg", role: "img" });
    s.appendChild(svg("line", { x1: L, y1: H - B, x2: W, y2: H - B, class: "axis" }));
    for (const v of [0, max]) {
      const t = svg("text", { x: L - 4, y: y(v) + 4, class: "tick", "text-anchor": "end" });
      t.textContent = String(v);
      s.appendChild(t);
    }
    pm.forEach((m, i) => {
      const ok = m.ok | 0, failed = m.failed | 0, x = L + i * bw + 1;
      const g = svg("g", { class: "bar", "data-minute": m.minute, "data-ok": ok, "data-failed": failed });
      const title = svg("title", {});
      title.textContent = fmtTime(m.minute) + ": " + ok + " ok, " + failed + " failed";
      g.appendChild(title);
      if (ok) g.appendChild(svg("rect", { x: x, y: y(ok), width: Math.max(bw - 2, 1), height: y(0) - y(ok), class: "ok" }));
      if (failed)
        g.appendChild(svg("rect", { x: x, y: y(ok + failed), width: Math.max(bw - 2, 1), height: y(ok) - y(ok + failed), class: "failed" }));
      g.appendChild(svg("rect", { x: x - 1, y: T, width: bw, height: H - T - B, class: "hit" }));
      s.appendChild(g);
    });
    const left = svg("text", { x: L, y: H - 6, class: "tick" });
    left.textContent = "-60 min";
    const right = svg("text", { x: W - 2, y: H - 6, class: "tick", "text-anchor": "end" });
    right.textContent = "now";
    s.append(left, right);
    $("chart-per-minute").replaceChildren(s);
    const tot = stats.totals || {};
    $("totals").textContent = "since start: " + (tot.ok | 0) + " ok, " + (tot.failed | 0) + " failed";
  }

  function latencyChart(stats) {
    const W = 640, H = 180, L = 34, B = 22, T = 8;
    const lat = stats.latency_ms || {};
    const le = Array.isArray(lat.le) ? lat.le : [];
    const counts = Array.isArray(lat.counts) ? lat.counts : [];
    const n = Math.min(le.length, counts.length);
    const max = Math.max(1, ...counts.slice(0, n).map((c) => c | 0));
    const bw = (W - L - 4) / Math.max(n, 1);
    const y = (v) => T + (H - T - B) * (1 - v / max);
    const s = svg("svg", { viewBox: "0 0 " + W + " " + H, class: "chart-svg", id: "latency-svg", role: "img" });
    s.appendChild(svg("line", { x1: L, y1: H - B, x2: W, y2: H - B, class: "axis" }));
    for (const v of [0, max]) {
      const t = svg("text", { x: L - 4, y: y(v) + 4, class: "tick", "text-anchor": "end" });
      t.textContent = String(v);
      s.appendChild(t);
    }
    for (let i = 0; i < n; i++) {
      const c = counts[i] | 0, x = L + i * bw + 2;
      const label = le[i] === null ? ">" + (i ? le[i - 1] : 0) : "\u2264" + le[i];
      const g = svg("g", { class: "bar", "data-le": le[i] === null ? "inf" : le[i], "data-count": c });
      const title = svg("title", {});
      title.textContent = label + " ms: " + c;
      g.appendChild(title);
      if (c) g.appendChild(svg("rect", { x: x, y: y(c), width: Math.max(bw - 4, 1), height: y(0) - y(c), class: "latency" }));
      g.appendChild(svg("rect", { x: x - 2, y: T, width: bw, height: H - T - B, class: "hit" }));
      const t = svg("text", { x: x + (bw - 4) / 2, y: H - 6, class: "tick", "text-anchor": "middle" });
      t.textContent = label;
      g.appendChild(t);
      s.appendChild(g);
    }
    $("chart-latency").replaceChildren(s);
  }

  function note(id, text) {
    const p = $(id);
    p.textContent = text || "";
    p.hidden = !text;
  }

  async function load(token) {
    /* Policies first: a refused token stops here. */
    const pol = await get(token, "/attestation-policy");
    const [res, rvs] = await Promise.all([get(token, "/admin/resources"), get(token, "/reference-value")]);
    let att = null, stats = null, missing = [];
    try {
      att = await get(token, "/admin/attestations?limit=100");
    } catch (e) {
      if (!(e instanceof Missing)) throw e;
      missing.push("attestations");
    }
    try {
      stats = await get(token, "/admin/stats");
    } catch (e) {
      if (!(e instanceof Missing)) throw e;
      missing.push("stats");
    }
    const names = (rvs.reference_values || []).map((r) => String(r.name)).slice(0, 200);
    const values = await Promise.all(names.map((nm) =>
      get(token, "/reference-value/" + encodeURIComponent(nm)).catch((e) => {
        if (e instanceof Refused) throw e;
        return null;
      })));

    const list = att && Array.isArray(att.attestations) ? att.attestations : [];
    fill("attestations", attestationRows(list), att ? "no attestations yet" : "not available", 9);
    $("attestations-count").textContent = att ? String(list.length) : "";
    note("attestations-note", att ? "" : "This broker has no attestation log (GET /kbs/v0/admin/attestations).");

    const pols = pol.policies || [];
    fill("policies", pols.map((p) => {
      const tr = row([el("td", "c-id mono", p.id), el("td", "c-source", p.source)]);
      tr.dataset.id = String(p.id);
      return tr;
    }), "none", 2);
    $("policies-count").textContent = String(pols.length);

    /* The list endpoint gives path and size; nothing else is shown. */
    const resources = res.resources || [];
    fill("resources", resources.map((r) => {
      const tr = row([el("td", "c-path mono", r.path), el("td", "c-size num", r.size)]);
      tr.dataset.path = String(r.path);
      return tr;
    }), "none", 2);
    $("resources-count").textContent = String(resources.length);

    fill("reference-values", names.map((nm, i) => {
      const v = values[i];
      const td = el("td", "c-values mono");
      if (v === null) td.textContent = "?";
      else for (const x of Array.isArray(v) ? v : [v]) td.appendChild(el("div", "value", typeof x === "string" ? x : JSON.stringify(x)));
      const tr = row([el("td", "c-name mono", nm), td]);
      tr.dataset.name = nm;
      return tr;
    }), "none", 2);
    $("reference-values-count").textContent = String(names.length);

    if (stats) {
      perMinuteChart(stats);
      latencyChart(stats);
    } else {
      const msg = el("p", "note", "not available on this broker (GET /kbs/v0/admin/stats)");
      $("chart-per-minute").replaceChildren(msg);
      $("chart-latency").replaceChildren(msg.cloneNode(true));
    }
    document.body.dataset.missing = missing.join(" ");
  }

  async function refresh() {
    timer = null;
    const token = sessionStorage.getItem(STORE);
    if (!token) {
      setState("signin", "Not signed in.", "This page needs a console token.");
      return;
    }
    const exp = tokenExp(token);
    $("token-expiry").textContent = exp ? fmtTime(exp) : "-";
    if (exp !== null && exp * 1000 <= Date.now()) {
      refused("The token expired at " + fmtTime(exp));
      return;
    }
    try {
      await load(token);
      $("error").hidden = true;
      $("content").hidden = false;
      setState("ok");
      $("refreshed").textContent = fmtTime(Date.now() / 1000);
    } catch (e) {
      if (e instanceof Refused) {
        refused(e.message);
        return;
      }
      /* Keep what is shown; say why it is not fresh. */
      $("error").textContent = "Refresh failed: " + (e && e.message ? e.message : String(e));
      $("error").hidden = false;
      if (document.body.dataset.state === "loading") document.body.dataset.state = "error";
    }
    timer = setTimeout(refresh, REFRESH_MS);
  }

  document.addEventListener("DOMContentLoaded", () => {
    $("broker-url").textContent = location.origin;
    takeToken();
    refresh();
  });
})();
