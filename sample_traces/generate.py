"""Generate the sample scenarios as OTLP/JSON Lines files.

    python -m sample_traces.generate [--seed N] [--out DIR] [--scenario NAME] [--spans N]

Each scenario is a deterministic discrete-event simulation of an e-commerce shop driving the
real OpenTelemetry Python SDK (one TracerProvider per service, W3C context in message
headers, the SDK's OTLP encoder).  Timestamps come from the simulated clock and ids from a
seeded generator, so the same seed and span count give byte-identical files.  Output is
streamed: each line is one ``ExportTraceServiceRequest`` of about ``--chunk`` spans, the way
the Collector's file exporter writes it, so a million spans never sit in memory.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Callable

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan

from .otlp_json import request_to_json
from .scenario import Scenario

DATA_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_SEED = 42
DEFAULT_SPANS = 3000


def _scenarios() -> dict[str, Callable[[int], Scenario]]:
    from .choreography import Choreography
    from .hybrid import Hybrid
    from .orchestration import Orchestration

    return {"choreography": Choreography, "orchestration": Orchestration, "hybrid": Hybrid}


SCENARIOS = ("choreography", "orchestration", "hybrid")


def generate(scenario: str, out_dir: str | os.PathLike[str] = DATA_DIR, seed: int = DEFAULT_SEED,
             spans: int = DEFAULT_SPANS, chunk: int = 250, progress: bool = False) -> tuple[Path, int]:
    """Write ``<out_dir>/<scenario>.jsonl``; returns (path, number of spans written)."""
    factory = _scenarios()[scenario]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{scenario}.jsonl"
    tmp = path.with_suffix(".jsonl.tmp")
    sim = factory(seed)
    bar = None
    if progress and spans >= 50_000:
        from tqdm import tqdm

        bar = tqdm(total=spans, unit="span", desc=scenario, file=sys.stderr)
    with open(tmp, "wb") as fh:

        def sink(batch: list[ReadableSpan]) -> None:
            fh.write(request_to_json(encode_spans(batch)))
            fh.write(b"\n")
            if bar is not None:
                bar.update(len(batch))

        written = sim.run(spans, sink, chunk=chunk)
    if bar is not None:
        bar.close()
    os.replace(tmp, path)  # never leave a half-written scenario behind
    return path, written


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(prog="python -m sample_traces.generate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (default 42)")
    parser.add_argument("--out", default=str(DATA_DIR), help="output directory (default sample_traces/data)")
    parser.add_argument("--scenario", choices=SCENARIOS + ("all",), default="all")
    parser.add_argument("--spans", type=int, default=DEFAULT_SPANS,
                        help=f"about this many spans per scenario (default {DEFAULT_SPANS})")
    parser.add_argument("--chunk", type=int, default=250, help="spans per OTLP request line")
    args = parser.parse_args(argv)
    names = SCENARIOS if args.scenario == "all" else (args.scenario,)
    for name in names:
        started = time.monotonic()
        path, count = generate(name, args.out, args.seed, args.spans, args.chunk, progress=True)
        print(f"{path}: {count} spans in {time.monotonic() - started:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
