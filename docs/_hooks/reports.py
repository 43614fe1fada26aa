"""MkDocs hook: the repository's reports/ inside the site, and links into it that work there and on GitHub.

Pages link to a report by its path relative to their own file (``../reports/montgomery-0.7/README.md``), which
GitHub resolves. This hook adds every file under reports/ to the site (its Markdown as pages outside the nav),
points such links at the site's copy, and fails the strict build on a link that leaves docs/ for anything but an
existing file or folder under reports/.
"""

from __future__ import annotations

import logging
import posixpath
import re
from pathlib import Path

from mkdocs.structure.files import File, InclusionLevel

log = logging.getLogger("mkdocs.hooks.reports")
LINK = re.compile(r"\[([^\]]*)\]\(([^)\s]+)\)")


def _root(config) -> Path:
    return Path(config.config_file_path).resolve().parent


def on_files(files, config):
    root = _root(config)
    for path in sorted((root / "reports").rglob("*")):
        if path.is_file():
            uri = path.relative_to(root).as_posix()
            files.append(
                File(
                    uri,
                    src_dir=str(root),
                    dest_dir=config.site_dir,
                    use_directory_urls=config.use_directory_urls,
                    inclusion=InclusionLevel.NOT_IN_NAV,
                )
            )
    return files


def _page_of(folder: Path) -> Path | None:
    """The Markdown page that stands for a folder: its README.md, else its only .md file."""
    if (folder / "README.md").is_file():
        return folder / "README.md"
    pages = sorted(folder.glob("*.md"))
    return pages[0] if len(pages) == 1 else None


def on_page_markdown(markdown, page, config, files):
    root, docs = _root(config), Path(config.docs_dir).resolve()
    source = Path(page.file.abs_src_path).resolve()
    in_reports = page.file.src_uri.startswith("reports/")

    def fix(match: re.Match) -> str:
        target = match.group(2)
        if "://" in target or target.startswith(("#", "/", "mailto:")):
            return match.group(0)
        path, _, anchor = target.partition("#")
        resolved = (source.parent / path).resolve()
        if resolved.is_relative_to(docs) and in_reports:  # a report's link to a page: where the site has it
            return _relink(match, resolved.relative_to(docs).as_posix(), page.file.src_uri, anchor)
        if resolved.is_relative_to(docs) or (in_reports and resolved.is_file()):
            return match.group(0)  # mkdocs checks these itself
        where = f"'{page.file.src_uri}' links to '{target}'"
        if not resolved.is_relative_to(root / "reports"):
            log.warning(f"{where}: outside docs/, only reports/ can be linked")
            return match.group(0)
        if not resolved.exists():
            log.warning(f"{where}, which does not exist")
            return match.group(0)
        if resolved.is_dir():
            folder_page = _page_of(resolved)
            if folder_page is None:
                if in_reports:  # a folder of data files: its name stays, as text
                    return match.group(1)
                log.warning(f"{where}, a folder with no README.md: link a file in it")
                return match.group(0)
            resolved = folder_page
        return _relink(match, resolved.relative_to(root).as_posix(), page.file.src_uri, anchor)

    return LINK.sub(fix, markdown)


def _relink(match: re.Match, uri: str, page_uri: str, anchor: str) -> str:
    """The link, pointed at site file ``uri`` relative to the page at ``page_uri``."""
    new = posixpath.relpath(uri, posixpath.dirname(page_uri) or ".")
    return f"[{match.group(1)}]({new}{'#' + anchor if anchor else ''})"
