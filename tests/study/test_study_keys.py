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

STUDY = Path(__file__).resolve().parent / "studies" / "every-job-kind.toml"

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


def test_a_study_plans_the_keys_its_folder_was_made_with() -> None:
    # No data is read: the sizes and depths inspection would find are given.
    plan = plan_study(load_study(STUDY), {"ps-role": 40, "trec-50": 30}, {"m": 2})
    assert plan.count() == COUNTS
    first: dict[str, str] = {}
    for key, job in plan.jobs.items():
        first.setdefault(job.kind, key)
    assert first == FIRST_OF_EACH_KIND
    # Every key, in plan order: one moved key would rerun that job in an old folder.
    assert hashlib.sha256("\n".join(plan.jobs).encode()).hexdigest() == ALL_KEYS_SHA256


def test_a_task_read_with_selecting_options_is_its_own_store_entry(shared_data: Path) -> None:
    # Two jobs reading DEP with and without the root relation must not share a store
    # entry; the data layer names the variant, for the study as for `ftprobe embed`.
    from ftprobe.study.job_specs import TaskRef

    plain = TaskRef("dep", "dev", limit=50, data_dir=str(shared_data)).load()
    rooted = TaskRef(
        "dep", "dev", limit=50, options={"include_root": True}, data_dir=str(shared_data)
    ).load()
    assert plain.name == "dep"
    assert rooted.name == "dep+include_root=true"
    assert (rooted.split, len(rooted)) == (plain.split, 50)
    skipping = TaskRef(
        "trec-6", "test", limit=5, options={"on_bad_line": "skip"}, data_dir=str(shared_data)
    ).load()
    assert skipping.name == "trec-6"  # how a file is read does not make a variant
