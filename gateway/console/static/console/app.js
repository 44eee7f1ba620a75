// The operator console: one page, hash routes, the gateway's own API. No build step and no CDN.
import { t, toggleLanguage, translateStatic, language, setCategories, categoryList, categoryName } from "./i18n.js";
import { barChart, lineChart } from "./charts.js";

const OFFICE = ["admin", "supervisor", "operator"];
const MANAGERS = ["admin", "supervisor"];
const ROLES = ["admin", "supervisor", "operator", "grid_worker"];
const state = {
  token: null, config: null, offset: 0, feedIds: new Set(), lastEventId: null, liveAttempt: null, liveSeen: 0, liveGeneration: 0,
  view: null, refreshTimer: null, regionsGeo: null,
};

// ---------------------------------------------------------------- helpers
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) node.append(c instanceof Node ? c : String(c));
  return node;
}
const $ = (sel, root = document) => root.querySelector(sel);
const nowMs = () => Date.now() + state.offset;
const fmtTime = (iso) => (iso ? new Date(iso).toLocaleString(language(), { hour12: false }) : "—");
function learnClock(serverNow) { if (serverNow) state.offset = Date.parse(serverNow) - Date.now(); }

class ApiError extends Error {
  constructor(status, body) { super((body && (body.detail || body.title)) || `HTTP ${status}`); this.status = status; this.body = body; }
}

async function api(path, options = {}) {
  const headers = { Authorization: `Bearer ${state.token}`, ...(options.headers || {}) };
  let body = options.body;
  if (body && !(body instanceof Blob) && typeof body !== "string") { body = JSON.stringify(body); headers["Content-Type"] = "application/json"; }
  const resp = await fetch(path, { ...options, headers, body });
  if (resp.status === 401) { signOut(); throw new ApiError(401, null); }
  if (options.raw) { if (!resp.ok) throw new ApiError(resp.status, null); return resp; }
  const data = resp.status === 204 ? null : await resp.json().catch(() => null);
  if (!resp.ok) throw new ApiError(resp.status, data);
  return data;
}

/** Live view of one camera: a session asks the camera's edge to push HLS, hls.js plays it (the token on every
 * request). Every player stops when the view changes or the page goes away; the gateway ends a session nobody
 * fetches anyway, and audits it. */
const LIVE = new Set();
function stopLive() { for (const stop of [...LIVE]) stop(); }
window.addEventListener("pagehide", stopLive);

function livePlayer(cameraId) {
  const video = el("video", { class: "live-video", muted: true, autoplay: true, playsinline: true });
  const status = el("span", { class: "live-state" }, t("live.connecting"));
  const box = el("div", { class: "live", id: "live-view", dataset: { camera: cameraId, state: "connecting" } }, video, status);
  let session = null, hls = null, poll = null, stopped = false;
  const say = (key, stateName) => { status.textContent = t(key); box.dataset.state = stateName; };
  const stop = () => {
    if (stopped) return;
    stopped = true; LIVE.delete(stop); clearInterval(poll);
    if (hls) hls.destroy();
    if (session && box.dataset.state !== "ended") fetch(`/api/v1/live/${session.id}`, { method: "DELETE", keepalive: true, headers: { Authorization: `Bearer ${state.token}` } }).catch(() => {});
  };
  LIVE.add(stop);
  (async () => {
    if (!window.Hls || !Hls.isSupported()) { say("live.nosupport", "refused"); return; }
    try { session = await api("/api/v1/live/sessions", { method: "POST", body: { camera: cameraId } }); }
    catch (err) {
      const key = { 404: "live.notfound", 409: "live.offline", 429: "live.busy", 503: "live.unavailable" }[err.status];
      if (key) say(key, "refused"); else { status.textContent = err.message; box.dataset.state = "refused"; }
      LIVE.delete(stop); return;
    }
    if (stopped) { stop(); return; }
    box.dataset.session = session.id;
    // The playlist exists once the edge has pushed its first segment: until then ask for the session, not it.
    for (let waited = 0; ; waited += 250) {
      await new Promise((done) => setTimeout(done, 250));
      if (stopped) return;
      const now = await api(`/api/v1/live/${session.id}`).catch(() => null);
      if (now && now.state === "playing") break;
      if (!now || now.state === "ended" || waited > 20000) { say(now && now.end_reason !== "no_stream" ? "live.ended" : "live.noresponse", "ended"); stop(); return; }
    }
    hls = new Hls({ enableWorker: false, liveSyncDurationCount: 2, manifestLoadingMaxRetry: 40, manifestLoadingRetryDelay: 400,
      manifestLoadingMaxRetryTimeout: 2000, levelLoadingMaxRetry: 20, fragLoadingMaxRetry: 10,
      xhrSetup: (xhr) => xhr.setRequestHeader("Authorization", `Bearer ${state.token}`) });
    hls.loadSource(session.playlist);
    hls.attachMedia(video);
    hls.on(Hls.Events.MANIFEST_PARSED, () => video.play().catch(() => {}));
    video.addEventListener("playing", () => say("live.playing", "playing"));
    poll = setInterval(async () => {
      try {
        const now = await api(`/api/v1/live/${session.id}`);
        if (now.state === "ended") { say(now.end_reason === "no_stream" ? "live.noresponse" : "live.ended", "ended"); stop(); }
      } catch (err) { if (err.status === 404) stop(); }
    }, 3000);
  })();
  return box;
}

function liveButton(cameraId, into) {
  return el("button", { type: "button", class: "live-open", dataset: { camera: cameraId }, onclick: (e) => {
    stopLive();
    e.target.disabled = true;
    into.append(livePlayer(cameraId));
  } }, `▶ ${t("live.open")}`);
}

/** An event clip: fetched with the token (one audited view) and played from memory, with the alert's span marked
 * on a bar under the player and the wall-clock time of the frame on screen. */
function clipsSection(tk, clips) {
  const box = el("section", { id: "clips" }, el("h2", {}, t("detail.clips")));
  for (const clip of clips) {
    const alert = tk.alerts.find((a) => a.alert_id === clip.alert_id);
    const from = Date.parse(clip.covers_from), to = Date.parse(clip.covers_to), span = Math.max(1, to - from);
    const clock = el("span", { class: "clip-clock" }, fmtTime(clip.covers_from));
    const bar = el("div", { class: "clip-bar" });
    if (alert) {
      const a = Math.max(0, Date.parse(alert.started_at) - from), b = Math.min(span, (alert.ended_at ? Date.parse(alert.ended_at) : to) - from);
      bar.append(el("span", { class: "clip-alert", style: `left:${(100 * a / span).toFixed(1)}%;width:${Math.max(1, 100 * (b - a) / span).toFixed(1)}%`, title: alert.title }));
    }
    const cursor = el("span", { class: "clip-cursor" });
    bar.append(cursor);
    const label = `${clip.device_id} · ${t("detail.part")} ${clip.part + 1} · ${fmtTime(clip.covers_from)} → ${fmtTime(clip.covers_to)} · ${Math.round(clip.duration_s)} s`;
    const play = el("button", { type: "button", class: "clip-play", dataset: { attachmentId: clip.id }, onclick: async () => {
      play.disabled = true;
      try {
        const resp = await api(`/api/v1/attachments/${clip.id}`, { raw: true });
        const video = el("video", { controls: true, autoplay: true, muted: true, playsinline: true, class: "clip-video", dataset: { attachmentId: clip.id } });
        video.src = URL.createObjectURL(await resp.blob());
        video.addEventListener("timeupdate", () => {
          clock.textContent = fmtTime(new Date(from + video.currentTime * 1000).toISOString());
          cursor.style.left = `${Math.min(100, 100 * video.currentTime * 1000 / span).toFixed(1)}%`;
        });
        play.replaceWith(video);
      } catch (err) { play.disabled = false; play.textContent = err.status === 410 ? t("detail.clipgone") : err.message; }
    } }, `▶ ${label}`);
    box.append(el("div", { class: "clip" }, play, bar, el("div", { class: "muted" }, t("detail.cliptime"), " ", clock)));
  }
  return box;
}

/** An evidence image: fetched with the token (each fetch is an audited view) and shown from memory. */
async function evidenceImage(path) {
  const resp = await api(path, { raw: true });
  const img = el("img", { alt: "" });
  img.src = URL.createObjectURL(await resp.blob());
  return img;
}

function lightOf(ticket, now = nowMs()) {
  if (!ticket.due_at) return "none";
  if (now >= Date.parse(ticket.due_at)) return "red";
  if (ticket.yellow_at && now >= Date.parse(ticket.yellow_at)) return "yellow";
  return "green";
}

function duration(ms) {
  const m = Math.floor(Math.abs(ms) / 60000);
  const d = Math.floor(m / 1440), h = Math.floor((m % 1440) / 60), mm = m % 60;
  if (d) return language() === "en" ? `${d}d ${h}h` : `${d}天${h}小时`;
  if (h) return language() === "en" ? `${h}h ${mm}m` : `${h}小时${mm}分`;
  return language() === "en" ? `${mm}m` : `${mm}分钟`;
}

