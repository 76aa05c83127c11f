// The live dashboard in a real browser, against real programs.
//
// Starts on 127.0.0.1 a coordinator (with a short two-task PathNet experiment on
// Fashion-MNIST) and opens its dashboard in headless Chromium before any agent exists, then
// starts two agents and requires, each within a bounded wait: the experiment shown running
// with its pathway grid (L x M modules, shaded by the population) and no agent; the fitness
// curve growing as results arrive; the best pathway highlighted and the agents listed; the
// second task's curve with the first task's pathway frozen on the grid (screenshot
// `dashboard.png`); and once the coordinator has finished and exited, the page showing the
// experiment completed with exactly the final best pathway and the frozen modules of the
// coordinator's summary, and saying that the coordinator is gone (`dashboard-final.png`).
// Two more pages, opened before the first result and once results come, end up drawing
// exactly the same curves as the first (the snapshot, then the live points). Then a small GA (`neuroevolution`, recurrent parity): the
// page shows its kind, its best-fitness curve with one point per generation (the points the
// page received are counted: never more than the generations), and no pathway grid
// (`dashboard-ga.png`). The GA's coordinator exits and an A3C one on CartPole starts on the
// same metrics address: the open page reconnects by itself and shows the new run, its return
// curve and environment steps per second (`dashboard-a3c.png`). Last a short PathNet-A3C run
// whose grid shows the population's pathways and a best pathway once fitnesses come in
// (`dashboard-pathnet-a3c.png`). Then a short Sideways run, its page opened before its agent
// joins: the accuracy curve grows segment by segment, live, to one point per segment, with
// the video tiles (segments, frames, loss, stage busy) and no pathway grid
// (`dashboard-sideways.png`). Last a two-task safe-mutation PathNet run (`sm_pathnet`) with
// its scratch control: three curves (the first task, the second's transfer and scratch
// arms), the grid of the transfer arm with the first task's best pathway frozen
// (`dashboard-sm-pathnet.png`), and at the end exactly the pathways of the summary. Any
// script error on a page fails the test. Everything started is stopped at the end.
//
//   node tests/browser/dashboard.test.mjs [--pathnet BIN] [--out DIR]
//
// BIN defaults to target/debug/pathnet, DIR (the screenshots) to target/browser-test. The
// browser is the system's Chromium (CHROMIUM, else `chromium` on the PATH): playwright-core
// downloads none. Fashion-MNIST is read from PATHNET_FASHION_MNIST, else where Debian's
// dataset-fashion-mnist puts it. `tests/browser/setup` installs what this needs.

import { chromium } from "playwright-core";
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const WAIT_MS = 60_000; // the longest any one step may take, on a loaded 2-core machine
const LAYERS = 3;
const MODULES = 10;

function option(name, fallback) {
  const at = process.argv.indexOf(name);
  return at > 0 && process.argv[at + 1] ? process.argv[at + 1] : fallback;
}
const pathnet = resolve(option("--pathnet", join(ROOT, "target/debug/pathnet")));
const outDir = resolve(option("--out", join(ROOT, "target/browser-test")));
const dataDir = process.env.PATHNET_FASHION_MNIST || "/usr/share/datasets/fashion-mnist";
const browserPath = process.env.CHROMIUM || execFileSync("sh", ["-c", "command -v chromium"]).toString().trim();

// Short but not instant: enough generations for curves to grow while the page watches; two
// pairs of classes hard enough that no tournament's winner is perfect, so no task ends early.
const SPEC = `name = "dashboard-browser"
seed = 7
[data]
dir = "${dataDir}"
noise = 0.0
[pathnet]
layers = ${LAYERS}
modules_per_layer = ${MODULES}
max_active = 3
module_units = 10
[evolution]
population = 8
minibatches_per_evaluation = 8
batch_size = 16
learning_rate = 0.01
accuracy_threshold = 1.0
max_generations = 25
[[tasks]]
name = "pullover vs coat"
classes = [2, 4]
[[tasks]]
name = "t-shirt vs shirt"
classes = [0, 6]
`;

