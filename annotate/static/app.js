// headcount annotation page: ES modules, no build step. This entry wires them and opens the first image.
import "./input.js"; // mouse, touch and key handlers
import { loadDensity } from "./panels.js";
import { $, POLL_MS, metrics, state } from "./state.js";
import { api, loadListing, openImage, poll } from "./sync.js";
import { draw, grid, headSpacing, imageToScreen, markerRadius, screenToImage } from "./view.js";

window.headcount = { state, metrics, screenToImage, imageToScreen, openImage, draw, poll, loadDensity, headSpacing,
  markerRadius, grid, ready: false };

(async function start() {
  const [config] = await Promise.all([api("/api/config").then((r) => r.json()), loadListing()]);
  state.proposalsEnabled = config.proposals;
  state.reviewer = config.reviewer;
  $("review-tools").hidden = !config.reviewer;   // only a reviewer reviews
  if (config.user) document.title = `${config.user} · ${document.title}`;
  state.compare = config.compare;
  $("second-label").hidden = !config.compare;
  for (const id of ["propose", "accept-all", "reject-all", "proposal-min-label", "box-accept"]) $(id).hidden = !config.proposals;
  const wanted = decodeURIComponent(location.hash.slice(1));
  const start = Math.max(0, state.images.findIndex((it) => it.id === wanted));
  setInterval(poll, POLL_MS);
  document.addEventListener("visibilitychange", () => { if (!document.hidden) poll(); });
  if (state.images.length) await openImage(start);
})();
