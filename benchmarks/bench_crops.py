"""1:1 crops of gacn fast, gacn faithful and focus-stack around bright features on out-of-focus surfaces.

Issue 23 ("learned decisions at every scale"). On real stacks, parts of the scene that no frame has in
focus still carry bright detail (silkscreen letters, shiny pins, specular grains). A stacker that takes a
defocused frame's glow for focus paints grey halos around such lines or erodes them; this figure shows
the three tools side by side on the same content, at 1:1 pixels (no resampling).

Stacks (the shared data, ``$GACN_DATA``, default ``../shared/data``):

* ``pcb``  the 7 pcb frames (2048x1536, a macro stack of a circuit board)
* ``v4``   every 4th frame of the microscope sweep from V017 to V049 (9 frames of 1600x1200); the same
  subset for all three tools

Tools (each a child process; command lines and wall times are printed):

* ``fast``         ``gacn fuse FRAMES -o OUT.png --map MAP.png --no-crop`` (the default method)
* ``faithful``     the same with ``--method gacn`` (minutes on 2 cores)
* ``focus-stack``  ``focus-stack --output=OUT.png --align-keep-size FRAMES`` (its default options)

Geometry: by default gacn crops to the area that all aligned frames cover and focus-stack crops its own
way, so their outputs differ in size. ``--no-crop`` and ``--align-keep-size`` keep both at the input size
in the coordinates of the middle frame (both tools register to the middle frame; the stacks have an odd
number of frames, so "middle" is the same frame). The script checks this: it measures the shift of each
output against the faithful one by phase correlation over the central area and reports it; with
``--register`` it shifts the crops by the rounded shift (whole pixels, no resampling).

Outputs are cached in ``--work`` (``STACK_TOOL.png``, ``STACK_TOOL_map.png`` and a ``.json`` with the
command, wall time and exit status). Each run re-runs the fast default (it is the path under change) and
focus-stack only when its command changed; the faithful path is re-run unless
``--skip-faithful-if-cached``; ``--reuse`` re-runs nothing that is cached (for re-drawing the figure).

Per crop it prints the mean absolute difference, in grey levels (luma, 0..255), between the fast default
and the faithful output and between focus-stack and the faithful output.

Usage::

    python benchmarks/bench_crops.py --out docs/scale_crops.png [--work DIR] [--skip-faithful-if-cached]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
TOOLS = ("fast", "faithful", "focus-stack")
LABELS = {"fast": "gacn fast (default)", "faithful": "gacn faithful (--method gacn)", "focus-stack": "focus-stack"}
CROP = 200
#: Crop windows (x, y of the top-left corner, 200x200) in the coordinates of the middle frame (the
#: uncropped outputs), chosen by looking at the full outputs: bright features next to or on surfaces that
#: no frame has in focus.
#:
#: * pcb (1600, 100): the barcode behind the board (white paper between black bars), sharp in the last frame;
#:   the top candidate of :func:`suggest` (where the tools differ most next to bright thin features)
#: * pcb (490, 440): the "Tropical" silkscreen letters on the far board, which no frame has in focus
#: * pcb (1560, 760): a gold pin tip in focus over the defocused board (its glow spreads over the board)
#: * v4 (230, 170): the top edge of a bright solder pad against the dark board behind it
#: * v4 (620, 1000): the bottom ends of two bright leads over the dark, defocused board
WINDOWS = {
    "pcb": [(1600, 100), (490, 440), (1560, 760)],
    "v4": [(230, 170), (620, 1000)],
}


def data_dir() -> Path:
    """$GACN_DATA, else ../shared/data beside the repository."""
    return Path(os.environ.get("GACN_DATA", REPO.parent / "shared" / "data"))


def stacks(root: Path) -> dict[str, list[Path]]:
    """The frames of each stack (the same list for every tool)."""
    pcb = sorted((root / "stacks" / "pcb").glob("pcb_*.jpg"))
    v4 = [root / "stacks" / "microscope_v4" / f"V{k:03d}.jpg" for k in range(17, 50, 4)]
    out = {}
    if len(pcb) == 7:
        out["pcb"] = pcb
    if all(p.exists() for p in v4):
        out["v4"] = v4
    return out


def commands(name: str, frames: list[Path], work: Path, focus_stack: str | None) -> dict[str, list[str]]:
    """The command line of each tool for one stack."""
    files = [str(p) for p in frames]
    gacn = [sys.executable, "-m", "gacn", "fuse", *files, "--no-crop"]
    runs = {
        "fast": [*gacn, "-o", str(work / f"{name}_fast.png"), "--map", str(work / f"{name}_fast_map.png")],
        "faithful": [*gacn, "-o", str(work / f"{name}_faithful.png"), "--map", str(work / f"{name}_faithful_map.png"),
                     "--method", "gacn"],
    }
    if focus_stack:
        runs["focus-stack"] = [focus_stack, f"--output={work / f'{name}_focus-stack.png'}", "--align-keep-size", *files]
    return runs


def commit() -> str:
    """The repository's HEAD (short), with ``+dirty`` when the working tree has changes."""
    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return head + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "?"