const children = [];

/** Starts `pathnet args`; its output is kept for `line` and the failure message. */
function start(name, args) {
  const child = spawn(pathnet, args, { stdio: ["ignore", "pipe", "pipe"] });
  child.log = [];
  child.stdoutLines = [];
  child.waiters = [];
  child.exited = new Promise((done) => child.on("exit", (code, signal) => done({ code, signal })));
  createInterface({ input: child.stdout }).on("line", (text) => {
    child.log.push(`${name}: ${text}`);
    child.stdoutLines.push(text);
    for (const waiter of child.waiters) waiter(text);
  });
  createInterface({ input: child.stderr }).on("line", (text) => child.log.push(`${name}: ${text}`));
  children.push(child);
  return child;
}

/** The first line of `child`'s stdout matching `pattern`, within WAIT_MS. */
function line(child, pattern) {
  return new Promise((found, fail) => {
    const seen = child.stdoutLines.map((text) => text.match(pattern)).find(Boolean);
    if (seen) return found(seen);
    const timer = setTimeout(() => fail(new Error(`no line matching ${pattern} in ${WAIT_MS} ms`)), WAIT_MS);
    child.waiters.push((text) => {
      const match = text.match(pattern);
      if (match) { clearTimeout(timer); found(match); }
    });
    child.on("exit", () => { clearTimeout(timer); fail(new Error(`exited before printing ${pattern}`)); });
  });
}

async function within(what, promise) {
  let timer;
  const timeout = new Promise((_, fail) => {
    timer = setTimeout(() => fail(new Error(`timed out after ${WAIT_MS} ms: ${what}`)), WAIT_MS);
  });
  try { return await Promise.race([promise, timeout]); } finally { clearTimeout(timer); }
}

/** Waits until `fn(arg)` is truthy in the page; returns its value. */
async function until(page, what, fn, arg) {
  try {
    return await (await page.waitForFunction(fn, arg, { timeout: WAIT_MS, polling: 100 })).jsonValue();
  } catch (err) {
    throw new Error(`timed out waiting for ${what}: ${err.message.split("\n")[0]}`);
  }
}

const cells = (page, selector) =>
  page.$$eval(selector, (rects) => rects.map((r) => [Number(r.dataset.layer), Number(r.dataset.module)]));
const sorted = (pairs) => pairs.map(([l, m]) => `${l}:${m}`).sort();
const pathwayCells = (pathway) => pathway.flatMap((modules, layer) => modules.map((m) => [layer, m]));

const A3C_SPEC = `kind = "a3c"
name = "dashboard-browser-a3c"
seed = 1
[a3c]
env = "CartPole-v1"
t_max = 5
learning_rate = 0.005
entropy_beta = 0.01
workers = 2
policy = { kind = "mlp", hidden = [32], activation = "tanh" }
stop = { target_return = 475.0, window = 20, max_env_steps = 6000 }
`;

// Recurrent parity on 4 bits with a tiny network and small mutations, so that it is not
// solved early: 600 evaluations in 30 generations of 20, a few seconds.
const GA_SPEC = `kind = "neuroevolution"
name = "dashboard-browser-ga"
seed = 3
[ga]
task = "parity"
operator = "sm_g_sum"
sigma = 0.001
algorithm = "steady_state"
population = 20
tournament_size = 3
hidden = 4
layers = 1
parity_bits = 4
max_evaluations = 600
`;

// One small phase on CartPole: a few fitness reports, so a few tournaments resolved.
const PATHNET_A3C_SPEC = `kind = "pathnet_a3c"
name = "dashboard-browser-pathnet-a3c"
seed = 1
[pathnet_a3c]
tasks = [
    { env = "CartPole-v1", stop = { window = 10, max_env_steps = 4000 } },
]
layers = 2
modules = 4
max_active = 2
units = 8
episodes_per_fitness = 2
tournament_size = 2
workers = 2
t_max = 10
learning_rate = 0.002
`;

