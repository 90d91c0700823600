"""The ``gacn`` command: fuse, demo, train, metrics."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import numpy as np
import typer

from gacn.io import (
    JPEG_QUALITY,
    InputError,
    check_image_output,
    check_inputs_exist,
    check_jpeg_quality,
    check_writable,
    output_folder,
    read_metadata,
    write_image,
)

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Multi-focus image fusion (focus stacking) with the GACN network.",
)

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print a one-line error to stderr and return the Exit to raise."""
    typer.echo(f"gacn: error: {message}", err=True)
    return typer.Exit(code)


def user_errors(func: F) -> F:
    """Turn the errors a user can cause into one line on stderr and a non-zero exit."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except InputError as exc:
            raise fail(str(exc)) from None
        except KeyboardInterrupt:
            raise fail("interrupted", 130) from None
        except MemoryError:
            raise fail("out of memory: try a smaller image") from None

    return wrapper  # type: ignore[return-value]


Device = Annotated[str, typer.Option("--device", help="cpu or cuda")]


def log_to_stderr() -> None:
    """Show the package's INFO log messages (e.g. the motion of each frame) as ``gacn: ...`` lines."""
    import logging

    logger = logging.getLogger("gacn")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("gacn: %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)


@app.command()
@user_errors
def fuse(
    images: Annotated[list[Path], typer.Argument(
        help="Two or more images of one scene focused at different depths, in focus order: files, "
             "folders (their images, sorted by name) or quoted glob patterns.")],
    output: Annotated[Path, typer.Option(
        "-o", "--output", help="Fused image to write; the format follows the extension: .png, .tif/.tiff, .jpg/.jpeg.")],
    map_path: Annotated[Path | None, typer.Option(
        "--map", help="Also write the map: for two images the decision map (8-bit PNG, weight of image 1); "
                      "for more the depth map (the source index per pixel, regularised where focus does "
                      "not single out a frame; 8-bit, 16-bit over 256 frames) and a colourised "
                      "MAP-stem_preview.png.")] = None,
    raw_map_path: Annotated[Path | None, typer.Option(
        "--raw-map", help="Also write the source index per pixel as measured, before flat areas are decided "
                          "from their surroundings and specks removed (8-bit, 16-bit over 256 frames).")] = None,
    confidence_path: Annotated[Path | None, typer.Option(
        "--confidence", help="Also write the confidence map (0..1 scaled to the file's range; 0 where focus "
                             "did not decide).")] = None,
    method: Annotated[str, typer.Option(
        "--method", help="fast (default: a cheap focus measure where it is clear, the network on close calls "
                         "and focus boundaries) or gacn (the published network on every pixel: the faithful "
                         "path).")] = "fast",
    strategy: Annotated[str, typer.Option(
        "--strategy", help="With --method gacn: running (default: each frame vs the best so far), calibration (the method's, "
                           "reference frame 0) or serial (fuse 1 with 2, the result with 3, ...).")] = "running",
    align: Annotated[bool | None, typer.Option(
        "--align/--no-align", help="Register frames to the middle one (default: on for 3 or more).",
        show_default=False)] = None,
    crop: Annotated[bool, typer.Option(
        "--crop/--no-crop", help="With alignment, crop to the area all frames cover.")] = True,
    tile: Annotated[int, typer.Option("--tile", help="Tile side for the network (memory grows with its square).")] = 256,
    refine: Annotated[bool, typer.Option(
        "--refine/--no-refine", help="Re-decide pixels next to each focus boundary with the learned boundary "
                                     "refiner (pairs and the running and serial strategies; --no-refine: the "
                                     "published method's map).")] = True,
    match_exposure: Annotated[bool | None, typer.Option(
        "--match-exposure/--no-match-exposure", help="Bring every frame to the first one's exposure and colour "
        "balance before deciding and blending (default: on with --method fast, off with gacn).",
        show_default=False)] = None,
    fill_flat: Annotated[bool | None, typer.Option(
        "--fill-flat/--no-fill-flat", help="--method fast (default on): where no frame has texture, decide from "
                                           "the surroundings instead of the noise.", show_default=False)] = None,
    weights: Annotated[Path | None, typer.Option("--weights", help="safetensors weights (default: shipped).")] = None,
    device: Device = "cpu",
    strip_metadata: Annotated[bool, typer.Option(
        "--strip-metadata", help="Write the pixels only; by default the output carries the first image's EXIF "
                                 "(upright: orientation 1, no thumbnail), XMP and ICC profile, the software "
                                 "and the number of frames.")] = False,
    jpeg_quality: Annotated[int, typer.Option("--jpeg-quality", help="Quality of a JPEG output (1..95).")]
    = JPEG_QUALITY,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="Log each frame's estimated motion.")] = False,
) -> None:
    """Fuse photos (a pair or a focus stack) focused at different depths into one sharp image."""
    if verbose:
        log_to_stderr()
    check_inputs_exist(images)
    check_jpeg_quality(jpeg_quality)
    preview = map_path.with_name(map_path.stem + "_preview.png") if map_path else None
    targets = [output] + [p for p in (map_path, preview, raw_map_path, confidence_path) if p]
    for target in targets:
        check_image_output(target, images)

    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    import gacn
    from gacn.fusion.blend import index_file, index_preview
    from gacn.fusion.frames import expand_inputs

    if method not in gacn.METHODS:
        raise InputError(f"unknown method {method!r}: use one of {', '.join(gacn.METHODS)}")
    if strategy not in gacn.STRATEGIES:
        raise InputError(f"unknown strategy {strategy!r}: use one of {', '.join(gacn.STRATEGIES)}")
    if method != "gacn" and strategy != gacn.DEFAULT_STRATEGY:
        raise InputError(f"--strategy {strategy} belongs to --method gacn (the faithful path)")
    if method == "gacn" and fill_flat:
        raise InputError("--fill-flat belongs to --method fast: the faithful path decides every pixel with the network")
    files = expand_inputs(images)
    if len(files) < 2:
        raise InputError(f"need at least two images to fuse, got {len(files)}")
    if tile < 16:
        raise InputError(f"--tile must be at least 16, got {tile}")
    for target in targets:
        check_writable(target, files)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("ETA"), TimeRemainingColumn())
    with Progress(*columns, console=Console(stderr=True), transient=True, disable=len(files) < 3) as bar:
        tasks: dict[str, Any] = {}

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                names = {"measure": "measuring frames", "decide": "deciding", "blend": "blending"}
                tasks[stage] = bar.add_task(names.get(stage, stage), total=total)
            bar.update(tasks[stage], completed=done, total=total)

        result = gacn.fuse(files, weights=weights, device=device, method=method, strategy=strategy, align=align, crop=crop,
                           tile=tile, progress=report, refine=refine, match_exposure=match_exposure,
                           fill_flat=fill_flat)
    write_image(output, result.image, None if strip_metadata else read_metadata(files[0]), frames=len(files),
                jpeg_quality=jpeg_quality)
    if map_path and preview:
        if len(files) == 2:
            write_image(map_path, np.clip(np.rint(result.decision_map * 255), 0, 255).astype(np.uint8))
        else:
            write_image(map_path, index_file(result.depth_map, len(files)))
        write_image(preview, index_preview(result.depth_map, len(files)))
    if raw_map_path:
        write_image(raw_map_path, index_file(result.raw_index_map, len(files)))
    if confidence_path:
        write_image(confidence_path, result.confidence)
    typer.echo(f"wrote {output} from {len(files)} images ({sum(result.timings.values()):.2f} s)")


