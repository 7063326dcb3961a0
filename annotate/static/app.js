// headcount annotation page: one canvas, plain JS, no build step.
"use strict";

const $ = (id) => document.getElementById(id);
const canvas = $("canvas");
const ctx = canvas.getContext("2d");
const HIT_RADIUS = 8;          // css px: how close a click must be to grab a head
const DRAG_THRESHOLD = 4;      // css px of movement that turns a click into a drag
const MAX_HISTORY = 500;
const POLL_MS = 1000;          // how often an open tab asks what other tabs saved
const TILE_PX = 512;           // image px per tile of the done grid (2..16 tiles a side)

const state = {
  images: [], byId: new Map(), index: -1, id: null, width: 0, height: 0,
  // the open image as this tab sees it, and as the server had it at `revision` (`base`): what this tab
  // changed is the difference, which is what a save sends, so edits made elsewhere meanwhile are kept
  points: [], status: "todo", tiles: null, revision: 0, base: null,
  proposals: [], undo: [], redo: [], selected: null,
  view: { scale: 1, ox: 0, oy: 0 },
  img: null, density: null, densityState: "off", showDensity: false, proposalsEnabled: false,
  version: 0, savedVersion: 0, saving: null, hover: -1, mouse: null, proposalsById: {}, seq: null,
  locked: false,
  // how the image and heads look (never saved): dense crowds need small, faint or hidden markers
  look: { markers: true, size: 1, opacity: 0.9, brightness: 1, contrast: 1, gamma: 1, grid: false },
};
const metrics = { renderMs: 0, lastSaveMs: null, editAt: 0, previewMs: null, previewRequests: 0, previewAborted: 0,
                  readyMs: null };

// ---------- coordinates ----------
function screenToImage(sx, sy) {
  const v = state.view;
  return [(sx - v.ox) / v.scale, (sy - v.oy) / v.scale];
}
function imageToScreen(x, y) {
  const v = state.view;
  return [v.ox + x * v.scale, v.oy + y * v.scale];
}
function eventPos(ev) {
  const r = canvas.getBoundingClientRect();
  return [ev.clientX - r.left, ev.clientY - r.top];
}
function insideImage(x, y) { return x >= 0 && y >= 0 && x < state.width && y < state.height; }
function clampToImage(x, y) {
  return [Math.min(Math.max(x, 0), state.width - 1e-3), Math.min(Math.max(y, 0), state.height - 1e-3)];
}

function markerRadius() {
  return Math.max(1, Math.min(6, 2 + state.view.scale * 2) * state.look.size);
}
// the grab radius follows the marker: small markers leave the space between dense heads clickable
function hitRadius() { return Math.min(HIT_RADIUS, markerRadius() + 2); }
function nearest(list, sx, sy) {
  const hit = hitRadius();
  let best = -1, bestD = hit * hit;
  const v = state.view;
  for (let i = 0; i < list.length; i++) {
    const dx = v.ox + list[i][0] * v.scale - sx, dy = v.oy + list[i][1] * v.scale - sy;
    const d = dx * dx + dy * dy;
    if (d <= bestD) { bestD = d; best = i; }
  }
  return best;
}

// ---------- the tile grid: dense images are done tile by tile ----------
function defaultGrid() {
  const n = (side) => Math.min(16, Math.max(2, Math.round(side / TILE_PX)));
  return { cols: n(state.width), rows: n(state.height), done: new Set() };
}
function grid() { return state.tiles || defaultGrid(); }
function tileAt(x, y) {
  const g = grid();
  if (!insideImage(x, y)) return -1;
  return Math.floor(y * g.rows / state.height) * g.cols + Math.floor(x * g.cols / state.width);
}
function tileRect(i) {
  const g = grid(), c = i % g.cols, r = Math.floor(i / g.cols);
  const x0 = c * state.width / g.cols, y0 = r * state.height / g.rows;
  return [x0, y0, state.width / g.cols, state.height / g.rows];
}

// ---------- drawing ----------
let frameRequested = false;
function requestDraw() {
  if (!frameRequested) { frameRequested = true; requestAnimationFrame(() => { frameRequested = false; draw(); }); }
}

function resizeCanvas() {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr);
    canvas.height = Math.round(h * dpr);
  }
  return dpr;
}

function imageFilter() {
  const L = state.look, parts = [];
  if (L.brightness !== 1) parts.push(`brightness(${L.brightness})`);
  if (L.contrast !== 1) parts.push(`contrast(${L.contrast})`);
  if (L.gamma !== 1) parts.push("url(#gamma)");
  return parts.length ? parts.join(" ") : "none";
}

