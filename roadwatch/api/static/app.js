/* roadwatch dashboard: plain ES2020, no build step. Every server string reaches the DOM
   through textContent / setAttribute (see h()); innerHTML is used only for constant SVG. */
"use strict";

(() => {
  // ---- state -------------------------------------------------------------------------
  const S = {
    route: "", expired: false, es: null, opened: false,
    cameras: [], tiles: new Map(), liveGen: 0, camTimer: 0,
    feed: [], alerts: [],                 // newest first, at most 200 each
    sightFilter: { camera: "", identity: "", plate: "", status: "final" },
    alertKind: "", watchEdit: null, previewUrl: "",
  };
  const MAX_ROWS = 200;
  const SEVERITIES = ["info", "warning", "critical"];
  const MATCHES = [["plate", "Plate (exact)"], ["plate_regex", "Plate (regex)"], ["plate_fuzzy", "Plate (fuzzy)"],
    ["identity", "Identity"], ["vehicle_type", "Vehicle type"], ["colour", "Colour"]];
  const HINTS = { plate: "AB12CDE", plate_regex: "^AB1\\d", plate_fuzzy: "AB12CDE", identity: "42",
    vehicle_type: "truck", colour: "red" };
  const ICONS = {
    car: '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="1.6"><path d="M5 16V11l2-5h10l2 5v5M3 16h18v2H3zM7 11h10"/><circle cx="7.5" cy="14" r="1"/><circle cx="16.5" cy="14" r="1"/></svg>',
    upload: '<svg viewBox="0 0 24 24" fill="none" stroke="currentColor" stroke-width="1.6"><path d="M12 16V4M7 9l5-5 5 5M4 16v4h16v-4"/></svg>',
  };

  // ---- small helpers -----------------------------------------------------------------
  const $ = (sel, root = document) => root.querySelector(sel);
  const pad = (n) => String(n).padStart(2, "0");
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

  /** Build an element; string children become text nodes, so server text is never parsed. */
  function h(tag, props, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v == null || v === false) continue;
      if (k === "class") e.className = v;
      else if (k === "style") for (const [p, x] of Object.entries(v)) e.style.setProperty(p, x);
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of kids.flat(Infinity)) if (c != null && c !== false && c !== "") e.append(c instanceof Node ? c : String(c));
    return e;
  }
  function icon(name, cls = "icon") {
    const s = h("span", { class: cls, "aria-hidden": "true" });
    s.innerHTML = ICONS[name]; // constant markup only
    return s;
  }
  /** Only same-origin paths or http(s) URLs go into src/href. */
  function safeUrl(u) {
    if (typeof u !== "string" || !u) return null;
    if (u.startsWith("/") && !u.startsWith("//")) return u;
    return /^https?:\/\//i.test(u) ? u : null;
  }
  function clock(unix) {
    if (unix == null || !isFinite(unix)) return "–";
    const d = new Date(unix * 1000);
    return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  }
  /** Media seconds (recordings) as t=…, unix seconds as local time (with the date if not today). */
  function when(t) {
    if (t == null || !isFinite(t)) return "–";
    if (t < 1e9) return `t=${Number(t).toFixed(1)} s`;
    const d = new Date(t * 1000);
    return d.toDateString() === new Date().toDateString() ? clock(t) : `${d.toLocaleDateString()} ${clock(t)}`;
  }
  function span(seconds) {
    if (!isFinite(seconds) || seconds < 0) return "";
    if (seconds < 90) return `${seconds.toFixed(1)} s`;
    if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
    return `${(seconds / 3600).toFixed(1)} h`;
  }
  const pct = (x) => (x == null || !isFinite(x) ? "–" : `${(x * 100).toFixed(1)}%`);
  const sev = (s) => (SEVERITIES.includes(s) ? s : "info");
  function camColour(cam) {
    let x = 0;
    for (const ch of String(cam)) x = (x * 31 + ch.charCodeAt(0)) >>> 0;
    return `hsl(${x % 360} 65% 60%)`;
  }
  function qs(params) {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v != null && v !== "") q.set(k, v);
    return q.toString();
  }
  function showError(el, msg) { el.textContent = msg || ""; el.hidden = !msg; }

  // ---- small building blocks ---------------------------------------------------------
  const plate = (text) => (text ? h("span", { class: "plate" }, text) : h("span", { class: "plate none" }, "no plate"));
  const tag = (text, cls) => h("span", { class: `tag ${cls}` }, text);
  const camChip = (cam) => h("span", { class: "cam", style: { "--cam": camColour(cam) } }, cam || "?");
  function idLink(n) {
    if (n == null) return h("span", { class: "muted" }, "unidentified");
    return h("a", { class: "idlink", href: `#/identity/${encodeURIComponent(n)}` }, `#${n}`);
  }
  function thumb(url, big) {
    const src = safeUrl(url);
    if (!src) return h("div", { class: "thumb empty", title: "no snapshot" }, icon("car"));
    const img = h("img", { class: "thumb", src, alt: "", loading: "lazy", decoding: "async" });
    return big ? h("a", { href: safeUrl(big) || src, target: "_blank", rel: "noopener", title: "Open full size" }, img) : img;
  }
  const typeColour = (s) => [s.vehicle_type, s.colour].filter(Boolean).join(" · ") || "unknown vehicle";
  const panel = (title, body, extra) => h("section", { class: "panel" }, h("h2", { class: "panel-title" }, title, extra), body);
  const empty = (text) => h("div", { class: "empty" }, text);

  // ---- API and session ---------------------------------------------------------------
  function detailText(body) {
    const d = body && typeof body === "object" ? body.detail : body;
    if (Array.isArray(d)) {
      return d.map((x) => (x && x.msg ? (Array.isArray(x.loc) && x.loc.length ? `${x.loc[x.loc.length - 1]}: ${x.msg}` : x.msg) : JSON.stringify(x))).join("; ");
    }
    if (d && typeof d === "object") return JSON.stringify(d);
    return d ? String(d) : "";
  }
  async function api(path, opts = {}) {
    if (S.expired) throw Object.assign(new Error("Session expired"), { status: 401 });
    const r = await fetch(path, { credentials: "same-origin", ...opts });
    if (r.status === 401) { expire(); throw Object.assign(new Error("Session expired"), { status: 401 }); }
    const text = r.status === 204 ? "" : await r.text();
    let body = null;
    if (text) { try { body = JSON.parse(text); } catch (_) { body = text; } }
    if (!r.ok) throw Object.assign(new Error(detailText(body) || `HTTP ${r.status}`), { status: r.status });
    return body;
  }
  /** 401 anywhere: say so once, stop polling and the event stream. */
  function expire() {
    if (S.expired) return;
    S.expired = true;
    const b = $("#banner");
    b.textContent = "Session expired: reopen the link with ?token=...";
    b.hidden = false;
    if (S.es) S.es.close();
    stopLive();
    clearInterval(S.camTimer);
    setLive("offline");
  }
  function setLive(state) {
    const el = $("#live-state");
    el.className = `live-state is-${state}`;
    el.textContent = state;
  }

  // ---- live event stream -------------------------------------------------------------
  function connect() {
    if (S.expired) return;
    const es = new EventSource("/api/stream");
    S.es = es;
    es.onopen = () => { setLive("live"); if (S.opened) loadInitial(); S.opened = true; };
    es.onerror = () => {
      if (S.expired) return;
      setLive("reconnecting");
      if (es.readyState !== EventSource.CLOSED) return; // the browser retries by itself
      es.close(); // refused (401/503): probe, then open a fresh one
      setTimeout(() => api("/api/cameras").then(connect, () => setTimeout(connect, 5000)), 3000);
    };
    const on = (type, fn) => es.addEventListener(type, (e) => { try { fn(JSON.parse(e.data)); } catch (err) { console.warn(type, err); } });
    on("sighting", (s) => upsertSighting(s, true));
    on("alert", (a) => addAlert(a, true));
    on("camera", cameraEvent);
  }
  /** Fill the feed and alert list (also after a reconnect, to catch up). */
  async function loadInitial() {
    try {
      const [sg, al] = await Promise.all([api("/api/sightings?limit=30&status=any"), api("/api/alerts?limit=20")]);
      for (const s of sg.items || []) if (!S.feed.some((x) => x.id === s.id)) S.feed.push(s);
      S.feed.sort((a, b) => (b.wall_time || 0) - (a.wall_time || 0));
      S.feed.length = Math.min(S.feed.length, MAX_ROWS);
      for (const a of al.items || []) if (!S.alerts.some((x) => x.id === a.id)) S.alerts.push(a);
      S.alerts.sort((a, b) => (b.wall_time || 0) - (a.wall_time || 0));
      S.alerts.length = Math.min(S.alerts.length, MAX_ROWS);
      if (S.route === "live") { renderFeed(); renderAlerts(); }
    } catch (e) { if (e.status !== 401) console.warn("initial load", e); }
  }
  /** A sighting from the stream: same id (provisional, then final) is updated in place. */
  function upsertSighting(s, live) {
    if (!s || !s.id) return;
    const i = S.feed.findIndex((x) => x.id === s.id);
    if (i >= 0) {
      if (S.feed[i].status === "final" && s.status !== "final") return; // never downgrade
      S.feed[i] = s;
    } else {
      S.feed.unshift(s);
      if (S.feed.length > MAX_ROWS) S.feed.length = MAX_ROWS;
    }
    const feed = S.route === "live" && $("#feed");
    if (!feed) return;
    const row = sightingRow(s);
    const old = feed.querySelector(`.sighting[data-id="${CSS.escape(s.id)}"]`);
    if (old) { old.replaceWith(row); return; }
    feed.querySelector(".empty")?.remove();
    if (live) row.classList.add("enter");
    feed.prepend(row);
    while (feed.children.length > MAX_ROWS) feed.lastElementChild.remove();
  }
  function addAlert(a, live) {
    if (!a || !a.id || S.alerts.some((x) => x.id === a.id)) return;
    S.alerts.unshift(a);
    if (S.alerts.length > MAX_ROWS) S.alerts.length = MAX_ROWS;
    const list = $("#alerts");
    const show = S.route === "live" || (S.route === "alerts" && (!S.alertKind || S.alertKind === a.kind));
    if (list && show) {
      list.querySelector(".empty")?.remove();
      const row = alertRow(a, S.route === "alerts");
      if (live) row.classList.add("flash");
      list.prepend(row);
      while (list.children.length > MAX_ROWS) list.lastElementChild.remove();
    }
    if (live) toast(a);
  }
  function toast(a) {
    const box = $("#toasts");
    const t = h("div", { class: `toast sev-${sev(a.severity)}`, role: "status" },
      h("div", { class: "toast-head" }, h("strong", {}, `${sev(a.severity)} · ${a.kind || "alert"}`), h("span", { class: "muted" }, a.camera || "")),
      h("div", {}, a.message || "New alert"));
    t.addEventListener("click", () => { if (a.identity != null) location.hash = `#/identity/${a.identity}`; t.remove(); });
    box.prepend(t);
    while (box.children.length > 4) box.lastElementChild.remove();
    setTimeout(() => t.remove(), 6000);
  }
  function cameraEvent(d) {
    const cam = S.cameras.find((c) => c.id === d.camera_id);
    if (!cam) { if (S.route === "live") refreshCameras(); return; }
    cam.health = { ...(cam.health || {}), ...d };
    updateTileHead(cam);
  }

  // ---- rows shared by several views ----------------------------------------------------
  function sightingRow(s) {
    const urls = s.snapshot_urls || {};
    return h("div", {
      class: `sighting${s.status === "provisional" ? " provisional" : ""}`,
      "data-id": s.id, "data-identity": s.identity ?? "", "data-camera": s.camera ?? "",
    },
    thumb(urls.vehicle),
    h("div", { class: "s-body" },
      h("div", { class: "s-line" }, plate(s.plate_text), idLink(s.identity),
        s.new && tag("new", "new"), s.status === "provisional" && tag("live", "prov")),
      h("div", { class: "s-meta" }, camChip(s.camera), h("span", {}, typeColour(s)))),
    h("time", { class: "s-time", title: `seen ${when(s.first_time)}` }, clock(s.wall_time)));
  }
  function ruleLine(rule) {
    if (!rule || typeof rule !== "object") return null;
    return h("div", { class: "kvs" }, Object.entries(rule).map(([k, v]) =>
      h("span", { class: "kv" }, h("b", {}, k), " ", v !== null && typeof v === "object" ? JSON.stringify(v) : String(v))));
  }
  function alertRow(a, full) {
    const urls = a.snapshot_urls || {};
    return h("div", { class: `alert sev-${sev(a.severity)}`, "data-id": a.id, "data-kind": a.kind ?? "" },
      full && thumb(urls.frame || urls.vehicle, urls.frame),
      h("div", { class: "a-body" },
        h("div", { class: "a-head" }, h("span", { class: "sev" }, sev(a.severity)), h("span", { class: "kind" }, a.kind || ""),
          h("time", { title: a.wall_time ? `written ${clock(a.wall_time)}` : null }, when(a.time ?? a.wall_time))),
        h("div", { class: "a-msg" }, a.message || "(no message)"),
        h("div", { class: "a-meta" }, camChip(a.camera), idLink(a.identity), a.plate_text && plate(a.plate_text)),
        full && a.kind === "escape" && ruleLine(a.rule)));
  }
  function renderFeed() {
    const feed = $("#feed");
    if (feed) feed.replaceChildren(...(S.feed.length ? S.feed.map(sightingRow) : [empty("No sightings yet")]));
  }
  function renderAlerts() {
    const list = $("#alerts");
    if (list) list.replaceChildren(...(S.alerts.length ? S.alerts.map((a) => alertRow(a, false)) : [empty("No alerts")]));
  }

  // ---- view: live ----------------------------------------------------------------------
  function viewLive(view) {
    view.append(
      h("section", { class: "live-main" }, h("div", { id: "tiles", class: "tiles" }, empty("Loading cameras…"))),
      h("aside", { class: "live-side" },
        panel("Sightings", h("div", { id: "feed", class: "feed panel-body" })),
        panel("Alerts", h("div", { id: "alerts", class: "alert-list panel-body" }), h("a", { class: "more-link", href: "#/alerts" }, "all"))));
    renderFeed();
    renderAlerts();
    refreshCameras();
    S.camTimer = setInterval(() => { if (!document.hidden) refreshCameras(); }, 10000);
  }
  async function refreshCameras() {
    let cams;
    try { cams = await api("/api/cameras"); } catch (e) { return; }
    S.cameras = Array.isArray(cams) ? cams : [];
    if (S.route !== "live") return;
    const ids = S.cameras.map((c) => c.id).join("\n");
    if (ids !== [...S.tiles.keys()].join("\n") || !$("#tiles .tile")) buildTiles();
    S.cameras.forEach(updateTileHead);
  }
  function buildTiles() {
    const grid = $("#tiles");
    if (!grid) return;
    stopLive();
    S.tiles.clear();
    if (!S.cameras.length) { grid.replaceChildren(empty("No cameras configured")); return; }
    grid.replaceChildren(...S.cameras.map((cam) => {
      const img = h("img", { alt: `camera ${cam.id}`, decoding: "async" });
      const canvas = h("canvas", { class: "overlay" });
      const frame = h("div", { class: "tile-frame" }, img, canvas, h("div", { class: "tile-wait" }, "Waiting for the first frame…"));
      const tile = h("div", { class: "tile noframe", "data-camera": cam.id },
        h("div", { class: "tile-head" }, h("span", { class: "tile-name" }, cam.id), h("span", { class: "state" }), h("span", { class: "fps muted" })),
        frame, h("div", { class: "tile-error", hidden: true }));
      frame.addEventListener("click", () => tile.classList.toggle("wide"));
      if (Array.isArray(cam.size)) frame.style.aspectRatio = `${cam.size[0]} / ${cam.size[1]}`;
      S.tiles.set(cam.id, { cam, tile, img, canvas, frame, count: 0 });
      return tile;
    }));
    startLive();
  }
  function updateTileHead(cam) {
    const t = S.tiles.get(cam.id);
    if (!t) return;
    const hl = cam.health || {};
    const state = /^[a-z_.-]+$/.test(hl.state || "") ? hl.state : "unknown";
    const st = $(".state", t.tile);
    st.className = `state st-${state}`;
    st.textContent = hl.state || "no health";
    $(".fps", t.tile).textContent = hl.fps != null ? `${Number(hl.fps).toFixed(1)} fps` : "";
    t.tile.title = [`frames read ${hl.frames_read ?? "–"}`, `dropped ${hl.frames_dropped ?? "–"}`, `skipped ${hl.frames_skipped ?? "–"}`,
      `reconnects ${hl.reconnects ?? "–"}`, hl.seconds_since_frame != null ? `last frame ${Number(hl.seconds_since_frame).toFixed(1)} s ago` : ""].filter(Boolean).join("\n");
    showError($(".tile-error", t.tile), hl.last_error && state !== "streaming" ? hl.last_error : "");
  }
  /** Poll image + tracks of every tile while the live view is shown and the page visible. */
  function startLive() {
    if (S.expired || S.route !== "live" || document.hidden) return;
    const gen = ++S.liveGen;
    for (const t of S.tiles.values()) pumpTile(t, gen);
  }
  function stopLive() { S.liveGen++; }
  function loadImg(img, src) {
    return new Promise((resolve) => {
      const done = (ok) => { clearTimeout(timer); img.onload = img.onerror = null; resolve(ok); };
      const timer = setTimeout(() => done(false), 8000);
      img.onload = () => done(true);
      img.onerror = () => done(false);
      img.src = src;
    });
  }
  async function pumpTile(t, gen) {
    const base = `/api/cameras/${encodeURIComponent(t.cam.id)}`;
    while (gen === S.liveGen && !S.expired) {
      const started = performance.now();
      t.count += 1;
      const [ok, tracks] = await Promise.all([loadImg(t.img, `${base}/frame.jpg?f=${t.count}`), api(`${base}/tracks`).catch(() => null)]);
      if (gen !== S.liveGen) return;
      t.tile.classList.toggle("noframe", !ok);
      if (tracks && Array.isArray(tracks.size) && !t.frame.style.aspectRatio) t.frame.style.aspectRatio = `${tracks.size[0]} / ${tracks.size[1]}`;
      drawTracks(t, ok ? tracks : null);
      await sleep(Math.max(0, (ok ? 250 : 2000) - (performance.now() - started))); // at most 4 a second
    }
  }
  function drawTracks(t, data) {
    const c = t.canvas, W = c.clientWidth, H = c.clientHeight, dpr = window.devicePixelRatio || 1;
    if (c.width !== Math.round(W * dpr) || c.height !== Math.round(H * dpr)) { c.width = Math.round(W * dpr); c.height = Math.round(H * dpr); }
    const g = c.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, W, H);
    if (!data || !Array.isArray(data.size) || !Array.isArray(data.tracks)) return;
    const [fw, fh] = data.size, k = Math.min(W / fw, H / fh), ox = (W - fw * k) / 2, oy = (H - fh * k) / 2;
    g.font = "600 11px system-ui, sans-serif";
    for (const tr of data.tracks) {
      if (!Array.isArray(tr.box)) continue;
      const [x1, y1, x2, y2] = tr.box, x = ox + x1 * k, y = oy + y1 * k, w = (x2 - x1) * k, hh = (y2 - y1) * k;
      const lost = tr.state === 2, colour = tr.identity != null ? "#34d399" : tr.state === 1 ? "#60a5fa" : "#9ca3af";
      g.globalAlpha = lost ? 0.45 : 1;
      g.setLineDash(lost ? [5, 4] : []);
      g.lineWidth = tr.state === 0 ? 1 : 2;
      g.strokeStyle = colour;
      g.strokeRect(x, y, w, hh);
      g.setLineDash([]);
      if (!lost) {
        const label = [tr.identity != null ? `#${tr.identity}` : `track ${tr.track_id}`, tr.vehicle_type, tr.plate_text].filter(Boolean).join(" · ");
        const tw = g.measureText(label).width + 8, ly = y >= 16 ? y - 16 : y;
        g.fillStyle = colour;
        g.fillRect(x - 1, ly, tw, 16);
        g.fillStyle = "#0b0e13";
        g.fillText(label, x + 3, ly + 12);
      }
    }
    g.globalAlpha = 1;
  }

  // ---- view: sightings -------------------------------------------------------------------
  function viewSightings(view) {
    const f = S.sightFilter;
    const camSel = h("select", { name: "camera", "aria-label": "camera" }, h("option", { value: "" }, "All cameras"));
    const form = h("form", { class: "filters", id: "sightings-filter" },
      h("label", {}, "Camera", camSel),
      h("label", {}, "Identity", h("input", { name: "identity", type: "number", min: 1, placeholder: "any", value: f.identity })),
      h("label", {}, "Plate", h("input", { name: "plate", maxlength: 16, placeholder: "any", value: f.plate })),
      h("label", {}, "Status", h("select", { name: "status" }, h("option", { value: "final" }, "Final"), h("option", { value: "any" }, "Any (incl. provisional)"))),
      h("button", { type: "submit", class: "primary" }, "Apply"));
    form.elements.status.value = f.status;
    const tbody = h("tbody");
    const err = h("div", { class: "error", hidden: true });
    const more = h("button", { type: "button", class: "more", hidden: true }, "Load more");
    view.append(form, err, h("div", { class: "table-wrap" }, h("table", { id: "sightings-table", class: "table" },
      h("thead", {}, h("tr", {}, ["", "Seen", "Camera", "Identity", "Plate", "Vehicle", "Match", "Status"].map((c) => h("th", {}, c)))), tbody)), more);
    let next = null;
    async function load(after) {
      more.disabled = true;
      try {
        const ident = f.identity && Number(f.identity) >= 1 ? f.identity : "";
        const page = await api(`/api/sightings?${qs({ camera: f.camera, identity: ident, plate: f.plate.trim(), status: f.status, limit: 50, after })}`);
        if (!after) tbody.replaceChildren();
        tbody.append(...(page.items || []).map(sightingTr));
        if (!tbody.children.length) tbody.append(h("tr", {}, h("td", { colspan: 8, class: "empty" }, "No sightings match")));
        next = page.next;
        more.hidden = !next;
        showError(err, "");
      } catch (e) { showError(err, e.message); } finally { more.disabled = false; }
    }
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      Object.assign(f, { camera: camSel.value, identity: form.elements.identity.value, plate: form.elements.plate.value, status: form.elements.status.value });
      load(null);
    });
    more.addEventListener("click", () => next && load(next));
    const fillCams = () => {
      for (const c of S.cameras) camSel.append(h("option", { value: c.id }, c.id));
      camSel.value = f.camera;
    };
    if (S.cameras.length) fillCams();
    else api("/api/cameras").then((c) => { S.cameras = Array.isArray(c) ? c : []; fillCams(); }).catch(() => {});
    load(null);
  }
  function sightingTr(s) {
    const urls = s.snapshot_urls || {};
    return h("tr", { "data-id": s.id, "data-camera": s.camera ?? "" },
      h("td", { class: "c-thumb" }, thumb(urls.vehicle, urls.frame)),
      h("td", {}, when(s.first_time), h("div", { class: "muted small" }, `written ${clock(s.wall_time)}`)),
      h("td", {}, camChip(s.camera)),
      h("td", {}, idLink(s.identity), s.new && tag("new", "new")),
      h("td", {}, plate(s.plate_text), s.plate_confidence != null && h("div", { class: "muted small" }, pct(s.plate_confidence))),
      h("td", {}, typeColour(s)),
      h("td", {}, s.library || "–", h("div", { class: "muted small" }, pct(s.score))),
      h("td", {}, s.status === "provisional" ? tag("provisional", "prov") : tag("final", "final")));
  }

  // ---- view: identity --------------------------------------------------------------------
  async function viewIdentity(view, n) {
    const box = h("div", { id: "identity" }, empty("Loading…"));
    view.append(box);
    let d;
    try {
      if (!/^\d+$/.test(n || "")) throw Object.assign(new Error("bad"), { status: 404 });
      d = await api(`/api/identities/${n}`);
    } catch (e) {
      box.replaceChildren(h("div", { class: "empty big" }, e.status === 404 ? `No identity ${n ?? ""}` : `Could not load identity ${n}: ${e.message}`));
      return;
    }
    const cams = d.cameras || [];
    const last = (d.last_seen || [])[0];
    box.replaceChildren(
      h("header", { class: "id-head" },
        h("h1", {}, `#${d.identity}`), plate(d.plate),
        h("span", { class: "id-fact" }, [d.vehicle_type, d.colour].filter(Boolean).join(" · ") || "unknown vehicle"),
        h("span", { class: "id-fact" }, `${d.sightings_count ?? (d.sightings || []).length} sightings`),
        h("span", { class: "id-fact" }, `${cams.length} camera${cams.length === 1 ? "" : "s"}:`, " ", cams.map(camChip)),
        last && h("span", { class: "id-fact muted" }, `last seen at ${last.camera} ${when(last.time)}`)),
      (d.sightings || []).length ? h("ol", { class: "timeline" }, timelineItems(d.sightings)) : empty("No sightings stored"));
  }
  /** Newest first; a note between two sightings where the vehicle changed camera. */
  function timelineItems(list) {
    const out = [];
    list.forEach((s, i) => {
      out.push(timelineItem(s));
      const older = list[i + 1];
      if (older && older.camera !== s.camera) {
        const gap = s.first_time - older.last_time;
        out.push(h("li", { class: "t-move" }, `${older.camera} → ${s.camera}`, gap > 0 && (s.first_time >= 1e9) === (older.last_time >= 1e9) ? ` after ${span(gap)}` : ""));
      }
    });
    return out;
  }
  function timelineItem(s) {
    const u = s.snapshot_urls || {};
    const frame = safeUrl(u.frame);
    return h("li", { class: "sighting", "data-id": s.id, "data-camera": s.camera ?? "", "data-identity": s.identity ?? "", style: { "--cam": camColour(s.camera) } },
      h("div", { class: "t-card" },
        h("div", { class: "t-head" }, camChip(s.camera), h("time", {}, when(s.first_time)),
          s.last_time > s.first_time && h("span", { class: "muted" }, `for ${span(s.last_time - s.first_time)}`),
          h("span", { class: "muted" }, `${s.library || "no match"} · ${pct(s.score)}`),
          s.new && tag("new", "new"), s.status === "provisional" && tag("live", "prov")),
        h("div", { class: "t-shots" },
          frame ? h("a", { href: frame, target: "_blank", rel: "noopener", title: "Open the frame full size" }, h("img", { class: "shot-frame", src: frame, alt: "frame", loading: "lazy" })) : h("div", { class: "thumb empty shot-frame" }, icon("car")),
          safeUrl(u.vehicle) && h("img", { class: "shot-crop", src: safeUrl(u.vehicle), alt: "vehicle", loading: "lazy" }),
          safeUrl(u.plate) && h("img", { class: "shot-plate", src: safeUrl(u.plate), alt: "plate", loading: "lazy" })),
        h("div", { class: "t-meta" }, plate(s.plate_text), h("span", {}, typeColour(s)),
          s.quality != null && h("span", { class: "muted" }, `quality ${typeof s.quality === "number" ? s.quality.toFixed(2) : s.quality}`),
          s.error && h("span", { class: "error-inline" }, s.error))));
  }

  // ---- view: alerts ----------------------------------------------------------------------
  function viewAlerts(view) {
    const kind = h("select", { "aria-label": "kind" }, h("option", { value: "" }, "All kinds"), h("option", { value: "escape" }, "Escape"), h("option", { value: "watchlist" }, "Watchlist"));
    kind.value = S.alertKind;
    const list = h("div", { id: "alerts", class: "alert-list full" }, empty("Loading…"));
    const err = h("div", { class: "error", hidden: true });
    const more = h("button", { type: "button", class: "more", hidden: true }, "Load more");
    view.append(h("div", { class: "filters" }, h("label", {}, "Kind", kind)), err, list, more);
    let next = null;
    async function load(after) {
      more.disabled = true;
      try {
        const page = await api(`/api/alerts?${qs({ kind: S.alertKind, limit: 50, after })}`);
        if (!after) list.replaceChildren();
        list.append(...(page.items || []).map((a) => alertRow(a, true)));
        if (!list.children.length) list.append(empty("No alerts"));
        next = page.next;
        more.hidden = !next;
        showError(err, "");
      } catch (e) { showError(err, e.message); } finally { more.disabled = false; }
    }
    kind.addEventListener("change", () => { S.alertKind = kind.value; load(null); });
    more.addEventListener("click", () => next && load(next));
    load(null);
  }

  // ---- view: search by photo -------------------------------------------------------------
  function viewSearch(view) {
    const input = h("input", { type: "file", id: "search-file", accept: "image/*", class: "visually-hidden" });
    const drop = h("div", { id: "search-drop", class: "drop", tabindex: 0, role: "button", "aria-label": "Choose a photo to search" },
      icon("upload", "icon big"), h("strong", {}, "Drop a photo of a vehicle here"), h("span", { class: "muted" }, "or click to choose a file (JPEG, PNG, WebP, BMP)"));
    const category = h("select", { "aria-label": "category" }, h("option", { value: "type" }, "by type"), h("option", { value: "colour" }, "by colour"));
    const top = h("select", { "aria-label": "candidates" }, [5, 10, 20, 50].map((n) => h("option", { value: n }, `top ${n}`)));
    top.value = "10";
    const preview = h("div", { class: "preview", hidden: true });
    const progress = h("div", { class: "progress", hidden: true }, h("span", { class: "spinner" }), "Searching the gallery…");
    const err = h("div", { id: "search-error", class: "error", role: "alert", hidden: true });
    const results = h("div", { id: "search-results" });
    view.append(h("div", { class: "search-grid" },
      h("div", { class: "search-left" }, drop, input, h("div", { class: "filters" }, h("label", {}, "Candidates", top), h("label", {}, "Category", category)), preview),
      h("div", { class: "search-right" }, progress, err, results)));
    let seq = 0;
    async function run(file) {
      if (!file) return;
      const mine = ++seq;
      showError(err, "");
      results.replaceChildren();
      if (S.previewUrl) URL.revokeObjectURL(S.previewUrl);
      S.previewUrl = URL.createObjectURL(file);
      const img = h("img", { src: S.previewUrl, alt: file.name || "photo" });
      preview.replaceChildren(h("div", { class: "preview-box" }, img), h("div", { class: "muted small" }, `${file.name || "photo"} · ${(file.size / 1024).toFixed(0)} KiB`));
      preview.hidden = false;
      progress.hidden = false;
      try {
        const r = await api(`/api/search?${qs({ top: top.value, category: category.value })}`,
          { method: "POST", headers: { "Content-Type": file.type || "image/jpeg" }, body: file });
        if (mine !== seq) return;
        renderSearch(r, results);
        const boxes = () => drawSearchBoxes(img, r.vehicles || []);
        if (img.complete) boxes(); else img.addEventListener("load", boxes, { once: true });
      } catch (e) {
        if (mine === seq) showError(err, e.message);
      } finally { if (mine === seq) progress.hidden = true; }
    }
    input.addEventListener("change", () => { run(input.files[0]); input.value = ""; });
    drop.addEventListener("click", () => input.click());
    drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); input.click(); } });
    drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("drag"); });
    drop.addEventListener("dragleave", () => drop.classList.remove("drag"));
    drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("drag"); run(e.dataTransfer && e.dataTransfer.files[0]); });
  }
  function renderSearch(r, out) {
    if (!r.is_vehicle) {
      out.replaceChildren(h("div", { class: "notice" }, `Not a vehicle (p = ${Number(r.vehicle_probability ?? 0).toFixed(2)}); nothing searched`));
      return;
    }
    const vs = r.vehicles || [];
    out.replaceChildren(
      h("div", { class: "muted summary" }, `${vs.length} vehicle${vs.length === 1 ? "" : "s"} found · searched in ${Number(r.seconds ?? 0).toFixed(2)} s`),
      ...vs.map((v, i) => h("section", { class: "vehicle-card" },
        h("h3", {}, h("span", { class: "box-no" }, String(i + 1)), [v.type, v.colour].filter(Boolean).join(" · ") || "vehicle", " ", plate(v.plate),
          v.library && h("span", { class: "muted small" }, ` matched by ${v.library}`)),
        (v.results || []).length ? h("div", { class: "candidates" }, v.results.map(candidate)) : empty("No candidates in the gallery"))));
  }
  function candidate(c) {
    const last = (c.last_seen || [])[0];
    return h("div", { class: "candidate", "data-identity": c.identity ?? "" },
      thumb(c.snapshot_url),
      h("div", { class: "c-body" },
        h("div", { class: "s-line" }, idLink(c.identity), plate(c.plate), h("span", { class: "muted small" }, `rank ${c.rank ?? "–"}`), c.category && h("span", { class: "muted small" }, c.category)),
        h("div", { class: "s-meta" }, last ? [camChip(last.camera), h("span", {}, `last seen ${when(last.time)}`)] : h("span", { class: "muted" }, "not seen yet"))),
      h("div", { class: "score" }, h("strong", {}, pct(c.score)),
        h("div", { class: "bar" }, h("div", { style: { width: `${Math.max(0, Math.min(100, (c.score || 0) * 100))}%` } }))));
  }
  /** Numbered boxes over the preview, matching the vehicle cards. */
  function drawSearchBoxes(img, vehicles) {
    const box = img.parentElement, nw = img.naturalWidth, nh = img.naturalHeight;
    if (!box || !nw || !nh) return;
    vehicles.forEach((v, i) => {
      if (!Array.isArray(v.box)) return;
      const [x1, y1, x2, y2] = v.box;
      box.append(h("div", { class: "vbox", style: { left: `${(x1 / nw) * 100}%`, top: `${(y1 / nh) * 100}%`, width: `${((x2 - x1) / nw) * 100}%`, height: `${((y2 - y1) / nh) * 100}%` } }, h("span", {}, String(i + 1))));
    });
  }

  // ---- view: watchlist -------------------------------------------------------------------
  function viewWatchlist(view) {
    S.watchEdit = null;
    const match = h("select", { name: "match" }, MATCHES.map(([v, l]) => h("option", { value: v }, l)));
    const fuzzy = h("label", { class: "fuzzy-only", hidden: true }, "Max distance",
      h("input", { name: "max_distance", type: "number", step: "0.5", min: 0, max: 4, value: "1" }));
    const submit = h("button", { type: "submit", class: "primary" }, "Add");
    const cancel = h("button", { type: "button", hidden: true }, "Cancel");
    const form = h("form", { id: "watch-form", class: "filters watch-form", novalidate: true },
      h("label", {}, "Match", match),
      h("label", { class: "grow" }, "Value", h("input", { name: "value", maxlength: 200, placeholder: HINTS.plate, autocomplete: "off" })),
      h("label", { class: "grow" }, "Note", h("input", { name: "note", maxlength: 500, placeholder: "optional", autocomplete: "off" })),
      h("label", {}, "Severity", h("select", { name: "severity" }, SEVERITIES.map((s) => h("option", { value: s, selected: s === "warning" }, s)))),
      fuzzy, submit, cancel);
    const err = h("div", { id: "watch-error", class: "error", role: "alert", hidden: true });
    const tbody = h("tbody");
    view.append(panel(h("span", { class: "form-title" }, "Add a watchlist entry"), h("div", { class: "panel-body pad" }, form, err)),
      h("div", { class: "table-wrap" }, h("table", { id: "watch-table", class: "table" },
        h("thead", {}, h("tr", {}, ["Match", "Value", "Note", "Severity", ""].map((c) => h("th", {}, c)))), tbody)));
    const title = $(".form-title", view);
    const onMatch = () => { fuzzy.hidden = match.value !== "plate_fuzzy"; form.elements.value.placeholder = HINTS[match.value] || ""; };
    match.addEventListener("change", onMatch);
    function reset() {
      S.watchEdit = null;
      form.reset();
      form.elements.severity.value = "warning";
      submit.textContent = "Add";
      title.textContent = "Add a watchlist entry";
      cancel.hidden = true;
      tbody.querySelector("tr.editing")?.classList.remove("editing");
      onMatch();
    }
    function edit(entry, tr) {
      S.watchEdit = entry.id;
      match.value = entry.match;
      form.elements.value.value = entry.value ?? "";
      form.elements.note.value = entry.note ?? "";
      form.elements.severity.value = sev(entry.severity);
      form.elements.max_distance.value = entry.max_distance ?? 1;
      submit.textContent = "Save";
      title.textContent = `Edit entry ${entry.id}`;
      cancel.hidden = false;
      tbody.querySelector("tr.editing")?.classList.remove("editing");
      tr.classList.add("editing");
      showError(err, "");
      onMatch();
      form.elements.value.focus();
    }
    async function load() {
      try {
        const list = await api("/api/watchlist");
        tbody.replaceChildren(...(list || []).map((e) => {
          const label = (MATCHES.find(([v]) => v === e.match) || [e.match, e.match])[1];
          const del = h("button", { type: "button", class: "watch-delete danger" }, "Delete");
          const tr = h("tr", { "data-id": e.id, class: S.watchEdit === e.id ? "editing clickable" : "clickable", title: "Click to edit" },
            h("td", {}, label), h("td", {}, h("code", {}, e.value), e.match === "plate_fuzzy" && h("span", { class: "muted small" }, ` ≤ ${e.max_distance}`)),
            h("td", {}, e.note || ""), h("td", {}, h("span", { class: `badge sev-${sev(e.severity)}` }, sev(e.severity))), h("td", { class: "right" }, del));
          tr.addEventListener("click", () => edit(e, tr));
          del.addEventListener("click", (ev) => { ev.stopPropagation(); remove(e.id); });
          return tr;
        }));
        if (!tbody.children.length) tbody.append(h("tr", {}, h("td", { colspan: 5, class: "empty" }, "The watchlist is empty")));
      } catch (e) { showError(err, e.message); }
    }
    async function remove(id) {
      try {
        await api(`/api/watchlist/${encodeURIComponent(id)}`, { method: "DELETE" });
        if (S.watchEdit === id) reset();
        showError(err, "");
      } catch (e) { showError(err, e.message); }
      load();
    }
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const el = form.elements;
      const body = { match: match.value, value: el.value.value.trim(), note: el.note.value, severity: el.severity.value };
      if (match.value === "plate_fuzzy") body.max_distance = Number(el.max_distance.value);
      const id = S.watchEdit;
      submit.disabled = true;
      try {
        await api(id ? `/api/watchlist/${encodeURIComponent(id)}` : "/api/watchlist",
          { method: id ? "PUT" : "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
        showError(err, "");
        reset();
        load();
      } catch (ex) { showError(err, ex.message); } finally { submit.disabled = false; }
    });
    cancel.addEventListener("click", () => { reset(); showError(err, ""); });
    onMatch();
    load();
  }

  // ---- router ----------------------------------------------------------------------------
  const VIEWS = { live: viewLive, sightings: viewSightings, identity: viewIdentity, alerts: viewAlerts, search: viewSearch, watchlist: viewWatchlist };
  function route() {
    let [name, arg] = location.hash.replace(/^#\/?/, "").split("/");
    if (!VIEWS[name]) { history.replaceState(null, "", "#/live"); name = "live"; arg = undefined; }
    S.route = name;
    stopLive();
    clearInterval(S.camTimer);
    S.tiles.clear();
    for (const a of document.querySelectorAll(".nav a")) {
      const on = a.dataset.route === name;
      a.classList.toggle("active", on);
      if (on) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
    }
    const view = $("#view");
    view.className = `view view-${name}`;
    view.replaceChildren();
    document.title = `roadwatch · ${name === "identity" ? `#${arg}` : name}`;
    try { arg = arg && decodeURIComponent(arg); } catch (_) { /* keep it raw */ }
    VIEWS[name](view, arg);
  }
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) stopLive();
    else if (S.route === "live") { startLive(); refreshCameras(); }
  });
  window.addEventListener("hashchange", route);
  route();          // the shell is already painted; now fill it
  loadInitial();
  connect();
})();