/** The SLA light and time left, recomputed every second from the due times and the server's clock. */
function slaCell(ticket) {
  const dot = el("span", { class: "light", title: "" });
  const text = el("span", { class: "left" });
  const cell = el("span", { class: "sla", dataset: { due: ticket.due_at || "", yellow: ticket.yellow_at || "", closed: ticket.closed_at ? "1" : "" } }, dot, " ", text);
  paintSla(cell);
  return cell;
}

function paintSla(cell) {
  const { due, yellow, closed } = cell.dataset;
  const light = closed ? "none" : lightOf({ due_at: due || null, yellow_at: yellow || null });
  const [dot, text] = [cell.children[0], cell.children[1]];
  dot.className = `light ${light}`;
  dot.title = t(`light.${light}`);
  cell.dataset.light = light;
  if (!due || closed) { text.textContent = ""; text.className = "left"; return; }
  const left = Date.parse(due) - nowMs();
  text.textContent = left >= 0 ? t("left.left", { t: duration(left) }) : t("left.over", { t: duration(left) });
  text.className = `left ${light}`;
}
setInterval(() => document.querySelectorAll(".sla").forEach(paintSla), 1000);

// ---------------------------------------------------------------- sign-in
async function start() {
  translateStatic();
  state.token = localStorage.getItem("wangge.token");
  $("#signin-form").addEventListener("submit", signIn);
  $("#signout").addEventListener("click", async () => { try { await api("/api/v1/auth/logout", { method: "POST" }); } catch { /* signed out anyway */ } signOut(); });
  $("#lang").addEventListener("click", () => { toggleLanguage(); translateStatic(); $("#lang").textContent = language() === "en" ? "中文" : "EN"; route(); });
  $("#lang").textContent = language() === "en" ? "中文" : "EN";
  $("#alarm").addEventListener("click", () => { $("#alarm").hidden = true; });
  window.addEventListener("hashchange", route);
  if (state.token) await enter(); else showSignIn();
}

function showSignIn() {
  $("#top").hidden = true; $("#layout").hidden = true; $("#signin").hidden = false;
  document.body.dataset.ready = "signin";
}

async function signIn(event) {
  event.preventDefault();
  const form = event.target;
  $("#signin-error").textContent = "";
  const resp = await fetch("/api/v1/auth/login", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ username: form.username.value.trim(), password: form.password.value }),
  });
  if (!resp.ok) { $("#signin-error").textContent = t("signin.failed"); return; }
  const body = await resp.json();
  state.token = body.token;
  localStorage.setItem("wangge.token", body.token);
  form.reset();
  await enter();
}

function signOut() {
  localStorage.removeItem("wangge.token");
  state.token = null; state.config = null;
  state.liveGeneration = (state.liveGeneration || 0) + 1;
  if (state.liveAttempt) state.liveAttempt.abort();
  showSignIn();
}

async function enter() {
  try { state.config = await api("/api/v1/console/config"); } catch { return; }
  setCategories(state.config.categories);
  const { user } = state.config;
  $("#whoami").textContent = `${user.name} · ${user.role}`;
  const office = OFFICE.includes(user.role);
  for (const a of document.querySelectorAll("header nav a")) {
    a.hidden = (!office && ["devices", "stats"].includes(a.dataset.view)) || (!MANAGERS.includes(user.role) && a.dataset.view === "accounts");
  }
  $("#signin").hidden = true; $("#top").hidden = false; $("#layout").hidden = false;
  connectLive();
  if (!location.hash || location.hash === "#") location.hash = office ? "#/queue" : "#/worker";
  else route();
}

// ---------------------------------------------------------------- live feed (SSE over fetch, so the token is a header)
// The server sends a keep-alive every 15 s: a stream silent for 40 s is dead (a half-open connection after a
// network blip) and is dropped; the next one resumes from the last event id.
const SILENT_MS = 40000;
let wakeRetry = () => {};
setInterval(() => { if (state.liveAttempt && Date.now() - state.liveSeen > SILENT_MS) state.liveAttempt.abort(); }, 5000);
window.addEventListener("offline", () => { if (state.liveAttempt) state.liveAttempt.abort(); });
window.addEventListener("online", () => wakeRetry());

async function connectLive() {
  const generation = (state.liveGeneration = (state.liveGeneration || 0) + 1);
  if (state.liveAttempt) state.liveAttempt.abort();
  let delay = 1000;
  while (generation === state.liveGeneration && state.token) {
    const attempt = new AbortController();
    state.liveAttempt = attempt;
    state.liveSeen = Date.now();
    try {
      const headers = { Authorization: `Bearer ${state.token}` };
      if (state.lastEventId !== null) headers["Last-Event-ID"] = String(state.lastEventId);
      const resp = await fetch("/api/v1/events/stream", { headers, signal: attempt.signal, cache: "no-store" });
      if (resp.status === 401) { signOut(); return; }
      if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
      setLive(true); delay = 1000;
      await readEvents(resp.body, onServerEvent);
    } catch { /* dropped: retry below */ }
    if (generation !== state.liveGeneration) return;
    setLive(false);
    await new Promise((resolve) => { wakeRetry = resolve; setTimeout(resolve, delay); });
    delay = Math.min(delay * 2, 15000);
  }
}

async function readEvents(stream, handle) {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    state.liveSeen = Date.now();
    buffer += value.replace(/\r\n?/g, "\n");
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut); buffer = buffer.slice(cut + 2);
      const msg = { id: null, event: "message", data: "" };
      for (const line of block.split("\n")) {
        if (!line || line.startsWith(":")) continue;
        const i = line.indexOf(":"); const field = i < 0 ? line : line.slice(0, i);
        const val = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
        if (field === "data") msg.data += (msg.data ? "\n" : "") + val;
        else if (field === "id") msg.id = val;
        else if (field === "event") msg.event = val;
      }
      handle(msg);
    }
  }
}

function setLive(on) {
  const live = $("#live");
  live.className = `live ${on ? "on" : "off"}`;
  $("#live-text").textContent = t(on ? "live.on" : "live.off");
  document.body.dataset.live = on ? "on" : "off";
}

function onServerEvent(msg) {
  if (msg.event === "hello") {
    const hello = JSON.parse(msg.data); learnClock(hello.now);
    if (state.lastEventId === null) state.lastEventId = hello.last_event_id;
    return;
  }
  if (msg.event === "signed-out") { signOut(); return; }
  if (!msg.id) return;
  const id = Number(msg.id);
  state.lastEventId = Math.max(state.lastEventId || 0, id);
  if (state.feedIds.has(id)) return;  // a resumed stream may repeat a few
  state.feedIds.add(id);
  if (state.feedIds.size > 2000) state.feedIds = new Set([...state.feedIds].slice(-1000));
  const evt = JSON.parse(msg.data);
  addFeedItem(evt);
  const ticket = evt.ticket || {};
  if (ticket.severity === "critical" && ["ticket.created", "alert.received"].includes(evt.type) && evt.outcome !== "event") raiseAlarm(evt);
  if (state.view && state.view.onEvent) state.view.onEvent(evt);
}

function addFeedItem(evt) {
  const ticket = evt.ticket || {};
  const key = `feed.${evt.type}`;
  const label = t(key) === key ? evt.type : t(key);
  const item = el("li", { class: ticket.severity === "critical" ? "critical" : "", dataset: { eventId: evt.id, ticketId: evt.ticket_id ?? "" } },
    el("a", { href: `#/ticket/${evt.ticket_id}` },
      el("strong", {}, label), " #", evt.ticket_id, " ", ticket.title || "",
      el("time", {}, fmtTime(evt.created_at), evt.change ? ` · ${evt.change}` : "")));
  const list = $("#feed-list");
  list.prepend(item);
  while (list.children.length > 100) list.lastChild.remove();
}

function raiseAlarm(evt) {
  const box = $("#alarm");
  box.textContent = `${t("alarm.critical")}: #${evt.ticket_id} ${evt.ticket.title || ""}`;
  box.dataset.ticketId = evt.ticket_id;
  box.hidden = false;
  box.style.animation = "none"; void box.offsetWidth; box.style.animation = "";
  beep();
}

function beep() {
  try {
    const ctx = new AudioContext();
    const osc = ctx.createOscillator(); const gain = ctx.createGain();
    osc.frequency.value = 880; gain.gain.value = 0.2;
    osc.connect(gain).connect(ctx.destination);
    osc.start(); osc.stop(ctx.currentTime + 0.4);
  } catch { /* no audio device: the banner is the cue */ }
}

// ---------------------------------------------------------------- router
const VIEWS = { queue: queueView, ticket: ticketView, map: mapView, devices: devicesView, stats: statsView, report: reportView, worker: workerView, accounts: accountsView };

