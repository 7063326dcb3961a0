// The image list: built once, then one row per change.
import { $, state } from "./state.js";
import { openImage } from "./sync.js";

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

export { MARKS, fillBadge, isDone, markCurrent, renderList, renderProgress, row, updateListItem };
