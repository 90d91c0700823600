// gacn web app: load frames, fuse through the server's job queue, inspect, retouch, save.
"use strict";

const $ = (id) => document.getElementById(id);
const state = {
  config: null, job: null, strokes: [], redo: [], items: {}, layerKey: "", paintMode: false, pickMode: false,
};
const viewer = OpenSeadragon({
  id: "viewer", drawer: "canvas", showNavigationControl: false, maxZoomPixelRatio: 8,
  gestureSettingsMouse: { clickToZoom: false }, animationTime: 0.3,
});

// ---------- messages and requests ----------
function showError(message) { $("error-text").textContent = message; $("error").hidden = false; }
function clearError() { $("error").hidden = true; }
function showNote(message) { $("note").textContent = message; $("note").hidden = !message; }
$("error-close").onclick = clearError;

async function api(method, path, body, raw) {
  const init = { method };
  if (raw !== undefined) init.body = raw;
  else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { "Content-Type": "application/json" };
  }
  const response = await fetch(`/api${path}`, init);
  const data = await response.json().catch(() => ({ detail: response.statusText }));
  if (!response.ok) {
    const detail = Array.isArray(data.detail) ? data.detail.map((d) => d.msg).join("; ") : data.detail;
    throw new Error(detail || `HTTP ${response.status}`);
  }
  return data;
}
const jobPath = (suffix = "") => `/jobs/${state.job.id}${suffix}`;
async function guarded(action) {
  try { await action(); } catch (e) { showError(e.message); }
}

// ---------- load: upload, folders, thumbnails, order ----------
async function uploadFiles(files) {
  clearError();
  for (const file of files) {
    if (file.size > state.config.max_upload_mb * 2 ** 20) {
      showError(`${file.name} is larger than the upload limit of ${state.config.max_upload_mb} MB`);
      continue;
    }
    try {
      await api("POST", jobPath(`/frames?name=${encodeURIComponent(file.name)}`), undefined, file);
    } catch (e) { showError(e.message); }
  }
  await refresh();
}
$("files").onchange = (e) => { uploadFiles([...e.target.files]); e.target.value = ""; };
const drop = $("drop");
drop.ondragover = (e) => { e.preventDefault(); drop.classList.add("over"); };
drop.ondragleave = () => drop.classList.remove("over");
drop.ondrop = (e) => { e.preventDefault(); drop.classList.remove("over"); uploadFiles([...e.dataTransfer.files]); };

let browsePath = "";
async function browse(path) {
  await guarded(async () => {
    const listing = await api("GET", `/browse?path=${encodeURIComponent(path)}`);
    browsePath = listing.path;
    const crumbs = $("crumbs");
    crumbs.replaceChildren();
    const parts = browsePath ? browsePath.split("/") : [];
    [["root", ""], ...parts.map((p, i) => [p, parts.slice(0, i + 1).join("/")])].forEach(([label, target]) => {
      const a = document.createElement("a");
      a.textContent = label + "/";
      a.onclick = () => browse(target);
      crumbs.append(a);
    });
    $("dirs").replaceChildren(...listing.dirs.map((d) => {
      const li = document.createElement("li"), a = document.createElement("a");
      a.textContent = d + "/";
      a.onclick = () => browse(browsePath ? `${browsePath}/${d}` : d);
      li.append(a);
      return li;
    }));
    $("folder-count").textContent = `${listing.images.length} images`;
    $("add-folder").disabled = !listing.images.length;
    $("save-folder").value = browsePath;
  });
}
$("add-folder").onclick = () => guarded(async () => {
  clearError();
  render(await api("POST", jobPath("/folder"), { path: browsePath }));
});

async function setOrder(ids) { await guarded(async () => render(await api("PUT", jobPath("/order"), { order: ids }))); }
function frameIds() { return state.job.frames.map((f) => f.id); }
function moveFrame(from, to) {
  const ids = frameIds();
  if (to < 0 || to >= ids.length) return;
  ids.splice(to, 0, ids.splice(from, 1)[0]);
  setOrder(ids);
}