function draw() {
  const t0 = performance.now();
  const dpr = resizeCanvas();
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, canvas.clientWidth, canvas.clientHeight);
  if (!state.img) return;
  const v = state.view;
  ctx.imageSmoothingEnabled = v.scale < 2;   // sharp pixels when zoomed in
  const L = state.look;
  ctx.filter = imageFilter();
  ctx.drawImage(state.img, v.ox, v.oy, state.width * v.scale, state.height * v.scale);
  ctx.filter = "none";
  if (state.showDensity && state.density) {
    ctx.globalAlpha = state.densityState === "fresh" ? 0.75 : 0.35;   // a stale overlay looks stale
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(state.density, v.ox, v.oy, state.width * v.scale, state.height * v.scale);
    ctx.globalAlpha = 1;
  }
  if (L.grid) drawGrid();
  const r = markerRadius();
  const W = canvas.clientWidth, H = canvas.clientHeight;
  // one path per style: thousands of heads stay one fill call
  ctx.beginPath();
  for (const p of L.markers ? state.points : []) {
    const x = v.ox + p[0] * v.scale, y = v.oy + p[1] * v.scale;
    if (x < -r || y < -r || x > W + r || y > H + r) continue;
    ctx.moveTo(x + r, y);
    ctx.arc(x, y, r, 0, 2 * Math.PI);
  }
  ctx.fillStyle = `rgba(255, 60, 60, ${L.opacity})`;
  ctx.fill();
  if (r >= 3) {   // a white rim shows a marker on red or dark heads; on a tiny one it would be all rim
    ctx.lineWidth = 1;
    ctx.strokeStyle = `rgba(255, 255, 255, ${L.opacity})`;
    ctx.stroke();
  }
  if (state.proposals.length) {
    ctx.beginPath();
    for (const p of state.proposals) {
      const x = v.ox + p[0] * v.scale, y = v.oy + p[1] * v.scale;
      ctx.moveTo(x + r + 2, y);
      ctx.arc(x, y, r + 2, 0, 2 * Math.PI);
    }
    ctx.lineWidth = 2;
    ctx.strokeStyle = "rgba(0, 220, 255, 0.95)";
    ctx.setLineDash([3, 2]);
    ctx.stroke();
    ctx.setLineDash([]);
  }
  const ring = (p, color) => {
    const [x, y] = imageToScreen(...p);
    ctx.beginPath();
    ctx.arc(x, y, r + 3, 0, 2 * Math.PI);
    ctx.lineWidth = 2;
    ctx.strokeStyle = color;
    ctx.stroke();
  };
  if (state.selected) ring(state.selected, "#4fc3f7");
  if (L.markers && state.hover >= 0 && state.hover < state.points.length) ring(state.points[state.hover], "#ffeb3b");
  metrics.renderMs = performance.now() - t0;
}

function drawGrid() {
  const g = grid(), v = state.view;
  ctx.fillStyle = "rgba(60, 200, 90, 0.22)";
  for (const i of g.done) {
    const [x, y, w, h] = tileRect(i);
    ctx.fillRect(v.ox + x * v.scale, v.oy + y * v.scale, w * v.scale, h * v.scale);
  }
  ctx.beginPath();
  for (let c = 1; c < g.cols; c++) {
    const x = v.ox + c * state.width / g.cols * v.scale;
    ctx.moveTo(x, v.oy); ctx.lineTo(x, v.oy + state.height * v.scale);
  }
  for (let r = 1; r < g.rows; r++) {
    const y = v.oy + r * state.height / g.rows * v.scale;
    ctx.moveTo(v.ox, y); ctx.lineTo(v.ox + state.width * v.scale, y);
  }
  ctx.lineWidth = 1;
  ctx.strokeStyle = "rgba(255, 255, 255, 0.55)";
  ctx.setLineDash([6, 4]);
  ctx.stroke();
  ctx.setLineDash([]);
}

function fit() {
  const W = canvas.clientWidth, H = canvas.clientHeight;
  const s = Math.min(W / state.width, H / state.height) * 0.98;
  state.view = { scale: s, ox: (W - state.width * s) / 2, oy: (H - state.height * s) / 2 };
  updateZoomLabel();
  requestDraw();
}
// show the image rectangle x, y, w, h as large as the window allows
function showRect(x, y, w, h) {
  const W = canvas.clientWidth, H = canvas.clientHeight;
  const s = Math.min(64, Math.min(W / w, H / h) * 0.96);
  state.view = { scale: s, ox: W / 2 - (x + w / 2) * s, oy: H / 2 - (y + h / 2) * s };
  updateZoomLabel();
  requestDraw();
}

function zoomAt(factor, sx, sy) {
  const v = state.view;
  const s = Math.min(64, Math.max(0.02, v.scale * factor));
  const [ix, iy] = screenToImage(sx, sy);
  state.view = { scale: s, ox: sx - ix * s, oy: sy - iy * s };
  updateZoomLabel();
  requestDraw();
}
function zoomCenter(factor) { zoomAt(factor, canvas.clientWidth / 2, canvas.clientHeight / 2); }
function updateZoomLabel() { $("zoom").textContent = Math.round(state.view.scale * 100) + "%"; }

