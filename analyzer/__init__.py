"""The flow analyzer: rebuilds the implicit workflow of event-driven services from spans.

Public API (pure functions over a :class:`choreoscope.store.Store`; no Dash, no sockets):

* :func:`analyze` -> :class:`Analysis` (flow map, flows, critical paths, bottlenecks,
  coordination styles, anomalies; ``to_dict()`` is the JSON of ``GET /api/analysis``);
* :class:`StagedWindow` -> one window staged once, analysed for any service filter;
* :func:`flow_for_trace` -> the whole flow instance containing one trace (waterfall);
* :func:`edge_detail` -> statistics and a time series for one edge or node of the map;
* :func:`render` -> text, json, mermaid, dot or graphml.
"""

from analyzer.analysis import StagedWindow, analyze
from analyzer.cli import parse_duration
from analyzer.detail import edge_detail
from analyzer.model import Analysis
from analyzer.render import render
from analyzer.trace_flow import flow_for_trace

__all__ = ["analyze", "StagedWindow", "Analysis", "edge_detail", "flow_for_trace",
           "parse_duration", "render"]