let shownFrames = "";
function renderFrames() {
  const signature = JSON.stringify([state.job.id, frameIds()]);
  if (signature === shownFrames) return;  // polling must not rebuild the list (and refetch thumbnails)
  shownFrames = signature;
  const list = $("frames");
  list.replaceChildren(...state.job.frames.map((f, i) => {
    const li = document.createElement("li");
    li.draggable = true;
    li.dataset.index = i;
    li.innerHTML = `<img alt=""><div class="name"></div><div class="tools">
      <button data-act="up" title="earlier">↑</button><button data-act="down" title="later">↓</button>
      <button data-act="drop" title="drop this frame">✕</button></div>`;
    li.querySelector("img").src = `/api${jobPath(`/frames/${f.id}/thumb`)}`;
    const depth = f.dtype === "uint16" ? ", 16-bit" : "";
    li.querySelector(".name").textContent = `${i + 1}. ${f.name} (${f.width}×${f.height}${depth})`;
    li.querySelector('[data-act="up"]').onclick = () => moveFrame(i, i - 1);
    li.querySelector('[data-act="down"]').onclick = () => moveFrame(i, i + 1);
    li.querySelector('[data-act="drop"]').onclick = () => setOrder(frameIds().filter((id) => id !== f.id));
    li.ondragstart = (e) => { li.classList.add("dragging"); e.dataTransfer.setData("text/x-frame", String(i)); };
    li.ondragend = () => li.classList.remove("dragging");
    li.ondragover = (e) => { if (e.dataTransfer.types.includes("text/x-frame")) e.preventDefault(); };
    li.ondrop = (e) => {
      e.preventDefault();
      e.stopPropagation();
      moveFrame(Number(e.dataTransfer.getData("text/x-frame")), i);
    };
    return li;
  }));
}

// ---------- fuse: options, queue, progress ----------
function buildOptions() {
  const form = $("options");
  for (const [name, spec] of Object.entries(state.config.options)) {
    const label = document.createElement("label");
    if (spec.kind === "bool") {
      label.innerHTML = `<input type="checkbox" name="${name}"> ${name}`;
      label.querySelector("input").checked = spec.default;
    } else {
      label.textContent = `${name} `;
      const select = document.createElement("select");
      select.name = name;
      for (const choice of spec.choices) {
        const option = new Option(choice === null ? "auto" : choice === true ? "on" : choice === false ? "off" : choice,
          JSON.stringify(choice));
        option.selected = choice === spec.default;
        select.append(option);
      }
      label.append(select);
    }
    form.append(label);
  }
}
function chosenOptions() {
  const options = {};
  for (const el of $("options").elements) options[el.name] = el.type === "checkbox" ? el.checked : JSON.parse(el.value);
  return options;
}
$("fuse").onclick = () => guarded(async () => {
  clearError();
  showNote("");
  render(await api("POST", jobPath("/fuse"), { options: chosenOptions() }));
  poll();
});
$("cancel").onclick = () => guarded(async () => render(await api("POST", jobPath("/cancel"))));

let polling = false;
async function poll() {
  if (polling) return;
  polling = true;
  try {
    while (state.job && ["queued", "running"].includes(state.job.state)) {
      await new Promise((r) => setTimeout(r, 250));
      await refresh();
    }
  } finally { polling = false; }
}

function renderProgress() {
  const job = state.job, p = job.progress, busy = ["queued", "running"].includes(job.state);
  $("progress").hidden = !busy;
  $("cancel").hidden = !busy;
  $("fuse").disabled = busy || job.frames.length < 2;
  $("bar").value = p.fraction;
  const stage = p.stage === "decide" ? "deciding" : "blending";
  const frames = p.total ? `${stage}: ${p.done}/${p.total} frames` : "starting";
  const eta = p.eta === null ? "" : ` · ETA ${Math.ceil(p.eta)} s`;
  $("progress-text").textContent = job.state === "queued" ? "queued behind another fusion" :
    `${frames} · ${p.elapsed.toFixed(1)} s${eta}`;
}