@app.command()
@user_errors
def batch(
    input_dir: Annotated[Path, typer.Argument(
        help="Folder of jobs: each sub-folder with two or more images is one stack (sorted by name); "
             "loose files NAME_1.ext, NAME_2.ext, ... are one job per NAME.")],
    output: Annotated[Path, typer.Option(
        "-o", "--output", help="Folder for NAME.png (NAME.tif for TIFF/RAW inputs), NAME_map.png and batch.csv.")],
    workers: Annotated[int, typer.Option("--workers", help="Local worker processes.")] = 2,
    threads: Annotated[int, typer.Option("--threads", help="Threads per worker (and torch threads per job).")] = 1,
    scheduler: Annotated[str | None, typer.Option(
        "--scheduler", help="Run on an existing Dask cluster (e.g. tcp://host:8786) instead of local workers.")] = None,
    weights: Annotated[Path | None, typer.Option("--weights", help="safetensors weights (default: shipped).")] = None,
    device: Device = "cpu",
    method: Annotated[str, typer.Option(
        "--method", help="fast (default) or gacn (the faithful path), as for gacn fuse.")] = "fast",
    strategy: Annotated[str, typer.Option(
        "--strategy", help="With --method gacn, for stacks of three or more: running, calibration or serial.")] = "running",
    align: Annotated[bool | None, typer.Option(
        "--align/--no-align", help="Register frames to the middle one (default: on for 3 or more).",
        show_default=False)] = None,
    no_maps: Annotated[bool, typer.Option("--no-maps", help="Do not write NAME_map.png.")] = False,
) -> None:
    """Fuse every pair or stack in a folder in parallel on Dask; jobs already done are skipped."""
    import time

    from gacn.batch import CSV_NAME, find_jobs, run_batch

    start = time.perf_counter()
    jobs = find_jobs(input_dir, exclude=[output])
    rows = run_batch(jobs, output, weights=weights, device=device, method=method, strategy=strategy,
                     write_maps=not no_maps, workers=workers, threads=threads, scheduler=scheduler, align=align)
    counts = {s: sum(r["status"] == s for r in rows) for s in ("ok", "skipped", "failed")}
    for row in rows:
        if row["status"] == "failed":
            typer.echo(f"gacn: {row['name']}: {row['error']}", err=True)
    typer.echo(f"{len(rows)} jobs: {counts['ok']} ok, {counts['skipped']} skipped, {counts['failed']} failed "
               f"in {time.perf_counter() - start:.1f} s; log {output / CSV_NAME}")
    if counts["failed"]:
        raise typer.Exit(1)


