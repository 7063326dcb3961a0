// The view: image and screen coordinates, hit-testing, the tile grid, drawing, zoom and fit.
import { $, HIT_RADIUS, MARKER_COLORS, TILE_HEADS, TILE_PX, canvas, ctx, metrics, state } from "./state.js";

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

// a marker's radius follows the zoom, and stays under about a third of the heads' spacing on screen: on a
// photo of thousands of heads at Fit the markers are dots between which the crowd still shows
function markerRadius() {
  const zoomed = Math.min(6, 2 + state.view.scale * 2), spaced = SPACING_SHARE * headSpacing() * state.view.scale;
  return Math.max(1, Math.min(zoomed, spaced) * state.look.size);
}
const SPACING_SHARE = 0.35;
// the median distance from a head to its nearest neighbour, in image px, from up to SPACING_SAMPLE heads
// (a grid of cells about twice the mean spacing finds each one's neighbours); Infinity under two heads.
// Computed again only when the heads change
const SPACING_SAMPLE = 400;
// the points of `points` bucketed in square cells of `cell` image px: `around(x, y)` gives the indices of
// those in the 3x3 cells about (x, y), every point within `cell` of it among them (dense photos: thousands)
function buckets(points, cell) {
  const grid = new Map(), at = (gx, gy) => gx * 1048576 + gy;
  points.forEach((p, i) => {
    const k = at(Math.floor(p[0] / cell), Math.floor(p[1] / cell));
    if (!grid.has(k)) grid.set(k, []);
    grid.get(k).push(i);
  });
  return (x, y) => {
    const gx = Math.floor(x / cell), gy = Math.floor(y / cell), out = [];
    for (let dx = -1; dx <= 1; dx++) for (let dy = -1; dy <= 1; dy++) out.push(...(grid.get(at(gx + dx, gy + dy)) || []));
    return out;
  };
}
let spacingKey = null, spacingValue = Infinity;
function headSpacing() {
  const pts = state.points, key = `${state.id}:${state.version}:${pts.length}`;
  if (key === spacingKey) return spacingValue;
  spacingKey = key;
  spacingValue = Infinity;
  if (pts.length < 2 || !state.width) return spacingValue;
  const around = buckets(pts, Math.max(1, 2 * Math.sqrt((state.width * state.height) / pts.length)));
  const every = Math.max(1, Math.floor(pts.length / SPACING_SAMPLE)), found = [];
  for (let i = 0; i < pts.length; i += every) {
    let best = Infinity;
    for (const j of around(...pts[i])) {
      if (j !== i) best = Math.min(best, Math.hypot(pts[j][0] - pts[i][0], pts[j][1] - pts[i][1]));
    }
    if (best < Infinity) found.push(best);
  }
  if (found.length) { found.sort((a, b) => a - b); spacingValue = Math.max(0.5, found[found.length >> 1]); }
  return spacingValue;
}
// where heads stand closer on screen than three grab radii, grab zones cover most of the view: a drag
// then pans, and moves a head only once that head is selected (a click on its marker selects it)
function denseView() { return headSpacing() * state.view.scale < 3 * hitRadius(); }
// the grab radius follows the marker: small markers leave the space between dense heads clickable
function hitRadius() { return Math.min(HIT_RADIUS, markerRadius() + 2); }
// the annotated head under a screen point; hidden heads (H) are not there to grab
function headAt(sx, sy) { return state.look.markers ? nearest(state.points, sx, sy) : -1; }
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
// tiles of about TILE_PX image px, and more where the crowd is dense: about TILE_HEADS heads a tile, nearly
// square, 2..16 a side; then split further until the densest tile holds at most 1.5 x TILE_HEADS (a crowd is
// denser far from the camera: a grid by the mean left 300 heads in the top tiles and 50 in the bottom ones).
// The heads are those of when the image opened, or the model's proposals on an image with none yet, so the
// grid does not shift while heads are added
function defaultGrid() {
  const clamp = (n) => Math.min(16, Math.max(2, n));
  const seed = state.gridSeed || [];
  let cols = clamp(Math.round(state.width / TILE_PX)), rows = clamp(Math.round(state.height / TILE_PX));
  const wanted = Math.ceil(seed.length / TILE_HEADS);
  if (wanted > cols * rows) {
    cols = clamp(Math.round(Math.sqrt(wanted * state.width / state.height)));
    rows = clamp(Math.ceil(wanted / cols));
  }
  const densest = (c, r) => {
    const n = new Map();
    let top = 0;
    for (const p of seed) {
      const k = Math.min(r - 1, Math.floor(p[1] * r / state.height)) * c + Math.min(c - 1, Math.floor(p[0] * c / state.width));
      n.set(k, (n.get(k) || 0) + 1);
      top = Math.max(top, n.get(k));
    }
    return top;
  };
  while (densest(cols, rows) > 1.5 * TILE_HEADS && (cols < 16 || rows < 16)) {
    // split across the longer side of a tile
    if ((rows >= 16 || state.width / cols >= state.height / rows) && cols < 16) cols++;
    else rows++;
  }
  return { cols, rows, done: new Set() };
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

// ---------- a large photo drawn small: from a copy near the size shown ----------
// Scaling a 6000x4000 photo down to the window every frame is what kept the page at 30 fps without a GPU
// (the drawing script took 8 ms of 33); halved copies, made once per image in the background, make it 60.
const MIP_MIN_PX = 512;   // no copies of images this small or smaller
function buildMips(img) {
  const mips = [];
  for (let w = img.naturalWidth >> 1, h = img.naturalHeight >> 1; Math.min(w, h) >= MIP_MIN_PX / 2 && w >= MIP_MIN_PX;
       w >>= 1, h >>= 1) mips.push([w, h]);
  state.mips = [];
  const forImg = img;
  (async () => {
    for (const [w, h] of mips) {
      const bitmap = await createImageBitmap(forImg, { resizeWidth: w, resizeHeight: h, resizeQuality: "high" });
      if (state.img !== forImg) { bitmap.close(); return; }
      state.mips.push(bitmap);   // largest first
    }
    requestDraw();
  })();
}
// the smallest copy at least as wide as it is shown (the photo itself when zoomed in)
function imageFor(shownWidth) {
  let best = state.img;
  for (const m of state.mips || []) if (m.width >= shownWidth) best = m;
  return best;
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
  ctx.drawImage(imageFor(state.width * v.scale), v.ox, v.oy, state.width * v.scale, state.height * v.scale);
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
  ctx.fillStyle = `rgba(${MARKER_COLORS[L.color] || MARKER_COLORS.red}, ${L.opacity})`;
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
  if (L.second && state.second && state.second.id === state.id) drawSecond(r);
  const ring = (p, color, width = 2) => {
    const [x, y] = imageToScreen(...p);
    ctx.beginPath();
    ctx.arc(x, y, r + 3, 0, 2 * Math.PI);
    ctx.lineWidth = width;
    ctx.strokeStyle = color;
    ctx.stroke();
  };
  if (state.selected) {  // a selection must be seen at a glance in a dense crowd: a dark halo and a bright ring
    ring(state.selected, "rgba(0, 0, 0, 0.8)", 5);
    ring(state.selected, "#4fc3f7", 3);
  }
  if (L.markers && state.hover >= 0 && state.hover < state.points.length) ring(state.points[state.hover], "#ffeb3b");
  if (state.box) drawBox();
  if (L.loupe && state.mouse) drawLoupe(r);
  drawMinimap();
  metrics.renderMs = performance.now() - t0;
}

// Alt+drag: the box whose proposals are accepted (Alt+Shift: whose heads are deleted) on release
function drawBox() {
  const [x0, y0, x1, y1] = state.box, v = state.view;
  ctx.setLineDash([5, 3]);
  ctx.lineWidth = 1.5;
  ctx.strokeStyle = state.box.deleting ? "rgba(255, 90, 90, 0.95)" : "rgba(0, 230, 255, 0.95)";
  ctx.strokeRect(v.ox + Math.min(x0, x1) * v.scale, v.oy + Math.min(y0, y1) * v.scale,
                 Math.abs(x1 - x0) * v.scale, Math.abs(y1 - y0) * v.scale);
  ctx.setLineDash([]);
}
// M: a magnifier beside the cursor, LOUPE_ZOOM times the view's zoom, with the heads in it
const LOUPE_PX = 160, LOUPE_ZOOM = 4;
function loupeRect() {
  const [mx, my] = state.mouse, W = canvas.clientWidth;
  const cx = mx + LOUPE_PX / 2 + 24 > W ? mx - LOUPE_PX / 2 - 24 : mx + LOUPE_PX / 2 + 24;
  return [cx, Math.max(LOUPE_PX / 2 + 4, my - LOUPE_PX / 2 - 24)];
}
function drawLoupe(r) {
  const v = state.view, [mx, my] = state.mouse, [cx, cy] = loupeRect();
  const s = v.scale * LOUPE_ZOOM, [ix, iy] = screenToImage(mx, my);
  ctx.save();
  ctx.beginPath();
  ctx.arc(cx, cy, LOUPE_PX / 2, 0, 2 * Math.PI);
  ctx.clip();
  ctx.fillStyle = "#111";
  ctx.fillRect(cx - LOUPE_PX / 2, cy - LOUPE_PX / 2, LOUPE_PX, LOUPE_PX);
  ctx.imageSmoothingEnabled = false;
  ctx.filter = imageFilter();
  ctx.drawImage(state.img, cx - ix * s, cy - iy * s, state.width * s, state.height * s);
  ctx.filter = "none";
  ctx.beginPath();
  const reach = LOUPE_PX / 2 / s;
  for (const p of state.look.markers ? state.points : []) {
    if (Math.abs(p[0] - ix) > reach || Math.abs(p[1] - iy) > reach) continue;
    const x = cx + (p[0] - ix) * s, y = cy + (p[1] - iy) * s;
    ctx.moveTo(x + r * 1.5, y);
    ctx.arc(x, y, r * 1.5, 0, 2 * Math.PI);
  }
  ctx.fillStyle = `rgba(${MARKER_COLORS[state.look.color] || MARKER_COLORS.red}, ${state.look.opacity})`;
  ctx.fill();
  ctx.restore();
  ctx.beginPath();
  ctx.arc(cx, cy, LOUPE_PX / 2, 0, 2 * Math.PI);
  ctx.lineWidth = 2;
  ctx.strokeStyle = "#fff";
  ctx.stroke();
}
// zoomed in: a minimap of the whole image in the corner, with the tiles done and the part in view
const MINIMAP_PX = 180;
function minimapRect() {
  const W = canvas.clientWidth, H = canvas.clientHeight;
  const s = MINIMAP_PX / Math.max(state.width, state.height);
  const w = state.width * s, h = state.height * s;
  return { x: W - w - 10, y: H - h - 10, w, h, s };
}
function minimapShown() {
  const v = state.view, W = canvas.clientWidth, H = canvas.clientHeight;
  return state.img && (v.ox < -1 || v.oy < -1 || v.ox + state.width * v.scale > W + 1 || v.oy + state.height * v.scale > H + 1);
}
function drawMinimap() {
  if (!minimapShown()) return;
  const m = minimapRect(), v = state.view;
  ctx.globalAlpha = 0.85;
  ctx.drawImage(imageFor(m.w), m.x, m.y, m.w, m.h);
  ctx.globalAlpha = 1;
  if (state.look.grid || state.tiles) {
    const g = grid();
    ctx.fillStyle = "rgba(60, 200, 90, 0.45)";
    for (const i of g.done) {
      const [x, y, w, h] = tileRect(i);
      ctx.fillRect(m.x + x * m.s, m.y + y * m.s, w * m.s, h * m.s);
    }
  }
  const W = canvas.clientWidth, H = canvas.clientHeight;
  const x0 = Math.max(0, -v.ox / v.scale), y0 = Math.max(0, -v.oy / v.scale);
  const x1 = Math.min(state.width, (W - v.ox) / v.scale), y1 = Math.min(state.height, (H - v.oy) / v.scale);
  ctx.lineWidth = 2;
  ctx.strokeStyle = "#ffeb3b";
  ctx.strokeRect(m.x + x0 * m.s, m.y + y0 * m.s, (x1 - x0) * m.s, (y1 - y0) * m.s);
  ctx.lineWidth = 1;
  ctx.strokeStyle = "#000";
  ctx.strokeRect(m.x, m.y, m.w, m.h);
}
// a click on the minimap centres the view there: true when (sx, sy) was on it
function minimapJump(sx, sy) {
  if (!minimapShown()) return false;
  const m = minimapRect();
  if (sx < m.x || sy < m.y || sx > m.x + m.w || sy > m.y + m.h) return false;
  const W = canvas.clientWidth, H = canvas.clientHeight, v = state.view;
  state.view = { scale: v.scale, ox: W / 2 - (sx - m.x) / m.s * v.scale, oy: H / 2 - (sy - m.y) / m.s * v.scale };
  requestDraw();
  return true;
}

// the second annotator (--compare): its heads as cyan squares, those that match none of yours filled orange,
// and your heads that match none of its ringed orange: what is left to settle
function drawSecond(r) {
  const v = state.view, s = state.second, side = Math.max(3, r + 1);
  const square = (path, p) => path.rect(v.ox + p[0] * v.scale - side, v.oy + p[1] * v.scale - side, 2 * side, 2 * side);
  ctx.beginPath();
  s.points.forEach((p, i) => { if (!s.unmatched[i]) square(ctx, p); });
  ctx.lineWidth = 1.5;
  ctx.strokeStyle = "rgba(0, 230, 255, 0.9)";
  ctx.stroke();
  ctx.beginPath();
  s.points.forEach((p, i) => { if (s.unmatched[i]) square(ctx, p); });
  ctx.fillStyle = "rgba(255, 150, 0, 0.85)";
  ctx.fill();
  ctx.beginPath();
  for (const p of state.points) {
    if (!s.mineUnmatched.has(p[2])) continue;
    const x = v.ox + p[0] * v.scale, y = v.oy + p[1] * v.scale;
    ctx.moveTo(x + r + 3, y);
    ctx.arc(x, y, r + 3, 0, 2 * Math.PI);
  }
  ctx.lineWidth = 2.5;
  ctx.strokeStyle = "rgba(255, 150, 0, 0.95)";
  ctx.stroke();
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
  ctx.lineWidth = 3;   // a dark line under a light one: seen on bright and dark crowds alike
  ctx.strokeStyle = "rgba(0, 0, 0, 0.6)";
  ctx.stroke();
  ctx.lineWidth = 1.5;
  ctx.strokeStyle = "rgba(255, 255, 255, 0.9)";
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

export { buckets, denseView, headSpacing, buildMips, imageFor, minimapJump, minimapShown, headAt, clampToImage, defaultGrid, draw, drawGrid, eventPos, fit, frameRequested, grid, hitRadius, imageFilter, imageToScreen, insideImage, markerRadius, nearest, requestDraw, resizeCanvas, screenToImage, showRect, tileAt, tileRect, updateZoomLabel, zoomAt, zoomCenter };
