"""Fine-tuning throughput and classifier-probe training time, for planning studies.

Measures, on the CPU unless --device says otherwise:

1. fine-tuning updates of MiniLM-L6 (or --model) at batch 16 sentences on
   PS-role (STREUSLE dev, the shared data's training split) and on a POS slice
   (the first --pos-slice examples of EWT dev): seconds per update and units
   (examples) per second, the median over --updates timed updates after 2
   warm-up updates; plus the time to save one checkpoint and to evaluate
   (forward only) the test split;
2. an end-to-end ``finetune()`` of PS-role for --e2e-steps updates with a
   checkpoint every --e2e-every, wall time including loading and saving;
3. the classifier probe on POS-size vectors (EWT dev -> test, last layer):
   training time (median of --repeats fits), epochs, test accuracy, and one
   learning curve (10%..100%, evaluated on test).

Vectors for 3 come from --pos-vectors/--pos-labels (and the test pair), .npy
arrays plus one label per line; without them they are extracted with ftprobe
(minutes on a CPU).

    PYTHONPATH=src python benchmarks/bench_finetune.py --data-dir ../shared/data --threads 2
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

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from ftprobe.data.registry import load_task  # noqa: E402
from ftprobe.data.task import Task  # noqa: E402
from ftprobe.encode import finetune as ft  # noqa: E402
from ftprobe.encode.alignment import special_template  # noqa: E402
from ftprobe.encode.heads import HeadSpec, UnitHead  # noqa: E402
from ftprobe.encode.models import load_encoder, max_pieces, resolve_model  # noqa: E402
from ftprobe.probes import ClassifierProbe, learning_curve  # noqa: E402


def _update_timing(
    name: str, task: Task, test: Task, model: str, device: str, batch: int, updates: int
) -> None:
    ref = resolve_model(model)
    start = time.perf_counter()
    tokenizer, encoder = load_encoder(ref, device)
    load_s = time.perf_counter() - start
    target = str(next(encoder.parameters()).device)
    template = special_template(tokenizer)
    limit = max_pieces(tokenizer, encoder)
    corpus = ft._Corpus(task, tokenizer, template, limit, "first")
    settings = ft.FinetuneSettings(batch_size=batch)
    torch.manual_seed(0)
    head = UnitHead(
        HeadSpec(task.unit_kind, "first", encoder.config.hidden_size, task.labels.names)
    ).to(target)
    optimizer = ft._optimizer(encoder, head, settings)
    encoder.train()
    head.train()
    order = np.random.default_rng(0).permutation(corpus.n_sentences)
    times, units = [], []
    for k in range(updates + 2):
        lo = (k * batch) % max(corpus.n_sentences - batch + 1, 1)
        chosen = order[lo : lo + batch]
        t0 = time.perf_counter()
        prepared = corpus.batch(chosen)
        logits, labels = ft._forward(encoder, head, prepared, target)
        loss = torch.nn.functional.cross_entropy(logits, labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_([*encoder.parameters(), *head.parameters()], 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if k >= 2:
            times.append(time.perf_counter() - t0)
            units.append(len(labels))
    per_update = statistics.median(times)
    rate = sum(units) / sum(times)
    print(
        f"[finetune] {name}: {len(task)} units in {corpus.n_sentences} sentences "
        f"({len(task) / corpus.n_sentences:.1f} units/sentence); batch {batch} sentences: "
        f"{per_update:.3f} s/update (median of {len(times)}; min {min(times):.3f}, "
        f"max {max(times):.3f}), {rate:.1f} units/s, {batch / per_update:.1f} sentences/s; "
        f"one epoch = {corpus.n_sentences / batch:.0f} updates ~ "
        f"{corpus.n_sentences / batch * per_update:.0f} s; model load {load_s:.1f} s"
    )
    encoder.eval()
    head.eval()
    with tempfile.TemporaryDirectory() as tmp:
        saves = []
        for k in range(3):
            t0 = time.perf_counter()
            ft._save_checkpoint(Path(tmp) / f"step-{k}", encoder, tokenizer, head, {"step": k})
            saves.append(time.perf_counter() - t0)
    dev = ft._Corpus(test, tokenizer, template, limit, "first")
    t0 = time.perf_counter()
    accuracy = ft._accuracy(encoder, head, dev, target)
    eval_s = time.perf_counter() - t0
    print(
        f"[finetune] {name}: checkpoint save {statistics.median(saves):.2f} s (median of 3); "
        f"evaluating {len(test)} test units {eval_s:.2f} s ({len(test) / eval_s:.0f} units/s, "
        f"accuracy {accuracy:.3f} after {updates + 2} updates)"
    )


def _end_to_end(task: Task, model: str, device: str, steps: int, every: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        settings = ft.FinetuneSettings(batch_size=16, max_steps=steps, save_every=every)
        t0 = time.perf_counter()
        run = ft.finetune(task, Path(tmp) / "run", model, settings, device=device, progress=False)
        wall = time.perf_counter() - t0
    print(
        f"[finetune] end to end, {task.name} {steps} updates, {len(run.checkpoints)} "
        f"checkpoints: {wall:.1f} s wall (load, split, updates, saves); final loss "
        f"{run.final.train_loss:.3f}"
    )


def _read_vectors(vectors: Path, labels: Path) -> tuple[np.ndarray, list[str]]:
    return np.load(vectors), labels.read_text(encoding="utf-8").split()


def _pos_vectors(args: argparse.Namespace) -> tuple[np.ndarray, list[str], np.ndarray, list[str]]:
    if args.pos_vectors and args.pos_labels and args.pos_test_vectors and args.pos_test_labels:
        X, y = _read_vectors(args.pos_vectors, args.pos_labels)
        Xt, yt = _read_vectors(args.pos_test_vectors, args.pos_test_labels)
        return X, y, Xt, yt
    from ftprobe.encode.extract import extract

    tokenizer, encoder = load_encoder(resolve_model(args.model), args.device)
    layer = encoder.config.num_hidden_layers
    out = []
    for split in ("dev", "test"):
        task = load_task("pos", split, args.data_dir)
        t0 = time.perf_counter()
        vectors = extract(task, tokenizer, encoder, layers=[layer], progress=False).layers[layer]
        print(f"[probe] extracted POS {split} layer {layer}: {time.perf_counter() - t0:.0f} s")
        out += [vectors, [ex.label for ex in task.examples]]
    return out[0], out[1], out[2], out[3]


def _probe(args: argparse.Namespace) -> None:
    X, y_names, Xt, yt_names = _pos_vectors(args)
    names = sorted(set(y_names) | set(yt_names))
    index = {n: i for i, n in enumerate(names)}
    y = np.array([index[n] for n in y_names])
    yt = np.array([index[n] for n in yt_names])
    fits, probe = [], None
    for r in range(args.repeats):
        t0 = time.perf_counter()
        probe = ClassifierProbe(labels=names, seed=r).fit(X, y)
        fits.append((time.perf_counter() - t0, probe.epochs_))
    assert probe is not None
    scores = probe.report(Xt, yt)
    times = [t for t, _ in fits]
    print(
        f"[probe] POS {X.shape[0]} x {X.shape[1]} -> test {Xt.shape[0]}: fit "
        f"{statistics.median(times):.2f} s (median of {len(times)}: "
        f"{', '.join(f'{t:.2f}' for t in times)}; epochs {[e for _, e in fits]}), "
        f"test accuracy {scores.accuracy:.4f}, macro-F1 {scores.macro_f1:.4f}"
    )
    t0 = time.perf_counter()
    curve = learning_curve(
        X, y, {"test": (Xt, yt)}, seed=0, probe=ClassifierProbe(labels=names, seed=0)
    )
    print(
        f"[probe] learning curve 10%..100% (10 fits), evaluated on test: "
        f"{time.perf_counter() - t0:.1f} s; accuracy "
        f"{', '.join(f'{a:.3f}' for a in curve['accuracy'])}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--model", default="minilm-l6")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--updates", type=int, default=10, help="timed updates per task")
    parser.add_argument("--pos-slice", type=int, default=2000, help="POS examples (a slice)")
    parser.add_argument("--e2e-steps", type=int, default=20)
    parser.add_argument("--e2e-every", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3, help="probe fits to time")
    parser.add_argument("--pos-vectors", type=Path)
    parser.add_argument("--pos-labels", type=Path)
    parser.add_argument("--pos-test-vectors", type=Path)
    parser.add_argument("--pos-test-labels", type=Path)
    parser.add_argument("--skip", nargs="*", default=[], choices=["finetune", "e2e", "probe"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"threads {torch.get_num_threads()}, device {args.device}, torch {torch.__version__}, "
        f"load average at start {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    if "finetune" not in args.skip:
        ps_train = load_task("ps-role", "dev", args.data_dir)
        ps_test = load_task("ps-role", "test", args.data_dir)
        _update_timing(
            "ps-role", ps_train, ps_test, args.model, args.device, args.batch_size, args.updates
        )
        pos_train = load_task("pos", "dev", args.data_dir)
        pos_test = load_task("pos", "test", args.data_dir)
        pos_slice = pos_train.subset(range(min(args.pos_slice, len(pos_train))))
        pos_test_slice = pos_test.subset(range(min(args.pos_slice, len(pos_test))))
        _update_timing(
            f"pos[:{len(pos_slice)}]",
            pos_slice,
            pos_test_slice,
            args.model,
            args.device,
            args.batch_size,
            args.updates,
        )
    if "e2e" not in args.skip:
        ps_train = load_task("ps-role", "dev", args.data_dir)
        _end_to_end(ps_train, args.model, args.device, args.e2e_steps, args.e2e_every)
    if "probe" not in args.skip:
        _probe(args)
    print(f"load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
