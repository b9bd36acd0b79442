// The page's one state object, `S`, and the constants every module shares.
// Every piece of mutable page state lives here (no module keeps a mutable
// binding of its own that another reads), so a module is a set of functions
// over `S`; this module imports nothing.
// UNKNOWN: a process on a host the console cannot reach (the console's
// answer; its last report is in `last_known`).
export const STATES = ["RUNNING", "STARTING", "BACKOFF", "STOPPING", "STOPPED", "EXITED", "FATAL", "UNKNOWN"];
export const BAD = new Set(["FATAL", "EXITED", "BACKOFF"]);
// Worst first: the default order of every list.
export const SEVERITY = { FATAL: 0, BACKOFF: 1, UNKNOWN: 2, EXITED: 3, STOPPING: 4, STARTING: 5, STOPPED: 6, RUNNING: 7 };
export const SIGNALS = ["HUP", "USR1", "USR2", "INT", "QUIT", "TERM", "KILL"];
// A process that restarted this often within FLAP_MS is flapping.
export const FLAP_N = 3;
export const FLAP_MS = 10 * 60 * 1000;
// Operations per page of the ops view.
export const OPS_PAGE = 100;
// Status re-reads for CPU and memory (the console re-reads agents every
// 30 s), and how many readings a sparkline shows.
export const USAGE_MS = 30000;
export const USAGE_N = 30;
// Row height of the virtual lists: one line, or two on a narrow screen
// where the columns fold into the row (see app.css, max-width: 900px).
export const narrow = () => window.innerWidth <= 900;
export const rowH = () => (narrow() ? 58 : 30);

export const S = {
  me: null,
  hosts: new Map(), // name → HostInfo
  procs: new Map(), // host\0name → FleetProcess
  ops: [], // newest first (ops view)
  opDetail: null,
  loaded: false,
  loadError: null,
  queue: [],
  raf: 0,
  es: null,
  // The event stream: when the page last heard from the console (any
  // event, or its keep-alive every 2 s), and since when it has not (0 while
  // live). Once lost, the picture is shown as of then (events.js).
  conn: { heard: 0, lost: 0, retry: 0 },
  // Per process (host/name): the last USAGE_N readings of CPU (% of one
  // core, from cpu_seconds between two status reads) and RSS bytes, for
  // the columns and sparklines (data.js).
  usage: new Map(),
  // Opt-in browser notifications of new trouble (notify.js): on or off
  // (kept in localStorage), what was already in trouble, and what was said.
  notify: { on: false, seen: null, said: [] },
  // The "clear log" button armed by a first click: {key, until}.
  clearArm: null,
  sel: new Set(), // selected process keys
  hostSel: new Set(), // selected host names
  lists: new Map(), // id → VList (kept across renders)
  route: { view: "overview", args: [], params: new URLSearchParams() },
  log: null, // {ctrl, key, pre}
  opsLoaded: false,
  opsNext: null, // offset of the next (older) page of operations
  opError: null,
  rafT: 0, // the frame's fallback timer (hidden tabs run no frames)
  statusTimer: 0, // a /v1/status read is due (data.js)
  filterTimer: 0, // the filter box settles (router.js)
  lastBadge: -1, // the problem count in the tab title (render.js)
  // The action dialog's current job: one OpRequest (a multi-row selection
  // is one operation too, through `only`) and the ops it started.
  // `planned`: the request whose dry run is on screen (Go acts only then).
  dialog: { req: null, ops: null, fleet: false, verb: null, planned: null },
  // Calls up the import graph, set once by app.js: api.js must show the
  // login form on a 401, and session.js imports api.js.
  hooks: { showLogin: () => {} },
  // Read by the scale measurements (tests/console_page.rs) as `S.perf`.
  perf: { firstRender: 0, lastFlushMs: 0, flushes: 0, events: 0 },
};

export const canAct = () => S.me && S.me.role === "operator";
