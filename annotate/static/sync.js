// Editing and undo, saving with merges, loading, and following other tabs' saves.
import { markCurrent, renderList, updateListItem } from "./list.js";
import { applyChanges, applyDiff, assignId, changesBetween, describe, describeConflicts, diff, docFromServer, editBody,
         head, idMaps, inverse, uidFor } from "./merge.js";
import { loadDensity, markDensity, showProposals, updateTiles } from "./panels.js";
import { $, MAX_HISTORY, canvas, metrics, state } from "./state.js";
import { buildMips, fit, headAt, requestDraw } from "./view.js";

function docOf() {
  const t = state.tiles;
  return { points: state.points.slice(), status: state.status,
           tiles: t && { cols: t.cols, rows: t.rows, done: new Set(t.done) } };
}
// the last review's verdict, over the image: a rejected image says why until its status moves on; an
// accepted one edited since says who accepted the earlier heads. Undo never crosses a review: a new
// verdict on this image (from this tab or another) clears its undo and redo history
function renderReview(review, status) {
  const note = $("review-note"), item = state.images[state.index];
  if (item) { item.review = review || undefined; updateListItem(state.index); }
  const key = JSON.stringify(review || null);
  if (state.id in state.reviewKeys && state.reviewKeys[state.id] !== key) { state.undo = []; state.redo = []; }
  state.reviewKeys[state.id] = key;
  const reopened = review && review.verdict === "accepted" && status === "done";
  const show = review && ((review.verdict === "rejected" && status === "todo") || (review.verdict === "accepted" && status === "reviewed") || reopened);
  note.hidden = !show;
  if (!show) return;
  note.className = review.verdict;
  const by = review.by || "a reviewer";
  note.textContent = reopened ? `Accepted by ${by}, edited since: to review again`
    : review.verdict === "rejected" ? `Rejected by ${by}: ${review.comment}`
      : `Accepted by ${by}${review.comment ? `: ${review.comment}` : ""}`;
}
// a reviewer's verdict on what is saved: accepted (reviewed), or rejected with a comment (back to to do)
async function review(verdict) {
  if (!state.img) return;
  const comment = $("review-comment").value.trim();
  if (verdict === "rejected" && !comment) { showMessage("Write why in the comment box, then Reject.", "error"); return; }
  await save();
  if (state.version !== state.savedVersion) return;   // not saved: nothing to review yet
  const id = state.id;
  const resp = await api(`/api/images/${encodeURIComponent(id)}/review`,
    { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ verdict, comment }) });
  const data = await resp.json().catch(() => ({}));
  if (!resp.ok) { showMessage("Review not saved: " + (data.error || resp.status), "error"); return; }
  if (id !== state.id) return;
  $("review-comment").value = "";
  await pull();
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
// an undo step is what the edit added, removed and moved (heads by identity), not a snapshot: undoing it
// never takes away heads that arrived from another tab in between, nor moves another head
// `accepted`: the pool entries (point and confidence) an accept took; undoing it puts exactly those back
function edit(mutate, accepted = null) {
  const before = state.points.slice();
  mutate();
  record(before, accepted);
}
function record(before, accepted = null) {
  const d = diff(before, state.points);
  state.undo.push({ d, accepted });
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
  state.hover = state.mouse ? headAt(...state.mouse) : -1;
  canvas.classList.toggle("over-point", state.hover >= 0);
}
function step(from, to, forward) {
  const e = from.pop();
  if (!e) return;
  state.points = applyDiff(state.points, forward ? e.d : inverse(e.d));
  if (e.accepted) {   // the accepted proposals come back with an undo, with their confidence, and only they
    const taken = new Set(e.accepted.map((q) => q.point));
    state.proposalPool = state.proposalPool.filter((q) => !taken.has(q.point));
    if (!forward) state.proposalPool.push(...e.accepted);
    showProposals();   // as the threshold shows them; what X rejected stays rejected
  }
  to.push(e);
  changed();
}
function undo() { step(state.undo, state.redo, false); }
function redo() { step(state.redo, state.undo, true); }

