"""Fine-tuning: loadable checkpoints, records, determinism, resumption, every unit kind."""

from __future__ import annotations

import csv
import json
import os
import random
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from ftprobe.data.registry import load_task
from ftprobe.data.task import Example, LabelSet, Task, Unit, UnitKind
from ftprobe.encode.extract import extract
from ftprobe.encode.finetune import (
    RUN_FILE,
    FinetuneRun,
    FinetuneSettings,
    checkpoint_steps,
    finetune,
    load_checkpoint,
    read_run,
)
from ftprobe.encode.heads import load_head
from ftprobe.encode.models import default_model_dir, resolve_model
from ftprobe.encode.subsplit import load_split
from ftprobe.errors import ConfigError

pytestmark = pytest.mark.slow

SMALL = FinetuneSettings(batch_size=8, max_steps=4, save_every=2)


@pytest.fixture(scope="module", autouse=True)
def _offline_one_thread() -> Iterator[None]:
    # Module scope, so that it also holds for the module-scoped runs below: the
    # same seed gives the same weights only with the same number of threads.
    # One thread, because the CI machine's 2 cores are shared and oversubscribed
    # threads slow these small matrix products down several times over.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("TRANSFORMERS_OFFLINE", "1")
        yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def ps_role(shared_data: Path) -> tuple[Task, Task]:
    train = load_task("ps-role", "dev", shared_data)
    test = load_task("ps-role", "test", shared_data)
    return train.subset(range(32)), test.subset(range(32))


@pytest.fixture(scope="module")
def minilm_run(ps_role: tuple[Task, Task], tmp_path_factory: pytest.TempPathFactory) -> FinetuneRun:
    train, test = ps_role
    out = tmp_path_factory.mktemp("minilm") / "run"
    return finetune(train, out, None, SMALL, eval_task=test, device="cpu", progress=False)


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


def test_checkpoints_load_and_the_weights_moved(minilm_run: FinetuneRun) -> None:
    from transformers import AutoModel

    assert [c.step for c in minilm_run.checkpoints] == [0, 2, 4]
    base = AutoModel.from_pretrained(str(default_model_dir())).state_dict()
    first = AutoModel.from_pretrained(str(minilm_run.checkpoint(0).path)).state_dict()
    last = AutoModel.from_pretrained(str(minilm_run.final.path)).state_dict()
    assert all(torch.equal(base[k], first[k]) for k in base)  # step 0: before any update
    moved = [k for k in base if not torch.equal(base[k], last[k])]
    assert len(moved) > 0.9 * len(base)
    # The encode stage recognises a checkpoint and its step.
    assert resolve_model(minilm_run.checkpoint(2).path).checkpoint_step == 2