// Ten segments of one batch (4 clips of 8 frames) on two stages, all on one agent: a
// second or two.
const SIDEWAYS_SEGMENTS = 10;
const SIDEWAYS_SPEC = `kind = "sideways"
name = "dashboard-browser-sideways"
seed = 1
snapshot_every = 1
stage_hosts = 1
[sideways]
data_dir = "${dataDir}"
stages = 2
batch = 4
batches = ${SIDEWAYS_SEGMENTS}
test_videos = 8
[sideways.video]
canvas = 32
objects = 1
frames = 8
speed = 2.0
edges = "wrap"
directions = "four"
downscale = 2
shared_class = true
shared_direction = true
`;

// Two binary Fashion-MNIST tasks, the second with its scratch control: 60 evaluations of 6
// members per arm (about 10 generations), on a 2 x 4 super-network.
const SM_LAYERS = 2;
const SM_MODULES = 4;
const SM_PATHNET_SPEC = `kind = "sm_pathnet"
name = "dashboard-browser-sm-pathnet"
seed = 1
[sm_pathnet]
layers = ${SM_LAYERS}
modules = ${SM_MODULES}
max_active = 2
units = 8
experience = 32
eval_examples = 64
selection = "binary"
population = 6
operator = "sm_g_sum"
sigma = 0.1
evaluations_per_task = 60
scratch_control = true
[[sm_pathnet.tasks]]
data = "${dataDir}"
classes = [5, 7]
[[sm_pathnet.tasks]]
data = "${dataDir}"
classes = [1, 3]
`;

/** Starts a coordinator on `spec` (metrics on `metricsAt`, default any port); its addresses
 * and the experiment id. */
async function coordinator(work, name, spec, metricsAt = "127.0.0.1:0") {
  const specPath = join(work, `${name}.toml`);
  const summaryPath = join(work, `${name}-summary.json`);
  writeFileSync(specPath, spec);
  const child = start(name, [
    "coordinator", "--listen", "127.0.0.1:0", "--metrics-listen", metricsAt,
    "--spec", specPath, "--exit-when-done", "--summary-json", summaryPath,
  ]);
  const grpcLine = line(child, /^coordinator listening on (\S+)/);
  const metricsLine = line(child, /^metrics listening on http:\/\/(\S+)\/metrics/);
  const startedLine = line(child, /^experiment (\S+) started/);
  const [, grpc] = await grpcLine;
  const [, metrics] = await metricsLine;
  const [, experiment] = await startedLine;
  return { child, grpc, metrics, experiment, summaryPath };
}

function agent(name, grpc) {
  return start(name, ["agent", "--coordinator", `http://${grpc}`, "--leave-with-coordinator", "--data-dir", dataDir]);
}

/** Waits for the coordinator and its agents to exit; returns its summary. */
async function finished(run, agents) {
  const exit = await within("the coordinator finishing", run.child.exited);
  assert.equal(exit.code, 0, "the coordinator failed");
  await Promise.all(agents.map((a) => within("the agents leaving", a.exited)));
  return JSON.parse(readFileSync(run.summaryPath, "utf8"));
}

/** Counts, in the page, the events of each name its streams deliver (`window.received`). */
function countEvents() {
  window.received = {};
  const add = EventSource.prototype.addEventListener;
  EventSource.prototype.addEventListener = function (name, fn, ...rest) {
    return add.call(this, name, (e) => { window.received[name] = (window.received[name] || 0) + 1; fn(e); }, ...rest);
  };
}

async function openDashboard(browser, run, pageErrors) {
  const page = await browser.newPage({ viewport: { width: 1400, height: 700 } });
  page.on("pageerror", (err) => pageErrors.push(err.message));
  await page.addInitScript(countEvents);
  await page.goto(`http://${run.metrics}/`);
  await shownRunning(page, run);
  return page;
}

