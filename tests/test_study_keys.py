"""Job keys are a study folder's memory: the same study plans the same keys, release after release.

A finished job is found by its key alone, so a change to how jobs are planned or
held that moved a key would silently rerun (and recompute) every job of an
existing study folder. The keys below were planned by the code before jobs were
typed (commit 89ec20b); a study folder made then must still be reused as it is.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from ftprobe.study.plan import plan_study
from ftprobe.study.spec import load_study

# Every job kind: a search with restarts, both label controls and the random-init
# baseline, MDL, memorization curves, slices, reader options, a cross pair, two seeds.
STUDY = """
name = "keys"
seeds = [13, 14]

[[model]]
name = "m"
path = "minilm-l6"

[[task]]
name = "ps-role"
train_split = "dev"
test_split = "test"
max_train = 120
max_test = 80

[[task]]
name = "trec-50"
train_split = "train"
test_split = "test"
max_train = 60
options = { on_bad_line = "skip" }

[finetune]
epochs = 2
batch_size = 8
learning_rate = 1e-4
save_every = 3
max_steps = 7

[representations]
all_layers_at = ["first", "last"]
every_checkpoint = ["last"]

[probes]
hidden_sizes = [16, 16]
search = true
search_sizes = [8, 16]
search_l2 = [1e-4, 1e-2]
restarts = 2
min_cluster_size = 3
fractions = [0.5, 1.0]
controls = ["control-task", "shuffled", "random-init"]
mdl = true

[[cross]]
finetune = "trec-50"
probe = "ps-role"
"""

# Planned by commit 89ec20b, before the typed jobs.
COUNTS = {
    "finetune": 4,
    "extract": 48,
    "directprobe": 114,
    "classifier": 54,
    "control": 96,
    "mdl": 84,
    "curve": 8,
    "randominit": 2,
}
FIRST_OF_EACH_KIND = {
    "finetune": "finetune-a89e75ec6d5aa98f",
    "extract": "extract-dbcebc6de7128921",
    "directprobe": "directprobe-fc19892c01f9266f",
    "classifier": "classifier-181bc8fd6a69847a",
    "control": "control-178b014ebe6c1522",
    "mdl": "mdl-0fca57dd4c1ab674",
    "curve": "curve-c63de6a70eb2962d",
    "randominit": "randominit-45cd28e94b0127c3",
}
ALL_KEYS_SHA256 = "11ebf72f55ca4b1f97b0b8f4d9121312d1582e825444c5055381d658618d560b"


def test_a_study_plans_the_keys_its_folder_was_made_with(tmp_path: Path) -> None:
    path = tmp_path / "keys.toml"
    path.write_text(STUDY, encoding="utf-8")
    # No data is read: the sizes and depths inspection would find are given.
    plan = plan_study(load_study(path), {"ps-role": 40, "trec-50": 30}, {"m": 2})
    assert plan.count() == COUNTS
    first: dict[str, str] = {}
    for key, job in plan.jobs.items():
        first.setdefault(job.kind, key)
    assert first == FIRST_OF_EACH_KIND
    # Every key, in plan order: one moved key would rerun that job in an old folder.
    assert hashlib.sha256("\n".join(plan.jobs).encode()).hexdigest() == ALL_KEYS_SHA256
