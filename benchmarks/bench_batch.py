"""Time `gacn batch` (gacn.batch.run_batch on Dask) on the Lytro pairs.

Two runs into fresh temporary folders: on a local cluster of WORKERS processes x THREADS threads
(what `gacn batch DIR -o OUT --workers W --threads T` does), and through a scheduler address (a
LocalCluster started here and reached with ``Client(address)``, as `--scheduler` does). Prints, per
run, the cluster start-up time, the wall time of the batch, the mean per-pair fusion time on the
workers and the head of batch.csv. With ``--serial`` it also times the same jobs in this process,
one after the other, on THREADS torch threads.

Usage: python benchmarks/bench_batch.py [--dir ../shared/data/pairs/lytro] [--pairs 20]
       [--workers 2] [--threads 1] [--serial] [--head 6]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def summarize(label: str, rows: list[dict], start_s: float, wall_s: float, log: Path, head: int) -> None:
    ok = [r for r in rows if r["status"] == "ok"]
    fuse = [r["fuse_s"] for r in ok]
    total = [r["total_s"] for r in ok]
    workers = sorted({r["worker"] for r in ok})
    print(f"== {label}")
    print(f"cluster start {start_s:.2f} s; batch wall {wall_s:.2f} s for {len(rows)} jobs "
          f"({len(ok)} ok, {len(rows) - len(ok)} not ok) = {len(ok) / wall_s:.2f} jobs/s on {len(workers)} workers")
    if ok:
        print(f"per pair on the workers: fuse {statistics.mean(fuse):.3f} s (median {statistics.median(fuse):.3f}), "
              f"read+fuse+write {statistics.mean(total):.3f} s")
    print(f"{log.name} head:")
    with open(log) as fh:
        for _ in range(head):
            line = fh.readline()
            if not line:
                break
            print("  " + line.rstrip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    data = Path(os.environ.get("GACN_DATA", str(REPO.parent / "shared" / "data")))
    parser.add_argument("--dir", default=str(data / "pairs" / "lytro"), help="folder of jobs (default: Lytro pairs)")
    parser.add_argument("--pairs", type=int, default=20, help="use the first N jobs")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--serial", action="store_true", help="also time the jobs one by one in this process")
    parser.add_argument("--head", type=int, default=6, help="lines of batch.csv to print")
    args = parser.parse_args()

    from distributed import LocalCluster

    from gacn.batch import CSV_NAME, find_jobs, fuse_job, open_client, run_batch

    jobs = find_jobs(args.dir)[: args.pairs]
    print(f"{len(jobs)} jobs from {args.dir}; {args.workers} workers x {args.threads} threads; "
          f"{os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="gacn-bench-batch-") as tmp:
        out = Path(tmp) / "local"
        t0 = time.perf_counter()
        with open_client(args.workers, args.threads) as client:
            t1 = time.perf_counter()
            rows = run_batch(jobs, out, client=client, threads=args.threads, progress=False)
            t2 = time.perf_counter()
        summarize(f"local cluster ({args.workers} x {args.threads})", rows, t1 - t0, t2 - t1, out / CSV_NAME,
                  args.head)

        out = Path(tmp) / "address"
        t0 = time.perf_counter()
        with LocalCluster(n_workers=args.workers, threads_per_worker=args.threads, processes=True,
                          dashboard_address=None) as cluster:
            t1 = time.perf_counter()
            rows = run_batch(jobs, out, scheduler=cluster.scheduler_address, threads=args.threads, progress=False)
            t2 = time.perf_counter()
        summarize(f"scheduler address {cluster.scheduler_address} (connect included in wall)", rows, t1 - t0,
                  t2 - t1, out / CSV_NAME, args.head)

        if args.serial:
            import torch

            import gacn

            out = Path(tmp) / "serial"
            out.mkdir()
            torch.set_num_threads(args.threads)
            gacn.fuse([p for p in jobs[0].inputs])  # load the model outside the timing
            t1 = time.perf_counter()
            rows = [fuse_job(job, out, threads=args.threads) for job in jobs]
            t2 = time.perf_counter()
            ok = [r for r in rows if r["status"] == "ok"]
            print(f"== serial in one process ({args.threads} torch threads)")
            print(f"wall {t2 - t1:.2f} s for {len(rows)} jobs ({len(ok)} ok); per pair fuse "
                  f"{statistics.mean(r['fuse_s'] for r in ok):.3f} s")


if __name__ == "__main__":
    main()
