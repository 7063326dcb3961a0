// headcount annotation page: one canvas, plain JS, no build step.
"use strict";

const $ = (id) => document.getElementById(id);
const canvas = $("canvas");
const ctx = canvas.getContext("2d");
const HIT_RADIUS = 8;          // css px: how close a click must be to grab a head
const DRAG_THRESHOLD = 4;      // css px of movement that turns a click into a drag
const MAX_HISTORY = 500;

const state = {
  images: [], index: -1, id: null, width: 0, height: 0,
  points: [], revision: 0, proposals: [],
  undo: [], redo: [],
  view: { scale: 1, ox: 0, oy: 0 },
  img: null, density: null, showDensity: false, proposalsEnabled: false,
  version: 0, savedVersion: 0, saving: null, hover: -1, mouse: null, proposalsById: {},
  // how the image and heads look (never saved): dense crowds need small, faint or hidden markers
  look: { markers: true, size: 1, opacity: 0.9, brightness: 1, contrast: 1 },
};
const metrics = { renderMs: 0, lastSaveMs: null, editAt: 0 };

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

function draw() {
  const t0 = performance.now();
  const dpr = resizeCanvas();
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, canvas.clientWidth, canvas.clientHeight);
  if (!state.img) return;
  const v = state.view;
  ctx.imageSmoothingEnabled = v.scale < 2;   // sharp pixels when zoomed in
  const L = state.look;
  if (L.brightness !== 1 || L.contrast !== 1) ctx.filter = `brightness(${L.brightness}) contrast(${L.contrast})`;
  ctx.drawImage(state.img, v.ox, v.oy, state.width * v.scale, state.height * v.scale);
  ctx.filter = "none";
  if (state.showDensity && state.density) {
    ctx.globalAlpha = 0.75;
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(state.density, v.ox, v.oy, state.width * v.scale, state.height * v.scale);
    ctx.globalAlpha = 1;
  }
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
  ctx.lineWidth = 1;
  ctx.strokeStyle = `rgba(255, 255, 255, ${L.opacity})`;
  ctx.stroke();
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
  if (L.markers && state.hover >= 0 && state.hover < state.points.length) {
    const [x, y] = imageToScreen(...state.points[state.hover]);
    ctx.beginPath();
    ctx.arc(x, y, r + 3, 0, 2 * Math.PI);
    ctx.lineWidth = 2;
    ctx.strokeStyle = "#ffeb3b";
    ctx.stroke();
  }
  metrics.renderMs = performance.now() - t0;
}

