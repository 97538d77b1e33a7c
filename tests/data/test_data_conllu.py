"""CoNLL-U reading: POS and DEP on UD EWT, and clear errors for bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from ftprobe.data.conllu import UPOS_TAGS, read_dep, read_pos
from ftprobe.errors import InputError


def test_pos_dev_counts_words_and_labels(ewt_dev: Path) -> None:
    task = read_pos(ewt_dev, "dev")
    assert len(task) == 25_147
    assert task.labels.names == UPOS_TAGS and len(task.labels) == 17
    assert set(task.label_counts()) == set(UPOS_TAGS)
    assert len({ex.sent_id for ex in task.examples}) == 2_001
    # A sentence is its words: repeated lines ("Thank you.") are one sentence, as
    # fine-tuning batches them and the memorization split keeps them on one side.
    assert len(task.sentences()) == 1_913


def test_dep_pairs_exclude_root_and_point_at_real_words(ewt_dev: Path) -> None:
    task = read_dep(ewt_dev, "dev")
    assert len(task) == 25_147 - 2_001  # one root per sentence
    assert "root" not in task.labels and "nmod:poss" in task.labels
    first = task.examples[0]  # "From the AP comes ...": From <-case- AP
    assert first.unit.indices == (2, 0) and first.label == "case"
    with_root = read_dep(ewt_dev, "dev", include_root=True, subtypes=False)
    assert len(with_root) == 25_147 and "nmod:poss" not in with_root.labels


WORD = "{i}\t{form}\t{form}\t{upos}\t_\t_\t{head}\t{rel}\t_\t_"


def _write(tmp_path: Path, text: str | bytes) -> Path:
    path = tmp_path / "x.conllu"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def test_ranges_and_empty_nodes_are_skipped(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "# sent_id = a\n# text = I can't go\n"
        + WORD.format(i=1, form="I", upos="PRON", head=4, rel="nsubj")
        + "\n"
        + "2-3\tcan't\t_\t_\t_\t_\t_\t_\t_\t_\n"
        + WORD.format(i=2, form="ca", upos="AUX", head=4, rel="aux")
        + "\n"
        + WORD.format(i=3, form="n't", upos="PART", head=4, rel="advmod")
        + "\n"
        + "3.1\tgo\tgo\tVERB\t_\t_\t_\t_\t4:conj\t_\n"
        + WORD.format(i=4, form="go", upos="VERB", head=0, rel="root")
        + "\n\n",
    )
    pos = read_pos(path, "dev")
    assert pos.examples[0].tokens == ("I", "ca", "n't", "go")
    assert [(e.unit.indices, e.label) for e in pos.examples][-1] == ((3,), "VERB")
    dep = read_dep(path, "dev")
    assert [(e.unit.indices, e.label) for e in dep.examples] == [
        ((3, 0), "nsubj"), ((3, 1), "aux"), ((3, 2), "advmod"),
    ]  # fmt: skip


GOOD = WORD.format(i=1, form="Hi", upos="INTJ", head=0, rel="root")


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("", None, "empty"),
        ("\n\n", None, "empty"),
        (f"# sent_id = a\n{GOOD}\n\n# sent_id = a\n{GOOD}\n", 4, "duplicate sentence id 'a'"),
        ("# sent_id = a\n1\tHi\tHi\tINTJ\t_\t_\t0\n", 2, "expected 10 tab-separated columns"),
        (f"# sent_id = a\n{GOOD.replace('INTJ', 'WORD')}\n", 2, "UPOS 'WORD'"),
        (
            f"# sent_id = a\n{GOOD.replace(chr(9) + '0' + chr(9), chr(9) + '7' + chr(9))}\n",
            2,
            "HEAD",
        ),
        (f"# sent_id = a\n{GOOD}\n{GOOD}\n", 3, "out of order"),
        (f"# sent_id = a\n{GOOD.replace('1', 'one', 1)}\n", 2, "bad ID"),
    ],
)
def test_bad_conllu_names_file_and_line(
    tmp_path: Path, text: str, line: int | None, fragment: str
) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(InputError, match=fragment) as info:
        read_pos(path, "dev")
    assert info.value.line == line and info.value.path == str(path)


def test_non_utf8_bytes_name_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, f"# sent_id = a\n{GOOD}\n\n".encode() + b"# text = caf\xe9\n")
    with pytest.raises(InputError, match="not valid utf-8") as info:
        read_pos(path, "dev")
    assert info.value.line == 4


def _sentence(*heads: int | str) -> str:
    """A sentence of len(heads) words with these HEADs (word i+1 gets heads[i])."""
    rows = [
        WORD.format(i=i, form=f"w{i}", upos="NOUN", head=h, rel="root" if h == 0 else "dep")
        for i, h in enumerate(heads, start=1)
    ]
    return "# sent_id = s\n" + "\n".join(rows) + "\n\n"


@pytest.mark.parametrize(
    ("heads", "line", "fragment"),
    [
        ((0, 2, 1), 3, r"word 2 is its own HEAD \(a self-loop\)"),
        ((0, 1, 0), 4, "a second root .HEAD 0.: word 1 on line 2 is the sentence's root"),
        ((0, 4, 2, 3), 3, r"cycle \(2 -> 4 -> 3 -> 2\): these words never reach the root"),
        ((2, 3, 1), 2, r"cycle \(1 -> 2 -> 3 -> 1\)"),  # no root at all
    ],
)
def test_heads_that_make_no_tree_name_file_and_line(
    tmp_path: Path, heads: tuple[int, ...], line: int, fragment: str
) -> None:
    path = _write(tmp_path, _sentence(*heads))
    for read in (read_pos, read_dep):
        with pytest.raises(InputError, match=fragment) as info:
            read(path, "dev")
        assert info.value.path == str(path) and info.value.line == line


def test_a_file_without_heads_is_still_read(tmp_path: Path) -> None:
    task = read_pos(_write(tmp_path, _sentence("_", "_", "_")), "dev")
    assert len(task) == 3