@app.command()
@user_errors
def demo(
    out_dir: Annotated[Path, typer.Option("-o", "--out", help="Folder for the demo images.")] = Path("gacn-demo"),
    weights: Annotated[Path | None, typer.Option("--weights", help="safetensors weights (default: shipped).")] = None,
    device: Device = "cpu",
) -> None:
    """Fuse a built-in synthetic pair with a known focus mask and report the accuracy."""
    from gacn.demo import run_demo

    output_folder(out_dir)
    scores = run_demo(out_dir, device=device, weights=None if weights is None else str(weights))
    typer.echo(f"decision accuracy {scores['accuracy']:.4f}  IoU {scores['iou']:.4f}  "
               f"PSNR {scores['psnr_db']:.2f} dB  fusion time {scores['seconds']:.2f} s")
    typer.echo(f"images written to {out_dir}/ (source_1, source_2, fused, decision_map, side_by_side)")


@app.command()
@user_errors
def serve(
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8765,
    root: Annotated[Path | None, typer.Option(
        "--root", help="Folder whose sub-folders the page may open stacks from and save into (nothing outside).")]
    = None,
    open_browser: Annotated[bool, typer.Option("--open", help="Open the page in the default browser.")] = False,
    host: Annotated[str, typer.Option("--host", help="Interface to listen on; not 127.0.0.1 exposes the app.")]
    = "127.0.0.1",
    max_upload_mb: Annotated[int, typer.Option("--max-upload-mb", help="Largest upload per file.")] = 1024,
    token: Annotated[str | None, typer.Option(
        "--token", envvar="GACN_TOKEN",
        help="Secret every request must carry, for scripts (default: a random one per launch, in the printed "
             "address).")] = None,
) -> None:
    """Start the local web app: load a stack, fuse, inspect the maps, retouch and save in the browser."""
    from gacn.web import serve as run_server

    if root is not None and not root.is_dir():
        raise InputError(f"--root {root}: no such folder")
    run_server(host=host, port=port, root=root, open_browser=open_browser, max_upload_mb=max_upload_mb, token=token)