// ---------- what changed: heads are compared by their exact coordinates ----------
const key = (p) => p[0] + "," + p[1];
// multiset difference: the heads `to` has that `from` has not (added), and the other way round (removed)
function diff(from, to) {
  const counts = new Map();
  for (const p of from) { const k = key(p); counts.set(k, (counts.get(k) || 0) + 1); }
  const added = [];
  for (const p of to) {
    const k = key(p), c = counts.get(k);
    if (c) counts.set(k, c - 1); else added.push(p);
  }
  const removed = [];
  for (const p of from) {
    const k = key(p), c = counts.get(k);
    if (c) { removed.push(p); counts.set(k, c - 1); }
  }
  return { added, removed };
}
// `points` without one occurrence of each removed head (those already gone are skipped), plus the added
function applyDiff(points, { added, removed }) {
  let out = points;
  if (removed.length) {
    const want = new Map();
    for (const p of removed) want.set(key(p), (want.get(key(p)) || 0) + 1);
    out = points.filter((p) => {
      const k = key(p), c = want.get(k);
      if (c) { want.set(k, c - 1); return false; }
      return true;
    });
  }
  return added.length ? out.concat(added.map((p) => p.slice())) : out.slice();
}
function docOf() {
  const t = state.tiles;
  return { points: state.points.slice(), status: state.status,
           tiles: t && { cols: t.cols, rows: t.rows, done: new Set(t.done) } };
}
function docFromServer(data) {
  const t = data.tiles;
  return { points: data.points.slice(), status: data.status || "todo",
           tiles: t && { cols: t.cols, rows: t.rows, done: new Set(t.done) } };
}
const sameGrid = (a, b) => a && b && a.cols === b.cols && a.rows === b.rows;
// what a tab changed between two versions of the image: the body of a save
function changesBetween(from, to) {
  const out = diff(from.points, to.points);
  if (to.status !== from.status) out.status = to.status;
  if (to.tiles) {
    const before = sameGrid(from.tiles, to.tiles) ? from.tiles.done : new Set();
    const done = [...to.tiles.done].filter((i) => !before.has(i));
    const undone = [...before].filter((i) => !to.tiles.done.has(i));
    if (done.length || undone.length || !sameGrid(from.tiles, to.tiles)) {
      out.tiles = { cols: to.tiles.cols, rows: to.tiles.rows, done, undone };
    }
  }
  return out;
}
function applyChanges(doc, ch) {
  let tiles = doc.tiles;
  if (ch.tiles) {
    const done = new Set(sameGrid(tiles, ch.tiles) ? tiles.done : []);
    ch.tiles.done.forEach((i) => done.add(i));
    ch.tiles.undone.forEach((i) => done.delete(i));
    tiles = { cols: ch.tiles.cols, rows: ch.tiles.rows, done };
  }
  return { points: applyDiff(doc.points, ch), status: ch.status || doc.status, tiles };
}
function showDoc(doc) {
  state.points = doc.points;
  state.status = doc.status;
  state.tiles = doc.tiles;
  $("image-status").value = doc.status;
  const item = state.images[state.index];
  if (item) item.status = doc.status;
  if (state.selected && !state.points.includes(state.selected)) state.selected = null;
  refreshHover();
  updateCount();
  updateTiles();
  requestDraw();
}

// ---------- editing, undo ----------
// an undo step is what the edit added and removed, not a snapshot: undoing it never takes away heads
// that arrived from another tab in between
function edit(mutate) {
  const before = state.points.slice(), proposals = state.proposals;
  mutate();
  record(before, proposals);
}
function record(before, proposalsBefore) {
  const d = diff(before, state.points);
  state.undo.push({ ...d, proposals: [proposalsBefore, state.proposals] });
  if (state.undo.length > MAX_HISTORY) state.undo.shift();
  state.redo = [];
  changed();
}
function changed() {
  state.version++;
  metrics.editAt = performance.now();
  if (state.selected && !state.points.includes(state.selected)) state.selected = null;
  refreshHover();
  updateCount();
  requestDraw();
  if (state.showDensity) markDensity("updating");
  save();
}
// the head under the cursor now, not the index the removed one had (that is another head)
function refreshHover() {
  state.hover = state.mouse ? nearest(state.points, ...state.mouse) : -1;
  canvas.classList.toggle("over-point", state.hover >= 0);
}
function step(from, to, forward) {
  const e = from.pop();
  if (!e) return;
  const d = forward ? e : { added: e.removed, removed: e.added };
  state.points = applyDiff(state.points, d);
  state.proposals = e.proposals[forward ? 1 : 0];
  to.push(e);
  changed();
}
function undo() { step(state.undo, state.redo, false); }
function redo() { step(state.redo, state.undo, true); }

function addPoint(x, y) {
  const p = [x, y];
  edit(() => state.points.push(p));
  return p;
}
function deletePoint(i) { if (i >= 0) edit(() => state.points.splice(i, 1)); }
function acceptProposal(i) { edit(() => { state.points.push(state.proposals[i]); state.proposals = state.proposals.filter((_, j) => j !== i); }); }
function acceptAll() { if (state.proposals.length) edit(() => { state.points.push(...state.proposals); state.proposals = []; }); }

function updateCount() {
  $("count").textContent = state.points.length;
  const item = state.images[state.index];
  if (item) { item.count = state.points.length; updateListItem(state.index); }
}

// ---------- saving ----------
function setStatus(s, text) { const el = $("status"); el.className = s; el.textContent = text || s; }
function showMessage(text) {
  const m = $("message");
  m.textContent = text; m.hidden = false;
  clearTimeout(showMessage.timer);
  showMessage.timer = setTimeout(() => { m.hidden = true; }, 5000);
}

async function api(path, options = {}) {
  const headers = Object.assign({ "X-Headcount": "1" }, options.headers || {});
  return fetch(path, Object.assign({}, options, { headers }));
}

function save() {
  if (state.version === state.savedVersion) { setStatus("saved"); return state.saving; }
  setStatus("unsaved");
  if (!state.saving) state.saving = saveLoop().finally(() => { state.saving = null; });
  return state.saving;
}