// ---------- the undo history across a reload of this tab ----------
// kept in sessionStorage (this tab's, as the history is), each step naming its heads by their saved ids so
// that the reloaded page finds them. A step with a head not saved yet ends what is kept: the older steps
// build on it. The review the history was made under goes with it: undo never crosses a review.
const HISTORY_KEY = "headcount-undo";
function storedStep(e, maps) {
  const heads = [...e.d.added, ...e.d.removed, ...e.d.moved.flat()];
  const ids = heads.map((p) => maps.byUid.get(p[2]));
  if (ids.includes(undefined)) return null;
  let k = 0;
  const next = () => { const p = heads[k]; return [p[0], p[1], ids[k++]]; };
  const d = { added: e.d.added.map(next), removed: e.d.removed.map(next), moved: e.d.moved.map(() => [next(), next()]) };
  return { d, accepted: e.accepted };
}
function keptSteps(list, maps) {
  const out = [];
  for (let i = list.length - 1; i >= 0; i--) {
    const s = storedStep(list[i], maps);
    if (!s) break;
    out.unshift(s);
  }
  return out;
}
function storeHistory() {
  if (state.id) state.histories[state.id] = { undo: state.undo, redo: state.redo };
  const out = {};
  for (const [id, h] of Object.entries(state.histories)) {
    const maps = state.idMapsById[id];
    if (maps && (h.undo.length || h.redo.length)) {
      out[id] = { undo: keptSteps(h.undo, maps), redo: keptSteps(h.redo, maps), review: state.reviewKeys[id] };
    }
  }
  try { sessionStorage.setItem(HISTORY_KEY, JSON.stringify(out)); } catch (err) { /* over the quota: this page only */ }
}
// the stored history of image `id` (null: none, or made under another review than the one shown now)
function restoredHistory(id, maps) {
  let h;
  try { h = JSON.parse(sessionStorage.getItem(HISTORY_KEY) || "{}")[id]; } catch (err) { return null; }
  if (!h || h.review !== state.reviewKeys[id]) return null;
  const dec = (p) => [p[0], p[1], uidFor(maps, p[2])];
  const step = (s) => ({ d: { added: s.d.added.map(dec), removed: s.d.removed.map(dec),
                              moved: s.d.moved.map(([a, b]) => [dec(a), dec(b)]) }, accepted: s.accepted });
  return { undo: h.undo.map(step), redo: h.redo.map(step) };
}
window.addEventListener("pagehide", storeHistory);

function addPoint(x, y) {
  const p = head(x, y);
  edit(() => state.points.push(p));
  return p;
}
function deletePoint(i) {
  if (i < 0) return;
  if (state.points[i] === state.selected) state.selected = null;
  edit(() => state.points.splice(i, 1));
}
function acceptProposal(i) { acceptProposals([state.proposals[i]]); }
// A (or the button) accepts what is shown; over CONFIRM_ACCEPT at once it asks first (one undo step still
// takes them all back, but a stray key should not add hundreds of heads unseen)
const CONFIRM_ACCEPT = 50;
function acceptAll() {
  const n = state.proposals.length;
  if (!n) return;
  if (n > CONFIRM_ACCEPT && !window.confirm(`Accept all ${n} proposals shown as heads? (Ctrl+Z takes them back)`)) return;
  acceptProposals(state.proposals);
}
// accepted proposals become heads in one edit (one undo step); they leave the pool the threshold shows
function acceptProposals(picked) {
  const taken = new Set(picked);
  const accepted = state.proposalPool.filter((q) => taken.has(q.point));
  edit(() => {
    state.points.push(...picked.map((p) => head(p[0], p[1])));
    state.proposalPool = state.proposalPool.filter((q) => !taken.has(q.point));
    state.proposals = state.proposals.filter((p) => !taken.has(p));
  }, accepted);
}
// rejecting is not an edit: nothing to save, no undo step
function rejectAll() {
  if (!state.proposals.length) return;
  const visible = new Set(state.proposals);
  state.proposalPool = state.proposalPool.filter((q) => !visible.has(q.point));
  state.proposals = [];
  requestDraw();
}