def run_cached(cmd: list[str], out: Path, rerun: bool, env: dict[str, str]) -> dict:
    """Run ``cmd`` (which writes ``out``) unless a cached run of the same command exists and ``rerun`` is off."""
    meta_path = out.with_suffix(".json")
    if not rerun and out.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if meta.get("cmd") == cmd and meta.get("rc") == 0:
            return {**meta, "cached": True}
    t = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    meta = {"cmd": cmd, "wall_s": time.perf_counter() - t, "rc": proc.returncode,
            "load": os.getloadavg()[0], "when": time.strftime("%Y-%m-%d %H:%M:%S"), "commit": commit()}
    if proc.returncode != 0:
        print(proc.stdout[-2000:], proc.stderr[-2000:], sep="\n", flush=True)
    meta_path.write_text(json.dumps(meta, indent=1))
    return {**meta, "cached": False}


def luma(img: np.ndarray) -> np.ndarray:
    """Luma (0..255, float32) of a BGR or grey 8-bit image."""
    if img.ndim == 2:
        return img.astype(np.float32)
    return cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32)


def shift_against(ref: np.ndarray, img: np.ndarray) -> tuple[float, float]:
    """(dx, dy) of ``img`` against ``ref`` by phase correlation over the central 80 % (luma)."""
    h, w = ref.shape[:2]
    y0, y1, x0, x1 = h // 10, h - h // 10, w // 10, w - w // 10
    a, b = luma(ref)[y0:y1, x0:x1], luma(img)[y0:y1, x0:x1]
    win = cv2.createHanningWindow(a.shape[::-1], cv2.CV_32F)
    (dx, dy), _ = cv2.phaseCorrelate(a, b, win)
    return dx, dy


def depth_colour(index: np.ndarray, frames: int) -> np.ndarray:
    """A depth map (source index per pixel) in colour: the same scale for every tool of a stack."""
    scaled = np.clip(index.astype(np.float32) * (255.0 / max(frames - 1, 1)), 0, 255).astype(np.uint8)
    return cv2.applyColorMap(scaled, cv2.COLORMAP_VIRIDIS)


