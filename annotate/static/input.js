// Mouse, touch and keys.
import { nextTile, nextUnfinished, setImageStatus, setLocked, setLook, toggleDensity, toggleHelp, toggleTile } from "./panels.js";
import { movedTo } from "./merge.js";
import { $, DRAG_THRESHOLD, canvas, state } from "./state.js";
import { acceptAll, acceptProposal, acceptProposals, addPoint, deletePoint, dragEnded, edit, openImage, record, redo, rejectAll, undo } from "./sync.js";
import { clampToImage, denseView, eventPos, fit, headAt, minimapJump, imageToScreen, insideImage, markerRadius, nearest, requestDraw, screenToImage, updateZoomLabel, zoomAt, zoomCenter } from "./view.js";

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
  const p = movedTo(state.selected, ...clampToImage(state.selected[0] + dx * d, state.selected[1] + dy * d));
  edit(() => { state.points[i] = p; });
  state.selected = p;
  requestDraw();
}

// arrows without a selected head move the view: 60 screen px (Shift: a third of the canvas)
function panBy(dx, dy, big) {
  const px = big ? Math.min(canvas.clientWidth, canvas.clientHeight) / 3 : 60;
  state.view.ox -= dx * px;
  state.view.oy -= dy * px;
  requestDraw();
}

// ---------- mouse ----------
let drag = null;       // {mode: "pending" | "pan" | "move", ...}
let spaceDown = false;

canvas.addEventListener("mousedown", (ev) => {
  if (!state.img || ev.button === 2) return;
  const [sx, sy] = eventPos(ev);
  if (ev.button === 0 && minimapJump(sx, sy)) return;   // the minimap (zoomed in): go there
  // a box: accept the proposals in it, or delete the heads in it. Armed by a Box button or B / Shift+B (one
  // box each time), or Alt+drag (Alt+Shift: delete), which window managers may take for themselves
  if (ev.button === 0 && (ev.altKey || state.boxArmed)) {
    const [x, y] = clampToImage(...screenToImage(sx, sy));
    state.box = [x, y, x, y];
    state.box.deleting = state.boxArmed ? state.boxArmed === "delete" : ev.shiftKey;
    armBox(null);
    drag = { mode: "box" };
    ev.preventDefault();
    return;
  }
  // the middle button, Space and "lock heads" only pan; Shift+click adds even on top of a head
  const panOnly = ev.button === 1 || spaceDown || state.locked;
  const hit = panOnly || ev.shiftKey ? -1 : headAt(sx, sy);
  if (ev.button === 1) ev.preventDefault();
  // in a dense view a drag pans unless it starts on the selected head: grab zones cover most of the image
  if (hit >= 0 && (!denseView() || state.points[hit] === state.selected)) {
    drag = { mode: "move", index: hit, before: state.points.slice(), moved: false, sx, sy,
             selected: state.points[hit] === state.selected };
    state.dragging = true;
  } else {
    const add = ev.button === 0 && !spaceDown, beside = ev.shiftKey || state.locked;
    drag = { mode: ev.button === 1 || spaceDown ? "pan" : "pending", add, beside, sx, sy, head: hit,
             ox: state.view.ox, oy: state.view.oy };
    if (drag.mode === "pan") canvas.classList.add("panning");
  }
});

window.addEventListener("mousemove", (ev) => {
  if (!state.img) return;
  const [sx, sy] = eventPos(ev);
  const over = sx >= 0 && sy >= 0 && sx < canvas.clientWidth && sy < canvas.clientHeight;
  state.mouse = over ? [sx, sy] : null;   // T and I act at the cursor only when it is over the image view
  const [ix, iy] = screenToImage(sx, sy);
  $("cursor").textContent = insideImage(ix, iy) ? `x ${ix.toFixed(1)}  y ${iy.toFixed(1)}` : "";
  if (state.look.loupe) requestDraw();
  if (!drag) {
    const h = headAt(sx, sy);
    if (h !== state.hover) { state.hover = h; canvas.classList.toggle("over-point", h >= 0); requestDraw(); }
    return;
  }
  if (drag.mode === "box") {
    [state.box[2], state.box[3]] = clampToImage(ix, iy);
    requestDraw();
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
    state.points[drag.index] = movedTo(state.points[drag.index], ...clampToImage(ix, iy));
    requestDraw();
  }
});

window.addEventListener("mouseup", () => {
  if (!drag) return;
  const d = drag;
  drag = null;
  canvas.classList.remove("panning");
  if (d.mode === "box") { boxDone(); return; }
  if (d.mode === "move" && d.moved) {
    if (d.selected) state.selected = state.points[d.index];   // a moved selection stays selected
    record(d.before);
  } else if (d.mode === "move" && onMarker(d)) {
    select(state.points[d.index]);   // a click on a head's marker selects it (arrows nudge it)
  } else if (d.mode === "move") {
    click(d.sx, d.sy, true);   // beside the marker, in its grab zone: a neighbour in a dense crowd, added
  } else if (d.mode === "pending" && d.add && d.head >= 0 && onMarker({ index: d.head, sx: d.sx, sy: d.sy })) {
    select(state.points[d.head]);   // dense view: a click on a marker selects it; then a drag moves it
  } else if (d.mode === "pending" && d.add) {
    click(d.sx, d.sy, d.beside || d.head >= 0);
  }
  if (d.mode === "move") dragEnded();   // after the move is recorded: updates held back land on top of it
});