function fit() {
  const W = canvas.clientWidth, H = canvas.clientHeight;
  const s = Math.min(W / state.width, H / state.height) * 0.98;
  state.view = { scale: s, ox: (W - state.width * s) / 2, oy: (H - state.height * s) / 2 };
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

// ---------- editing, undo ----------
function snapshot() { return { points: state.points.map((p) => p.slice()), proposals: state.proposals.map((p) => p.slice()) }; }
function restore(s) { state.points = s.points; state.proposals = s.proposals; }

function edit(mutate) {
  state.undo.push(snapshot());
  if (state.undo.length > MAX_HISTORY) state.undo.shift();
  state.redo = [];
  mutate();
  changed();
}
function changed() {
  state.version++;
  metrics.editAt = performance.now();
  // the head under the cursor now, not the index the removed one had (that is another head)
  state.hover = state.mouse ? nearest(state.points, ...state.mouse) : -1;
  canvas.classList.toggle("over-point", state.hover >= 0);
  updateCount();
  requestDraw();
  save();
}
function undo() { if (state.undo.length) { state.redo.push(snapshot()); restore(state.undo.pop()); changed(); } }
function redo() { if (state.redo.length) { state.undo.push(snapshot()); restore(state.redo.pop()); changed(); } }

function addPoint(x, y) { edit(() => state.points.push([x, y])); }
function deletePoint(i) { if (i >= 0) edit(() => state.points.splice(i, 1)); }
function acceptProposal(i) { edit(() => { state.points.push(state.proposals[i]); state.proposals.splice(i, 1); }); }
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
  showMessage.timer = setTimeout(() => { m.hidden = true; }, 4000);
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

async function saveLoop() {
  // one request at a time; edits made meanwhile go out in the next one
  while (state.version !== state.savedVersion) {
    const id = state.id, version = state.version, startedAt = metrics.editAt;
    const body = JSON.stringify({ points: state.points, revision: state.revision, status: state.status });
    setStatus("saving", "saving…");
    let resp;
    try {
      resp = await api(`/api/images/${encodeURIComponent(id)}/points`,
        { method: "PUT", headers: { "Content-Type": "application/json" }, body });
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
      const item = state.images[state.index];
      if (item) { item.revision = data.revision; item.count = data.count; delete item.error; updateListItem(state.index); }
      if (state.showDensity) loadDensity();
    } else if (resp.status === 409) {
      showMessage("This image was saved from another tab; showing the saved version (Ctrl+Z brings yours back).");
      state.undo.push(snapshot());
      await loadPoints();
      setStatus("conflict", "changed elsewhere – reloaded");
      return;
    } else {
      const err = await resp.json().catch(() => ({}));
      setStatus("error", "not saved");
      showMessage("Not saved: " + (err.error || resp.status));
      return;
    }
  }
  setStatus("saved");
}

// ---------- loading ----------
async function loadPoints() {
  const resp = await fetch(`/api/images/${encodeURIComponent(state.id)}/points`);
  const data = await resp.json();
  state.points = data.points;
  state.revision = data.revision;
  state.status = data.status || "todo";
  $("image-status").value = state.status;
  state.version = state.savedVersion = 0;
  updateCount();
  setStatus("saved");
  if (data.error) {
    setStatus("error", "broken point file");
    showMessage(`${data.error}. Annotate it afresh: the first save keeps the broken file aside as a backup.`);
  }
  requestDraw();
}

function loadDensity() {
  const img = new Image();
  const id = state.id;
  img.onload = () => { if (id === state.id) { state.density = img; requestDraw(); } };
  img.src = `/api/images/${encodeURIComponent(id)}/density.png?rev=${state.revision}`;
}

async function openImage(index) {
  if (index < 0 || index >= state.images.length) return;
  if (state.saving) await state.saving;
  const item = state.images[index];
  if (state.id) state.proposalsById[state.id] = state.proposals;  // kept for when this image comes back
  state.index = index; state.id = item.id;
  state.width = item.width; state.height = item.height;
  state.proposals = state.proposalsById[item.id] || [];
  state.undo = []; state.redo = []; state.density = null; state.hover = -1;
  state.img = null; state.points = [];   // no edits land on the wrong image while it loads
  window.headcount.loadedId = null;
  $("name").textContent = `${item.name} (${index + 1}/${state.images.length})`;
  history.replaceState(null, "", `#${encodeURIComponent(item.id)}`);
  renderList();
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
}

const MARKS = { todo: "·", done: "✓", reviewed: "✓✓" };
function isDone(it) { return it.status === "done" || it.status === "reviewed"; }
function fillBadge(li, it) {
  const badge = li.lastChild;
  badge.className = it.error ? "broken" : isDone(it) ? "done" : "todo";
  badge.textContent = it.error ? "broken" : `${it.count} ${MARKS[it.status] || "·"}`;
  li.title = it.error || it.status || "";
}
// done = declared done (or reviewed) by an annotator; saved, converted or proposed is not done
function renderProgress() {
  $("progress").textContent = `${state.doneCount} of ${state.images.length} done`;
}
// the whole list is built on load and on a change of image; an edit touches its own row only
function renderList() {
  const ul = $("images");
  ul.textContent = "";
  state.doneCount = 0;
  state.images.forEach((it, i) => {
    const li = document.createElement("li");
    if (i === state.index) li.className = "current";
    const name = document.createElement("span");
    name.textContent = it.name;
    li.append(name, document.createElement("span"));
    fillBadge(li, it);
    it.wasDone = isDone(it);
    if (it.wasDone) state.doneCount++;
    li.onclick = () => openImage(i);
    ul.append(li);
  });
  renderProgress();
}
function updateListItem(i) {
  const it = state.images[i], li = $("images").children[i];
  if (!it || !li) return;
  fillBadge(li, it);
  const done = isDone(it);
  if (done !== it.wasDone) { state.doneCount += done ? 1 : -1; it.wasDone = done; renderProgress(); }
}

// a proposal within this many image pixels of an annotated head is that head (one model cell):
// measured in the image, so what is proposed does not depend on the zoom
const PROPOSAL_DUPLICATE_PX = 8;
function setImageStatus(status) {
  if (!state.img || status === state.status) return;
  state.status = status;
  $("image-status").value = status;
  const item = state.images[state.index];
  if (item) item.status = status;
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

// ---------- input ----------
let drag = null;       // {mode: "pending" | "pan" | "move", ...}
let spaceDown = false;

canvas.addEventListener("mousedown", (ev) => {
  if (ev.button !== 0 || !state.img) return;
  const [sx, sy] = eventPos(ev);
  const hit = spaceDown ? -1 : nearest(state.points, sx, sy);
  if (hit >= 0) {
    drag = { mode: "move", index: hit, before: snapshot(), moved: false, sx, sy };
  } else {
    drag = { mode: spaceDown ? "pan" : "pending", sx, sy, ox: state.view.ox, oy: state.view.oy };
    if (spaceDown) canvas.classList.add("panning");
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
    const x = Math.min(Math.max(ix, 0), state.width - 1e-3), y = Math.min(Math.max(iy, 0), state.height - 1e-3);
    state.points[drag.index] = [x, y];
    requestDraw();
  }
});

window.addEventListener("mouseup", (ev) => {
  if (!drag) return;
  const d = drag;
  drag = null;
  canvas.classList.remove("panning");
  if (d.mode === "move" && d.moved) {
    state.undo.push(d.before);
    state.redo = [];
    changed();
  } else if (d.mode === "pending") {
    const [ix, iy] = screenToImage(d.sx, d.sy);
    const p = nearest(state.proposals, d.sx, d.sy);
    if (p >= 0) acceptProposal(p);
    else if (insideImage(ix, iy)) addPoint(ix, iy);
  }
});

canvas.addEventListener("contextmenu", (ev) => {
  ev.preventDefault();
  const [sx, sy] = eventPos(ev);
  const hit = nearest(state.points, sx, sy);
  if (hit >= 0) deletePoint(hit);
  else {
    const p = nearest(state.proposals, sx, sy);
    if (p >= 0) edit(() => state.proposals.splice(p, 1));
  }
});

canvas.addEventListener("wheel", (ev) => {
  ev.preventDefault();
  const [sx, sy] = eventPos(ev);
  const dy = ev.deltaMode === 1 ? ev.deltaY * 33 : ev.deltaY;
  zoomAt(Math.exp(-dy * 0.0015), sx, sy);
}, { passive: false });

function toggleHelp(show) { $("help").hidden = show === undefined ? !$("help").hidden : !show; }
function toggleDensity(on) {
  state.showDensity = on;
  $("density-toggle").checked = on;
  if (on) loadDensity();
  requestDraw();
}

window.addEventListener("keydown", (ev) => {
  if ((ev.target.tagName === "INPUT" && ev.target.type !== "checkbox") || ev.target.tagName === "SELECT") return;
  const k = ev.key, mod = ev.ctrlKey || ev.metaKey;
  if (mod && (k === "z" || k === "Z")) { ev.preventDefault(); ev.shiftKey ? redo() : undo(); return; }
  if (mod && (k === "y" || k === "Y")) { ev.preventDefault(); redo(); return; }
  if (mod) return;
  if (k === " ") { spaceDown = true; ev.preventDefault(); }
  else if (k === "+" || k === "=") zoomCenter(1.25);
  else if (k === "-" || k === "_") zoomCenter(0.8);
  else if (k === "0") fit();
  else if (k === "Delete" || k === "Backspace") deletePoint(state.hover);
  else if (k === "n" || k === "N" || k === "ArrowRight") openImage(state.index + 1);
  else if (k === "Enter") { setImageStatus("done"); nextUnfinished(); }
  else if (k === "u" || k === "U") nextUnfinished();
  else if (k === "h" || k === "H") setLook("markers", !state.look.markers);
  else if (k === "p" || k === "P" || k === "ArrowLeft") openImage(state.index - 1);
  else if (k === "d" || k === "D") toggleDensity(!state.showDensity);
  else if ((k === "a" || k === "A") && state.proposalsEnabled) acceptAll();
  else if (k === "?" || k === "h" || k === "H") toggleHelp();
  else if (k === "Escape") toggleHelp(false);
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
function setLook(key, value) {
  state.look[key] = value;
  if (key === "markers") $("markers-toggle").checked = value;
  requestDraw();
}
$("markers-toggle").onchange = (ev) => setLook("markers", ev.target.checked);
for (const key of ["size", "opacity", "brightness", "contrast"]) {
  $(`look-${key}`).oninput = (ev) => setLook(key, Number(ev.target.value));
}
$("accept-all").onclick = acceptAll;
$("help-button").onclick = () => toggleHelp();
$("help").onclick = (ev) => { if (ev.target.id === "help") toggleHelp(false); };

window.headcount = { state, metrics, screenToImage, imageToScreen, openImage, draw, ready: false };

(async function start() {
  const [config, images] = await Promise.all([fetch("/api/config").then((r) => r.json()),
                                              fetch("/api/images").then((r) => r.json())]);
  state.proposalsEnabled = config.proposals;
  $("propose").hidden = $("accept-all").hidden = !config.proposals;
  state.images = images;
  const wanted = decodeURIComponent(location.hash.slice(1));
  const start = Math.max(0, images.findIndex((it) => it.id === wanted));
  renderList();
  if (images.length) await openImage(start);
})();
