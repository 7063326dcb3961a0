// The image list: built once, then one row per change.
import { $, state } from "./state.js";
import { openImage } from "./sync.js";

// ---------- the image list: built once, then one row per change ----------
const MARKS = { todo: "·", done: "✓", reviewed: "✓✓", rejected: "✗" };
function isDone(it) { return it.status === "done" || it.status === "reviewed"; }
// rejected: a reviewer sent it back (status to do, with the comment): first on its annotator's to-do list
const isRejected = (it) => it.status === "todo" && it.review && it.review.verdict === "rejected";
function fillBadge(button, it) {
  const badge = button.lastChild;
  badge.className = it.error ? "broken" : isDone(it) ? "done" : isRejected(it) ? "rejected" : "todo";
  badge.textContent = it.error ? "broken" : `${it.count} ${MARKS[isRejected(it) ? "rejected" : it.status] || "·"}`;
  button.title = it.error || (isRejected(it) ? `rejected by ${it.review.by || "a reviewer"}: ${it.review.comment}` : it.status) || "";
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
  state.rows = [];   // image index -> its button: the list may be sorted, so not the index-th child
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
    state.rows.push(button);
  });
  ul.append(rows);
  fillAnnotators();
  markCurrent(-1, state.index);
  renderProgress();
  applyListView(true);
}
function row(i) { return state.rows && state.rows[i]; }

// ---------- search, filter by status, sort: rows are hidden and reordered, never rebuilt ----------
function statusOf(it) { return it.error ? "broken" : isRejected(it) ? "rejected" : it.status || "todo"; }
function shown(it) {
  const q = $("list-filter").value.trim().toLowerCase(), s = $("list-status").value, who = $("list-annotator").value;
  const status = statusOf(it);
  return (!q || it.name.toLowerCase().includes(q)) && (s === "all" || status === s || (s === "todo" && status === "rejected"))
    && (!who || (it.annotators || []).includes(who));
}
// the annotator filter offers everyone who added heads or set a status in this folder
function fillAnnotators() {
  const menu = $("list-annotator"), names = new Set();
  for (const it of state.images) for (const n of it.annotators || []) names.add(n);
  const have = new Set([...menu.options].map((o) => o.value));
  for (const n of [...names].sort()) {
    if (have.has(n)) continue;
    const o = document.createElement("option");
    o.value = o.textContent = n;
    menu.append(o);
  }
}
let sortedBy = "name";   // the order the rows are in: renderList builds them by name
function applyListView(rendered = false) {
  const how = $("list-sort").value;
  if (rendered) sortedBy = "name";
  if (how !== sortedBy) {   // rows move only when the order changes: a 10,000-image list opens as fast
    const order = [...state.images.keys()];
    const by = { name: () => 0, "count-desc": (a, b) => state.images[b].count - state.images[a].count,
                 "count-asc": (a, b) => state.images[a].count - state.images[b].count,
                 status: (a, b) => statusOf(state.images[a]).localeCompare(statusOf(state.images[b])) };
    order.sort((a, b) => by[how](a, b) || a - b);
    const ul = $("images");
    for (const i of order) ul.append(state.rows[i].parentNode);   // moves the row; nothing is rebuilt
    sortedBy = how;
  }
  let visible = 0;
  state.images.forEach((it, i) => {
    const li = state.rows[i].parentNode, hide = !shown(it);
    if (li.hidden !== hide) li.hidden = hide;
    visible += !hide;
  });
  $("list-shown").textContent = visible === state.images.length ? "" : `${visible} shown`;
}
for (const id of ["list-filter", "list-status", "list-sort", "list-annotator"]) $(id).addEventListener("input", () => applyListView());
for (const id of ["list-status", "list-sort", "list-annotator"]) $(id).addEventListener("change", (ev) => ev.target.blur());
$("list-filter").addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === "Escape") ev.target.blur(); });
function markCurrent(previous, index) {
  const a = row(previous), b = row(index);
  if (a) { a.parentNode.classList.remove("current"); a.removeAttribute("aria-current"); }
  if (b) { b.parentNode.classList.add("current"); b.setAttribute("aria-current", "true"); }
}
function updateListItem(i) {
  const it = state.images[i], button = row(i);
  if (!it || !button) return;
  fillBadge(button, it);
  fillAnnotators();
  button.parentNode.hidden = !shown(it);   // its row leaves a status filter it no longer matches
  const done = isDone(it);
  if (done !== it.wasDone) { state.doneCount += done ? 1 : -1; it.wasDone = done; renderProgress(); }
}
$("images").addEventListener("click", (ev) => {
  const button = ev.target.closest("button");
  if (button) openImage(Number(button.dataset.index));
});

export { MARKS, applyListView, fillBadge, isDone, isRejected, markCurrent, renderList, renderProgress, row, updateListItem };