const plural = (n, what) => `${n} ${what}${n === 1 ? "" : "s"}`;
function describe(d) {
  return [d.added.length && `+${plural(d.added.length, "head")}`, d.removed.length && `−${plural(d.removed.length, "head")}`]
    .filter(Boolean).join(", ") || "no heads";
}

async function saveLoop() {
  // one request at a time; edits made meanwhile go out in the next one
  while (state.version !== state.savedVersion) {
    const id = state.id, version = state.version, startedAt = metrics.editAt;
    const sent = docOf();
    const body = JSON.stringify({ base: state.revision, ...changesBetween(state.base, sent) });
    setStatus("saving", "saving…");
    let resp;
    try {
      resp = await api(`/api/images/${encodeURIComponent(id)}/edits`,
        { method: "POST", headers: { "Content-Type": "application/json" }, body });
    } catch (err) {
      setStatus("error", "offline – retrying");
      await new Promise((r) => setTimeout(r, 2000));
      continue;
    }
    if (id !== state.id) return;
    if (resp.ok) {
      const data = await resp.json();
      state.revision = data.revision;
      state.savedVersion = version;
      metrics.lastSaveMs = performance.now() - startedAt;
      if (data.merged) {
        // other tabs saved since our base: what is saved now holds their edits and ours; edits made here
        // while the request was out go on top
        const server = docFromServer(data);
        const foreign = diff(sent.points, server.points);   // saved = theirs + ours: minus ours is theirs
        state.base = server;
        showDoc(applyChanges(server, changesBetween(sent, docOf())));
        showMessage(`Merged with edits saved elsewhere (${describe(foreign)}); nothing of yours or theirs was lost.`);
      } else {
        state.base = sent;
      }
      const item = state.images[state.index];
      if (item) { item.revision = data.revision; delete item.error; updateListItem(state.index); }
      if (state.showDensity) loadDensity(150);
    } else if (resp.status === 409) {
      // the saved file is older than our base (restored from a backup?): put our changes on top of it
      await pull(`The saved file of this image went back to an older revision; your changes are kept on top.`);
    } else {
      const err = await resp.json().catch(() => ({}));
      setStatus("error", "not saved");
      showMessage("Not saved: " + (err.error || resp.status));
      return;
    }
  }
  setStatus("saved");
}

// take what the server has now, keeping this tab's unsaved changes on top of it
async function pull(message) {
  const id = state.id;
  const data = await (await fetch(`/api/images/${encodeURIComponent(id)}/points`)).json();
  if (id !== state.id) return null;
  const server = docFromServer(data);
  const mine = changesBetween(state.base, docOf());
  const foreign = diff(state.base.points, server.points);
  state.base = server;
  state.revision = data.revision;
  showDoc(applyChanges(server, mine));
  if (message) showMessage(message.replace("{foreign}", describe(foreign)));
  if (state.showDensity) loadDensity(150);
  return data;
}

// ---------- loading ----------
async function loadPoints() {
  const resp = await fetch(`/api/images/${encodeURIComponent(state.id)}/points`);
  const data = await resp.json();
  state.revision = data.revision;
  state.base = docFromServer(data);
  showDoc(docFromServer(data));
  state.version = state.savedVersion = 0;
  setStatus("saved");
  if (data.error) {
    setStatus("error", "broken point file");
    showMessage(`${data.error}. Annotate it afresh: the first save keeps the broken file aside as a backup.`);
  }
}

// the density preview: drawn by the server at the canvas's size, the newest request only
let densityRequest = null, densityTimer = null;
function markDensity(s) {
  state.densityState = s;
  const el = $("density-state");
  el.textContent = s === "updating" ? "updating…" : s === "error" ? "failed" :
    s === "fresh" && state.densityCount != null ? `Σ ${state.densityCount}` : "";
  el.className = s;
  requestDraw();
}
function loadDensity(delay = 0) {
  clearTimeout(densityTimer);
  if (densityRequest) { densityRequest.abort(); metrics.previewAborted++; densityRequest = null; }
  markDensity("updating");
  densityTimer = setTimeout(fetchDensity, delay);
}
async function fetchDensity() {
  const id = state.id, revision = state.revision;
  const ctl = new AbortController();
  densityRequest = ctl;
  const side = Math.min(4096, Math.max(64, canvas.width, canvas.height));
  const t0 = performance.now();
  metrics.previewRequests++;
  try {
    const resp = await fetch(`/api/images/${encodeURIComponent(id)}/density.png?max_side=${side}&rev=${revision}`,
                             { signal: ctl.signal });
    if (!resp.ok) throw new Error(`density preview: ${resp.status}`);
    const bitmap = await createImageBitmap(await resp.blob());
    if (densityRequest !== ctl || id !== state.id) return;
    state.density = bitmap;
    state.densityCount = resp.headers.get("X-Headcount-Count");
    metrics.previewMs = performance.now() - t0;
    densityRequest = null;
    markDensity(revision === state.revision && state.version === state.savedVersion ? "fresh" : "updating");
  } catch (err) {
    if (err.name === "AbortError" || densityRequest !== ctl) return;
    densityRequest = null;
    markDensity("error");
  }
}

