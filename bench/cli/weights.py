"""``bench weights fetch``: the one download a user may want, pytorch-fid's Inception weights (with the classifier
head that the Inception Score needs), into the torch hub cache where every FID / IS computation looks for them."""

from __future__ import annotations

from typing import Annotated

import typer

from bench.cli.console import console, fail

app = typer.Typer(
    no_args_is_help=True, help="Download pretrained weights the metrics can use (explicitly, never at run time)."
)


@app.command(
    "fetch",
    epilog="""Examples:

  bench weights fetch

  bench weights fetch --url file:///mnt/share/pt_inception-2015-12-05-6726825d.pth
""",
)
def fetch(
    url: Annotated[
        str | None, typer.Option(help="Where to download from; default: pytorch-fid's release file. file:// works.")
    ] = None,
    force: Annotated[bool, typer.Option(help="Download again even when the file is already in the cache.")] = False,
) -> None:
    """pytorch-fid's FID Inception weights (91 MB) into the torch hub cache, checked against the SHA-256 prefix in
    their name. With them FID and KID use pytorch-fid's own file and IS is reported (the bundled network has no
    classifier head)."""
    from bench.metrics.inception import fetch_weights, resolve_weights

    try:
        path, downloaded = fetch_weights(url, force)
    except RuntimeError as e:
        fail(f"--url {url or 'default'}: {e}; nothing was written")
    except OSError as e:
        fail(f"--url {url or 'default'}: cannot download ({getattr(e, 'reason', None) or e}); nothing was written")
    weights = resolve_weights(path)
    head = "IS is available" if weights.has_classifier else "no classifier head, so IS stays unavailable"
    said = "downloaded" if downloaded else "already there (--force downloads again)"
    console.print(f"{said}: {path} ({head})", highlight=False)