const shownRunning = (page, run) => until(page, `${run.experiment} shown running`,
  (id) => document.getElementById("experiment").textContent === id &&
    document.getElementById("state").textContent === "running", run.experiment);

/** What each chart of `page` draws: its title and its points' x values. */
const drawn = (page) => page.$$eval(".chart", (charts) => charts.map((c) => ({
  name: c.querySelector("h3").textContent,
  points: Number(c.querySelector("svg.fitness").dataset.points),
})));

async function pathnetRun(browser, work, pageErrors) {
  const run = await coordinator(work, "pathnet", SPEC);
  const page = await openDashboard(browser, run, pageErrors);

  // Before any agent: the random population on the grid, nothing else.
  await until(page, "the pathway grid", (n) => document.querySelectorAll("svg.pathways rect.module").length === n,
    LAYERS * MODULES);
  assert.equal(await page.locator("rect.module.best").count(), 0, "a best pathway before any result");
  assert.equal(await page.textContent("#agents"), "no agent has joined");
  const used = await page.$$eval("rect.module", (rs) => rs.reduce((sum, r) => sum + Number(r.dataset.usage), 0));
  assert.ok(used >= 8 * LAYERS, `the grid shows ${used} module uses for 8 members of ${LAYERS} layers`);

  // More pages, each starting from a snapshot and following live from there: one before
  // any result, one as soon as results come (the run has two tasks to go, many seconds).
  const others = [await openDashboard(browser, run, pageErrors)];
  const agents = [agent("agent-1", run.grpc), agent("agent-2", run.grpc)];

  // The curve grows as results arrive.
  const first = await until(page, "the first results drawn", () => {
    const n = Number(document.querySelector("svg.fitness")?.dataset.points || 0);
    return n >= 2 && n;
  });
  others.push(await openDashboard(browser, run, pageErrors));
  await until(page, "the curve growing",
    (n) => Number(document.querySelector("svg.fitness").dataset.points) >= n + 5, first);
  await until(page, "the best pathway highlighted",
    (n) => document.querySelectorAll("rect.module.best").length >= n, LAYERS);
  await until(page, "both agents listed", () => document.querySelectorAll("#agents tbody tr").length === 2);

  // The second task: its own curve, its best pathway, the first task's pathway frozen.
  await until(page, "the second task's curve and best pathway", (n) => {
    const charts = document.querySelectorAll("svg.fitness");
    return charts.length === 2 && Number(charts[1].dataset.points) >= 16 &&
      document.querySelector("#pathways .sub").textContent.includes("t-shirt vs shirt") &&
      document.querySelectorAll("rect.module.best").length >= n;
  }, LAYERS);
  await until(page, "frozen modules", () => document.querySelectorAll("rect.module.frozen").length > 0);
  await page.screenshot({ path: join(outDir, "dashboard.png"), fullPage: true });

  // The end: the coordinator exits; the page keeps what it last heard and says so.
  const summary = await finished(run, agents);
  await until(page, "the experiment shown completed", () => document.getElementById("state").textContent === "completed");
  await until(page, "the coordinator shown gone", () => document.getElementById("connection").className === "lost");
  const [taskA, taskB] = summary.tasks;
  assert.deepEqual(sorted(await cells(page, "rect.module.best")), sorted(pathwayCells(taskB.best_pathway)),
    "the grid's best pathway is not the engine's");
  assert.deepEqual(sorted(await cells(page, "rect.module.frozen")), sorted(pathwayCells(taskA.best_pathway)),
    "the grid's frozen modules are not the first task's best pathway");
  const points = await page.$$eval("svg.fitness", (cs) => cs.map((c) => Number(c.dataset.points)));
  assert.equal(points.length, 2);
  // One point per generation (tournament), not per evaluation, in the page and on the wire.
  for (const [i, task] of summary.tasks.entries())
    assert.ok(points[i] <= task.tournaments + 1, `${points[i]} points for ${task.tournaments} generations`);
  const received = await page.evaluate(() => window.received.point || 0);
  const generations = summary.tasks.reduce((sum, t) => sum + t.tournaments + 1, 0);
  assert.ok(received <= generations, `${received} points received for ${generations} generations`);
  const curves = await drawn(page);
  for (const other of others) {
    await until(other, "another page shown completed", () => document.getElementById("state").textContent === "completed");
    assert.deepEqual(await drawn(other), curves, "pages opened at different times draw different curves");
    await other.close();
  }
  await page.screenshot({ path: join(outDir, "dashboard-final.png"), fullPage: true });
  await page.close();
  return points;
}