// One view at a time: each route renders into a fresh container, and a view that is still loading when the
// next route starts (a quick click, a hash set right after sign-in) neither writes into the new page nor marks
// it ready.
async function route() {
  if (!state.config) return;
  const generation = (state.routeGeneration = (state.routeGeneration || 0) + 1);
  const [name, arg] = location.hash.replace(/^#\/?/, "").split("/");
  const view = VIEWS[name] ? name : "queue";
  for (const a of document.querySelectorAll("header nav a")) a.classList.toggle("active", a.dataset.view === view);
  if (state.view && state.view.leave) state.view.leave();
  stopLive();
  const main = el("div", { class: "view-body" });
  $("#view").replaceChildren(main);
  document.body.dataset.view = view;
  document.body.dataset.ready = "loading";
  state.view = {};
  let shown = {};
  try {
    shown = (await VIEWS[view](main, arg)) || {};
  } catch (err) {
    main.append(el("p", { class: "error" }, err.status === 404 ? t("detail.notfound") : String(err.message || err)));
  }
  if (generation !== state.routeGeneration) {  // a newer route took over while this one loaded
    if (shown.leave) shown.leave();
    return;
  }
  state.view = shown;
  document.body.dataset.ready = view;
}

function debounce(fn, ms) { let timer; return () => { clearTimeout(timer); timer = setTimeout(fn, ms); }; }

// ---------------------------------------------------------------- queue
async function queueView(main) {
  const started = performance.now();
  const filters = { state: "open", light: new Set() };
  const form = el("form", { class: "filters", onsubmit: (e) => { e.preventDefault(); load(); } },
    el("label", {}, t("queue.state"), stateSelect()),
    el("label", {}, t("queue.category"), el("select", { name: "category" }, el("option", { value: "" }, t("queue.all")),
      categoryList().map((c) => el("option", { value: c.code }, c.parent ? `\u00a0\u00a0${categoryName(c.code)}` : categoryName(c.code))))),
    el("label", {}, t("queue.region"), el("select", { name: "region" }, el("option", { value: "" }, t("queue.all")))),
    el("label", {}, t("queue.since"), el("input", { name: "since", type: "date" })),
    el("label", {}, t("queue.until"), el("input", { name: "until", type: "date" })),
    el("label", {}, t("queue.text"), el("input", { name: "q", type: "search", size: 14 })),
    el("button", { type: "submit", class: "primary" }, t("queue.apply")),
    el("button", { type: "button", id: "refresh", onclick: () => load() }, t("queue.refresh")),
    el("button", { type: "button", id: "export-csv", onclick: () => download("csv") }, t("queue.csv")),
    el("button", { type: "button", id: "export-xlsx", onclick: () => download("xlsx") }, t("queue.xlsx")));
  const counts = el("div", { class: "counts" });
  const tbody = el("tbody");
  const table = el("table", { id: "queue" },
    el("thead", {}, el("tr", {}, ["col.light", "col.id", "col.severity", "col.category", "col.title", "col.region", "col.state", "col.alerts", "col.opened"].map((k) => el("th", { class: k === "col.region" || k === "col.alerts" ? "hide-narrow" : "" }, t(k)))),
    ), tbody);
  const footer = el("p", { class: "muted", id: "queue-footer" });
  const more = el("button", { type: "button", hidden: true, onclick: () => load(cursor) }, t("queue.more"));
  main.append(el("h1", { class: "view-title" }, t("queue.title")), form, counts, table, footer, more);
  let cursor = null; let shown = 0;
  api("/api/v1/regions?limit=500").then((body) => {
    const select = form.region;
    for (const r of body.items) select.append(el("option", { value: r.code }, `${"· ".repeat(Math.max(r.path.split("/").length - 3, 0))}${r.name}`));
  }).catch(() => {});

  function stateSelect() {
    return el("select", { name: "state" }, el("option", { value: "open" }, t("queue.open")), el("option", { value: "" }, t("queue.all")),
      state.config.states.map((s) => el("option", { value: s }, t(`st.${s}`))));
  }

  function query(after) {
    const p = new URLSearchParams({ limit: "200" });
    for (const name of ["state", "category", "region", "q"]) if (form[name].value) p.set(name, form[name].value.trim());
    if (form.since.value) p.set("since", new Date(form.since.value).toISOString());
    if (form.until.value) p.set("until", new Date(Date.parse(form.until.value) + 86400000).toISOString());
    if (filters.light.size) p.set("light", [...filters.light].join(","));
    if (after) p.set("cursor", after);
    return `/api/v1/tickets?${p}`;
  }

  // The same filters as a file (names and local times, for the weekly meeting); fetched with the token.
  async function download(suffix) {
    const params = new URL(query(null), location.origin).searchParams;
    params.delete("limit");
    try {
      await saveFile(`/api/v1/tickets/export.${suffix}?${params}`, `tickets.${suffix}`);
    } catch (err) {
      footer.textContent = err.status === 400 ? t("queue.toomany") : String(err.status || err);
    }
  }

  async function load(after = null) {
    const body = await api(query(after));
    learnClock(body.now);
    if (!after) { tbody.replaceChildren(); shown = 0; renderCounts(body.light_counts); }
    const rows = document.createDocumentFragment();
    for (const tk of body.items) rows.append(row(tk));
    tbody.append(rows);
    shown += body.items.length;
    cursor = body.next_cursor;
    more.hidden = !cursor;
    footer.textContent = shown ? t("queue.shown", { n: shown }) : t("queue.empty");
    document.body.dataset.queueRows = String(shown);
  }

  function renderCounts(lightCounts) {
    counts.replaceChildren();
    for (const light of ["red", "yellow", "green", "none"]) {
      const chip = el("button", { type: "button", class: `chip ${filters.light.has(light) ? "active" : ""}`, dataset: { light, count: lightCounts[light] || 0 },
        onclick: () => { filters.light.has(light) ? filters.light.delete(light) : filters.light.add(light); load(); } },
        el("span", { class: `light ${light}` }), t(`light.${light}`), " ", el("strong", {}, lightCounts[light] || 0));
      counts.append(chip);
    }
  }

  function row(tk) {
    return el("tr", { class: "row-link", dataset: { ticketId: tk.id, state: tk.state }, onclick: () => { location.hash = `#/ticket/${tk.id}`; } },
      el("td", {}, slaCell(tk)), el("td", {}, tk.id),
      el("td", { class: `sev-${tk.severity}` }, t(`severity.${tk.severity}`)),
      el("td", { class: "category", title: tk.category }, categoryName(tk.category)), el("td", {}, tk.title),
      el("td", { class: "hide-narrow" }, tk.region_name || "—"),
      el("td", { class: "state" }, t(`st.${tk.state}`)),
      el("td", { class: "hide-narrow" }, `${tk.active_alerts}/${tk.alert_count}`),
      el("td", {}, fmtTime(tk.opened_at)));
  }

  await load();
  const ms = Math.round(performance.now() - started);
  document.body.dataset.queueMs = String(ms);
  const refresh = debounce(() => load().catch(() => {}), 400);
  const timer = setInterval(refresh, 30000);
  return { onEvent: refresh, leave: () => clearInterval(timer) };
}

// ---------------------------------------------------------------- ticket detail
async function ticketView(main, id) {
  const tk = await api(`/api/v1/tickets/${encodeURIComponent(id)}`);
  learnClock(tk.now);
  let leave = null;  // the mini map, removed when the page is left
  const head = el("h1", { class: "view-title", id: "ticket-title", dataset: { ticketId: tk.id, state: tk.state } },
    slaCell(tk), ` #${tk.id} ${tk.title} · `, el("span", { class: "state" }, t(`st.${tk.state}`)));
  const facts = el("dl", { class: "facts" },
    ...[["col.category", categoryName(tk.category)], ["col.severity", t(`severity.${tk.severity}`)], ["col.region", tk.region_name || "—"],
      ["detail.department", tk.department || "—"], ["detail.due", fmtTime(tk.due_at)], ["col.opened", fmtTime(tk.opened_at)],
      ["detail.escalation", String(tk.escalation_level)], ["detail.supervised", tk.supervised ? "✔" : "—"],
      ...(tk.extension_requested ? [["detail.extension_pending", tk.extension_requested]] : []),
      ...(tk.channel ? [["rep.channel", t(`chan.${tk.channel}`)]] : []),
      ...(tk.reporters > 1 ? [["detail.reporters", el("span", { id: "reporters" }, String(tk.reporters))]] : []),
      ...(tk.root_cause_id ? [["root.of", el("a", { href: `#/ticket/${tk.root_cause_id}`, id: "root-cause-link" }, `#${tk.root_cause_id}`)]] : [])]
      .flatMap(([k, v]) => [el("dt", {}, t(k)), el("dd", {}, v)]));
  const left = el("div"); const right = el("div");
  main.append(head, el("div", { class: "detail" }, left, right));
  if (tk.linked) {  // a root-cause case (治理专项): the cases of its cluster, kept linked
    left.append(el("section", { id: "linked-cases" }, el("h2", {}, `${t("root.linked")} (${tk.linked_count})`),
      el("table", {}, el("tbody", {}, tk.linked.map((c) => el("tr", { dataset: { ticketId: c.id } },
        el("td", {}, el("a", { href: `#/ticket/${c.id}` }, `#${c.id}`)), el("td", {}, c.title),
        el("td", {}, t(`st.${c.state}`)), el("td", {}, fmtTime(c.opened_at))))))));
  }

  // Snapshot with the rule's geometry, from the alert that carried it.
  const snapBox = el("section", { id: "snapshot" }, el("h2", {}, t("detail.snapshot")));
  left.append(snapBox);
  const snapshots = tk.attachments.filter((a) => a.kind === "snapshot").reverse();
  if (!snapshots.length) snapBox.append(el("p", { class: "muted" }, t("detail.nosnap")));
  for (const snap of snapshots.slice(0, 1)) {
    const alert = tk.alerts.find((a) => a.alert_id === snap.alert_id);
    const frame = el("div", { class: "snapshot" }, await evidenceImage(`/api/v1/attachments/${snap.id}`));
    const geometry = alert && alert.payload && alert.payload.attributes && alert.payload.attributes.geometry;
    if (geometry) frame.append(geometrySvg(geometry));
    snapBox.append(frame);
  }
  const camera = tk.alerts.map((a) => a.payload && a.payload.source).find((src) => src && src.kind === "camera");
  if (camera) snapBox.append(el("div", { class: "actions" }, liveButton(camera.device_id, snapBox)));
  const clips = tk.attachments.filter((a) => a.kind === "clip");
  if (clips.length) left.append(clipsSection(tk, clips));
  const photos = tk.attachments.filter((a) => a.kind === "photo");
  if (photos.length) {
    const box = el("div", { class: "actions" });
    for (const p of photos) box.append(el("button", { type: "button", onclick: async (e) => { e.target.replaceWith(await evidenceImage(`/api/v1/attachments/${p.id}`)); } }, `${t("detail.photos")} #${p.id}`));
    snapBox.append(box);
  }

  if (tk.source === "report" && OFFICE.includes(state.config.user.role)) left.append(await reportsSection(tk));
  left.append(el("section", { id: "alerts" }, el("h2", {}, t("detail.alerts")),
    el("ol", { class: "timeline" }, tk.alerts.map((a) => el("li", {},
      el("strong", { class: `sev-${a.severity}` }, t(`severity.${a.severity}`)), " ", a.title, el("br"),
      el("span", { class: "muted" }, `${a.device_id || a.edge_id} · ${a.rule_id} · ${fmtTime(a.started_at)} → ${a.ended_at ? fmtTime(a.ended_at) : "…"}`))))));
  left.append(el("section", { id: "history" }, el("h2", {}, t("detail.history")),
    el("table", {}, el("tbody", {}, tk.events.map((e) => el("tr", {},
      el("td", {}, fmtTime(e.at)), el("td", {}, e.actor), el("td", { dataset: { kind: e.kind } }, eventName(e.kind)),
      el("td", {}, e.from_state || e.to_state ? `${e.from_state ? t(`st.${e.from_state}`) : ""} → ${e.to_state ? t(`st.${e.to_state}`) : ""}` : ""),
      el("td", {}, e.note || "")))))));

  right.append(el("section", { id: "actions" }, el("h2", {}, t("detail.actions")), actionsPanel(tk)));
  if (!tk.closed_at && OFFICE.includes(state.config.user.role)) right.append(mergeForm(tk));
  right.append(el("section", {}, el("h2", {}, t("detail.facts")), facts));
  if (tk.lat !== null && tk.lon !== null && window.L) {
    const box = el("div", { class: "mini-map", id: "ticket-map" });
    right.append(el("section", {}, el("h2", {}, t("detail.map")), box));
    const regions = await regionsLayer();
    const map = baseMap(box);
    map.setView([tk.lat, tk.lon], 15);  // before any vector layer: Leaflet projects them against the view
    regions.addTo(map);
    L.circleMarker([tk.lat, tk.lon], markerStyle(lightOf(tk))).addTo(map);
    leave = () => map.remove();
  }
  // A change from elsewhere redraws the ticket, unless the operator is filling in an action: then say so instead
  // of throwing their note away.
  const stale = el("button", { type: "button", id: "stale", hidden: true, onclick: () => route() }, t("detail.stale"));
  head.append(" ", stale);
  const reload = debounce(() => { if ($("#actions form.action-form")) stale.hidden = false; else route(); }, 300);
  return { leave, onEvent: (evt) => { if (String(evt.ticket_id) === String(tk.id)) reload(); } };
}

// The people who reported a case (a duplicate joins the case instead of opening one), and a wrong merge undone.
async function reportsSection(tk) {
  const { items } = await api(`/api/v1/tickets/${tk.id}/reports`);
  const error = el("p", { class: "error", role: "alert" });
  const split = async (report) => {
    try {
      const done = await api(`/api/v1/tickets/${tk.id}/reports/${report.id}/split`, { method: "POST", body: {} });
      location.hash = `#/ticket/${done.ticket_id}`;
    } catch (err) { error.textContent = err.message; }
  };
  return el("section", { id: "reports" }, el("h2", {}, `${t("rep.title")} (${items.length})`),
    el("table", {}, el("tbody", {}, items.map((r) => el("tr", { dataset: { reportId: r.id } },
      el("td", {}, fmtTime(r.at)), el("td", {}, t(`chan.${r.channel}`)), el("td", {}, r.description, r.address ? ` · ${r.address}` : ""),
      el("td", {}, r.phone || "—"),
      el("td", {}, items.length > 1 && !tk.closed_at ? el("button", { type: "button", class: "split", onclick: () => split(r) }, t("rep.split")) : ""))))),
    error);
}

function mergeForm(tk) {
  const error = el("p", { class: "error", role: "alert" });
  const input = el("input", { name: "source", type: "number", min: 1, required: true });
  const form = el("form", { id: "merge-form", onsubmit: async (e) => {
    e.preventDefault();
    try {
      await api(`/api/v1/tickets/${tk.id}/merge`, { method: "POST", body: { source: Number(input.value) } });
      route();
    } catch (err) { error.textContent = err.message; }
  } }, el("label", {}, t("rep.merge_id"), input), el("button", { type: "submit" }, t("rep.merge_go")), error);
  return el("section", { id: "merge" }, el("h2", {}, t("rep.merge")), form);
}

function geometrySvg(geometry) {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 1 1"); svg.setAttribute("preserveAspectRatio", "none");
  svg.classList.add("geometry");
  const shape = (tag, attrs) => { const s = document.createElementNS(ns, tag); for (const [k, v] of Object.entries(attrs)) s.setAttribute(k, v); s.setAttribute("vector-effect", "non-scaling-stroke"); svg.append(s); };
  const pts = (list) => list.map(([x, y]) => `${x},${y}`).join(" ");
  for (const zone of geometry.zones || []) shape("polygon", { points: pts(zone), fill: "rgba(9,105,218,.15)", stroke: "#0969da", "stroke-width": 2, class: "zone" });
  for (const line of geometry.lines || []) shape("polyline", { points: pts(line), fill: "none", stroke: "#d4a72c", "stroke-width": 3, class: "line" });
  for (const [x1, y1, x2, y2] of geometry.boxes || []) shape("rect", { x: x1, y: y1, width: x2 - x1, height: y2 - y1, fill: "none", stroke: "#d1242f", "stroke-width": 2, class: "box" });
  return svg;
}

function actionsPanel(tk) {
  const box = el("div");
  const allowed = tk.allowed_actions || [];
  if (!allowed.length) { box.append(el("p", { class: "muted" }, t("detail.noactions"))); return box; }
  const buttons = el("div", { class: "actions" });
  const formBox = el("div");
  for (const name of allowed) {
    buttons.append(el("button", { type: "button", dataset: { action: name }, class: name === "false_alarm" ? "danger" : "", onclick: () => openForm(name) }, t(`act.${name}`)));
  }
  box.append(buttons, formBox);

  function openForm(name) {
    const info = state.config.actions[name];
    const error = el("p", { class: "error", role: "alert" });
    const form = el("form", { class: "action-form", dataset: { action: name }, onsubmit: submit },
      el("strong", {}, t(`act.${name}`)),
      name === "dispatch" ? el("label", {}, t("detail.department"), el("input", { name: "department", value: tk.department || "", required: !tk.department })) : null,
      name === "request_extension" ? el("label", {}, t("detail.extension"), el("input", { name: "extension", required: true, pattern: "\\s*\\d+(\\.\\d+)?\\s*(m|min|h|d)\\s*", placeholder: "2d" })) : null,
      name === "close" && tk.source === "rootcause" && MANAGERS.includes(state.config.user.role)
        ? el("label", { class: "check" }, el("input", { type: "checkbox", name: "close_linked" }), " ", t("detail.close_linked")) : null,
      name === "approve_extension" && tk.extension_requested ? el("p", {}, `${t("detail.extension_pending")}: ${tk.extension_requested}`) : null,
      el("label", {}, t("detail.note"), el("textarea", { name: "note", rows: 2, required: info.needs_note })),
      ["comment", "handle"].includes(name) ? el("label", {}, t("detail.photo"), el("input", { name: "photo", type: "file", accept: "image/jpeg,image/png,image/webp" })) : null,
      el("div", { class: "actions" }, el("button", { type: "submit", class: "primary" }, t("detail.submit")),
        el("button", { type: "button", onclick: () => formBox.replaceChildren() }, t("detail.cancel"))), error);
    formBox.replaceChildren(form);

    async function submit(e) {
      e.preventDefault();
      const body = { action: name };
      if (form.note.value.trim()) body.note = form.note.value.trim();
      if (form.department && form.department.value.trim() && form.department.value.trim() !== tk.department) body.department = form.department.value.trim();
      if (form.department && !tk.department) body.department = form.department.value.trim();
      if (form.extension) body.extension = form.extension.value.trim();
      if (form.close_linked && form.close_linked.checked) body.close_linked = true;
      if (form.photo && form.photo.files[0]) body.photos = [await photoPayload(form.photo.files[0])];
      try {
        await api(`/api/v1/tickets/${tk.id}/actions`, { method: "POST", body });
        route();
      } catch (err) { error.textContent = err.message; }
    }
  }
  return box;
}

// What an event in a ticket's history is, in words: an action by its button's name, the rest by its kind.
function eventName(kind) {
  const key = kind.startsWith("action.") ? `act.${kind.slice(7)}` : kind.startsWith("alert.") ? "event.alert" : `event.${kind}`;
  const words = t(key);
  return words === key ? kind : words;
}

// A file from the API (fetched with the token, so not a plain link), saved under the name the server gives.
async function saveFile(url, fallback) {
  const resp = await api(url, { raw: true });
  const name = /filename="([^"]+)"/.exec(resp.headers.get("Content-Disposition") || "")?.[1] || fallback;
  const link = el("a", { href: URL.createObjectURL(await resp.blob()), download: name });
  document.body.append(link); link.click(); link.remove();
}

