"""``bench expand``: a folder of image-mask pairs in, an expanded pair set out, with a report and a verdict.

Production use, not a benchmark: :func:`expand` fits a method on *every* pair of the folder (no test split is held
back), generates ``n`` pairs, applies the method's own filter (DiffuseExpand ``cf+cg+cs``: stage IV) and writes
the output folder:

========================  ===================================================================================
``images/``, ``masks/``   the pairs to use: kept + relabelled (every pair, for a method without a filter), 8-bit
                          PNG, masks 0/255 for binary sets; ids ``syn_00000`` ... as generated, so a dropped
                          pair leaves a gap. ``bench datasets check`` passes on it whenever a pair was kept.
``records.csv``           one row per *generated* pair, dropped ones included (:data:`.records.RECORD_COLUMNS`),
                          then the method's own per-pair values (``PairRecord.info``: ``tau``, ``dice_loss``...)
``expansion.json``        the request, versions, source folder + fingerprint, counts, timings, generation
                          metrics, the verdict; written last (``schema_version`` :data:`.folder.SCHEMA_VERSION`)
``gallery.png``           the first :data:`.pictures.GALLERY_MAX` generated pairs coloured by decision
``closest_pairs.png``     the generated images nearest to a real image, beside it (when memorisation was measured)
``report.html``           one self-contained page of all of it (:func:`.html_report.render_report`)
========================  ===================================================================================

The folder is built in a hidden sibling (``.<name>.*``) and renamed over ``out`` at the end, so it is either
complete or absent. ``out`` must be missing, empty, or a previous expansion (recognised by its
``expansion.json``): an identical request is not recomputed, another one needs ``force``; a non-empty folder
that is not an expansion is never written into.

Method stages are cached as ``bench run`` caches them: under ``<cache>/<dataset>/_cache/<method>/`` (the same
:class:`~methods.base.MethodContext` layout as ``bench run --out <cache>``), so an expansion reuses whatever stage
``bench run`` trained on the same data, and an interrupted expansion resumes from its finished stages and
checkpoints. ``bench run`` trains on a split and this on all pairs, so their data fingerprints, and the stages
that depend on the data, differ.

The verdict says how well the generated images follow their masks, how many are near-copies of real images,
whether the filter kept enough pairs and, with ``evaluate`` seeds, whether they raise a segmenter's held-back Dice.

==================  ===========================================================================================
``request``         :class:`ExpandRequest`, planned with ``bench run``'s planning; the identity of an expansion
``folder``          the output folder's file names; what an existing ``--out`` holds
``expansion``       :func:`expand`, the verb: ``bench run``'s fit -> generate -> measure core on every pair, then
                    the folder, records, verdict and report
``downstream``      the paired downstream Dice against ``origin`` on held-back splits (``--evaluate``)
``verdict``         the five-part verdict and its paired t-test
``records``         ``records.csv``, one row per generated pair
``pictures``        ``gallery.png``, galleries and thumbnails
``html_report``     ``report.html`` from ``bench/templates/expansion.html.j2``
==================  ===========================================================================================
"""

from importlib import import_module

# name -> module, imported on first use so that ``bench.expand.request`` (the checks the CLI runs before anything
# heavy) can be imported without the expansion's torch
_HOMES = {"ExpandRequest": "request", "check_expand_request": "request", "expand": "expansion"}
__all__ = sorted(_HOMES)


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'bench.expand' has no attribute '{name}'")
    return getattr(import_module(f"bench.expand.{_HOMES[name]}"), name)