async function openImage(index) {
  if (index < 0 || index >= state.images.length) return;
  if (state.saving) await state.saving;
  const item = state.images[index];
  if (state.id) state.proposalsById[state.id] = state.proposals;  // kept for when this image comes back
  const previous = state.index;
  state.index = index; state.id = item.id;
  state.width = item.width; state.height = item.height;
  state.proposals = state.proposalsById[item.id] || [];
  state.undo = []; state.redo = []; state.density = null; state.hover = -1; state.selected = null;
  state.img = null; state.points = []; state.base = null;   // no edits land on the wrong image while it loads
  window.headcount.loadedId = null;
  $("name").textContent = `${item.name} (${index + 1}/${state.images.length})`;
  history.replaceState(null, "", `#${encodeURIComponent(item.id)}`);
  markCurrent(previous, index);
  const img = new Image();
  img.src = `/api/images/${encodeURIComponent(item.id)}/image`;
  await img.decode();
  if (state.id !== item.id) return;
  if (img.naturalWidth !== item.width || img.naturalHeight !== item.height) {
    // never annotate a picture in another frame than the pipeline's (stored pixels, EXIF not applied)
    setStatus("error", "image frame mismatch");
    showMessage(`${item.name}: the browser shows ${img.naturalWidth}x${img.naturalHeight} but the file stores ` +
                `${item.width}x${item.height} pixels; not annotating it (clicks would land in the wrong place)`);
    return;
  }
  state.img = img;
  await loadPoints();
  fit();
  if (state.showDensity) loadDensity();
  window.headcount.loadedId = item.id;
  window.headcount.ready = true;
  if (metrics.readyMs === null) metrics.readyMs = performance.now();
}

// ---------- the image list: built once, then one row per change ----------
const MARKS = { todo: "·", done: "✓", reviewed: "✓✓" };
function isDone(it) { return it.status === "done" || it.status === "reviewed"; }
function fillBadge(button, it) {
  const badge = button.lastChild;
  badge.className = it.error ? "broken" : isDone(it) ? "done" : "todo";
  badge.textContent = it.error ? "broken" : `${it.count} ${MARKS[it.status] || "·"}`;
  button.title = it.error || it.status || "";
  button.setAttribute("aria-label", `${it.name}: ${it.error ? "broken point file" : `${it.count} heads, ${it.status}`}`);
}
// done = declared done (or reviewed) by an annotator; saved, converted or proposed is not done
function renderProgress() {
  $("progress").textContent = `${state.doneCount} of ${state.images.length} done`;
}
function renderList() {
  const ul = $("images"), rows = document.createDocumentFragment();
  ul.textContent = "";
  state.doneCount = 0;
  state.byId = new Map();
  state.images.forEach((it, i) => {
    state.byId.set(it.id, i);
    const li = document.createElement("li");
    const button = document.createElement("button");
    button.dataset.index = i;
    const name = document.createElement("span");
    name.textContent = it.name;
    button.append(name, document.createElement("span"));
    fillBadge(button, it);
    it.wasDone = isDone(it);
    if (it.wasDone) state.doneCount++;
    li.append(button);
    rows.append(li);
  });
  ul.append(rows);
  markCurrent(-1, state.index);
  renderProgress();
}
function row(i) { const li = $("images").children[i]; return li && li.firstChild; }
function markCurrent(previous, index) {
  const a = row(previous), b = row(index);
  if (a) { a.parentNode.classList.remove("current"); a.removeAttribute("aria-current"); }
  if (b) { b.parentNode.classList.add("current"); b.setAttribute("aria-current", "true"); }
}
function updateListItem(i) {
  const it = state.images[i], button = row(i);
  if (!it || !button) return;
  fillBadge(button, it);
  const done = isDone(it);
  if (done !== it.wasDone) { state.doneCount += done ? 1 : -1; it.wasDone = done; renderProgress(); }
}
$("images").addEventListener("click", (ev) => {
  const button = ev.target.closest("button");
  if (button) openImage(Number(button.dataset.index));
});

// ---------- other tabs: what they saved shows up here ----------
async function loadListing() {
  const resp = await fetch("/api/images");
  state.seq = resp.headers.get("X-Headcount-Seq");
  const images = await resp.json();
  const current = state.id;
  state.images = images;
  renderList();
  return images.findIndex((it) => it.id === current);
}
let polling = false;   // one poll at a time: a slow answer is not asked for twice
async function poll() {
  if (polling || !state.seq || document.hidden) return;
  polling = true;
  try { await pollOnce(); } finally { polling = false; }
}
async function pollOnce() {
  let data;
  try {
    data = await (await fetch(`/api/changes?since=${encodeURIComponent(state.seq)}`)).json();
  } catch (err) { return; }
  if (data.reset) {
    const i = await loadListing();   // another server (restarted): the whole list again
    if (i >= 0) { state.index = i; markCurrent(-1, i); }
  } else {
    state.seq = data.seq;
    for (const it of data.images) {
      const i = state.byId.get(it.id);
      if (i === undefined) continue;
      const mine = state.images[i];
      if (i === state.index && mine.revision >= it.revision) continue;   // our own save
      Object.assign(mine, it);
      if (!it.error) delete mine.error;
      updateListItem(i);
    }
  }
  const item = state.images[state.index];
  if (item && state.img && state.base && !state.saving && item.revision > state.revision) {
    await pull("Updated with edits saved in another tab ({foreign}).");
  }
}