function photoPayload(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve({ content_type: file.type, data_base64: String(reader.result).split(",", 2)[1] });
    reader.onerror = reject;
    reader.readAsDataURL(file);
  });
}

// ---------------------------------------------------------------- map
const LIGHT_COLOURS = { red: "#d1242f", yellow: "#d4a72c", green: "#1a7f37", none: "#8c959f" };
const markerStyle = (light) => ({ radius: 8, color: "#fff", weight: 2, fillColor: LIGHT_COLOURS[light], fillOpacity: 0.95, className: `marker-${light}` });

// Leaflet writes attributions as HTML; ours is text from the config, so it gets its own control.
const TextAttribution = window.L && L.Control.extend({
  options: { position: "bottomright" },
  onAdd() { return el("div", { class: "leaflet-control-attribution leaflet-control" }, this.options.text); },
});

function baseMap(node) {
  const map = L.map(node, { preferCanvas: false, attributionControl: false });
  if (state.config.map.tile_url) {
    L.tileLayer(state.config.map.tile_url, { maxZoom: state.config.map.max_zoom }).addTo(map);
    if (state.config.map.attribution) new TextAttribution({ text: state.config.map.attribution }).addTo(map);
  }
  return map;
}

async function regionsLayer() {
  if (!state.regionsGeo) {
    const resp = await api("/api/v1/regions.geojson", { raw: true });
    state.regionsGeo = await resp.json();
  }
  const weight = { district: 3, street: 2, community: 1.5, grid: 1 };
  return L.geoJSON(state.regionsGeo, {
    style: (f) => ({ color: "#57606a", weight: weight[f.properties.level] || 1, fillColor: "#ffffff", fillOpacity: f.properties.level === "grid" ? 0.6 : 0.1 }),
    onEachFeature: (f, layer) => layer.bindTooltip(() => el("span", { class: "region-tip" }, `${f.properties.name} (${f.properties.code})`)),
  });
}

