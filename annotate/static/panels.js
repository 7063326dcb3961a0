// The panels around the canvas: density preview, status, tiles, proposals, looks, help, buttons.
import { isDone, isRejected, updateListItem } from "./list.js";
import { $, canvas, metrics, state } from "./state.js";
import { acceptAll, changed, loadSecond, openImage, redo, rejectAll, showMessage, undo } from "./sync.js";
import { buckets, clampToImage, defaultGrid, fit, grid, requestDraw, screenToImage, showRect, tileAt, tileRect, zoomCenter } from "./view.js";

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

// ---------- status, tiles, proposals ----------
// a proposal within this many image pixels of an annotated head may be that head: measured in the image,
// so what is proposed does not depend on the zoom. Each head takes only its nearest such proposal, so in a
// dense crowd (heads 3-8 px apart) a placed head hides one proposal, not its neighbours' as well
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
  for (let k = 1; k <= n; k++) {   // what a reviewer sent back comes first
    const i = (state.index + k) % n;
    if (isRejected(state.images[i])) { openImage(i); return; }
  }
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
  if (document.activeElement !== $("grid-cols") && document.activeElement !== $("grid-rows")) {
    $("grid-cols").value = grid().cols;   // the grid in force, density-sized or the annotator's
    $("grid-rows").value = grid().rows;
  }
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

// the proposals that annotated heads already are: each head takes its nearest free proposal within
// PROPOSAL_DUPLICATE_PX (thousands of heads on a dense photo: looked up in buckets of that size)
function annotatedProposals(proposals, heads) {
  const around = buckets(proposals, PROPOSAL_DUPLICATE_PX), taken = new Set();
  for (const q of heads) {
    let best = -1, bestD = PROPOSAL_DUPLICATE_PX ** 2;
    for (const i of around(...q)) {
      if (taken.has(i)) continue;
      const d = (proposals[i][0] - q[0]) ** 2 + (proposals[i][1] - q[1]) ** 2;
      if (d <= bestD && (best < 0 || d < bestD || i < best)) { best = i; bestD = d; }
    }
    if (best >= 0) taken.add(best);
  }
  return taken;
}

async function propose() {
  const id = state.id;
  const resp = await fetch(`/api/images/${encodeURIComponent(id)}/proposals`);
  if (!resp.ok) { showMessage("No proposals: " + resp.status, "error"); return; }
  const data = await resp.json();
  if (id !== state.id) return;
  const scores = data.scores || data.points.map(() => Infinity);
  const taken = annotatedProposals(data.points, state.points);
  state.proposalPool = data.points.map((p, i) => ({ point: p, score: scores[i] })).filter((_, i) => !taken.has(i));
  state.modelCount = data.count;
  if (!state.points.length && !state.tiles) state.gridSeed = data.points;   // a grid by the crowd the model sees
  showProposals();   // shown, not an edit: nothing to save and no undo step
  showMessage(`Model count ${data.count.toFixed(1)}: ${data.points.length} heads proposed, ${state.proposalPool.length} ` +
              `not yet annotated (click to accept, A for all, X to reject all, Alt+drag a box to accept the ones in it)`);
}
// the proposals at or above the confidence threshold (the mass of a head the model sees there)
function showProposals() {
  const min = Number($("proposal-min").value);
  $("proposal-min-value").textContent = min.toFixed(2);
  state.proposals = state.proposalPool.filter((q) => q.score >= min).map((q) => q.point);
  requestDraw();
}
$("proposal-min").addEventListener("input", showProposals);
$("proposal-min").addEventListener("change", (ev) => ev.target.blur());
$("reject-all").onclick = () => rejectAll();
// a grid the annotator sets (columns x rows) instead of the one sized by density; it starts with no tile done
function setGrid() {
  const cols = Math.round(Number($("grid-cols").value)), rows = Math.round(Number($("grid-rows").value));
  if (!state.img || !(cols >= 1 && cols <= 64 && rows >= 1 && rows <= 64)) return;
  const g = grid();
  if (g.cols === cols && g.rows === rows) return;
  state.tiles = { cols, rows, done: new Set() };
  if (!state.look.grid) setLook("grid", true);
  updateTiles();
  changed();
}
for (const id of ["grid-cols", "grid-rows"]) $(id).addEventListener("change", setGrid);

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
  if (name === "loupe") $("loupe-toggle").checked = value;
  if (name === "second") {
    $("second-toggle").checked = value;
    if (!value) $("compare-info").hidden = true;
    else loadSecond();
  }
  if (name === "gamma") {
    for (const f of document.querySelectorAll("#gamma feFuncR, #gamma feFuncG, #gamma feFuncB")) {
      f.setAttribute("exponent", String(1 / value));
    }
  }
  requestDraw();
}
$("markers-toggle").onchange = (ev) => setLook("markers", ev.target.checked);
$("grid-toggle").onchange = (ev) => setLook("grid", ev.target.checked);
$("loupe-toggle").onchange = (ev) => { setLook("loupe", ev.target.checked); ev.target.blur(); };
$("second-toggle").onchange = (ev) => { setLook("second", ev.target.checked); ev.target.blur(); };
$("lock-toggle").onchange = (ev) => setLocked(ev.target.checked);
// each slider shows its value and has a reset to its default (the page's initial look)
const LOOK_DEFAULTS = { ...state.look };
function showLookValue(name) { $(`look-${name}-value`).textContent = String(state.look[name]); }
for (const name of ["size", "opacity", "brightness", "contrast", "gamma"]) {
  $(`look-${name}`).oninput = (ev) => { setLook(name, Number(ev.target.value)); showLookValue(name); };
  $(`look-${name}`).onchange = (ev) => ev.target.blur();   // keys go back to the image once a slider is set
  showLookValue(name);
}
for (const button of document.querySelectorAll("#look button.reset")) {
  button.onclick = () => {
    const name = button.dataset.reset;
    $(`look-${name}`).value = LOOK_DEFAULTS[name];
    setLook(name, LOOK_DEFAULTS[name]);
    showLookValue(name);
    button.blur();
  };
}
$("look-color").onchange = (ev) => { setLook("color", ev.target.value); ev.target.blur(); };
$("accept-all").onclick = acceptAll;
$("help-button").onclick = () => toggleHelp();
$("help").onclick = (ev) => { if (ev.target.id === "help") toggleHelp(false); };

export { PROPOSAL_DUPLICATE_PX, showProposals, densityRequest, densityTimer, fetchDensity, focusTile, loadDensity, markDensity, nextTile, nextUnfinished, propose, setImageStatus, setLocked, setLook, toggleDensity, toggleHelp, toggleTile, updateTiles };