function updateCount() {
  $("count").textContent = state.points.length;
  const item = state.images[state.index];
  if (item) { item.count = state.points.length; updateListItem(state.index); }
}

// ---------- saving ----------
function setStatus(s, text) { const el = $("status"); el.className = s; el.textContent = text || s; }
// info (merges, hints) is a quiet note at the foot of the image; an error is the red banner on top
function showMessage(text, kind = "info") {
  const m = $("message");
  m.textContent = text; m.hidden = false; m.className = kind;
  clearTimeout(showMessage.timer);
  showMessage.timer = setTimeout(() => { m.hidden = true; }, 5000);
}

// every request says who this tab is (its link's ?user=NAME) where a loopback server has named users
function api(path, options = {}) {
  const headers = Object.assign({ "X-Headcount": "1" }, state.user ? { "X-Headcount-User": state.user } : {},
    options.headers || {});
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
    const id = state.id, version = state.version, startedAt = metrics.editAt, maps = state.maps;
    const sent = docOf();
    const changes = changesBetween(state.base, sent);
    const body = JSON.stringify(editBody(state.revision, changes, maps));
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
      await idle();   // a merge lands after the drag in progress, on top of it
      if (id !== state.id) return;
      state.revision = data.revision;
      state.savedVersion = version;
      metrics.lastSaveMs = performance.now() - startedAt;
      // the heads this save added are the server's now: their uids get the ids it gave them
      changes.heads.added.forEach((p, i) => assignId(maps, p[2], data.added_ids[i]));
      const conflicts = describeConflicts(data.conflicts || []);
      if (data.merged) {
        // other tabs saved since our base: what is saved now holds their edits and ours; edits made here
        // while the request was out go on top
        const server = docFromServer(data, maps);
        const foreign = diff(sent.points, server.points);   // saved = theirs + ours: minus ours is theirs
        state.base = server;
        showDoc(applyChanges(server, changesBetween(sent, docOf())));
        showMessage(conflicts ? `Merged with edits saved elsewhere (${describe(foreign)}): ${conflicts}.`
          : `Merged with edits saved elsewhere (${describe(foreign)}); nothing of yours or theirs was lost.`);
      } else {
        state.base = sent;
        // an edit of an accepted image sends it back to review: take the server's status and note
        if (data.status !== sent.status) await pull(undefined, true);
      }
      const item = state.images[state.index];
      if (item) { item.revision = data.revision; delete item.error; updateListItem(state.index); }
      if (state.showDensity) loadDensity(150);
      loadSecond();
    } else if (resp.status === 409) {
      // the saved file is older than our base (restored from a backup?): put our changes on top of it
      await pull(`The saved file of this image went back to an older revision; your changes are kept on top.`, true);
    } else {
      const err = await resp.json().catch(() => ({}));
      setStatus("error", "not saved");
      showMessage("Not saved: " + (err.error || resp.status), "error");
      return;
    }
  }
  setStatus("saved");
}

// resolves when no head is being dragged (at once when none is)
function idle() {
  return state.dragging ? new Promise((resolve) => state.dragWaiters.push(resolve)) : Promise.resolve();
}
function dragEnded() {
  state.dragging = false;
  for (const resolve of state.dragWaiters.splice(0)) resolve();
}

// take what the server has now, keeping this tab's unsaved changes on top of it
async function pull(message, forSave = false) {
  const id = state.id;
  const data = await (await fetch(`/api/images/${encodeURIComponent(id)}/points`)).json();
  await idle();   // nothing replaces the list under a drag; nothing runs between here and showDoc
  if (id !== state.id) return null;
  // a save sent meanwhile (a drop held this pull back) answers with the merge itself: taking this older
  // copy too would apply the other tab's edits twice
  if (state.saving && !forSave) return null;
  const server = docFromServer(data, state.maps);
  const mine = changesBetween(state.base, docOf());
  const foreign = diff(state.base.points, server.points);
  state.base = server;
  state.revision = data.revision;
  showDoc(applyChanges(server, mine));
  renderReview(data.review, state.status);
  loadSecond();
  if (message) showMessage(message.replace("{foreign}", describe(foreign)));
  if (state.showDensity) loadDensity(150);
  return data;
}