// ---------- inspect: layers, slider, overlays ----------
function tileSource(layer) {
  const r = state.job.result;
  const key = layer === "fused" || layer === "depth" ? r.version : r.version.split(".")[0];
  return {
    width: r.width, height: r.height, tileSize: 256, tileOverlap: 1,
    getTileUrl: (level, x, y) => `/api${jobPath(`/tiles/${layer}/${level}/${x}_${y}.jpg`)}?v=${key}`,
  };
}
function putItem(name, layer, opacity = 1) {
  const old = state.items[name];
  const options = {
    tileSource: tileSource(layer), opacity,
    success: (e) => { state.items[name] = e.item; if (name === "compare") applySlider(); },
  };
  if (old) { options.index = viewer.world.getIndexOfItem(old); options.replace = true; }
  viewer.addTiledImage(options);
}
function removeItem(name) {
  if (state.items[name]) viewer.world.removeItem(state.items[name]);
  delete state.items[name];
}
function applySlider() {
  const r = state.job.result, compare = state.items.compare, fused = state.items.fused;
  if (!compare || !fused) return;
  const x = (r.width * $("slider").value) / 1000;
  compare.setClip(new OpenSeadragon.Rect(0, 0, x, r.height));
  const screen = fused.imageToViewerElementCoordinates(new OpenSeadragon.Point(x, 0)).x;
  $("divider").style.left = `${screen - 1}px`;
  $("divider").hidden = false;
}
$("slider").oninput = applySlider;
viewer.addHandler("update-viewport", applySlider);
$("compare").onchange = () => putItem("compare", $("compare").value);
function applyOverlay() {
  const layer = $("overlay").value, opacity = $("opacity").value / 100;
  if (!layer) removeItem("overlay");
  else if (state.items.overlay && state.items.overlayLayer === layer) state.items.overlay.setOpacity(opacity);
  else { state.items.overlayLayer = layer; putItem("overlay", layer, opacity); }
}
$("overlay").onchange = applyOverlay;
$("opacity").oninput = applyOverlay;
$("fit").onclick = () => viewer.viewport.goHome();
$("one-to-one").onclick = () => {
  const fused = state.items.fused;
  if (fused) viewer.viewport.zoomTo(fused.imageToViewportZoom(1));
};

function showResult() {
  const r = state.job.result, key = `${state.job.id}/${r.version.split(".")[0]}`;
  const frameOptions = () => state.job.frames.map((f, i) => new Option(`frame ${i + 1}: ${f.name}`, `frame${i + 1}`));
  if (state.layerKey.split("#")[0] !== key) {  // a new fusion: rebuild every layer
    viewer.world.removeAll();
    state.items = {};
    state.strokes = [];
    state.redo = [];
    $("compare").replaceChildren(...frameOptions());
    $("source").replaceChildren(...frameOptions().map((o, i) => { o.value = String(i + 1); return o; }));
    $("source").value = String(Math.min(2, state.job.frames.length));
    putItem("fused", "fused");
    putItem("compare", "frame1");
    if ($("overlay").value) { state.items.overlayLayer = ""; applyOverlay(); }
    viewer.viewport.goHome(true);
    renderDownloads();
  } else if (state.layerKey !== `${key}#${r.version}`) {  // a retouch: the image and depth map change
    putItem("fused", "fused");
    if (state.items.overlayLayer === "depth") putItem("overlay", "depth", $("opacity").value / 100);
  }
  state.layerKey = `${key}#${r.version}`;
  $("result-info").textContent = `${r.width}×${r.height}, ${r.frames} frames, ${r.seconds.toFixed(1)} s`;
  $("undo").disabled = !state.strokes.length;
  $("redo").disabled = !state.redo.length;
  $("stroke-count").textContent = `${r.strokes} strokes`;
}