async function mapView(main) {
  main.append(el("h1", { class: "view-title" }, t("map.title")));
  if (!window.L) { main.append(el("p", { class: "error" }, t("map.nolib"))); return {}; }
  const legend = el("div", { class: "legend" });
  const box = el("div", { id: "map" });
  main.append(legend, state.config.map.tile_url ? null : el("p", { class: "muted" }, t("map.plain")), box);
  const regions = await regionsLayer();
  const map = baseMap(box);
  if (regions.getBounds().isValid()) map.fitBounds(regions.getBounds()); else map.setView([0, 0], 2);
  regions.addTo(map);
  const markers = L.layerGroup().addTo(map);
  async function load() {
    const counts = { red: 0, yellow: 0, green: 0, none: 0 };
    const layer = [];
    let cursor = null;
    for (let page = 0; page < 10; page++) {
      const body = await api(`/api/v1/tickets?state=open&limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
      learnClock(body.now);
      for (const tk of body.items) {
        if (tk.lat === null || tk.lon === null) continue;
        const light = lightOf(tk); counts[light]++;
        layer.push(L.circleMarker([tk.lat, tk.lon], markerStyle(light))
          .bindPopup(() => el("div", { class: "ticket-popup" }, el("a", { href: `#/ticket/${tk.id}` }, `#${tk.id}`), " ", tk.title, el("br"), categoryName(tk.category), " · ", t(`st.${tk.state}`))));
      }
      cursor = body.next_cursor;
      if (!cursor) break;
    }
    markers.clearLayers(); layer.forEach((m) => markers.addLayer(m));
    legend.replaceChildren(...Object.entries(counts).map(([light, n]) => el("span", { class: "chip", dataset: { light, count: n } }, el("span", { class: `light ${light}` }), t(`light.${light}`), " ", n)));
    document.body.dataset.mapMarkers = String(layer.length);
  }
  await load();
  // Cameras on the map: each one's popup opens its live view below the map.
  const liveBox = el("div", { id: "map-live" });
  main.append(liveBox);
  const cameras = await api("/api/v1/devices?kind=camera&limit=1000").catch(() => ({ items: [] }));
  const cameraLayer = L.layerGroup().addTo(map);
  for (const cam of cameras.items.filter((d) => d.lat !== null && d.lon !== null)) {
    cameraLayer.addLayer(L.circleMarker([cam.lat, cam.lon], { radius: 6, className: "camera-marker", color: "#0b5cad", weight: 2, fillColor: "#ffffff", fillOpacity: 1 })
      .bindPopup(() => el("div", { class: "camera-popup", dataset: { deviceId: cam.device_id } },
        el("strong", {}, cam.name || cam.device_id), " · ", t(`state.${cam.state}`), el("br"), liveButton(cam.device_id, liveBox))));
  }
  document.body.dataset.mapCameras = String(cameraLayer.getLayers().length);
  // 类案: clusters of one kind of problem at one place, for the office roles that read statistics.
  const clusters = L.layerGroup();
  if (OFFICE.includes(state.config.user.role)) {
    const toggle = el("input", { type: "checkbox", id: "map-clusters", onchange: async () => {
      if (!toggle.checked) { clusters.remove(); counted.textContent = ""; document.body.dataset.mapClusters = "0"; return; }
      // The rolling 90 days come from the gateway's snapshot (minutes old at most): say when it was counted.
      const body = await api("/api/v1/stats/clusters?window=90d&place=cell&radius_m=100&min_count=3");
      counted.textContent = t("map.clustersAt", { at: fmtTime(body.computed_at) });
      clusters.clearLayers();
      for (const c of body.items.filter((x) => x.lat !== null)) {
        const change = `${c.change > 0 ? "+" : ""}${c.change}`;
        clusters.addLayer(L.circleMarker([c.lat, c.lon], { radius: 8 + 3 * Math.sqrt(c.count), className: "cluster", color: "#6d28d9", weight: 2, fillOpacity: 0.25 })
          .bindPopup(() => el("div", { class: "cluster-popup", dataset: { category: c.category, count: c.count } },
            el("strong", {}, categoryName(c.category)), el("br"), t("map.cluster", { n: c.count, change }), el("br"),
            c.ticket_ids.slice(0, 10).flatMap((id) => [el("a", { href: `#/ticket/${id}` }, `#${id}`), " "]),
            MANAGERS.includes(state.config.user.role) ? rootCauseForm(c, body) : null)));
      }
      clusters.addTo(map);
      document.body.dataset.mapClusters = String(body.items.filter((x) => x.lat !== null).length);
    } });
    const counted = el("span", { class: "muted cluster-counted" });
    legend.after(el("label", { class: "cluster-toggle" }, toggle, " ", t("map.clusters"), " ", counted));
  }
  const refresh = debounce(() => load().catch(() => {}), 500);
  return { onEvent: refresh, leave: () => map.remove() };
}

