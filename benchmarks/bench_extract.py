"""Extraction throughput vs a bare forward pass, and store read-back vs np.load.

Run from the repository root::

    HF_HUB_OFFLINE=1 PYTHONPATH=src python benchmarks/bench_extract.py \
        [--sentences 300] [--repeats 5] [--threads 2] [--device cpu]

1. Extraction: ``ftprobe.encode.extract.extract`` of every layer (first-piece
   pooling) for the POS units of the first N sentences of EWT dev, timed end to
   end (tokenization, batching, model, pooling, copy to float32 arrays).
   The same extraction with the model call replaced by a replay of its recorded
   outputs isolates the work extraction adds (a figure that load from other
   processes on a shared machine disturbs far less than the two above).
2. Bare forward: the very same batches (recorded from one extraction run) fed
   to the model with ``output_hidden_states`` under ``torch.inference_mode``,
   nothing else. Target: extraction within 1.5x of this.
3. Store read-back of one layer: ``RepresentationStore.load`` (memory map;
   header and size checked) followed by a full pass over the values, vs
   ``np.load`` of the same .npy file followed by the same pass; and the
   checksum-verified load for reference.

Every figure is the median of ``--repeats`` runs, after one warm-up run; the
extraction and bare-forward runs alternate so that load from other processes
on a shared machine affects both alike.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from ftprobe.data.registry import load_task
from ftprobe.encode.extract import extract
from ftprobe.encode.models import load_encoder, resolve_model
from ftprobe.encode.store import RepresentationStore


def _median_time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _median_times_interleaved(fns, repeats: int) -> list[float]:
    """Medians for several functions run in turn, so that load on a shared machine hits all."""
    for fn in fns:
        fn()  # warm-up
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for k, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sentences", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--data-dir", default=os.environ.get("FTPROBE_DATA"))
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    ref = resolve_model(None)
    tokenizer, model = load_encoder(ref, args.device)
    task = load_task("pos", "dev", data_dir=args.data_dir)
    keep = set(task.sentences()[: args.sentences])
    task = task.subset([i for i, ex in enumerate(task.examples) if ex.tokens in keep])

    recorded: list[dict[str, torch.Tensor]] = []
    outputs: list[tuple[torch.Tensor, ...]] = []

    def recording_forward(m, inputs):
        recorded.append({k: v.clone() for k, v in inputs.items()})
        hidden = m(**inputs, output_hidden_states=True).hidden_states
        outputs.append(hidden)
        return hidden

    reps = extract(
        task,
        tokenizer,
        model,
        "all",
        "first",
        batch_size=args.batch_size,
        progress=False,
        forward=recording_forward,
    )
    n_pieces = sum(int(b["attention_mask"].sum()) for b in recorded)
    n_positions = sum(int(b["attention_mask"].numel()) for b in recorded)

    inside: list[float] = []  # model time inside each extraction run
    rest: list[float] = []  # the rest of each extraction run

    def timed_forward(m, inputs):
        start = time.perf_counter()
        hidden = m(**inputs, output_hidden_states=True).hidden_states
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()
        inside[-1] += time.perf_counter() - start
        return hidden

    def run_extract() -> None:
        inside.append(0.0)
        start = time.perf_counter()
        extract(
            task,
            tokenizer,
            model,
            "all",
            "first",
            batch_size=args.batch_size,
            progress=False,
            forward=timed_forward,
        )
        rest.append(time.perf_counter() - start - inside[-1])

    def run_overhead_only() -> None:
        # The model replaced by a replay of its recorded outputs: what remains is
        # tokenization, batching, pooling and the copy into the result arrays.
        replay = iter(outputs)
        extract(
            task,
            tokenizer,
            model,
            "all",
            "first",
            batch_size=args.batch_size,
            progress=False,
            forward=lambda m, inputs: next(replay),
        )

    def run_bare() -> None:
        with torch.inference_mode():
            for inputs in recorded:
                model(**inputs, output_hidden_states=True)
        if args.device.startswith("cuda"):
            torch.cuda.synchronize()

    t_bare, t_extract = _median_times_interleaved([run_bare, run_extract], args.repeats)
    t_over = _median_time(run_overhead_only, max(args.repeats, 5))
    t_rest = statistics.median(rest[1:])
    t_inside = statistics.median(inside[1:])
    units = len(task)
    print(f"device {args.device}, torch threads {torch.get_num_threads()}, model {ref.name}")
    print(
        f"task: POS, EWT dev first {args.sentences} sentences: {units} units, "
        f"{len(recorded)} batches of <= {args.batch_size}, {n_pieces} real positions "
        f"({n_positions} with padding), 7 layers, first-piece pooling"
    )
    print(f"bare forward pass : {t_bare:8.3f} s  {units / t_bare:9.1f} units/s")
    print(f"extraction        : {t_extract:8.3f} s  {units / t_extract:9.1f} units/s")
    print(f"extraction / bare : {t_extract / t_bare:8.3f}x  (target <= 1.5x)")
    print(
        f"in extraction runs: model {t_inside:.3f} s, everything else {t_rest:.3f} s "
        f"(= {t_rest / t_inside:.1%} on top of the model)"
    )
    print(
        f"work outside the model (model replaced by a replay of its outputs): "
        f"{t_over:.3f} s = {t_over / t_bare:.1%} of the bare forward pass"
    )

    with tempfile.TemporaryDirectory() as tmp:
        store = RepresentationStore(Path(tmp))
        entry = store.get_or_extract(
            task,
            ref,
            "all",
            "first",
            progress=False,
            encoder=(tokenizer, model),
            batch_size=args.batch_size,
        )
        path = entry.path / entry.manifest["layers"]["6"]["file"]
        size_mb = path.stat().st_size / 2**20

        def store_mmap() -> None:
            float(np.asarray(store.load(entry.key, 6)).sum(dtype=np.float64))

        def store_open_only() -> None:
            store.load(entry.key, 6)

        def store_verified() -> None:
            float(np.asarray(store.load(entry.key, 6, verify=True)).sum(dtype=np.float64))

        def raw_np_load() -> None:
            float(np.load(path).sum(dtype=np.float64))

        def raw_np_mmap() -> None:
            float(np.asarray(np.load(path, mmap_mode="r")).sum(dtype=np.float64))

        reps_check = np.asarray(store.load(entry.key, 6))
        assert np.array_equal(reps_check, reps.layers[6])
        repeats = max(args.repeats, 15)
        t_open = _median_time(store_open_only, repeats)
        t_mmap, t_raw_mmap, t_raw, t_ver = _median_times_interleaved(
            [store_mmap, raw_np_mmap, raw_np_load, store_verified], repeats
        )
        print(
            f"store read-back of layer 6 ({entry.n_examples} x {entry.dim} float32, "
            f"{size_mb:.1f} MiB, file in page cache):"
        )
        print(f"  store.load (memory map, open only)   : {t_open * 1e3:8.2f} ms")
        print(f"  store.load (memory map) + full pass  : {t_mmap * 1e3:8.2f} ms")
        print(f"  np.load(mmap_mode='r') + full pass   : {t_raw_mmap * 1e3:8.2f} ms")
        print(f"  np.load (read into memory) + pass    : {t_raw * 1e3:8.2f} ms")
        print(f"  store.load(verify=True) + full pass  : {t_ver * 1e3:8.2f} ms")
        print(f"  store mmap / raw np.load mmap        : {t_mmap / t_raw_mmap:8.3f}x")
        print(f"  store mmap / raw np.load             : {t_mmap / t_raw:8.3f}x")


if __name__ == "__main__":
    main()