@app.command("export-onnx")
@user_errors
def export_onnx_command(
    out: Annotated[Path, typer.Argument(help="Output .onnx file.")],
    weights: Annotated[Path | None, typer.Option("--weights", help="safetensors weights (default: shipped).")] = None,
) -> None:
    """Export the network (two gray inputs -> raw decision map) to ONNX, e.g. for ONNX Runtime."""
    try:
        from gacn.model.onnx import export_onnx
    except ImportError as exc:
        raise InputError(f"ONNX export needs the onnx package: pip install 'gacn[onnx]' ({exc.name} missing)") from None
    check_writable(out)
    typer.echo(f"wrote {export_onnx(out, weights)}")


def _run_training(make_run: Callable[[], Any], out: Path) -> None:
    """Build and run a resumable training run; print its summary, or how to resume after Ctrl-C."""
    try:
        summary = make_run().run()
    except (FileNotFoundError, ValueError) as exc:
        raise InputError(str(exc)) from None
    except KeyboardInterrupt:
        typer.echo(f"interrupted: checkpoint saved in {out}/last.pt; continue with --resume", err=True)
        raise typer.Exit(130) from None
    typer.echo(json.dumps(summary))


@app.command()
@user_errors
def train(
    data: Annotated[Path, typer.Option("--data", help="Data folder with train/bsds500 (or the bsds500 folder).")],
    out: Annotated[Path, typer.Option("--out", help="Checkpoint folder (last.pt, best.safetensors, log.csv).")],
    steps: Annotated[int, typer.Option("--steps", help="Total optimisation steps.")] = 3000,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from OUT/last.pt.")] = False,
    batch: Annotated[int, typer.Option("--batch")] = 8,
    crop: Annotated[int, typer.Option("--crop", help="Training crop side in pixels.")] = 112,
    lr: Annotated[float, typer.Option("--lr")] = 1e-3,
    val_every: Annotated[int, typer.Option("--val-every")] = 100,
    val_pairs: Annotated[int, typer.Option("--val-pairs", help="Held-out pairs per validation.")] = 96,
    threads: Annotated[int, typer.Option("--threads", help="torch threads (0: default).")] = 0,
    bf16: Annotated[bool, typer.Option("--bf16/--fp32", help="bf16 autocast for the forward pass.")] = True,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    init: Annotated[Path | None, typer.Option("--init", help="Start from these weights (fine-tuning).")] = None,
    loss: Annotated[str, typer.Option("--loss", help="ga (Dice + 1 - soft Q_G) or dice (ablation).")] = "ga",
    se: Annotated[bool, typer.Option("--se/--no-se", help="With the squeeze-excitation blocks (--no-se: ablation).")]
    = True,
    recipe: Annotated[str, typer.Option("--recipe", help="ours (full synthesis mix) or reference (ablation).")]
    = "ours",
    device: Device = "cpu",
) -> None:
    """Train GACN on synthetic pairs made on the fly from BSDS500 photos (resumable)."""
    from gacn.training.train import TrainConfig, Trainer

    if not resume and (out / "last.pt").exists():
        raise InputError(f"{out} already holds a run: pass --resume to continue it or pick another --out")
    if init is not None and not init.is_file():
        raise InputError(f"--init {init}: no such weights file")
    cfg = TrainConfig(data=str(data), out=str(out), steps=steps, batch=batch, crop=crop, lr=lr,
                      val_every=val_every, val_pairs=val_pairs, threads=threads, bf16=bf16, seed=seed, device=device,
                      init=None if init is None else str(init), loss=loss, se=se, recipe=recipe)
    _run_training(lambda: Trainer(cfg, resume=resume), out)