// 治理专项: a supervisor turns a cluster into one root-cause case, with its own department and deadline.
function rootCauseForm(cluster, listing) {
  const error = el("p", { class: "error", role: "alert" });
  const form = el("form", { class: "root-cause-form", onsubmit: async (e) => {
    e.preventDefault();
    const body = { category: cluster.category, place: listing.place, key: cluster.place, radius_m: 100,
      since: listing.since, until: listing.until };
    if (form.department.value.trim()) body.department = form.department.value.trim();
    if (form.title.value.trim()) body.title = form.title.value.trim();
    try {
      const root = await api("/api/v1/root-causes", { method: "POST", body });
      location.hash = `#/ticket/${root.id}`;
    } catch (err) { error.textContent = err.message; }
  } },
    el("input", { name: "title", placeholder: t("root.title") }), el("input", { name: "department", placeholder: t("detail.department") }),
    el("button", { type: "submit", class: "primary" }, t("root.open")), error);
  return form;
}

// ---------------------------------------------------------------- devices
async function devicesView(main) {
  const [edges, devices] = await Promise.all([api("/api/v1/edges?limit=1000"), api("/api/v1/devices?limit=1000")]);
  const preview = el("div", { id: "device-snapshot" });
  const stateCell = (s) => el("td", { class: `device-state ${s}` }, el("span", { class: `light ${{ online: "green", degraded: "yellow", offline: "red" }[s] || "none"}` }), " ", t(`state.${s}`));
  main.append(el("h1", { class: "view-title" }, t("devices.title")),
    el("h2", {}, t("devices.edges")),
    el("table", { id: "edges" }, el("thead", {}, el("tr", {}, ["col.edge", "col.state", "col.region", "col.lastseen"].map((k) => el("th", {}, t(k))))),
      el("tbody", {}, edges.items.map((e) => el("tr", { dataset: { edgeId: e.edge_id } }, el("td", {}, e.edge_id), stateCell(e.state), el("td", {}, e.region_code || "—"), el("td", {}, fmtTime(e.last_seen)))))),
    el("h2", {}, t("devices.devices")),
    el("table", { id: "devices" }, el("thead", {}, el("tr", {}, ["col.name", "col.kind", "col.edge", "col.state", "col.region", "col.lastseen", "col.fps"].map((k) => el("th", {}, t(k))))),
      el("tbody", {}, devices.items.map((d) => el("tr", {
        class: d.kind === "camera" ? "row-link" : "", dataset: { deviceId: d.device_id },
        onclick: d.kind === "camera" ? () => showSnapshot(d) : null,
      }, el("td", {}, d.name || d.device_id), el("td", {}, t(`kind.${d.kind}`)), el("td", {}, d.edge_id || "—"), stateCell(d.state),
      el("td", {}, d.region_code || "—"), el("td", {}, fmtTime((d.live && d.live.last_seen) || d.edge_last_seen)),
      el("td", {}, d.live && d.live.fps !== undefined ? Number(d.live.fps).toFixed(1) : "—"))))),
    preview);

  async function showSnapshot(device) {
    stopLive();
    preview.replaceChildren(el("h2", {}, `${t("devices.snapshot")} · ${device.name || device.device_id}`),
      el("div", { class: "actions" }, liveButton(device.device_id, preview)));
    try { preview.append(el("div", { class: "snapshot" }, await evidenceImage(`/api/v1/devices/${encodeURIComponent(device.device_id)}/snapshot`))); }
    catch (err) { preview.append(el("p", { class: "muted" }, err.status === 404 ? t("devices.nosnap") : err.message)); }
  }
  return {};
}

// ---------------------------------------------------------------- statistics
async function statsView(main, arg) {
  // The period: from the view's argument (#/stats/2026-11-01~2026-11-30~week~department, dates inclusive; the last
  // part is the indicator table's rows), else the last 30 days per day and street.
  const [fromDay, toDay, interval = "day", rows = "region"] = (arg || "").split("~");
  const day = (d) => new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 10);
  const midnight = (d) => new Date(`${d}T00:00:00`);  // the browser's local midnight
  const until = toDay ? new Date(midnight(toDay).getTime() + 86400000) : new Date();
  const since = fromDay ? midnight(fromDay) : new Date(until.getTime() - 30 * 86400000);
  const period = `since=${encodeURIComponent(since.toISOString())}&until=${encodeURIComponent(until.toISOString())}`;
  const by = ["region", "department", "group", "category", "rule", "device"].includes(rows) ? rows : "region";
  const [hot, sum, ser, ind] = await Promise.all([api("/api/v1/stats/hotspots?days=7"), api(`/api/v1/stats/summary?${period}`),
    api(`/api/v1/stats/series?${period}&interval=${interval === "week" ? "week" : "day"}`),
    api(`/api/v1/stats/indicators?${period}&by=${by}`)]);
  const pct = (x) => (x === null || x === undefined ? "—" : `${(x * 100).toFixed(1)}%`);
  const none = () => el("p", { class: "muted" }, t("stats.none"));
  const card = (id, title, body) => el("section", { class: "chart", id }, el("h2", {}, title), body);
  const hotRows = hot.items.slice(0, 10).map((h) => ({
    label: categoryName(h.category),
    bars: [{ value: h.share, cls: "bar" }, { value: h.previous_share, cls: "bar prev" }],
    note: `${pct(h.share)} ${h.share_change > 0 ? "▲" : h.share_change < 0 ? "▼" : "="}${Math.abs(h.share_change * 100).toFixed(1)}`,
  }));
  const lights = ["red", "yellow", "green", "none"].map((l) => ({ label: t(`light.${l}`), bars: [{ value: sum.open_by_light[l] || 0, cls: `bar ${l}` }], note: String(sum.open_by_light[l] || 0) }));
  const regions = sum.by_region.map((r) => ({ label: r.region, bars: [{ value: r.created, cls: "bar" }, { value: r.closed, cls: "bar green" }], note: `${r.created} / ${r.closed}` }));
  const rates = sum.by_region.map((r) => ({ label: r.region, bars: [{ value: r.closure_rate || 0, cls: "bar" }, { value: r.on_time_closure_rate || 0, cls: "bar green" }], note: `${pct(r.closure_rate)} / ${pct(r.on_time_closure_rate)}` }));
  const falses = sum.false_alarms.slice(0, 10).map((f) => ({ label: `${f.rule_id || "—"} @ ${f.device_id || "—"}`, bars: [{ value: f.rate, cls: "bar red" }], note: `${pct(f.rate)} (${f.false_alarms}/${f.tickets})` }));
  const labels = ser.buckets.map((b) => b.start);
  const lines = ["opened", "closed", "overdue"].map((k) => ({ key: k, label: t(`stats.${k}`), cls: k, values: ser.buckets.map((b) => b[k]) }));
  const totals = {};
  for (const b of ser.buckets) for (const [g, c] of Object.entries(b.by_group)) totals[g] = (totals[g] || 0) + c.opened;
  const groups = Object.keys(totals).sort((a, b) => totals[b] - totals[a] || a.localeCompare(b)).slice(0, 4)
    .map((g, i) => ({ key: g, label: categoryName(g), cls: `g${i}`, values: ser.buckets.map((b) => (b.by_group[g] || { opened: 0 }).opened) }));
  const picker = el("form", { class: "filters", id: "stats-period", onsubmit: (e) => {
    e.preventDefault();
    location.hash = `#/stats/${picker.since.value}~${picker.until.value}~${picker.interval.value}~${picker.by.value}`;
  } },
    el("label", {}, t("stats.since"), el("input", { name: "since", type: "date", value: day(since), required: true })),
    el("label", {}, t("stats.until"), el("input", { name: "until", type: "date", value: day(new Date(until.getTime() - 1)), required: true })),
    el("label", {}, t("stats.interval"), el("select", { name: "interval" },
      ["day", "week"].map((v) => el("option", { value: v, selected: v === ser.interval }, t(`stats.${v}`))))),
    el("label", {}, t("ind.rows"), el("select", { name: "by" },
      ["region", "department", "group", "category", "rule", "device"].map((v) => el("option", { value: v, selected: v === by }, t(`ind.by.${v}`))))),
    el("button", { type: "submit", class: "primary" }, t("stats.apply")));
  main.append(el("h1", { class: "view-title" }, t("stats.title"), " ", el("a", { href: "#/report", id: "weekly-link", class: "button" }, t("report.title"))),
    picker, el("div", { class: "charts" },
    card("chart-series", t("stats.series"), lineChart(labels, lines)),
    card("chart-groups", t("stats.groups"), groups.length ? lineChart(labels, groups) : none()),
    card("chart-hotspots", t("stats.hotspots"), hotRows.length ? barChart(hotRows, 1) : none()),
    card("chart-lights", t("stats.lights"), barChart(lights)),
    card("chart-regions", `${t("stats.regions")} (${t("stats.created")} / ${t("stats.closed")})`, regions.length ? barChart(regions) : none()),
    card("chart-rates", `${t("stats.rates")} (${t("stats.closure")} / ${t("stats.ontime")})`, rates.length ? barChart(rates, 1) : none()),
    card("chart-false", t("stats.false"), falses.length ? barChart(falses, 1) : none())),
    intakeTable(sum.by_channel, pct),
    indicatorTable(ind, period, pct));
  return {};
}

