"""``ftprobe data fetch`` against a local HTTP server (127.0.0.1 only, never the network)."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from ftprobe.data.fetch import SUMS_FILE, FetchError, fetch_corpora, fetch_file, select_files
from ftprobe.data.paths import CorpusFile, corpus_files


@dataclass
class Mirror:
    """A server with the data folder's layout: shared files, overrides, and injected faults."""

    root: Path
    overrides: dict[str, bytes] = field(default_factory=dict)
    cut_once: dict[str, int] = field(default_factory=dict)  # path -> bytes sent before dropping
    ranges: list[str] = field(default_factory=list)
    url: str = ""

    def body(self, rel: str) -> bytes | None:
        if rel in self.overrides:
            return self.overrides[rel]
        path = self.root / rel
        return path.read_bytes() if path.is_file() else None


def _handler(mirror: Mirror) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep test output quiet
            pass

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            rel = self.path.lstrip("/")
            body = mirror.body(rel)
            if body is None:
                self.send_error(404)
                return
            start = 0
            header = self.headers.get("Range")
            if header:
                mirror.ranges.append(f"{rel} {header}")
                start = int(header.removeprefix("bytes=").split("-")[0])
                if start >= len(body):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(body)}")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            else:
                self.send_response(200)
            payload = body[start:]
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            cut = mirror.cut_once.pop(rel, None)
            if cut is not None:  # announce everything, send part of it, hang up
                self.wfile.write(payload[:cut])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(payload)

    return Handler


@pytest.fixture
def mirror(shared_data: Path) -> Iterator[Mirror]:
    state = Mirror(shared_data)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


def _entry(rel: str) -> CorpusFile:
    return next(f for f in corpus_files() if f.path == rel)


TREC = "trec/TREC_10.label"
OPTS = {"progress": False, "retry_wait": 0.0, "timeout": 10.0}


def test_downloads_verify_and_record(mirror: Mirror, tmp_path: Path) -> None:
    results = fetch_corpora(tmp_path, select_files(["trec-50"]), base_url=mirror.url, **OPTS)
    assert [r.status for r in results] == ["downloaded", "downloaded"]
    for r in results:
        assert r.path.read_bytes() == (mirror.root / r.path.relative_to(tmp_path)).read_bytes()
    sums = (tmp_path / SUMS_FILE).read_text()
    assert _entry(TREC).sha256 in sums and not list(tmp_path.rglob("*.part"))
    again = fetch_corpora(tmp_path, select_files(["trec"]), base_url=mirror.url, **OPTS)
    assert [r.status for r in again] == ["present", "present"]


def test_interrupted_download_resumes_with_range(mirror: Mirror, tmp_path: Path) -> None:
    mirror.cut_once[TREC] = 5_000
    result = fetch_file(_entry(TREC), tmp_path, base_url=mirror.url, **OPTS)
    assert result.status == "downloaded" and result.sha256 == _entry(TREC).sha256
    assert mirror.ranges == [f"{TREC} bytes=5000-"]


def test_resume_across_runs_keeps_the_part(mirror: Mirror, tmp_path: Path) -> None:
    mirror.cut_once[TREC] = 7_000
    with pytest.raises(FetchError, match="interrupted.*7000 bytes kept.*again to resume"):
        fetch_file(_entry(TREC), tmp_path, base_url=mirror.url, retries=0, **OPTS)
    assert (tmp_path / (TREC + ".part")).stat().st_size == 7_000
    assert not (tmp_path / TREC).exists()
    fetch_file(_entry(TREC), tmp_path, base_url=mirror.url, **OPTS)
    assert mirror.ranges == [f"{TREC} bytes=7000-"]
    assert hashlib.sha256((tmp_path / TREC).read_bytes()).hexdigest() == _entry(TREC).sha256


def test_corrupt_partial_file_is_never_accepted(mirror: Mirror, tmp_path: Path) -> None:
    part = tmp_path / (TREC + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(b"x" * 3_000)  # wrong bytes from an earlier, broken download
    messages: list[str] = []
    result = fetch_file(_entry(TREC), tmp_path, base_url=mirror.url, echo=messages.append, **OPTS)
    assert result.sha256 == _entry(TREC).sha256
    assert any("mismatch after resuming" in m for m in messages)


def test_checksum_mismatch_is_refused_unless_accepted(mirror: Mirror, tmp_path: Path) -> None:
    changed = (mirror.root / TREC).read_bytes() + b"HUM:ind Who added this line ?\n"
    mirror.overrides[TREC] = changed
    with pytest.raises(FetchError, match="differs from the expected") as info:
        fetch_file(_entry(TREC), tmp_path, base_url=mirror.url, **OPTS)
    assert _entry(TREC).sha256 in str(info.value)
    assert not (tmp_path / TREC).exists() and not (tmp_path / (TREC + ".part")).exists()
    result = fetch_file(_entry(TREC), tmp_path, base_url=mirror.url, accept_changed=True, **OPTS)
    assert result.status == "changed" and (tmp_path / TREC).read_bytes() == changed
    assert f"{result.sha256}  {TREC}" in (tmp_path / SUMS_FILE).read_text()
    # the recorded checksum now verifies the kept copy
    assert fetch_file(_entry(TREC), tmp_path, base_url=mirror.url, **OPTS).status == "present"


def test_unpinned_file_is_trusted_on_first_use(mirror: Mirror, tmp_path: Path) -> None:
    train = _entry("streusle/streusle.ud_train.conllulex")
    assert train.sha256 is None and train not in select_files(["streusle"])
    assert train in select_files(["ps-role"], with_train=True)
    mirror.overrides[train.path] = b"# sent_id = x\n"
    first = fetch_file(train, tmp_path, base_url=mirror.url, **OPTS)
    assert "recorded" in first.note
    mirror.overrides[train.path] = b"# sent_id = y\n"  # the upstream file changed
    (tmp_path / train.path).unlink()
    with pytest.raises(FetchError, match=first.sha256):
        fetch_file(train, tmp_path, base_url=mirror.url, **OPTS)


def test_import_from_a_local_folder(shared_data: Path, tmp_path: Path) -> None:
    results = fetch_corpora(tmp_path / "d", select_files(["trec"]), source_dir=shared_data, **OPTS)
    assert [r.status for r in results] == ["imported", "imported"]
    bad = tmp_path / "bad" / TREC
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"ABBR:exp What ?\n")
    with pytest.raises(FetchError, match="differs"):
        fetch_file(_entry(TREC), tmp_path / "e", source_dir=tmp_path / "bad", **OPTS)
    with pytest.raises(FetchError, match="not found"):
        fetch_file(_entry("trec/train_5500.label"), tmp_path / "e", source_dir=tmp_path / "bad")


def test_unknown_corpus_and_missing_url(mirror: Mirror, tmp_path: Path) -> None:
    with pytest.raises(FetchError, match="unknown corpus or task 'wsj'"):
        select_files(["wsj"])
    train = _entry("ud-ewt/en_ewt-ud-train.conllu")  # not on this mirror
    with pytest.raises(FetchError, match="HTTP 404"):
        fetch_file(train, tmp_path, base_url=mirror.url, **OPTS)
