"""Sample scenarios with known ground truth, their generator and an OTLP replayer.

* ``python -m sample_traces.generate`` -- deterministic, SDK-driven scenario generator;
* :mod:`sample_traces.ground_truth` -- what each committed scenario contains, as data;
* :mod:`sample_traces.replay` -- ``choreoscope replay``: send scenario files to an OTLP endpoint.
"""