// Intake per channel: how cases came in, how many reports were duplicates, how long they waited for 立案.
function intakeTable(rows, pct) {
  const head = ["rep.channel", "stats.cases", "stats.reports", "stats.dup_share", "stats.register_median"];
  return el("section", { id: "intake" }, el("h2", {}, t("stats.intake")),
    el("table", { class: "grid" }, el("thead", {}, el("tr", {}, head.map((h) => el("th", {}, t(h))))),
      el("tbody", {}, rows.map((r) => el("tr", { dataset: { channel: r.channel } },
        el("td", {}, t(`chan.${r.channel}`)), el("td", {}, String(r.cases)), el("td", {}, String(r.reports)),
        el("td", {}, pct(r.duplicate_share)), el("td", {}, r.register_median_s === null ? "—" : duration(r.register_median_s * 1000)))))));
}

// ---------------------------------------------------------------- 周报 (printable)
async function reportView(main, arg) {
  const query = /^\d{4}-\d{2}-\d{2}$/.test(arg || "") ? `?week=${arg}` : "";
  const rep = await api(`/api/v1/stats/weekly${query}`);
  const pct = (x) => (x === null || x === undefined ? "—" : `${(x * 100).toFixed(1)}%`);
  const signed = (x) => `${x > 0 ? "▲" : x < 0 ? "▼" : "="}${Math.abs(x * 100).toFixed(1)}`;
  const shift = (days) => {
    const d = new Date(`${rep.week}T00:00:00Z`); d.setUTCDate(d.getUTCDate() + days);
    return d.toISOString().slice(0, 10);
  };
  const period = `since=${encodeURIComponent(rep.since)}&until=${encodeURIComponent(rep.until)}`;
  const table = (id, head, rows) => el("table", { class: "grid", id }, el("thead", {}, el("tr", {}, head.map((h) => el("th", {}, t(h))))),
    el("tbody", {}, rows));
  const section = (id, title, body, csv) => el("section", { class: "report-section", id },
    el("h2", {}, t(title), " ", el("button", { type: "button", class: "no-print", onclick: () => saveFile(`/api/v1/stats/weekly.csv?week=${rep.week}&section=${csv}`, `weekly-${csv}.csv`) }, "CSV")), body);
  main.append(
    el("h1", { class: "view-title", id: "report-title", dataset: { week: rep.week } }, `${t("report.title")} ${rep.week} ~ ${shift(6)}`),
    el("div", { class: "actions no-print" },
      el("a", { class: "button", href: `#/report/${shift(-7)}`, id: "report-prev" }, t("report.prev")),
      el("a", { class: "button", href: `#/report/${shift(7)}`, id: "report-next" }, t("report.next")),
      el("button", { type: "button", id: "report-print", onclick: () => window.print() }, t("report.print")),
      el("button", { type: "button", id: "report-xlsx", onclick: () => saveFile(`/api/v1/stats/weekly.xlsx?week=${rep.week}`, "weekly.xlsx") }, "XLSX")),
    el("p", { class: "muted" }, t("report.asof", { at: fmtTime(rep.as_of) })),
    section("report-hotspots", "report.hotspots", table("hotspot-table", ["report.rank", "col.category", "report.count", "report.share", "report.change"],
      rep.hotspots.map((h) => el("tr", { dataset: { category: h.category } }, el("td", {}, String(h.rank)), el("td", {}, categoryName(h.category)),
        el("td", {}, `${h.count} (${h.previous_count})`), el("td", {}, pct(h.share)), el("td", {}, signed(h.share_change))))), "hotspots"),
    indicatorTable(rep.by_region, period, pct),
    indicatorTable(rep.by_department, period, pct),
    section("report-clusters", "report.clusters", table("cluster-table", ["report.rank", "col.category", "report.place", "report.count"],
      rep.clusters.map((c) => el("tr", {}, el("td", {}, String(c.rank)), el("td", {}, categoryName(c.category)), el("td", {}, c.place_name || c.place),
        el("td", {}, `${c.count} (${c.change >= 0 ? "+" : ""}${c.change})`)))), "clusters"),
    section("report-overdue", "report.overdue", el("div", {}, el("p", {}, t("report.overdue_total", { n: rep.overdue_total })),
      table("overdue-table", ["col.id", "col.category", "col.title", "col.region", "detail.department", "detail.due"],
        rep.overdue.map((o) => el("tr", { dataset: { ticketId: o.id } }, el("td", {}, el("a", { href: `#/ticket/${o.id}` }, `#${o.id}`)),
          el("td", {}, categoryName(o.category)), el("td", {}, o.title), el("td", {}, o.region_name || "—"), el("td", {}, o.department || "—"),
          el("td", {}, fmtTime(o.due_at)))))), "overdue"));
  return {};
}

// 考核指标: every rate of the period per row, with its change against the period before (docs/cases.md).
const INDICATOR_RATES = ["register_rate", "handle_rate", "on_time_handle_rate", "close_rate", "on_time_close_rate",
  "rework_rate", "overdue_pending_rate", "extension_rate", "satisfaction_rate", "false_alarm_rate"];

function indicatorTable(ind, period, pct) {
  const change = (x) => (x === null || x === undefined ? "" : ` ${x > 0 ? "▲" : x < 0 ? "▼" : "="}${Math.abs(x * 100).toFixed(1)}`);
  const label = (row, total) => (total ? t("ind.total") : row.key === null ? t("ind.none") : ind.by === "region" ? row.name || row.key
    : ["category", "group"].includes(ind.by) ? categoryName(row.key) : row.key);
  const line = (row, cls) => el("tr", { class: cls || "", dataset: { key: row.key || "" } },
    el("th", { scope: "row" }, label(row, cls === "total")), el("td", {}, String(row.current.counts.reported)),
    ...INDICATOR_RATES.map((r) => el("td", { dataset: { rate: r } }, pct(row.current.rates[r]), el("small", {}, change(row.change[r])))));
  const files = ["csv", "xlsx"].map((ext) => el("button", { type: "button", class: "no-print", id: ind.by === "region" ? `indicators-${ext}` : `indicators-${ind.by}-${ext}`,
    onclick: () => saveFile(`/api/v1/stats/indicators.${ext}?${period}&by=${ind.by}`, `indicators.${ext}`) }, ext.toUpperCase()));
  return el("section", { class: "chart wide indicators", id: ind.by === "region" ? "indicators" : `indicators-${ind.by}` },
    el("h2", {}, t("ind.title"), " · ", t(`ind.by.${ind.by}`), " ", ...files),
    el("table", { class: "grid", id: ind.by === "region" ? "indicator-table" : `indicator-table-${ind.by}` },
      el("thead", {}, el("tr", {}, el("th", {}, t(`ind.by.${ind.by}`)), el("th", {}, t("ind.reported")),
        ...INDICATOR_RATES.map((r) => el("th", { title: t(`ind.${r}.def`) }, t(`ind.${r}`))))),
      el("tbody", {}, line(ind.total, "total"), ...ind.rows.map((r) => line(r)))),
    el("p", { class: "muted" }, t("ind.note")));
}

// ---------------------------------------------------------------- grid worker (phone)
async function workerView(main) {
  const cfg = state.config;
  const status = el("p", { id: "report-status", role: "status" });
  const form = el("form", { id: "report", onsubmit: submit },
    el("label", {}, t("worker.category"), el("select", { name: "category" }, cfg.report_categories.map((c) => el("option", { value: c }, categoryName(c))))),
    el("label", {}, t("worker.text"), el("textarea", { name: "text", rows: 3, required: true })),
    el("label", {}, t("worker.photo"), el("input", { name: "photo", type: "file", accept: "image/*", capture: "environment" })),
    el("label", {}, t("worker.location"), el("span", {},
      el("input", { name: "lat", type: "number", step: "any", placeholder: "lat", size: 9 }), " ",
      el("input", { name: "lon", type: "number", step: "any", placeholder: "lon", size: 9 }), " ",
      el("button", { type: "button", onclick: locate }, t("worker.locate")))),
    el("button", { type: "submit", class: "primary big" }, t("worker.submit")));
  const mine = el("div", { id: "my-reports" }); const area = el("div", { id: "area-tickets" });
  main.append(el("div", { class: "worker" }, el("h1", { class: "view-title" }, t("worker.report")), form, status,
    el("h2", {}, t("worker.mine")), mine, el("h2", {}, t("worker.area")), area));

  function locate() {
    if (!navigator.geolocation) return;
    navigator.geolocation.getCurrentPosition((pos) => { form.lat.value = pos.coords.latitude.toFixed(6); form.lon.value = pos.coords.longitude.toFixed(6); }, () => {}, { timeout: 8000 });
  }

  async function submit(e) {
    e.preventDefault();
    if (form.lat.value === "" || form.lon.value === "") { status.textContent = t("worker.nolocation"); return; }
    const body = { category: form.category.value, text: form.text.value, lat: Number(form.lat.value), lon: Number(form.lon.value) };
    if (form.photo.files[0]) body.photos = [await photoPayload(form.photo.files[0])];
    try {
      const made = await api("/api/v1/reports", { method: "POST", body });
      status.replaceChildren(t("worker.sent", { id: made.id }), " · ",
        el("a", { href: `${made.progress_url}`, id: "progress-link" }, t("worker.progress")));
      form.text.value = ""; form.photo.value = "";
      await lists();
    } catch (err) { status.textContent = err.message; }
  }

  const card = (tk) => el("a", { class: "card", href: `#/ticket/${tk.id}`, dataset: { ticketId: tk.id } }, slaCell(tk), ` #${tk.id} ${tk.title} · ${t(`st.${tk.state}`)}`);
  async function lists() {
    const [m, a] = await Promise.all([api("/api/v1/tickets?mine=1&sort=newest&limit=50"), api("/api/v1/tickets?state=open&limit=50")]);
    learnClock(a.now);
    mine.replaceChildren(...(m.items.length ? m.items.map(card) : [el("p", { class: "muted" }, t("queue.empty"))]));
    area.replaceChildren(...(a.items.length ? a.items.map(card) : [el("p", { class: "muted" }, t("queue.empty"))]));
  }
  await lists();
  return { onEvent: debounce(() => lists().catch(() => {}), 500) };
}