// the next left-drag draws a box: "accept" (proposals) or "delete" (heads); null disarms
function armBox(kind) {
  state.boxArmed = kind;
  $("box-accept").setAttribute("aria-pressed", String(kind === "accept"));
  $("box-delete").setAttribute("aria-pressed", String(kind === "delete"));
  canvas.classList.toggle("boxing", kind !== null);
}
$("box-accept").onclick = (ev) => { armBox(state.boxArmed === "accept" ? null : "accept"); ev.target.blur(); };
$("box-delete").onclick = (ev) => { armBox(state.boxArmed === "delete" ? null : "delete"); ev.target.blur(); };

// the box tool's release: one edit (one undo step) for every head or proposal in it
function boxDone() {
  const b = state.box;
  state.box = null;
  requestDraw();
  if (!b) return;
  const [x0, x1] = [Math.min(b[0], b[2]), Math.max(b[0], b[2])], [y0, y1] = [Math.min(b[1], b[3]), Math.max(b[1], b[3])];
  const inside = (p) => p[0] >= x0 && p[0] <= x1 && p[1] >= y0 && p[1] <= y1;
  if (b.deleting) {
    if (state.points.some(inside)) edit(() => { state.points = state.points.filter((p) => !inside(p)); });
  } else {
    const picked = state.proposals.filter(inside);
    if (picked.length) acceptProposals(picked);
  }
}

// a press on the drawn marker itself, not just within the (larger) grab zone around it
function onMarker(d) {
  const [x, y] = imageToScreen(...state.points[d.index]);
  return Math.hypot(d.sx - x, d.sy - y) <= markerRadius();
}

function click(sx, sy, beside) {
  const [ix, iy] = screenToImage(sx, sy);
  const p = beside ? -1 : nearest(state.proposals, sx, sy);
  if (p >= 0) acceptProposal(p);
  else if (insideImage(ix, iy)) { addPoint(ix, iy); state.selected = null; }
}

canvas.addEventListener("contextmenu", (ev) => {
  ev.preventDefault();
  const [sx, sy] = eventPos(ev);
  const hit = headAt(sx, sy);
  if (hit >= 0) deletePoint(hit);
  else {
    const p = nearest(state.proposals, sx, sy);
    if (p >= 0) { state.proposals = state.proposals.filter((_, j) => j !== p); requestDraw(); }   // not an edit
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

const ARROWS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
window.addEventListener("keydown", (ev) => {
  const t = ev.target;
  // typing goes to text fields and menus; a slider, checkbox or button keeps no keys (after a slider was
  // dragged, H and + still work and arrows do what they do on the canvas)
  if ((t.tagName === "INPUT" && !["checkbox", "range"].includes(t.type)) || t.tagName === "SELECT") return;
  if (t.tagName === "BUTTON" && ev.key === "Enter") return;   // the button's own action
  if (ev.key === " " && t !== document.body && t !== canvas) t.blur();   // Space pans; it never presses a button
  const k = ev.key, mod = ev.ctrlKey || ev.metaKey;
  if (mod && (k === "z" || k === "Z")) { ev.preventDefault(); ev.shiftKey ? redo() : undo(); return; }
  if (mod && (k === "y" || k === "Y")) { ev.preventDefault(); redo(); return; }
  if (mod || ev.altKey) return;
  if (ARROWS[k] && state.selected) nudge(...ARROWS[k], ev.shiftKey);
  else if (ARROWS[k]) panBy(...ARROWS[k], ev.shiftKey);
  else if (k === " ") { spaceDown = true; ev.preventDefault(); }
  else if (k === "+" || k === "=") zoomCenter(1.25);
  else if (k === "-" || k === "_") zoomCenter(0.8);
  else if (k === "0") fit();
  else if (k === "Delete" || k === "Backspace") {   // the selected head; without one, the head under the cursor
    if (state.selected && state.points.includes(state.selected)) deletePoint(state.points.indexOf(state.selected));
    else if (state.hover >= 0) deletePoint(state.hover);
  }
  else if (k === "i" || k === "I") addAtCursor();
  else if (k === "]") selectStep(1);
  else if (k === "[") selectStep(-1);
  else if (k === "n" || k === "N") openImage(state.index + 1);
  else if (k === "p" || k === "P") openImage(state.index - 1);
  else if (k === "Enter") { if (state.status !== "reviewed") setImageStatus("done"); nextUnfinished(); }
  else if (k === "u" || k === "U") nextUnfinished();
  else if (k === "h" || k === "H") setLook("markers", !state.look.markers);
  else if (k === "g" || k === "G") setLook("grid", !state.look.grid);
  else if ((k === "o" || k === "O") && state.compare) setLook("second", !state.look.second);
  else if (k === "t" || k === "T") toggleTile();
  else if (k === "j" || k === "J") nextTile();
  else if (k === "l" || k === "L") setLocked(!state.locked);
  else if (k === "d" || k === "D") toggleDensity(!state.showDensity);
  else if ((k === "a" || k === "A") && state.proposalsEnabled) acceptAll();
  else if ((k === "x" || k === "X") && state.proposalsEnabled) rejectAll();
  else if (k === "m" || k === "M") setLook("loupe", !state.look.loupe);
  else if (k === "?") toggleHelp();
  else if (k === "b" && state.proposalsEnabled) armBox(state.boxArmed === "accept" ? null : "accept");
  else if (k === "B") armBox(state.boxArmed === "delete" ? null : "delete");
  else if (k === "Escape") { toggleHelp(false); select(null); armBox(null); }
  else return;
  ev.preventDefault();
});
window.addEventListener("keyup", (ev) => { if (ev.key === " ") spaceDown = false; });
window.addEventListener("resize", () => requestDraw());
window.addEventListener("beforeunload", (ev) => {
  if (state.version !== state.savedVersion) { ev.preventDefault(); ev.returnValue = ""; }
});

export { ARROWS, addAtCursor, click, drag, nudge, select, selectStep, spaceDown, touchEnd, touchGesture, touches };