/** The GA, then the A3C run on the same address: the GA's page follows the restart. */
async function gaThenA3c(browser, work, pageErrors) {
  const ga = await coordinator(work, "ga", GA_SPEC);
  const page = await openDashboard(browser, ga, pageErrors);
  assert.equal(await page.textContent("#kind"), "neuroevolution");
  assert.match(await page.textContent("#pathways"), /this neuroevolution experiment evolves no pathways/);
  const gaAgents = [agent("ga-agent", ga.grpc)];
  await until(page, "the GA's curve", () => Number(document.querySelector("svg.fitness")?.dataset.points || 0) >= 3);
  assert.equal(await page.textContent(".chart h3"), "parity");
  assert.equal(await page.textContent("#best-label"), "best fitness");
  const summary = await finished(ga, gaAgents);
  await until(page, "the GA shown completed", () => document.getElementById("state").textContent === "completed");
  const [curve] = await drawn(page);
  const received = await page.evaluate(() => window.received.point || 0);
  const generations = summary.generations + 1;
  assert.ok(curve.points <= generations && received <= generations,
    `${curve.points} points drawn and ${received} received for ${generations} generations`);
  assert.ok(summary.evaluations >= 5 * received, `${received} points for ${summary.evaluations} evaluations`);
  await page.screenshot({ path: join(outDir, "dashboard-ga.png"), fullPage: true });
  await until(page, "the GA's coordinator shown gone", () => document.getElementById("connection").className === "lost");

  // A coordinator again on the same address (as after a restart), with another experiment.
  const a3c = await coordinator(work, "a3c", A3C_SPEC, ga.metrics);
  await shownRunning(page, a3c);
  await until(page, "the page live again", () => document.getElementById("connection").textContent === "live");
  assert.equal(await page.textContent("#kind"), "a3c");
  const a3cAgents = [agent("a3c-agent", a3c.grpc)];
  await until(page, "the return curve", () => Number(document.querySelector("svg.fitness")?.dataset.points || 0) >= 3);
  assert.equal(await page.locator(".chart").count(), 1, "the GA's curve outlived its run");
  assert.equal(await page.textContent(".chart h3"), "CartPole-v1");
  assert.equal(await page.textContent("#best-label"), "best mean return");
  assert.match(await page.textContent("#pathways"), /this a3c experiment evolves no pathways/);
  await until(page, "environment steps shown",
    () => [...document.querySelectorAll(".tile .k")].some((k) => k.textContent === "env steps / s"));
  await finished(a3c, a3cAgents);
  await until(page, "the A3C run shown completed", () => document.getElementById("state").textContent === "completed");
  await page.screenshot({ path: join(outDir, "dashboard-a3c.png"), fullPage: true });
  const counts = await page.evaluate(() => window.received);
  await page.close();
  return { ga: received, gaEvaluations: summary.evaluations, counts };
}

