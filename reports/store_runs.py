"""Copy finished runs' records (results.json, config.json, splits.json) from a runs folder into a report, with the
machine's paths made neutral, so that `bench report` rebuilds the report's tables from them anywhere.

    python reports/store_runs.py RUNS REPORT/runs --match 'genseg__*' --match 'origin__*' --data ../data

Run folders are matched by name (shell patterns, relative to RUNS/<dataset>/). The data set's folder becomes the
path it is documented under (`--shared`, `--data`), the folder of the pretrained starts `../pretrained`
(`--pretrained`), the installation's site-packages `<site-packages>`. Nothing is written when a machine path would
be left in any record.
"""

from __future__ import annotations

import argparse
import fnmatch
import re
import site
import sysconfig
from pathlib import Path

RECORDS = ("results.json", "config.json", "splits.json")


def neutral(text: str, replacements: list[tuple[str, str]]) -> str:
    """``text`` with every machine path replaced, longest first; refused if one is left."""
    for old, new in sorted(replacements, key=lambda r: len(r[0]), reverse=True):
        text = text.replace(old, new)
    left = re.findall(r'"(/(?:work|root|home|tmp)/[^"]*)"', text)
    if left:
        raise SystemExit(f"a machine path is left: {left[0]}")
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--match", action="append", required=True, help="run folder name pattern (repeatable)")
    parser.add_argument("--shared", required=True, help="the absolute folder that holds datasets/ (written ../shared)")
    parser.add_argument("--data", help="the absolute folder of the Shenzhen halves (written ../data)")
    parser.add_argument("--pretrained", help="the absolute folder of the bench pretrain folders (../pretrained)")
    args = parser.parse_args()
    replacements = [(str(Path(args.shared).resolve()), "../shared")]
    for folder, written in ((args.data, "../data"), (args.pretrained, "../pretrained")):
        if folder:
            replacements.append((str(Path(folder).resolve()), written))
    packages = {p for p in (*site.getsitepackages(), sysconfig.get_paths()["purelib"])}
    replacements += [(p, "<site-packages>") for p in packages]
    stored: dict[Path, str] = {}  # every record is made neutral before any is written
    for results in sorted(args.runs.glob("*/*/*/*/results.json")):
        run = results.parent
        if any(fnmatch.fnmatch(run.parents[1].name, pattern) for pattern in args.match):
            for record in RECORDS:
                if (run / record).is_file():
                    stored[args.out / run.relative_to(args.runs) / record] = neutral(
                        (run / record).read_text(), replacements
                    )
    if not stored:
        raise SystemExit("no run matched")
    for dest, text in stored.items():
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(text)
    print(f"{len({d.parent for d in stored})} run(s) stored under {args.out}")


if __name__ == "__main__":
    main()
