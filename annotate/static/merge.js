// What changed between two versions of an image, and applying it: the page's one merge (the server's
// merge in annotate/catalog.py stays the authority; tests/test_annotate_browser.py checks the two agree).
//
// A head is [x, y, uid]. The uid is this tab's identity of the head: a move makes a new array with the same
// uid, so a move is a move, never a delete plus an add. The server gives heads ids (point file version 4);
// `maps` ties them to uids per image, so a head keeps its uid across pulls and merges (and undo finds it).
// A head this tab added and has not saved yet has a uid and no id.

let nextUid = 1;
const head = (x, y) => [x, y, nextUid++];
const movedTo = (p, x, y) => [x, y, p[2]];
const idMaps = () => ({ byUid: new Map(), byId: new Map() });
function uidFor(maps, id) {
  let uid = maps.byId.get(id);
  if (uid === undefined) { uid = nextUid++; assignId(maps, uid, id); }
  return uid;
}
function assignId(maps, uid, id) { maps.byUid.set(uid, id); maps.byId.set(id, uid); }

// ---------- what changed, head by head ----------
// added: heads of `to` that `from` has not; removed: the other way round; moved: [before, after] of a head in both
function diff(from, to) {
  const before = new Map(from.map((p) => [p[2], p]));
  const added = [], moved = [], kept = new Set();
  for (const p of to) {
    const q = before.get(p[2]);
    if (!q) { added.push(p); continue; }
    kept.add(p[2]);
    if (q[0] !== p[0] || q[1] !== p[1]) moved.push([q, p]);
  }
  return { added, removed: from.filter((p) => !kept.has(p[2])), moved };
}
const inverse = (d) => ({ added: d.removed, removed: d.added, moved: d.moved.map(([a, b]) => [b, a]) });
// `points` with `d` applied: removed heads gone (those already gone are skipped), moved heads where `d` put
// them (a head deleted meanwhile stays deleted: a delete wins), added heads appended
function applyDiff(points, d) {
  const gone = new Set(d.removed.map((p) => p[2]));
  const to = new Map(d.moved.map(([, b]) => [b[2], b]));
  const out = [], have = new Set();
  for (const p of points) {
    if (gone.has(p[2])) continue;
    const q = to.get(p[2]) || p;
    out.push(q); have.add(q[2]);
  }
  for (const p of d.added) if (!have.has(p[2])) out.push(p);
  return out;
}

function docFromServer(data, maps) {
  const t = data.tiles, ids = data.ids || data.points.map((_, i) => i);
  return { points: data.points.map((p, i) => [p[0], p[1], uidFor(maps, ids[i])]), status: data.status || "todo",
           tiles: t && { cols: t.cols, rows: t.rows, done: new Set(t.done) } };
}
const sameGrid = (a, b) => a && b && a.cols === b.cols && a.rows === b.rows;
// what a tab changed between two versions of the image (heads, status, tiles)
function changesBetween(from, to) {
  const out = { heads: diff(from.points, to.points) };
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
// the body of a save: added heads by coordinates, removed and moved ones by server id
function editBody(base, ch, maps) {
  const idOf = (p) => maps.byUid.get(p[2]);
  const body = {
    base,
    added: ch.heads.added.map((p) => [p[0], p[1]]),
    removed: ch.heads.removed.map(idOf).filter((id) => id !== undefined),
    moved: ch.heads.moved.filter(([a]) => idOf(a) !== undefined).map(([a, b]) => [idOf(a), a[0], a[1], b[0], b[1]]),
  };
  if (ch.status) body.status = ch.status;
  if (ch.tiles) body.tiles = ch.tiles;
  return body;
}
function applyChanges(doc, ch) {
  let tiles = doc.tiles;
  if (ch.tiles) {
    const done = new Set(sameGrid(tiles, ch.tiles) ? tiles.done : []);
    ch.tiles.done.forEach((i) => done.add(i));
    ch.tiles.undone.forEach((i) => done.delete(i));
    tiles = { cols: ch.tiles.cols, rows: ch.tiles.rows, done };
  }
  return { points: applyDiff(doc.points, ch.heads), status: ch.status || doc.status, tiles };
}
const plural = (n, what) => `${n} ${what}${n === 1 ? "" : "s"}`;
function describe(d) {
  return [d.added.length && `+${plural(d.added.length, "head")}`, d.removed.length && `−${plural(d.removed.length, "head")}`,
          d.moved.length && `${plural(d.moved.length, "head")} moved`]
    .filter(Boolean).join(", ") || "no heads";
}
// what the server said about heads two tabs edited at once (annotate/catalog.py merge_heads: a delete wins;
// of two moves the later save wins)
function describeConflicts(conflicts) {
  const deleted = conflicts.filter((c) => c.kind === "deleted").length;
  const moved = conflicts.filter((c) => c.kind === "moved").length;
  return [deleted && `${plural(deleted, "head")} you moved had been deleted in another tab, and stay${deleted === 1 ? "s" : ""} deleted`,
          moved && `${plural(moved, "head")} you moved had also been moved in another tab: your position is kept`]
    .filter(Boolean).join("; ");
}

export { applyChanges, applyDiff, assignId, changesBetween, uidFor, describe, describeConflicts, diff, docFromServer, editBody,
         head, idMaps, inverse, movedTo, plural, sameGrid };