async function pathnetA3cRun(browser, work, pageErrors) {
  const run = await coordinator(work, "pathnet-a3c", PATHNET_A3C_SPEC);
  const page = await openDashboard(browser, run, pageErrors);
  await until(page, "the PathNet-A3C grid", (n) => document.querySelectorAll("svg.pathways rect.module").length === n, 2 * 4);
  const agents = [agent("pathnet-a3c-agent", run.grpc)];
  await until(page, "a best pathway on the PathNet-A3C grid", () => document.querySelectorAll("rect.module.best").length >= 2);
  const used = await page.$$eval("rect.module", (rs) => rs.reduce((sum, r) => sum + Number(r.dataset.usage), 0));
  assert.ok(used > 0, "the grid shows no member's pathway");
  await page.screenshot({ path: join(outDir, "dashboard-pathnet-a3c.png"), fullPage: true });
  await finished(run, agents);
  await until(page, "the PathNet-A3C run shown completed", () => document.getElementById("state").textContent === "completed");
  await page.close();
}

/** A Sideways run watched from before its agent joins: every point arrives live. */
async function sidewaysRun(browser, work, pageErrors) {
  const run = await coordinator(work, "sideways", SIDEWAYS_SPEC);
  const page = await openDashboard(browser, run, pageErrors);
  assert.equal(await page.textContent("#kind"), "sideways");
  assert.match(await page.textContent("#pathways"), /this sideways experiment evolves no pathways/);
  const agents = [agent("sideways-agent", run.grpc)];
  await until(page, "the Sideways curve", () => Number(document.querySelector("svg.fitness")?.dataset.points || 0) >= 2);
  assert.equal(await page.textContent("#best-label"), "frame accuracy of the segment");
  // One measure per segment: no "mean" line, and no legend for one.
  assert.equal(await page.isVisible("#mean-label"), false, "a mean legend for the Sideways curve");
  assert.equal(await page.locator("svg.fitness path.mean").count(), 0);
  const tiles = () => page.$$eval(".tile", (ts) => Object.fromEntries(
    ts.map((t) => [t.querySelector(".k").textContent, t.querySelector(".v").textContent])));
  await until(page, "the video tiles", () =>
    [...document.querySelectorAll(".tile .k")].some((k) => k.textContent === "stage busy"));
  const summary = await finished(run, agents);
  assert.equal(summary.segments, SIDEWAYS_SEGMENTS);
  await until(page, "the Sideways run shown completed", () => document.getElementById("state").textContent === "completed");
  await until(page, "every segment drawn", (n) => Number(document.querySelector("svg.fitness").dataset.points) === n,
    SIDEWAYS_SEGMENTS);
  const [curve] = await drawn(page);
  assert.equal(curve.name, "sideways class");
  // The page opened with no point: the curve grew by live points, one per segment.
  const received = await page.evaluate(() => window.received.point || 0);
  assert.ok(received >= 2 && received <= SIDEWAYS_SEGMENTS, `${received} points received for ${SIDEWAYS_SEGMENTS} segments`);
  const shown = await tiles();
  assert.equal(shown.segments, `${SIDEWAYS_SEGMENTS} / ${SIDEWAYS_SEGMENTS}`);
  assert.equal(shown.frames, String(summary.frames));
  assert.equal(shown["stage busy"].split(" · ").length, 2, `stage busy ${shown["stage busy"]} for 2 stages`);
  await page.screenshot({ path: join(outDir, "dashboard-sideways.png"), fullPage: true });
  await page.close();
  return { points: curve.points, received };
}

