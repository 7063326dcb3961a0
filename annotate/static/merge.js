// What changed between two versions of an image, and applying it: the page's one merge (the server's
// merge in annotate/catalog.py stays the authority; tests/test_annotate_browser.py checks the two agree).

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
const plural = (n, what) => `${n} ${what}${n === 1 ? "" : "s"}`;
function describe(d) {
  return [d.added.length && `+${plural(d.added.length, "head")}`, d.removed.length && `−${plural(d.removed.length, "head")}`]
    .filter(Boolean).join(", ") || "no heads";
}

export { applyChanges, applyDiff, changesBetween, describe, diff, docFromServer, key, plural, sameGrid };
