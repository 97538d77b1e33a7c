"""``--option KEY=VALUE``: every command that reads a task parses it the same way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ftprobe.cli import embed as embed_cli
from ftprobe.cli.main import app
from ftprobe.cli.options import parse_options, reader_options
from ftprobe.errors import ConfigError


def test_keys_use_underscores_and_spaces_are_dropped() -> None:
    assert parse_options([" include-root = true", "encoding=latin-1"]) == {
        "include_root": "true",
        "encoding": "latin-1",
    }
    assert reader_options(None, "skip") == {"on_bad_line": "skip"}
    assert reader_options(["a=1", "a=2"], None) == {"a": "2"}


@pytest.mark.parametrize("pair", ["nothing", "=true"])
def test_a_pair_without_a_key_is_refused_quoting_it(pair: str) -> None:
    with pytest.raises(ConfigError, match=rf"--option '{pair}': expected KEY=VALUE"):
        parse_options([pair])


@pytest.mark.parametrize(
    "command",
    [
        ["data", "show", "pos"],
        ["embed", "--task", "pos"],
        ["finetune", "--task", "pos", "--model", "minilm-l6"],
    ],
)
def test_every_command_refuses_a_bad_pair_alike(tmp_path: Path, command: list[str]) -> None:
    if command[0] != "data":
        command = [*command, "--out", str(tmp_path / "out")]
    res = CliRunner().invoke(app, [*command, "-o", "nothing"])
    assert isinstance(res.exception, ConfigError)
    assert str(res.exception) == "--option 'nothing': expected KEY=VALUE"


def test_embed_maps_dashes_like_the_other_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # embed once kept 'include-root' as it was, which the dep reader does not know;
    # the options it hands on are what names the store entry.
    seen: dict[str, Any] = {}

    def extract(store: Any, task: str, options: dict[str, str], *args: Any) -> None:
        seen.update(options)

    monkeypatch.setattr(embed_cli, "_extract", extract)
    res = CliRunner().invoke(
        app,
        ["embed", "--task", "dep", "--out", str(tmp_path / "store"), "-o", "include-root=true"]
        + ["--on-bad-line", "skip"],
    )
    assert res.exit_code == 0, res.output
    assert seen == {"include_root": "true", "on_bad_line": "skip"}