// ---------- status, tiles, proposals ----------
// a proposal within this many image pixels of an annotated head is that head (one model cell):
// measured in the image, so what is proposed does not depend on the zoom
const PROPOSAL_DUPLICATE_PX = 8;
function setImageStatus(status) {
  if (!state.img || status === state.status) return;
  state.status = status;
  $("image-status").value = status;
  const item = state.images[state.index];
  if (item) item.status = status;
  updateListItem(state.index);
  changed();
}
function nextUnfinished() {
  const n = state.images.length;
  for (let k = 1; k <= n; k++) {
    const i = (state.index + k) % n;
    if (!isDone(state.images[i])) { openImage(i); return; }
  }
  showMessage("Every image is done.");
}
function updateTiles() {
  const el = $("tiles");
  const g = state.tiles;
  el.hidden = !state.look.grid && !g;
  const n = grid().cols * grid().rows;
  el.textContent = `tiles ${g ? g.done.size : 0}/${n}`;
}
// the tile under the mouse, or in the middle of the view (keyboard)
function focusTile() {
  const [sx, sy] = state.mouse || [canvas.clientWidth / 2, canvas.clientHeight / 2];
  const [x, y] = screenToImage(sx, sy);
  return tileAt(...clampToImage(x, y));
}
function toggleTile(i = focusTile()) {
  if (!state.img || i < 0) return;
  const g = state.tiles ? { ...state.tiles, done: new Set(state.tiles.done) } : defaultGrid();
  if (g.done.has(i)) g.done.delete(i); else g.done.add(i);
  state.tiles = g;
  if (!state.look.grid) setLook("grid", true);
  updateTiles();
  changed();
  if (g.done.size === g.cols * g.rows) showMessage("Every tile is done: Enter marks the image done.");
}
function nextTile() {
  if (!state.img) return;
  const g = grid(), n = g.cols * g.rows, from = Math.max(-1, focusTile());
  for (let k = 1; k <= n; k++) {
    const i = (from + k) % n;
    if (!g.done.has(i)) {
      if (!state.look.grid) setLook("grid", true);
      state.mouse = null;   // the tile to mark (T) is the one in view now
      showRect(...tileRect(i));
      return;
    }
  }
  showMessage("Every tile is done.");
}

async function propose() {
  const id = state.id;
  const resp = await fetch(`/api/images/${encodeURIComponent(id)}/proposals`);
  if (!resp.ok) { showMessage("No proposals: " + resp.status); return; }
  const data = await resp.json();
  if (id !== state.id) return;
  const r2 = PROPOSAL_DUPLICATE_PX * PROPOSAL_DUPLICATE_PX;
  const far = data.points.filter((p) => !state.points.some((q) => (p[0] - q[0]) ** 2 + (p[1] - q[1]) ** 2 <= r2));
  edit(() => { state.proposals = far; });
  state.modelCount = data.count;
  showMessage(`Model count ${data.count.toFixed(1)}: ${data.points.length} heads proposed, ${far.length} not ` +
              `yet annotated (click to accept, A for all, right-click to reject)`);
}

// ---------- keyboard heads: add, select, nudge ----------
function select(p) {
  state.selected = p;
  if (p) {
    const [x, y] = imageToScreen(...p);
    if (x < 0 || y < 0 || x > canvas.clientWidth || y > canvas.clientHeight) {
      state.view.ox += canvas.clientWidth / 2 - x;
      state.view.oy += canvas.clientHeight / 2 - y;
    }
  }
  requestDraw();
}
function selectStep(delta) {
  const n = state.points.length;
  if (!n) return;
  const i = state.selected ? state.points.indexOf(state.selected) : -1;
  select(state.points[i < 0 ? (delta > 0 ? 0 : n - 1) : (i + delta + n) % n]);
}
function addAtCursor() {
  if (!state.img) return;
  const [sx, sy] = state.mouse || [canvas.clientWidth / 2, canvas.clientHeight / 2];
  const [x, y] = screenToImage(sx, sy);
  select(addPoint(...clampToImage(x, y)));
}
// one screen pixel (ten with Shift) in image pixels: fine at any zoom
function nudge(dx, dy, big) {
  const i = state.points.indexOf(state.selected);
  if (i < 0) return;
  const d = (big ? 10 : 1) / state.view.scale;
  const p = clampToImage(state.selected[0] + dx * d, state.selected[1] + dy * d);
  edit(() => { state.points[i] = p; });
  state.selected = p;
  requestDraw();
}

// ---------- mouse ----------
let drag = null;       // {mode: "pending" | "pan" | "move", ...}
let spaceDown = false;

canvas.addEventListener("mousedown", (ev) => {
  if (!state.img || ev.button === 2) return;
  const [sx, sy] = eventPos(ev);
  // the middle button, Space and "lock heads" only pan; Shift+click adds even on top of a head
  const panOnly = ev.button === 1 || spaceDown || state.locked;
  const hit = panOnly || ev.shiftKey ? -1 : nearest(state.points, sx, sy);
  if (ev.button === 1) ev.preventDefault();
  if (hit >= 0) {
    drag = { mode: "move", index: hit, before: state.points.slice(), moved: false, sx, sy };
  } else {
    const add = ev.button === 0 && !spaceDown, beside = ev.shiftKey || state.locked;
    drag = { mode: ev.button === 1 || spaceDown ? "pan" : "pending", add, beside, sx, sy,
             ox: state.view.ox, oy: state.view.oy };
    if (drag.mode === "pan") canvas.classList.add("panning");
  }
});