@app.command("train-refiner")
@user_errors
def train_refiner(
    data: Annotated[Path, typer.Option("--data", help="Data folder with train/bsds500 (or the bsds500 folder).")],
    out: Annotated[Path, typer.Option("--out", help="Run folder (pool.npy, last.pt, best.safetensors, log.csv).")],
    steps: Annotated[int, typer.Option("--steps", help="Total optimisation steps.")] = 3000,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from OUT/last.pt.")] = False,
    batch: Annotated[int, typer.Option("--batch")] = 16,
    crop: Annotated[int, typer.Option("--crop", help="Side of the pairs in pixels.")] = 128,
    pool: Annotated[int, typer.Option("--pool", help="Training pairs made once with the network's maps.")] = 6000,
    lr: Annotated[float, typer.Option("--lr", help="Peak learning rate of the one-cycle schedule.")] = 2e-3,
    val_every: Annotated[int, typer.Option("--val-every")] = 250,
    val_pairs: Annotated[int, typer.Option("--val-pairs", help="Held-out pairs from the val photos.")] = 200,
    threads: Annotated[int, typer.Option("--threads", help="torch threads (0: default).")] = 0,
    seed: Annotated[int, typer.Option("--seed")] = 0,
    weights: Annotated[Path | None, typer.Option("--weights", help="GACN weights whose maps are refined.")] = None,
    init: Annotated[Path | None, typer.Option("--init", help="Start from these refiner weights (fine-tuning).")] = None,
    device: Device = "cpu",
) -> None:
    """Train the boundary refiner behind a frozen GACN (resumable)."""
    from gacn.training.refiner import RefinerConfig, RefinerTrainer

    if init is not None and not init.is_file():
        raise InputError(f"--init {init}: no such refiner weights file")
    if not resume and (out / "last.pt").exists():
        raise InputError(f"{out} already holds a run: pass --resume to continue it or pick another --out")
    cfg = RefinerConfig(data=str(data), out=str(out), steps=steps, batch=batch, crop=crop, pool=pool, lr=lr,
                        val_every=val_every, val_pairs=val_pairs, threads=threads, seed=seed, device=device,
                        gacn_weights=None if weights is None else str(weights),
                        init=None if init is None else str(init))
    _run_training(lambda: RefinerTrainer(cfg, resume=resume), out)


@app.command()
@user_errors
def metrics(
    a: Annotated[Path, typer.Argument(help="Source image 1.")],
    b: Annotated[Path, typer.Argument(help="Source image 2.")],
    f: Annotated[Path, typer.Argument(help="Fused image.")],
    names: Annotated[str | None, typer.Option("--metrics", help="Comma-separated names, e.g. Q_G,Q_M.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of NAME VALUE lines.")] = False,
) -> None:
    """Score a fusion with the standard no-reference fusion metrics."""
    from gacn import metrics as m

    try:
        report, notes = m.cli_report(a, b, f, names, as_json)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    typer.echo(report)
    for note in notes:
        typer.echo(f"gacn: {note}", err=True)



