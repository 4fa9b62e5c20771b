"""Atomic writes and the append-only JSON-lines log."""

import json
import os

import numpy as np

from lava_sleep import io


def test_atomic_write_json_replaces_whole_file(tmp_path):
    p = tmp_path / "sub" / "r.json"
    io.atomic_write_json(p, {"a": np.int64(3), "b": np.float32(0.5), "c": np.arange(2)})
    assert json.loads(p.read_text()) == {"a": 3, "b": 0.5, "c": [0, 1]}
    io.atomic_write_json(p, {"a": 4})
    assert json.loads(p.read_text()) == {"a": 4}
    assert [f.name for f in p.parent.iterdir()] == ["r.json"]  # no temp files left
    assert oct(p.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask():
    m = os.umask(0)
    os.umask(m)
    return m


def test_failed_write_keeps_old_content(tmp_path):
    p = tmp_path / "r.json"
    io.atomic_write_json(p, {"ok": True})

    class Boom:
        pass

    try:
        io.atomic_write_json(p, {"bad": Boom()})
    except TypeError:
        pass
    assert json.loads(p.read_text()) == {"ok": True}
    assert [f.name for f in tmp_path.iterdir()] == ["r.json"]


def test_jsonl_append_after_partial_line(tmp_path):
    p = tmp_path / "runs.jsonl"
    io.append_jsonl(p, {"i": 1})
    with open(p, "a") as fh:
        fh.write('{"i": 2, "trunc')  # an interrupted write
    io.append_jsonl(p, {"i": 3})
    assert [r["i"] for r in io.read_jsonl(p)] == [1, 3]


def test_savez_roundtrip(tmp_path):
    p = tmp_path / "m.npz"
    io.atomic_savez(p, w=np.arange(6).reshape(2, 3))
    with np.load(p) as z:
        assert z["w"].tolist() == [[0, 1, 2], [3, 4, 5]]