// ---------- retouch: brush, pick, undo/redo ----------
const brush = $("brush");
const ctx = brush.getContext("2d");
function sizeBrushCanvas() { brush.width = brush.clientWidth; brush.height = brush.clientHeight; }
window.addEventListener("resize", sizeBrushCanvas);
function toImage(e) {
  const p = state.items.fused.viewerElementToImageCoordinates(new OpenSeadragon.Point(e.offsetX, e.offsetY));
  return [p.x, p.y];
}
function screenRadius() {
  const f = state.items.fused, size = Number($("size").value);
  return f.imageToViewerElementCoordinates(new OpenSeadragon.Point(size, 0)).x -
    f.imageToViewerElementCoordinates(new OpenSeadragon.Point(0, 0)).x;
}
function setPaint(on) {
  state.paintMode = on;
  $("paint").checked = on;
  brush.classList.toggle("active", on);
  viewer.setMouseNavEnabled(!on);
}
$("paint").onchange = (e) => setPaint(e.target.checked);
$("size").oninput = () => { $("size-value").textContent = `${$("size").value} px`; };
let current = null;
brush.onpointerdown = (e) => {
  if (!state.paintMode || !state.items.fused) return;
  brush.setPointerCapture(e.pointerId);
  sizeBrushCanvas();
  current = { frame: Number($("source").value), points: [toImage(e)], radius: Number($("size").value),
    hardness: $("hardness").value / 100 };
  ctx.fillStyle = "rgba(255, 80, 80, 0.35)";
  brush.onpointermove(e);
};
brush.onpointermove = (e) => {
  if (!current) return;
  current.points.push(toImage(e));
  ctx.beginPath();
  ctx.arc(e.offsetX, e.offsetY, Math.max(screenRadius(), 1), 0, 2 * Math.PI);
  ctx.fill();
};
brush.onpointerup = () => {
  if (!current) return;
  state.strokes.push(current);
  state.redo = [];
  current = null;
  sendStrokes();
};
async function sendStrokes() {
  await guarded(async () => render(await api("PUT", jobPath("/retouch"), { strokes: state.strokes })));
  ctx.clearRect(0, 0, brush.width, brush.height);
}
function undo() { if (state.strokes.length) { state.redo.push(state.strokes.pop()); sendStrokes(); } }
function redo() { if (state.redo.length) { state.strokes.push(state.redo.pop()); sendStrokes(); } }
$("undo").onclick = undo;
$("redo").onclick = redo;
document.addEventListener("keydown", (e) => {
  if (!(e.ctrlKey || e.metaKey)) return;
  if (e.key === "z" && !e.shiftKey) { e.preventDefault(); undo(); }
  if (e.key === "y" || (e.key === "z" && e.shiftKey)) { e.preventDefault(); redo(); }
});
$("pick").onclick = () => {
  state.pickMode = true;
  setPaint(false);
  showNote("click in the image to pick the sharpest frame there");
};
viewer.addHandler("canvas-click", (e) => {
  if (!state.pickMode || !state.items.fused) return;
  e.preventDefaultAction = true;
  state.pickMode = false;
  const p = state.items.fused.viewerElementToImageCoordinates(e.position);
  guarded(async () => {
    const found = await api("GET", jobPath(`/probe?x=${Math.floor(p.x)}&y=${Math.floor(p.y)}`));
    $("source").value = String(found.frame);
    showNote(`frame ${found.frame} is sharpest there (confidence ${found.confidence.toFixed(2)}): painting from it`);
    setPaint(true);
  });
});

// ---------- save ----------
function renderDownloads() {
  const r = state.job.result, tiff = r.dtype === "uint16" ? "TIFF (16-bit)" : "TIFF";
  const links = [["fused.png", "PNG"], ["fused.tif", tiff], ["fused.jpg", "JPEG"], ["depth.png", "depth map"],
    ["depth_preview.png", "depth preview"], ["confidence.png", "confidence"], ["decision.png", "decision map"],
    ["mask.png", "retouch mask"]];
  $("downloads").replaceChildren(...links.map(([file, label]) => {
    const a = document.createElement("a");
    a.href = `/api${jobPath(`/download/${file}`)}`;
    a.download = `gacn_${file}`;
    a.textContent = label;
    return a;
  }));
}
$("save-root").onsubmit = (e) => {
  e.preventDefault();
  guarded(async () => {
    const saved = await api("POST", jobPath("/save"), { folder: $("save-folder").value, stem: $("save-stem").value });
    showNote(`saved ${saved.written.join(", ")}`);
  });
};

// ---------- job lifecycle ----------
function render(job) {
  const previous = state.job && state.job.id === job.id ? state.job.state : null;
  state.job = job;
  renderFrames();
  renderProgress();
  const hasResult = Boolean(job.result);
  document.querySelectorAll(".needs-result").forEach((s) => { s.hidden = !hasResult; });
  $("empty").hidden = hasResult;
  if (hasResult) showResult();
  else { viewer.world.removeAll(); state.items = {}; state.layerKey = ""; $("divider").hidden = true; }
  if (job.state !== previous && job.state === "failed") showError(job.error);
  if (job.state !== previous && job.state === "cancelled") showNote("fusion cancelled");
  if (job.state === "done" && job.result) document.body.dataset.state = `done:${job.result.version}`;
  else document.body.dataset.state = job.state;
}
async function refresh() { await guarded(async () => render(await api("GET", jobPath()))); }
async function newJob() {
  const job = await api("POST", "/jobs");
  sessionStorage.setItem("gacn-job", job.id);
  render(job);
}
$("new-stack").onclick = () => guarded(async () => {
  await api("DELETE", jobPath());
  clearError();
  showNote("");
  await newJob();
});

async function start() {
  state.config = await api("GET", "/config");
  buildOptions();
  $("size").oninput();
  if (state.config.root) { $("browser").hidden = false; $("save-root").hidden = false; browse(""); }
  const saved = sessionStorage.getItem("gacn-job");
  try {
    if (!saved) throw new Error("no job yet");
    render(await api("GET", `/jobs/${saved}`));
    poll();
  } catch { await newJob(); }
  document.body.dataset.ready = "1";
}
start().catch((e) => showError(e.message));