@app.command()
@user_errors
def benchmark(
    folders: Annotated[list[Path] | None, typer.Argument(
        metavar="[DATASETS]...", help="Folders of NAME_1 / NAME_2 pairs (e.g. pairs/lytro): print a table of metric "
                                      "means. Not with --report.", show_default=False)] = None,
    report: Annotated[Path | None, typer.Option(
        "--report", help="Run the benchmark suite (--datasets) and write REPORT/results.md, results.csv and "
                         "figures/ (needs matplotlib: pip install 'gacn[report]').")] = None,
    data: Annotated[Path | None, typer.Option(
        "--data", help="With --report: shared data folder of the real sets (default: $GACN_DATA or ../shared/data).",
        show_default=False)] = None,
    cache: Annotated[Path, typer.Option(
        "--cache", help="With --report: fused images and scores, reused while the method and sources are unchanged.")]
    = Path(".benchmark-cache"),
    suite: Annotated[str, typer.Option(
        "--datasets", help="With --report: comma-separated lytro, classic, triples, synthetic, halo, defocus, "
                           "exposure.")]
    = "lytro,classic,triples,synthetic,halo,defocus,exposure",
    methods: Annotated[str | None, typer.Option(
        "--methods", help="Comma-separated: gacn (the faithful path), gacn-method (without the boundary "
                          "refinement), gacn-fast (the default fast path), naive-laplacian, "
                          "average, source-1, laplacian-pyramid, dwt, gff, block-sf, enfuse (if installed). Default: "
                          "all with --report, else gacn, naive-laplacian, average, source-1.",
        show_default=False)] = None,
    metric_names: Annotated[str, typer.Option("--metrics", help="Comma-separated metric names.")] = "Q_G,Q_M,Q_CB,Q_P,Q_CV",
    csv_path: Annotated[Path | None, typer.Option("--csv", help="Write per-pair scores here (folders only).")] = None,
    save_dir: Annotated[Path | None, typer.Option(
        "--save", help="Write fused images under this folder (folders only).")] = None,
    weights: Annotated[Path | None, typer.Option("--weights", help="safetensors weights (default: shipped).")] = None,
    device: Device = "cpu",
) -> None:
    """Score fusion methods: on folders of real pairs (a table of metric means), or on the whole
    benchmark suite with --report (tables, box plots, montages and times in REPORT/results.md)."""
    from gacn import metrics as m
    from gacn.evaluation.benchmark import (
        builtin_methods,
        find_pairs,
        run_benchmark,
        summary_table,
    )

    if report is None and not folders:
        raise InputError("give folders of NAME_1 / NAME_2 pairs, or --report DIR for the whole benchmark suite")
    if report is not None and (folders or csv_path or save_dir):
        raise InputError("--report runs the --datasets suite and writes its own results.csv: "
                         "no folders, --csv or --save with it")
    if weights is not None and not weights.is_file():
        raise InputError(f"weights file not found: {weights}")
    available = builtin_methods(None if weights is None else str(weights), device)
    default = ",".join(available) if report is not None else "gacn,naive-laplacian,average,source-1"
    chosen = [s.strip() for s in (methods or default).split(",") if s.strip()]
    unknown = [s for s in chosen if s not in available]
    if unknown or not chosen:
        raise InputError(f"unknown method(s) {', '.join(unknown) or '(none)'}; known: {', '.join(available)}")
    try:
        names = m.parse_names(metric_names)
    except ValueError as exc:
        raise InputError(str(exc)) from None
    if report is not None:
        benchmark_report(report, data, cache, suite, chosen, names, weights, device)
        return
    if csv_path is not None:
        check_writable(csv_path)
    sets = [find_pairs(d) for d in folders or []]
    rows = run_benchmark(sets, {k: available[k] for k in chosen}, names, csv_path, save_dir)
    typer.echo(summary_table(rows, names))


def benchmark_report(report: Path, data: Path | None, cache: Path, suite: str, chosen: list[str], names: list[str],
                     weights: Path | None, device: str) -> None:
    """``gacn benchmark --report``: run the suite (cached) and write the report."""
    import importlib.util

    from gacn.evaluation.datasets import DATASET_NAMES, load_dataset
    from gacn.evaluation.report import write_report
    from gacn.evaluation.scoring import ResultCache, builtin_specs, run_suite

    if importlib.util.find_spec("matplotlib") is None:
        raise InputError("--report needs matplotlib: pip install 'gacn[report]'")
    dataset_names = [s.strip() for s in suite.split(",") if s.strip()]
    unknown = [s for s in dataset_names if s not in DATASET_NAMES]
    if unknown or not dataset_names:
        raise InputError(f"unknown dataset(s) {', '.join(unknown) or '(none)'}; known: {', '.join(DATASET_NAMES)}")
    specs = builtin_specs(None if weights is None else str(weights), device)
    specs = {k: specs[k] for k in chosen}
    sets = [load_dataset(n, data) for n in dataset_names]
    store = ResultCache(cache)
    result = run_suite(sets, specs, store, names)
    command = (f"gacn benchmark --report {report} --datasets {','.join(dataset_names)} --methods {','.join(chosen)} "
               f"--metrics {','.join(names)}")
    path = write_report(report, sets, specs, result, store, names, command)
    for failure in result.failures:
        typer.echo(f"gacn: {failure['method']} failed on {failure['dataset']}/{failure['item']}: {failure['error']}",
                   err=True)
    typer.echo(f"wrote {path}: {len(result.rows)} fusions scored, {len(result.failures)} failed; cache {cache}")