window.addEventListener("mousemove", (ev) => {
  if (!state.img) return;
  const [sx, sy] = eventPos(ev);
  state.mouse = [sx, sy];
  const [ix, iy] = screenToImage(sx, sy);
  $("cursor").textContent = insideImage(ix, iy) ? `x ${ix.toFixed(1)}  y ${iy.toFixed(1)}` : "";
  if (!drag) {
    const h = nearest(state.points, sx, sy);
    if (h !== state.hover) { state.hover = h; canvas.classList.toggle("over-point", h >= 0); requestDraw(); }
    return;
  }
  const moved = Math.hypot(sx - drag.sx, sy - drag.sy) > DRAG_THRESHOLD;
  if (drag.mode === "pending" && moved) { drag.mode = "pan"; canvas.classList.add("panning"); }
  if (drag.mode === "pan") {
    state.view.ox = drag.ox + sx - drag.sx;
    state.view.oy = drag.oy + sy - drag.sy;
    requestDraw();
  } else if (drag.mode === "move" && (moved || drag.moved)) {
    drag.moved = true;
    state.points[drag.index] = clampToImage(ix, iy);
    requestDraw();
  }
});

window.addEventListener("mouseup", () => {
  if (!drag) return;
  const d = drag;
  drag = null;
  canvas.classList.remove("panning");
  if (d.mode === "move" && d.moved) {
    record(d.before, state.proposals);
  } else if (d.mode === "move") {
    select(state.points[d.index]);   // a click on a head selects it (arrows nudge it)
  } else if (d.mode === "pending" && d.add) {
    click(d.sx, d.sy, d.beside);
  }
});

function click(sx, sy, beside) {
  const [ix, iy] = screenToImage(sx, sy);
  const p = beside ? -1 : nearest(state.proposals, sx, sy);
  if (p >= 0) acceptProposal(p);
  else if (insideImage(ix, iy)) { addPoint(ix, iy); state.selected = null; }
}

canvas.addEventListener("contextmenu", (ev) => {
  ev.preventDefault();
  const [sx, sy] = eventPos(ev);
  const hit = nearest(state.points, sx, sy);
  if (hit >= 0) deletePoint(hit);
  else {
    const p = nearest(state.proposals, sx, sy);
    if (p >= 0) edit(() => { state.proposals = state.proposals.filter((_, j) => j !== p); });
  }
});

canvas.addEventListener("wheel", (ev) => {
  ev.preventDefault();
  const [sx, sy] = eventPos(ev);
  const dy = ev.deltaMode === 1 ? ev.deltaY * 33 : ev.deltaY;
  zoomAt(Math.exp(-dy * 0.0015), sx, sy);
}, { passive: false });

// ---------- touch: one finger pans (never moves a head), two pinch, a tap adds ----------
const touches = new Map();
let touchGesture = null;
canvas.addEventListener("pointerdown", (ev) => {
  if (ev.pointerType !== "touch" || !state.img) return;
  ev.preventDefault();   // no mouse events follow: the gestures below are the whole of touch
  canvas.setPointerCapture(ev.pointerId);
  touches.set(ev.pointerId, eventPos(ev));
  const pts = [...touches.values()];
  touchGesture = { tap: pts.length === 1, start: pts.map((p) => p.slice()), view: { ...state.view },
                   t: performance.now() };
});
canvas.addEventListener("pointermove", (ev) => {
  if (ev.pointerType !== "touch" || !touches.has(ev.pointerId) || !touchGesture) return;
  ev.preventDefault();
  touches.set(ev.pointerId, eventPos(ev));
  const g = touchGesture, pts = [...touches.values()];
  if (pts.length !== g.start.length) return;
  const mid = (ps) => [ps.reduce((s, p) => s + p[0], 0) / ps.length, ps.reduce((s, p) => s + p[1], 0) / ps.length];
  const [mx0, my0] = mid(g.start), [mx, my] = mid(pts);
  let factor = 1;
  if (pts.length >= 2) {
    const span = (ps) => Math.hypot(ps[0][0] - ps[1][0], ps[0][1] - ps[1][1]);
    factor = span(pts) / Math.max(1, span(g.start));
  }
  if (Math.hypot(mx - mx0, my - my0) > DRAG_THRESHOLD || factor !== 1) g.tap = false;
  const s = Math.min(64, Math.max(0.02, g.view.scale * factor));
  // the image point under the first midpoint stays under the fingers' midpoint
  const ix = (mx0 - g.view.ox) / g.view.scale, iy = (my0 - g.view.oy) / g.view.scale;
  state.view = { scale: s, ox: mx - ix * s, oy: my - iy * s };
  updateZoomLabel();
  requestDraw();
});
function touchEnd(ev) {
  if (ev.pointerType !== "touch" || !touches.has(ev.pointerId)) return;
  const [sx, sy] = touches.get(ev.pointerId);
  touches.delete(ev.pointerId);
  const g = touchGesture;
  if (g && g.tap && ev.type === "pointerup" && touches.size === 0) click(sx, sy, false);
  // the remaining fingers start a new gesture from here
  touchGesture = touches.size ? { tap: false, start: [...touches.values()].map((p) => p.slice()), view: { ...state.view } } : null;
}
canvas.addEventListener("pointerup", touchEnd);
canvas.addEventListener("pointercancel", touchEnd);

