"""STREUSLE PS-role / PS-fxn units, checked against the published reference folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from ftprobe.data.prepacked import read_entities, read_label_set
from ftprobe.data.streusle import read_ps
from ftprobe.data.task import LabelSet
from ftprobe.errors import InputError


@pytest.mark.parametrize(("split", "ref", "count"), [("dev", "train", 462), ("test", "test", 485)])
def test_ps_role_units_match_the_reference_folder_line_by_line(
    shared_data: Path, reference_task: Path, split: str, ref: str, count: int
) -> None:
    task = read_ps(shared_data / f"streusle/streusle.ud_{split}.conllulex", split)
    expected = read_entities(reference_task / f"entities/{ref}.txt")
    # The published folder names each unit by its first word's form.
    got = [(ex.tokens[ex.unit.indices[0]], ex.label) for ex in task.examples]
    assert len(got) == count
    assert got == expected


def test_ps_role_label_set_is_the_reference_tags(shared_data: Path, reference_task: Path) -> None:
    dev = read_ps(shared_data / "streusle/streusle.ud_dev.conllulex", "dev")
    test = read_ps(shared_data / "streusle/streusle.ud_test.conllulex", "test")
    union = LabelSet.from_labels([*dev.labels, *test.labels])
    assert union == read_label_set(reference_task / "labels/tags.txt")
    assert len(union) == 41 and len(dev.labels) == 40


def test_multiword_adpositions_are_spans_with_gaps_kept(shared_data: Path) -> None:
    task = read_ps(shared_data / "streusle/streusle.ud_dev.conllulex", "dev")
    texts = {ex.text for ex in task.examples if len(ex.unit.indices) > 1}
    assert {"because of", "on top of", "more than"} <= texts
    gapped = {
        ex.text: " ".join(ex.tokens[ex.unit.indices[0] : ex.unit.indices[-1] + 1])
        for ex in task.examples
        if ex.unit.indices[-1] - ex.unit.indices[0] + 1 != len(ex.unit.indices)
    }
    # discontinuous expressions keep only their own words
    assert gapped == {"to face": "to my face", "d t": "d / t", "on the side": "on the small side"}


def test_ps_fxn_uses_ss2_on_the_same_units(shared_data: Path) -> None:
    path = shared_data / "streusle/streusle.ud_dev.conllulex"
    role, fxn = read_ps(path, "dev", "role"), read_ps(path, "dev", "fxn")
    assert [e.unit for e in role.examples] == [e.unit for e in fxn.examples]
    first = role.examples[1], fxn.examples[1]  # 'my': SocialRel as role, Gestalt as function
    assert (first[0].text, first[0].label, first[1].label) == ("my", "p.SocialRel", "p.Gestalt")


LINE = "\t".join(
    ["{id}", "{form}", "{form}", "ADP", "IN", "_", "{head}", "case", "_", "_"]
    + ["{smwe}", "P", "{form}", "{ss}", "{ss2}", "_", "_", "_", "O"]
)


def _sentence(*rows: str, sid: str = "s1") -> str:
    return f"# sent_id = {sid}\n" + "\n".join(rows) + "\n\n"


def test_conllulex_with_range_and_mwe(tmp_path: Path) -> None:
    text = _sentence(
        "1-2\tcannot\t_\t_\t_\t_\t_\t_\t_\t_\t_\t_\t_\t_\t_\t_\t_\t_\t_",
        LINE.format(id=1, form="can", head=0, smwe="_", ss="_", ss2="_"),
        LINE.format(id=2, form="not", head=1, smwe="_", ss="_", ss2="_"),
        LINE.format(
            id=3, form="because", head=1, smwe="1:1", ss="p.Explanation", ss2="p.Explanation"
        ),
        LINE.format(id=4, form="really", head=1, smwe="_", ss="_", ss2="_"),
        LINE.format(id=5, form="of", head=1, smwe="1:2", ss="_", ss2="_"),
        LINE.format(id=6, form="in", head=1, smwe="_", ss="p.Locus", ss2="p.Locus"),
    )
    (tmp_path / "a.conllulex").write_text(text)
    task = read_ps(tmp_path / "a.conllulex", "dev")
    assert [(e.unit.indices, e.text, e.label) for e in task.examples] == [
        ((2, 4), "because of", "p.Explanation"),
        ((5,), "in", "p.Locus"),
    ]


def test_conllulex_bad_inputs_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "b.conllulex"
    ok = LINE.format(id=1, form="in", head=0, smwe="_", ss="p.Locus", ss2="p.Locus")
    path.write_text(_sentence(ok) + _sentence(ok, sid="s1"))
    with pytest.raises(InputError, match="duplicate sentence id 's1'") as info:
        read_ps(path, "dev")
    assert info.value.line == 4
    path.write_text(_sentence(ok.rsplit("\t", 3)[0]))
    with pytest.raises(InputError, match="expected 19 tab-separated columns, found 16") as info:
        read_ps(path, "dev")
    assert info.value.line == 2
    path.write_text(_sentence(ok.replace("p.Locus\tp.Locus", "p.Locus\t_")))
    with pytest.raises(InputError, match="SS2") as info:
        read_ps(path, "dev")
    assert info.value.line == 2
