// The page's shared state: the open image, the view, what was saved, and the elements every module uses.

const $ = (id) => document.getElementById(id);
const canvas = $("canvas");
const ctx = canvas.getContext("2d");
const HIT_RADIUS = 8;          // css px: how close a click must be to grab a head
const DRAG_THRESHOLD = 4;      // css px of movement that turns a click into a drag
const MAX_HISTORY = 500;
const POLL_MS = 1000;          // how often an open tab asks what other tabs saved
// marker colours (view panel): red by default; another where the crowd is red, or for a colour-blind eye
const MARKER_COLORS = { red: "255, 60, 60", yellow: "255, 220, 0", cyan: "0, 230, 255", magenta: "255, 0, 255",
                        white: "255, 255, 255" };
const TILE_PX = 512;           // image px per tile of the done grid (2..16 tiles a side) ...
const TILE_HEADS = 100;        // ... and at most about this many heads a tile (cclabeler: 16x16 on dense photos)

const state = {
  images: [], byId: new Map(), index: -1, id: null, width: 0, height: 0,
  // the open image as this tab sees it, and as the server had it at `revision` (`base`): what this tab
  // changed is the difference, which is what a save sends, so edits made elsewhere meanwhile are kept
  points: [], status: "todo", tiles: null, revision: 0, base: null,
  proposals: [], undo: [], redo: [], selected: null, reviewKeys: {}, boxArmed: null,
  user: new URLSearchParams(location.search).get("user"),   // this tab's name on a team's loopback server
  proposalPool: [],   // the last Propose's heads with their confidence; `proposals` are those shown
  box: null,          // the Alt+drag box being drawn [x0, y0, x1, y1] (image px)
  view: { scale: 1, ox: 0, oy: 0 },
  img: null, mips: [], density: null, densityState: "off", showDensity: false, proposalsEnabled: false,
  version: 0, savedVersion: 0, saving: null, hover: -1, mouse: null, proposalsById: {}, seq: null,
  locked: false,
  // a head being dragged holds incoming updates back until it is dropped (sync.js idle): the drag's index
  // and its undo step's "before" must stay those of the list it started on
  dragging: false, dragWaiters: [],
  histories: {},   // undo and redo of each image opened in this tab: switching images keeps them
  // heads are [x, y, uid]; `maps` ties the open image's uids to the server's head ids (merge.js), and is
  // kept per image with its history, so an undo after coming back finds its heads
  maps: null, idMapsById: {},
  // how the image and heads look (never saved): dense crowds need small, faint or hidden markers
  look: { markers: true, size: 1, opacity: 0.9, brightness: 1, contrast: 1, gamma: 1, grid: false, color: "red",
          second: false, loupe: false },
  compare: null, second: null,   // --compare: {name, radius}; the second annotator's heads of the open image
};
const metrics = { renderMs: 0, lastSaveMs: null, editAt: 0, previewMs: null, previewRequests: 0, previewAborted: 0,
                  readyMs: null };

export { $, MARKER_COLORS, DRAG_THRESHOLD, HIT_RADIUS, MAX_HISTORY, POLL_MS, TILE_HEADS, TILE_PX, canvas, ctx, metrics, state };