/** A safe-mutation PathNet run: the first task, then the second's transfer and scratch arms. */
async function smPathnetRun(browser, work, pageErrors) {
  const run = await coordinator(work, "sm-pathnet", SM_PATHNET_SPEC);
  const page = await openDashboard(browser, run, pageErrors);
  assert.equal(await page.textContent("#kind"), "sm_pathnet");
  await until(page, "the sm_pathnet grid", (n) => document.querySelectorAll("svg.pathways rect.module").length === n,
    SM_LAYERS * SM_MODULES);
  assert.equal(await page.locator("rect.module.best").count(), 0, "a best pathway before any result");
  const agents = [agent("sm-agent-1", run.grpc), agent("sm-agent-2", run.grpc)];
  await until(page, "the first task's curve", () => Number(document.querySelector("svg.fitness")?.dataset.points || 0) >= 2);
  await until(page, "a best pathway on the sm_pathnet grid",
    (n) => document.querySelectorAll("rect.module.best").length >= n, SM_LAYERS);
  assert.equal(await page.textContent("#best-label"), "best fitness");
  await until(page, "the transfer arm's grid with frozen modules", () =>
    document.querySelector("#pathways .sub").textContent.includes("/transfer") &&
    document.querySelectorAll("rect.module.frozen").length > 0);
  await until(page, "three curves, the second task's growing", () => {
    const charts = document.querySelectorAll("svg.fitness");
    return charts.length === 3 && Number(charts[1].dataset.points) >= 2 && Number(charts[2].dataset.points) >= 2;
  });
  await page.screenshot({ path: join(outDir, "dashboard-sm-pathnet.png"), fullPage: true });

  const summary = await finished(run, agents);
  await until(page, "the sm_pathnet run shown completed", () => document.getElementById("state").textContent === "completed");
  const curves = await drawn(page);
  assert.deepEqual(curves.map((c) => c.name), summary.tasks.map((t) => t.label));
  for (const [i, task] of summary.tasks.entries())
    assert.ok(curves[i].points >= 2 && curves[i].points <= task.generations + 1,
      `${task.label}: ${curves[i].points} points for ${task.generations} generations`);
  // The grid as the last task left it: the transfer arm's best pathway, on the first
  // task's best pathway frozen.
  const [taskA, transfer] = summary.tasks;
  assert.match(transfer.label, /\/transfer$/);
  assert.deepEqual(sorted(await cells(page, "rect.module.best")), sorted(pathwayCells(transfer.best_pathway)),
    "the grid's best pathway is not the transfer arm's");
  assert.deepEqual(sorted(await cells(page, "rect.module.frozen")), sorted(pathwayCells(taskA.best_pathway)),
    "the grid's frozen modules are not the first task's best pathway");
  await page.close();
  return curves.map((c) => c.points);
}

async function main() {
  const work = mkdtempSync(join(tmpdir(), "pathnet-dashboard-"));
  mkdirSync(outDir, { recursive: true });
  let browser;
  const pageErrors = [];
  const begun = Date.now();
  try {
    browser = await chromium.launch({ executablePath: browserPath, headless: true });
    const points = await pathnetRun(browser, work, pageErrors);
    const other = await gaThenA3c(browser, work, pageErrors);
    await pathnetA3cRun(browser, work, pageErrors);
    const sideways = await sidewaysRun(browser, work, pageErrors);
    const sm = await smPathnetRun(browser, work, pageErrors);
    assert.deepEqual(pageErrors, [], "errors on the page");
    console.log(`dashboard browser test passed in ${((Date.now() - begun) / 1000).toFixed(1)} s ` +
      `(PathNet: ${points.join(" + ")} points drawn; GA: ${other.ga} points received for ` +
      `${other.gaEvaluations} evaluations; events the GA-then-A3C page received: ` +
      `${JSON.stringify(other.counts)}; Sideways: ${sideways.points} points drawn, ${sideways.received} ` +
      `received live; sm_pathnet: ${sm.join(" + ")} points drawn; screenshots in ${outDir})`);
  } catch (err) {
    for (const child of children) console.error(child.log.slice(-20).join("\n"));
    if (pageErrors.length) console.error(`page errors: ${pageErrors.join("; ")}`);
    throw err;
  } finally {
    if (browser) await browser.close();
    for (const child of children) if (child.exitCode === null) child.kill("SIGKILL");
    rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(`dashboard browser test FAILED: ${err.message}`);
  process.exit(1);
});
