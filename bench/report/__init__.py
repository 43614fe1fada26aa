"""Tables from stored ``results.json`` files: pure functions of the results, never of live objects.

``bench report`` (no kind) writes one row per setting, its seeds aggregated, with its paired Δ vs the ``origin``
row beside it; ``bench run`` prints the same rows (:mod:`bench.cli.tables`), and the paper's artifacts reuse the
rows' fingerprints and number formats.

==========  =====================================================================================================
``rows``    :func:`make_rows`: results grouped by setting, aggregated over seeds and paired with origin;
            :func:`collect` reads them from a folder; the fingerprints a row is keyed by
``cells``   one row's cells in :data:`HEAD`'s order, and how a mean ± std, a Δ and a split read
``notes``   the legend under a table, and why cells are marked (†, ‡, §) or missing (n/a)
``tables``  ``results.md`` and ``results.csv`` (:func:`build`, :func:`write`)
==========  =====================================================================================================

The names below are those other modules import from ``bench.report``; everything else is imported from its module.
"""

from bench.report.cells import HEAD, fmt_delta, fmt_detectable, mean_std, row_cells
from bench.report.notes import APART, CUT, marks, missing, unequal_steps
from bench.report.rows import collect, make_rows, method_signature, split_text, train_steps, training_signature
from bench.report.tables import build, to_csv, to_markdown, write

__all__ = [
    "APART",
    "CUT",
    "HEAD",
    "build",
    "collect",
    "fmt_delta",
    "fmt_detectable",
    "make_rows",
    "marks",
    "mean_std",
    "method_signature",
    "missing",
    "row_cells",
    "split_text",
    "to_csv",
    "to_markdown",
    "train_steps",
    "training_signature",
    "unequal_steps",
    "write",
]