def test_records_manifest_and_log(minilm_run: FinetuneRun) -> None:
    out = minilm_run.out
    record = json.loads((minilm_run.final.path / "ftprobe_checkpoint.json").read_text())
    assert record["step"] == 4 and record["seed"] == 13
    assert record["settings"]["save_every"] == 2 and record["eval_split"] == "test"
    assert record["train_loss"] > 0 and 0 <= record["dev_accuracy"] <= 1
    assert minilm_run.checkpoint(0).train_loss is None
    manifest = json.loads((out / RUN_FILE).read_text())
    assert manifest["complete"] and manifest["total_steps"] == 4
    assert [c["path"] for c in manifest["checkpoints"]] == [
        "step-000000",
        "step-000002",
        "step-000004",
    ]
    with open(out / "log.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["step"]) for r in rows] == [1, 2, 3, 4]
    mean_last_two = np.mean([float(r["loss"]) for r in rows[2:]])
    assert minilm_run.final.train_loss == pytest.approx(mean_last_two)
    assert not (out / "state").exists()  # nothing left to resume
    assert read_run(out).checkpoints == minilm_run.checkpoints


def test_recorded_accuracy_is_the_saved_head_on_extracted_vectors(
    minilm_run: FinetuneRun, ps_role: tuple[Task, Task]
) -> None:
    """The head was trained on exactly the vectors extraction gives for the saved encoder."""
    tokenizer, encoder, head, record = load_checkpoint(minilm_run.final.path, "cpu")
    test = ps_role[1]
    layer = encoder.config.num_hidden_layers
    vectors = extract(test, tokenizer, encoder, layers=[layer], progress=False).layers[layer]
    with torch.no_grad():
        predicted = head(torch.from_numpy(vectors)).argmax(dim=1).numpy()
    accuracy = float(np.mean(predicted == np.asarray(test.label_ids)))
    assert accuracy == pytest.approx(record["dev_accuracy"])
    assert head.spec.unit_kind == "span" and head.spec.labels == test.labels.names


def test_split_file_is_saved_with_the_run(minilm_run: FinetuneRun, ps_role) -> None:
    assert minilm_run.split_file is not None
    subtrain, subtest = load_split(minilm_run.split_file).apply(ps_role[0])
    assert len(subtrain) + len(subtest) == 32 and len(subtrain) >= 0.8 * 32


def test_interrupted_run_resumes_to_the_same_weights(
    minilm_run: FinetuneRun, ps_role: tuple[Task, Task], tmp_path: Path
) -> None:
    train, test = ps_role

    class Interrupt(Exception):
        pass

    def stop_at_two(record) -> None:
        if record.step == 2:
            raise Interrupt

    out = tmp_path / "run"
    with pytest.raises(Interrupt):
        finetune(train, out, None, SMALL, eval_task=test, device="cpu", progress=False,
                 on_checkpoint=stop_at_two)  # fmt: skip
    assert not (out / "step-000004").exists()
    resumed = finetune(train, out, None, SMALL, eval_task=test, device="cpu", progress=False)
    assert resumed.resumed_from == 2
    a, b = _weights(minilm_run.final.path), _weights(resumed.final.path)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert [c.train_loss for c in resumed.checkpoints] == [
        c.train_loss for c in minilm_run.checkpoints
    ]


def test_a_finished_run_is_reused_and_other_settings_are_refused(
    minilm_run: FinetuneRun, ps_role: tuple[Task, Task]
) -> None:
    train, test = ps_role
    again = finetune(train, minilm_run.out, None, SMALL, eval_task=test, device="cpu")
    assert again.reused and again.checkpoints == minilm_run.checkpoints
    other = FinetuneSettings(batch_size=8, max_steps=4, save_every=2, learning_rate=1e-4)
    with pytest.raises(ConfigError, match="learning_rate"):
        finetune(train, minilm_run.out, None, other, eval_task=test, device="cpu")


# -- every unit kind, on a tiny BERT (fast) ----------------------------------

CLASSES = {
    "ANIMAL": ["cat", "dog", "horse", "bird"],
    "COLOUR": ["red", "blue", "green", "yellow"],
    "VERB": ["run", "jump", "swim", "sing"],
}


def _toy(kind: UnitKind, n: int, seed: int) -> Task:
    """Sentences of class words; the label follows from the unit's words (learnable)."""
    rng = random.Random(seed)
    words = [(w, c) for c, ws in CLASSES.items() for w in ws]
    examples = []
    for _ in range(n):
        if kind == "sentence":
            c = rng.choice(sorted(CLASSES))
            sent = [(rng.choice(CLASSES[c]), c) for _ in range(rng.randint(3, 6))]
        else:
            sent = [rng.choice(words) for _ in range(rng.randint(3, 6))]
        tokens = tuple(w for w, _ in sent)
        if kind == "word":
            examples += [Example(tokens, Unit.word(i), c) for i, (_, c) in enumerate(sent)]
        elif kind == "span":
            i = rng.randrange(len(sent) - 1)
            examples.append(Example(tokens, Unit.span([i, i + 1]), sent[i][1]))
        elif kind == "pair":
            pairs = {tuple(rng.sample(range(len(sent)), 2)) for _ in range(4)}
            examples += [
                Example(tokens, Unit.pair(h, d), f"{sent[h][1]}>{sent[d][1]}")
                for h, d in sorted(pairs)
            ]
        else:
            examples.append(Example(tokens, Unit.sentence(), sent[0][1]))
    labels = sorted(CLASSES) if kind != "pair" else [f"{a}>{b}" for a in CLASSES for b in CLASSES]
    return Task(
        f"toy-{kind}",
        "train" if seed == 0 else "test",
        examples,
        LabelSet.from_labels(labels),
        kind,
    )


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from transformers import AutoTokenizer, BertConfig, BertModel

    folder = tmp_path_factory.mktemp("tiny-bert")
    tokenizer = AutoTokenizer.from_pretrained(str(default_model_dir()))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(str(folder))
    tokenizer.save_pretrained(str(folder))
    return folder


TOY = FinetuneSettings(epochs=6, batch_size=8, learning_rate=1e-3)


@pytest.mark.parametrize("kind", ["word", "span", "pair", "sentence"])
def test_each_unit_kind_trains_its_head(kind: UnitKind, tiny_bert: Path, tmp_path: Path) -> None:
    train, test = _toy(kind, 96, seed=0), _toy(kind, 48, seed=1)
    run = finetune(
        train, tmp_path / kind, str(tiny_bert), TOY, eval_task=test, device="cpu",
        progress=False, subtrain_fraction=None,
    )  # fmt: skip
    before, after = run.checkpoint(0).dev_accuracy, run.final.dev_accuracy
    assert after >= 0.85 and after > before + 0.3
    head = load_head(run.final.path)
    assert head.spec.unit_kind == kind
    assert head.linear.in_features == (64 if kind == "pair" else 32)  # a pair is two words
    assert run.split_file is None


def test_same_seed_same_weights_other_seed_other_weights(tiny_bert: Path, tmp_path: Path) -> None:
    train = _toy("word", 24, seed=0)
    settings = [TOY, TOY, FinetuneSettings(epochs=6, batch_size=8, learning_rate=1e-3, seed=14)]
    finals = [
        _weights(finetune(train, tmp_path / f"r{i}", str(tiny_bert), s, progress=False).final.path)
        for i, s in enumerate(settings)
    ]
    assert all(torch.equal(finals[0][k], finals[1][k]) for k in finals[0])
    assert not all(torch.equal(finals[0][k], finals[2][k]) for k in finals[0])


def test_checkpoint_steps() -> None:
    assert checkpoint_steps(10, None) == [0, 10]
    assert checkpoint_steps(10, 4) == [0, 4, 8, 10]
    assert checkpoint_steps(8, 4) == [0, 4, 8]


def test_cli_finetunes_a_user_task(tiny_bert: Path, tmp_path: Path) -> None:
    lines = [
        json.dumps({"tokens": list(ex.tokens), "index": ex.unit.indices[0], "label": ex.label})
        for ex in _toy("word", 12, seed=0).examples
    ]
    data = tmp_path / "train.jsonl"
    data.write_text("\n".join(lines) + "\n")
    out = tmp_path / "run"
    command = [
        sys.executable, "-m", "ftprobe", "finetune", "--task", f"jsonl:{data}",
        "--split", "train", "--model", str(tiny_bert), "--out", str(out), "--max-steps", "3",
        "--batch-size", "4", "--save-every", "2", "--no-progress", "--threads", "1",
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert [c.step for c in read_run(out).checkpoints] == [0, 2, 3]
    assert "step-000003" in done.stdout and "run folder" in done.stdout
    # An --out folder holding something else is refused before any work.
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not a fine-tuning run"):
        finetune(_toy("word", 4, seed=0), other, str(tiny_bert), TOY, progress=False)


def test_a_killed_checkpoint_save_is_swept_on_the_next_run(tiny_bert: Path, tmp_path: Path) -> None:
    train = _toy("word", 16, seed=0)
    settings = FinetuneSettings(epochs=1, batch_size=8, learning_rate=1e-3)
    out = tmp_path / "run"
    finetune(train, out, str(tiny_bert), settings, progress=False)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    host = socket.gethostname()
    stale = out / f".step-000002.@{host}@{dead.pid}@0123abcd.tmp"
    stale.mkdir()
    (stale / "model.safetensors").write_bytes(b"half" * 1000)
    live = out / f".step-000002.@{host}@{os.getpid()}@0123abcd.tmp"
    live.mkdir()  # a concurrent save still under way: kept
    run = finetune(train, out, str(tiny_bert), settings, progress=False)
    assert run.reused
    assert not stale.exists() and live.is_dir()
