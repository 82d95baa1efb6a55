"""The store's seam: the same schema, writes and analysis on a DuckLake catalog."""

from __future__ import annotations

import importlib.util

import pytest

import analyzer
from choreoscope.store import Store
from collector.fastdecode import decode_bytes
from collector.otlp_json import parse_json_request
from sample_traces.ground_truth import data_path

pytestmark = pytest.mark.skipif(importlib.util.find_spec("duckdb_extension_ducklake") is None,
                                reason="install the extra: pip install -e '.[ducklake]'")


def _fill(store: Store) -> None:
    with open(data_path("choreography"), "rb") as f:
        for line in f:
            store.write(decode_bytes(parse_json_request(line).SerializeToString()))


def test_same_analysis_on_a_ducklake_catalog(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the catalog's data files go beside it
    with Store.open(tmp_path / "local.duckdb") as local, \
            Store.open("ducklake:lake.ducklake") as lake:
        _fill(local)
        _fill(lake)
        _fill(lake)  # a retried load stores nothing twice there either
        assert lake.count_spans() == local.count_spans() > 3000
        a, b = analyzer.analyze(local).to_dict(), analyzer.analyze(lake).to_dict()
    assert a["edges"] == b["edges"]
    assert [f["signature"] for f in a["flows"]] == [f["signature"] for f in b["flows"]]
    assert (tmp_path / "lake.ducklake.files").is_dir()
