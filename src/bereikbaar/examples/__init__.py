"""Worked examples that generate their own inputs, in the real file formats.

* :mod:`~bereikbaar.examples.demo`: the embedded demo region (five fictional
  gemeenten, explained by hand), written as real input files and run through
  :func:`bereikbaar.pipeline.run` (``bereikbaar demo``).
* :mod:`~bereikbaar.examples.synthetic`: synthetic cases of any size (up to a
  national one) for benchmarks and tests.

Importing this package imports neither module: each loads what it needs.
"""
