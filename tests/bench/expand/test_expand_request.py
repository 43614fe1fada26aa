"""A request's earlier checks are reused by its planning only for the ``bench run`` part they share: the checks of
``bench expand``'s own values (``--evaluate``, ``--n``, ...) are made again on the request as it is."""

from pathlib import Path

import pytest

from bench.config import ConfigError
from bench.expand.request import ExpandRequest, check_expand_request, plan_expansion


def _req(tmp_path: Path, **kw) -> ExpandRequest:
    return ExpandRequest(
        "synthmed", "demo", 4, tmp_path / "out", preset="smoke", device="cpu", cache=tmp_path / "runs", **kw
    )


def test_expand_checks_are_made_again_on_a_request_its_earlier_checks_did_not_see(tmp_path):
    checked = check_expand_request(_req(tmp_path))
    assert plan_expansion(_req(tmp_path), checked)[0].n_synthetic == 4
    for kw, said in (
        ({"evaluate": (0, 0)}, "--evaluate: distinct seeds"),
        ({"test_sets": ("shenzhen",)}, "give --evaluate SEEDS with it"),
    ):
        with pytest.raises(ConfigError, match=said):
            check_expand_request(_req(tmp_path, **kw))
        with pytest.raises(ConfigError, match=said):
            plan_expansion(_req(tmp_path, **kw), checked)
    changed = _req(tmp_path)
    changed.n = 0  # part of the bench run request too: checked before it is compared
    with pytest.raises(ConfigError, match="--n must be >= 1"):
        plan_expansion(changed, checked)