def suggest(images: dict[str, np.ndarray], count: int = 6) -> list[tuple[int, int, float]]:
    """Candidate windows: bright thin features (white top-hat of the faithful luma) where the tools differ.

    Score of a 200x200 window: mean of |fast - faithful| + |focus-stack - faithful| over the window's
    pixels within 6 px of a bright feature. Greedy, non-overlapping; printed to help choose by eye.
    """
    ref = luma(images["faithful"])
    tophat = cv2.morphologyEx(ref, cv2.MORPH_TOPHAT, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (15, 15)))
    near = cv2.dilate((tophat > 40).astype(np.uint8), np.ones((13, 13), np.uint8)).astype(np.float32)
    diff = sum(np.abs(luma(images[t]) - ref) for t in ("fast", "focus-stack") if t in images)
    step = CROP // 4
    h, w = ref.shape
    scores = []
    for y in range(CROP // 2, h - CROP - CROP // 2, step):  # keep off the extrapolated borders
        for x in range(CROP // 2, w - CROP - CROP // 2, step):
            m = near[y:y + CROP, x:x + CROP]
            if m.mean() < 0.05:
                continue
            scores.append((float((diff[y:y + CROP, x:x + CROP] * m).sum() / m.sum()), x, y))
    picked: list[tuple[int, int, float]] = []
    for s, x, y in sorted(scores, reverse=True):
        if all(abs(x - px) >= CROP or abs(y - py) >= CROP for px, py, _ in picked):
            picked.append((x, y, s))
        if len(picked) == count:
            break
    return picked


def put(img: np.ndarray, text: str, org: tuple[int, int], scale: float = 0.42, colour=(0, 0, 0)) -> None:
    cv2.putText(img, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, 1, cv2.LINE_AA)


def compose(rows: list[dict], columns: list[str], note: list[str]) -> np.ndarray:
    """One figure: a header, then per row a caption strip and the 1:1 crops side by side."""
    gap, head, cap = 6, 20 + 16 * len(note), 20
    thumb_w = CROP
    width = gap + len(columns) * (CROP + gap) + thumb_w + gap
    height = head + len(rows) * (cap + CROP + gap)
    fig = np.full((height, width, 3), 255, np.uint8)
    for i, line in enumerate(note):
        put(fig, line, (gap, 16 + 16 * i), 0.45)
    for c, name in enumerate([*columns, "where (downscaled)"]):
        put(fig, name, (gap + c * (CROP + gap), head - 8), 0.42)
    y = head
    for row in rows:
        put(fig, row["caption"], (gap, y + 14), 0.42)
        y += cap
        for c, name in enumerate(columns):
            x = gap + c * (CROP + gap)
            fig[y:y + CROP, x:x + CROP] = row["cells"][name]
        x = gap + len(columns) * (CROP + gap)
        t = row["thumb"]
        fig[y:y + t.shape[0], x:x + t.shape[1]] = t
        y += CROP + gap
    return fig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "scale_crops.png")
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench_crops"))
    parser.add_argument("--stacks", default="pcb,v4")
    parser.add_argument("--skip-faithful-if-cached", action="store_true",
                        help="reuse the faithful outputs in --work (they take minutes)")
    parser.add_argument("--reuse", action="store_true", help="re-run nothing that is cached in --work")
    parser.add_argument("--register", action="store_true",
                        help="shift each tool's crops by its measured whole-pixel shift against the faithful output")
    parser.add_argument("--windows", default="",
                        help="override the crop windows: 'pcb:x,y;x,y|v4:x,y' (top-left corners, 200x200)")
    parser.add_argument("--focus-stack", default=shutil.which("focus-stack") or "/tmp/focus-stack-build/build/focus-stack")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    focus_stack = args.focus_stack if args.focus_stack and Path(args.focus_stack).is_file() else None
    if not focus_stack:
        print("focus-stack not found: build it with bash ../shared/peers/focus-stack/build.sh", flush=True)
    windows = {k: list(v) for k, v in WINDOWS.items()}
    for part in filter(None, args.windows.split("|")):
        name, spec = part.split(":")
        windows[name] = [tuple(int(v) for v in xy.split(",")) for xy in spec.split(";")]  # type: ignore[misc]
    env = dict(os.environ, OMP_NUM_THREADS="2", MKL_NUM_THREADS="2")
    print(f"load average {os.getloadavg()[0]:.2f} at start; {os.cpu_count()} CPUs", flush=True)
    available = stacks(data_dir())
    rows: list[dict] = []
    columns: list[str] = []
    for name in args.stacks.split(","):
        if name not in available:
            print(f"{name}: no data, skipped", flush=True)
            continue
        frames = available[name]
        images: dict[str, np.ndarray] = {}
        maps: dict[str, np.ndarray] = {}
        for tool, cmd in commands(name, frames, args.work, focus_stack).items():
            out = args.work / f"{name}_{tool}.png"
            rerun = not args.reuse and (tool == "fast" or (tool == "faithful" and not args.skip_faithful_if_cached))
            meta = run_cached(cmd, out, rerun, env)
            print(f"{name:4s} {tool:12s} {meta['wall_s']:8.1f} s  exit {meta['rc']}"
                  f"{'  (cached, run ' + meta['when'] + ')' if meta['cached'] else ''}  load {meta['load']:.1f}"
                  f"  code {meta.get('commit', '?')}\n"
                  f"     $ {shlex.join(cmd)}", flush=True)
            if meta["rc"] != 0 or not out.exists():
                continue
            images[tool] = cv2.imread(str(out), cv2.IMREAD_COLOR)
            map_path = args.work / f"{name}_{tool}_map.png"
            if map_path.exists():
                maps[tool] = cv2.imread(str(map_path), cv2.IMREAD_UNCHANGED)
        if "faithful" not in images:
            print(f"{name}: no faithful output, skipped", flush=True)
            continue
        ref = images["faithful"]
        shifts = {}
        for tool, img in images.items():
            if img.shape != ref.shape:
                print(f"{name}: {tool} is {img.shape[1]}x{img.shape[0]}, faithful {ref.shape[1]}x{ref.shape[0]}", flush=True)
                continue
            dx, dy = shift_against(ref, img)
            shifts[tool] = (round(dx), round(dy)) if args.register else (0, 0)
            print(f"{name}: {tool} {img.shape[1]}x{img.shape[0]}, shift against faithful dx {dx:+.2f} dy {dy:+.2f} px",
                  flush=True)
        cand = suggest({t: images[t] for t in images if t in shifts})
        print(f"{name}: candidate windows (x, y, score): " + ", ".join(f"({x}, {y}, {s:.1f})" for x, y, s in cand), flush=True)
        tools = [t for t in TOOLS if t in shifts]
        map_tools = [t for t in ("fast", "faithful") if t in maps and maps[t].shape[:2] == ref.shape[:2]]
        cols = [LABELS[t] for t in tools] + [f"depth map: {t}" for t in map_tools]
        columns = cols if len(cols) > len(columns) else columns
        h, w = ref.shape[:2]
        scale = CROP / w
        small = cv2.resize(ref, (CROP, round(h * scale)), interpolation=cv2.INTER_AREA)
        for x, y in windows.get(name, []):
            if x <= 0 and y <= 0:
                continue
            cells = {}
            for t in tools:
                dx, dy = shifts[t]
                cells[LABELS[t]] = images[t][y + dy:y + dy + CROP, x + dx:x + dx + CROP]
            for t in map_tools:
                cells[f"depth map: {t}"] = depth_colour(maps[t][y:y + CROP, x:x + CROP], len(frames))
            f = luma(images["faithful"][y:y + CROP, x:x + CROP])
            mad = {t: float(np.abs(luma(cells[LABELS[t]]) - f).mean()) for t in tools if t != "faithful"}
            print(f"{name} crop x {x} y {y}: mean |fast - faithful| {mad.get('fast', float('nan')):.2f}, "
                  f"|focus-stack - faithful| {mad.get('focus-stack', float('nan')):.2f} grey levels", flush=True)
            thumb = small.copy()
            cv2.rectangle(thumb, (int(x * scale), int(y * scale)), (int((x + CROP) * scale), int((y + CROP) * scale)),
                          (0, 0, 255), 1)
            rows.append({"cells": cells, "thumb": thumb,
                         "caption": f"{name} ({len(frames)} frames, {w}x{h}) crop x={x} y={y}:  mean |fast-faithful| "
                                    f"{mad.get('fast', float('nan')):.1f}, |focus-stack-faithful| "
                                    f"{mad.get('focus-stack', float('nan')):.1f} grey levels"})
    if not rows:
        print("no crops: set the windows (--windows) from the candidates above", flush=True)
        return
    # Rows of a stack without a column (e.g. no focus-stack) get a blank cell.
    for row in rows:
        for c in columns:
            row["cells"].setdefault(c, np.full((CROP, CROP, 3), 255, np.uint8))
    note = ["1:1 pixels, no resampling: 200x200 crops of each tool's full output (gacn --no-crop, focus-stack "
            "--align-keep-size: same geometry)",
            "depth maps (gacn --map): source frame per pixel, viridis from the first frame (dark) to the last (yellow)"]
    fig = compose(rows, columns, note)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), fig, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"wrote {args.out} ({fig.shape[1]}x{fig.shape[0]}, {args.out.stat().st_size / 1e6:.2f} MB)", flush=True)
    print(f"load average {os.getloadavg()[0]:.2f} at the end", flush=True)


if __name__ == "__main__":
    main()