// ---------- a second annotator (--compare): its heads of this image, and what matches none ----------
async function loadSecond() {
  if (!state.compare || !state.look.second || !state.id) return;
  const id = state.id, maps = state.maps;
  const resp = await fetch(`/api/images/${encodeURIComponent(id)}/compare`);
  if (!resp.ok || id !== state.id) return;
  const data = await resp.json();
  const mineUnmatched = new Set(data.mine_unmatched_ids.map((i) => maps.byId.get(i)).filter((u) => u !== undefined));
  state.second = { id, points: data.points, unmatched: data.unmatched, mineUnmatched };
  const theirs = data.unmatched.filter(Boolean).length;
  const info = $("compare-info");
  info.hidden = false;
  info.textContent = `${state.compare.name}: ${data.points.length} heads; unmatched: ${mineUnmatched.size} of yours, ` +
    `${theirs} of theirs`;
  requestDraw();
}

// ---------- loading ----------
async function loadPoints() {
  const resp = await fetch(`/api/images/${encodeURIComponent(state.id)}/points`);
  const data = await resp.json();
  state.revision = data.revision;
  state.base = docFromServer(data, state.maps);
  state.gridSeed = data.points.slice();   // sizes the default tile grid of this image (view.js defaultGrid)
  showDoc({ ...state.base, points: state.base.points.slice() });
  renderReview(data.review, state.status);
  state.version = state.savedVersion = 0;
  setStatus("saved");
  if (data.error) {
    setStatus("error", "broken point file");
    showMessage(`${data.error}. Annotate it afresh: the first save keeps the broken file aside as a backup.`, "error");
  }
}

async function openImage(index) {
  if (index < 0 || index >= state.images.length) return;
  if (state.saving) await state.saving;
  const item = state.images[index];
  if (state.id) {  // kept for when this image comes back
    state.proposalsById[state.id] = { shown: state.proposals, pool: state.proposalPool };
    state.histories[state.id] = { undo: state.undo, redo: state.redo };
  }
  const previous = state.index;
  state.index = index; state.id = item.id;
  state.width = item.width; state.height = item.height;
  ({ shown: state.proposals, pool: state.proposalPool } = state.proposalsById[item.id] || { shown: [], pool: [] });
  ({ undo: state.undo, redo: state.redo } = state.histories[item.id] || { undo: [], redo: [] });
  state.maps = state.idMapsById[item.id] || (state.idMapsById[item.id] = idMaps());   // kept with the undo history
  state.density = null; state.hover = -1; state.selected = null;
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
                `${item.width}x${item.height} pixels; not annotating it (clicks would land in the wrong place)`, "error");
    return;
  }
  state.img = img;
  buildMips(img);
  await loadPoints();
  if (!(item.id in state.histories) && !state.undo.length && !state.redo.length) {
    const h = restoredHistory(item.id, state.maps);   // a reload of this tab: its history comes back
    if (h) ({ undo: state.undo, redo: state.redo } = h);
  }
  fit();
  if (state.showDensity) loadDensity();
  state.second = null;
  $("compare-info").hidden = true;
  loadSecond();
  window.headcount.loadedId = item.id;
  window.headcount.ready = true;
  if (metrics.readyMs === null) metrics.readyMs = performance.now();
}

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

$("accept").onclick = () => review("accepted");
$("reject").onclick = () => review("rejected");
$("review-comment").addEventListener("keydown", (ev) => { if (ev.key === "Escape") ev.target.blur(); });

export { acceptProposals, rejectAll, loadSecond, renderReview, review, dragEnded, idle, acceptAll, acceptProposal, addPoint, api, changed, deletePoint, docOf, edit, loadListing, loadPoints, openImage, poll, pollOnce, polling, pull, record, redo, refreshHover, save, saveLoop, setStatus, showDoc, showMessage, step, undo, updateCount };