// ---------- keys ----------
function toggleHelp(show) { $("help").hidden = show === undefined ? !$("help").hidden : !show; }
function toggleDensity(on) {
  state.showDensity = on;
  $("density-toggle").checked = on;
  if (on) loadDensity(); else markDensity("off");
  requestDraw();
}
function setLocked(on) {
  state.locked = on;
  $("lock-toggle").checked = on;
}

const ARROWS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
window.addEventListener("keydown", (ev) => {
  const t = ev.target;
  if ((t.tagName === "INPUT" && t.type !== "checkbox") || t.tagName === "SELECT") return;
  if (t.tagName === "BUTTON" && (ev.key === "Enter" || ev.key === " ")) return;   // the button's own action
  const k = ev.key, mod = ev.ctrlKey || ev.metaKey;
  if (mod && (k === "z" || k === "Z")) { ev.preventDefault(); ev.shiftKey ? redo() : undo(); return; }
  if (mod && (k === "y" || k === "Y")) { ev.preventDefault(); redo(); return; }
  if (mod || ev.altKey) return;
  if (ARROWS[k] && state.selected) nudge(...ARROWS[k], ev.shiftKey);
  else if (k === " ") { spaceDown = true; ev.preventDefault(); }
  else if (k === "+" || k === "=") zoomCenter(1.25);
  else if (k === "-" || k === "_") zoomCenter(0.8);
  else if (k === "0") fit();
  else if (k === "Delete" || k === "Backspace") {
    if (state.hover >= 0) deletePoint(state.hover);
    else if (state.selected) deletePoint(state.points.indexOf(state.selected));
  }
  else if (k === "i" || k === "I") addAtCursor();
  else if (k === "]") selectStep(1);
  else if (k === "[") selectStep(-1);
  else if (k === "n" || k === "N" || k === "ArrowRight") openImage(state.index + 1);
  else if (k === "p" || k === "P" || k === "ArrowLeft") openImage(state.index - 1);
  else if (k === "Enter") { setImageStatus("done"); nextUnfinished(); }
  else if (k === "u" || k === "U") nextUnfinished();
  else if (k === "h" || k === "H") setLook("markers", !state.look.markers);
  else if (k === "g" || k === "G") setLook("grid", !state.look.grid);
  else if (k === "t" || k === "T") toggleTile();
  else if (k === "j" || k === "J") nextTile();
  else if (k === "l" || k === "L") setLocked(!state.locked);
  else if (k === "d" || k === "D") toggleDensity(!state.showDensity);
  else if ((k === "a" || k === "A") && state.proposalsEnabled) acceptAll();
  else if (k === "?") toggleHelp();
  else if (k === "Escape") { toggleHelp(false); select(null); }
  else return;
  ev.preventDefault();
});
window.addEventListener("keyup", (ev) => { if (ev.key === " ") spaceDown = false; });
window.addEventListener("resize", () => requestDraw());
window.addEventListener("beforeunload", (ev) => {
  if (state.version !== state.savedVersion) { ev.preventDefault(); ev.returnValue = ""; }
});

$("prev").onclick = () => openImage(state.index - 1);
$("next").onclick = () => openImage(state.index + 1);
$("zoom-in").onclick = () => zoomCenter(1.25);
$("zoom-out").onclick = () => zoomCenter(0.8);
$("fit").onclick = fit;
$("undo").onclick = undo;
$("redo").onclick = redo;
$("density-toggle").onchange = (ev) => toggleDensity(ev.target.checked);
$("propose").onclick = propose;
$("image-status").onchange = (ev) => { setImageStatus(ev.target.value); ev.target.blur(); };
$("next-unfinished").onclick = nextUnfinished;
function setLook(name, value) {
  state.look[name] = value;
  if (name === "markers") $("markers-toggle").checked = value;
  if (name === "grid") { $("grid-toggle").checked = value; updateTiles(); }
  if (name === "gamma") {
    for (const f of document.querySelectorAll("#gamma feFuncR, #gamma feFuncG, #gamma feFuncB")) {
      f.setAttribute("exponent", String(1 / value));
    }
  }
  requestDraw();
}
$("markers-toggle").onchange = (ev) => setLook("markers", ev.target.checked);
$("grid-toggle").onchange = (ev) => setLook("grid", ev.target.checked);
$("lock-toggle").onchange = (ev) => setLocked(ev.target.checked);
for (const name of ["size", "opacity", "brightness", "contrast", "gamma"]) {
  $(`look-${name}`).oninput = (ev) => setLook(name, Number(ev.target.value));
}
$("accept-all").onclick = acceptAll;
$("help-button").onclick = () => toggleHelp();
$("help").onclick = (ev) => { if (ev.target.id === "help") toggleHelp(false); };

window.headcount = { state, metrics, screenToImage, imageToScreen, openImage, draw, poll, loadDensity, ready: false };

(async function start() {
  const [config] = await Promise.all([fetch("/api/config").then((r) => r.json()), loadListing()]);
  state.proposalsEnabled = config.proposals;
  $("propose").hidden = $("accept-all").hidden = !config.proposals;
  const wanted = decodeURIComponent(location.hash.slice(1));
  const start = Math.max(0, state.images.findIndex((it) => it.id === wanted));
  setInterval(poll, POLL_MS);
  document.addEventListener("visibilitychange", () => { if (!document.hidden) poll(); });
  if (state.images.length) await openImage(start);
})();