start();

// ---------------------------------------------------------------- accounts (admins; supervisors for their own people)
async function accountsView(main) {
  const me = state.config.user;
  const roles = me.role === "admin" ? ROLES : ["operator", "grid_worker"];
  const status = el("p", { id: "accounts-status", role: "status" });
  const tokensBox = el("section", { id: "tokens" });
  const tbody = el("tbody");
  const say = (text, error = false) => { status.textContent = text; status.className = error ? "error" : "muted"; };
  const roleSelect = (value) => el("select", { name: "role" }, roles.map((r) => el("option", { value: r, selected: r === value }, t(`role.${r}`))));

  async function load() {
    const users = [];
    let cursor = null;
    do {
      const page = await api(`/api/v1/users?limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
      users.push(...page.items); cursor = page.next_cursor;
    } while (cursor);
    tbody.replaceChildren(...users.map(userRow));
  }

  function userRow(u) {
    const role = roleSelect(u.role);
    const region = el("input", { name: "region", value: u.region_code || "", size: 15, "aria-label": t("acct.region") });
    const disabled = u.disabled_at !== null;
    const change = (body) => async () => {
      try { await api(`/api/v1/users/${encodeURIComponent(u.username)}`, { method: "PATCH", body }); say(`${u.username}: ${t("acct.done")}`); await load(); }
      catch (err) { say(err.message, true); }
    };
    return el("tr", { dataset: { username: u.username, state: disabled ? "disabled" : "active" } },
      el("td", {}, u.username), el("td", {}, u.display_name), el("td", {}, role), el("td", {}, region),
      el("td", { class: "account-state" }, t(disabled ? "acct.disabled" : "acct.active")), el("td", {}, fmtTime(u.last_login_at)),
      el("td", { class: "actions" },
        el("button", { type: "button", class: "save", onclick: () => change({ role: role.value, region: region.value.trim() || null })() }, t("acct.save")),
        el("button", { type: "button", class: "toggle", onclick: change({ disabled: !disabled }) }, t(disabled ? "acct.enable" : "acct.disable")),
        el("button", { type: "button", class: "reset", onclick: () => resetForm(u.username) }, t("acct.reset")),
        el("button", { type: "button", class: "tokens", onclick: () => showTokens(u.username) }, t("acct.tokens"))));
  }

  function resetForm(username) {
    const input = el("input", { name: "password", type: "password", minlength: 10, required: true, autocomplete: "new-password" });
    tokensBox.replaceChildren(el("form", { id: "reset-form", onsubmit: async (event) => {
      event.preventDefault();
      try { await api(`/api/v1/users/${encodeURIComponent(username)}/password`, { method: "POST", body: { password: input.value } }); say(`${username}: ${t("acct.done")}`); tokensBox.replaceChildren(); }
      catch (err) { say(err.message, true); }
    } }, el("h2", {}, `${t("acct.reset")} · ${username}`), el("label", {}, t("acct.newpassword"), input), el("button", { type: "submit" }, t("acct.save"))));
  }

  async function showTokens(username) {
    const page = await api(`/api/v1/tokens?user=${encodeURIComponent(username)}&limit=200`);
    tokensBox.replaceChildren(el("h2", {}, `${t("acct.tokens")} · ${username}`),
      el("table", { id: "token-list" }, el("thead", {}, el("tr", {}, ["acct.name", "acct.created", "acct.expires", "acct.state", ""].map((k) => el("th", {}, k ? t(k) : "")))),
        el("tbody", {}, page.items.map((tk) => el("tr", { dataset: { tokenId: tk.id } },
          el("td", {}, tk.name), el("td", {}, fmtTime(tk.created_at)), el("td", {}, fmtTime(tk.expires_at)),
          el("td", {}, tk.revoked_at ? t("acct.revoked") : t("acct.active")),
          el("td", {}, tk.revoked_at ? "" : el("button", { type: "button", class: "revoke", onclick: async () => {
            try { await api(`/api/v1/tokens/${tk.id}`, { method: "DELETE" }); await showTokens(username); } catch (err) { say(err.message, true); }
          } }, t("acct.revoke"))))))));
  }

  const form = el("form", { id: "new-user", onsubmit: async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const body = { username: data.get("username").trim(), display_name: data.get("display_name").trim(), role: data.get("role"), password: data.get("password"), region: data.get("region").trim() || null };
    try { await api("/api/v1/users", { method: "POST", body }); say(`${body.username}: ${t("acct.done")}`); form.reset(); await load(); }
    catch (err) { say(err.message, true); }
  } },
  el("h2", {}, t("acct.new")),
  el("label", {}, t("acct.username"), el("input", { name: "username", required: true, maxlength: 64, autocomplete: "off" })),
  el("label", {}, t("acct.name"), el("input", { name: "display_name", maxlength: 200 })),
  el("label", {}, t("acct.role"), roleSelect("grid_worker")),
  el("label", {}, t("acct.region"), el("input", { name: "region", maxlength: 32 })),
  el("label", {}, t("acct.password"), el("input", { name: "password", type: "password", minlength: 10, required: true, autocomplete: "new-password" })),
  el("button", { type: "submit" }, t("acct.create")));

  main.append(el("h1", { class: "view-title" }, t("acct.title")), status,
    el("table", { id: "users" }, el("thead", {}, el("tr", {}, ["acct.username", "acct.name", "acct.role", "acct.region", "acct.state", "acct.lastlogin", ""].map((k) => el("th", {}, k ? t(k) : "")))), tbody),
    tokensBox, form);
  if (me.role === "admin") main.append(await open311Keys(say));
  await load();
  return {};
}

// Open311 api keys (admins): one per integrating system, scoped to a region; the key is shown once.
async function open311Keys(say) {
  const box = el("section", { id: "open311-keys" });
  const shown = el("p", { id: "open311-new-key", class: "muted" });
  async function draw() {
    const { items } = await api("/api/v1/open311/keys");
    const rows = items.map((k) => el("tr", { dataset: { keyId: k.id } },
      el("td", {}, k.name), el("td", {}, k.region_path), el("td", {}, String(k.per_minute)), el("td", {}, fmtTime(k.last_used_at)),
      el("td", {}, k.revoked_at ? t("acct.revoked") : t("acct.active")),
      el("td", {}, k.revoked_at ? "" : el("button", { type: "button", class: "revoke", onclick: async () => {
        try { await api(`/api/v1/open311/keys/${k.id}`, { method: "DELETE" }); await draw(); } catch (err) { say(err.message, true); }
      } }, t("acct.revoke")))));
    const form = el("form", { id: "new-open311-key", onsubmit: async (event) => {
      event.preventDefault();
      const data = new FormData(form);
      const body = { name: data.get("name").trim(), region: data.get("region").trim() || null };
      try {
        const issued = await api("/api/v1/open311/keys", { method: "POST", body });
        await draw();
        shown.textContent = `${t("o311.shown_once")}: ${issued.api_key}`;
      } catch (err) { say(err.message, true); }
    } },
    el("label", {}, t("o311.system"), el("input", { name: "name", required: true, maxlength: 100 })),
    el("label", {}, t("acct.region"), el("input", { name: "region", maxlength: 32 })),
    el("button", { type: "submit" }, t("o311.issue")));
    box.replaceChildren(el("h2", {}, t("o311.title")),
      el("table", {}, el("thead", {}, el("tr", {}, ["o311.system", "acct.region", "o311.per_minute", "o311.last_used", "acct.state", ""].map((k) => el("th", {}, k ? t(k) : "")))),
        el("tbody", {}, rows)), form, shown);
  }
  await draw();
  return box;
}
