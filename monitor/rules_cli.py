"""``monitor rules ...``: check watch rules, try them on articles, explain matches."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import asdict, replace
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import click

from monitor.cli_errors import ErrorMappingGroup
from monitor.config import MonitorConfig, load_config, parse_duration
from monitor.errors import ArgumentError, MonitorError, RuleError
from monitor.models import Article, ExtractOptions, Page, Rejection
from monitor.words import count

if TYPE_CHECKING:  # the rule engine is loaded by the commands that run it, not by --help
    from monitor.matching.engine import WatchSet
    from monitor.matching.query import Term
    from monitor.matching.watch import Watch

#: Saved-page file names (gzip or not) that ``monitor replay`` and ``rules test`` read.
PAGE_SUFFIXES = (".html", ".htm", ".html.gz", ".htm.gz")
_META = "monitor.matching.rules_dir"
_CONFIG = "monitor.matching.config"


class RulesCommandError(ArgumentError):
    """A rule, query, article file or database problem (exit status 2)."""


class _RulesGroup(ErrorMappingGroup):
    """Errors become one line (``monitor: <message>``) and an exit status as under
    ``monitor`` (:mod:`monitor.cli_errors`), also when the group is run on its own (as
    in tests)."""


@click.group("rules", cls=_RulesGroup)
@click.option("--rules", "rules_dir", default=None,
              type=click.Path(file_okay=False, path_type=Path),
              help="Folder of watch rules (*.yaml or *.yml, entities.yaml, variants.yaml); "
                   "default: the 'rules' of monitor.yaml, else ./rules.")
@click.pass_context
def rules(ctx: click.Context, rules_dir: Path | None) -> None:
    """Check watch rules and try them on articles.

    The rules folder and the database are those of the config (monitor -c FILE, or
    ./monitor.yaml when there is one) unless --rules or --db says otherwise.

    \b
    Example:
        monitor rules check
        monitor -c /etc/monitor/monitor.yaml rules check
        monitor rules --rules rules test --watch russia-north-korea seeds/
    """
    ctx.meta[_META] = rules_dir


def _config() -> MonitorConfig | None:
    """The monitor config, read once per command: the ``-c`` file of the top-level
    ``monitor`` command, else ./monitor.yaml; None when neither is given nor present.

    Raises:
        ConfigError: the config file is missing (when given with -c) or invalid.
    """
    ctx = click.get_current_context()
    if _CONFIG not in ctx.meta:
        obj = ctx.find_root().obj or {}
        path = Path(obj.get("config_path") or "monitor.yaml")
        given = bool(obj.get("config_given"))
        ctx.meta[_CONFIG] = load_config(path) if given or path.exists() else None
    return ctx.meta[_CONFIG]


def _rules_dir() -> Path:
    """--rules, else the config's rules folder, else ./rules."""
    rules_dir = click.get_current_context().meta.get(_META)
    if rules_dir is not None:
        return rules_dir
    config = _config()
    return config.rules if config is not None else Path("rules")


def _db_path(db_path: Path | None) -> Path:
    """--db, else the config's database, else ./monitor.db."""
    if db_path is not None:
        return db_path
    config = _config()
    return config.database if config is not None else Path("monitor.db")


@rules.command("check")
def check() -> None:
    """Validate every rule file; print each problem as file:line:col: problem.

    When there is a config (monitor -c FILE, or ./monitor.yaml), also check that every
    watch's channels and sources are configured there. Exits with status 2 when there
    is any problem. A query with a lower-case and/or/not/near between terms (searched
    for as a word) gets a warning on stderr, not an error.

    \b
    Example:
        monitor rules check
        monitor -c /etc/monitor/monitor.yaml rules check
        monitor rules --rules /etc/monitor/rules check
    """
    from monitor.matching.loader import load_watches
    from monitor.matching.query import lowercase_operators

    rules_dir = _rules_dir()
    watches, errors = rule_problems(rules_dir, _config())
    for watch in watches:
        for term in lowercase_operators(watch.query, _own_text(watch)):
            _warn_operator(f"{watch.path}:{watch.line}", term, f"watch '{watch.id}': ")
    if errors:
        for err in errors:
            click.echo(str(err))
        raise RulesCommandError(f"{len(errors)} problem(s) in {rules_dir}")
    ws = load_watches(rules_dir)
    click.echo(f"{_count(len(ws), 'watch', 'watches')}, "
               f"{_count(len(ws.entities), 'entity', 'entities')}, "
               f"{_count(len(ws.variants), 'variant group', 'variant groups')} OK")


def rule_problems(rules_dir: Path, config: MonitorConfig | None
                  ) -> tuple[list[Watch], list[RuleError]]:
    """Every problem of a rules folder: those of the files, and (with a config) every
    ``channels:`` or ``sources:`` entry naming nothing configured, including in the
    watches that have other problems, so one look shows them all.

    Args:
        rules_dir: the rules folder.
        config: monitor.yaml, or None to skip the channel and source checks.

    Returns:
        (the watches that loaded, every problem sorted by file, line and column).
    """
    from monitor.matching.loader import read_rule_files
    from monitor.matching.targets import check_watch_targets

    watches, errors, broken = read_rule_files(rules_dir)
    if config is not None:
        errors += check_watch_targets([*watches, *broken], [c.name for c in config.channels],
                                      [s.name for s in config.sources],
                                      config=str(config.path))
    errors.sort(key=lambda e: (e.path or "", e.line or 0, e.column or 0))
    return watches, errors


def _own_text(watch: Watch) -> str | None:
    """The query text the watch's tree was parsed from (so term offsets point into it),
    or None when the tree also holds any/all/none items."""
    from monitor.matching.query import parse_query

    try:
        return watch.query_text if parse_query(watch.query_text) == watch.query else None
    except RuleError:
        return None


def _warn_operator(where: str, term: Term, what: str = "") -> None:
    """Warn on stderr about a lower-case operator word (not an error)."""
    click.echo(f"{where}: warning: {what}'{term.text}' is searched for as a word; "
               f"operators are upper case: did you mean {term.text.upper()}?", err=True)


def _count(n: int, one: str, many: str | None = None) -> str:
    """``_count(2, "watch")`` -> "2 watches" (:func:`monitor.words.count`)."""
    return count(n, one)


def _target(watch_id: str | None, query: str | None) -> tuple[WatchSet, str | None]:
    """The WatchSet to run and the watch id to report (None: every watch)."""
    from monitor.matching.adhoc import compile_query
    from monitor.matching.loader import load_watches
    from monitor.matching.query import lowercase_operators

    rules_dir = _rules_dir()
    if watch_id and query:
        raise click.UsageError("give either --watch or --query, not both")
    try:
        if query is not None:
            q = compile_query(query, rules_dir=rules_dir if rules_dir.is_dir() else None)
            for term in lowercase_operators(q.ast, query):
                before = query[:term.offset]
                _warn_operator(f"<query>:{before.count(chr(10)) + 1}:"
                               f"{term.offset - before.rfind(chr(10))}", term)
            return q.watchset, q.watch.id
        ws = load_watches(rules_dir)
    except RuleError as exc:
        raise RulesCommandError(str(exc)) from exc
    if watch_id is not None and ws.get(watch_id) is None:
        known = ", ".join(w.id for w in ws.watches) or "none"
        raise click.BadParameter(f"no watch '{watch_id}' (known: {known})",
                                 param_hint="--watch")
    return ws, watch_id


def _since(ctx: click.Context, param: click.Parameter, value: str | None) -> timedelta | None:
    """Click callback: --since as a timedelta, with monitor.yaml's duration grammar."""
    if value is None:
        return None
    try:
        return timedelta(seconds=parse_duration(value))
    except ValueError:
        raise click.BadParameter(f"'{value}' is not a positive duration like 30m, 6h, "
                                 "2d or 1w") from None


@rules.command("test")
@click.option("--watch", "watch_id", metavar="ID", help="Run only this watch.")
@click.option("--query", metavar="QUERY", help="Run this ad-hoc query instead of watches.")
@click.option("--since", metavar="DURATION", callback=_since,
              help="Also run over articles stored in the last DURATION (30m, 6h, 2d, 1w).")
@click.option("--db", "db_path", default=None,
              type=click.Path(dir_okay=False, path_type=Path),
              help="The monitor database read by --since; default: the 'database' of "
                   "monitor.yaml, else ./monitor.db.")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object per article, one per line (like replay --json).")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
def test(watch_id: str | None, query: str | None, since: timedelta | None,
         db_path: Path | None,
         as_json: bool, paths: tuple[Path, ...]) -> None:
    """Run watches (all, one, or an ad-hoc query) over article files or stored articles.

    PATHS are .html, .htm, .html.gz, .htm.gz or .txt files (.txt: headline, standfirst,
    body lines), or folders searched recursively; a <name>.json sidecar beside a page
    gives its url and source, as for replay. With --json, each article is one line:
    {"article", "url", "title", "source", "hits"}. Exit status: 0 if anything hit, 1 if
    nothing did, 2 on errors.

    \b
    Example:
        monitor rules test --watch russia-north-korea seeds/
        monitor rules test --query '"mutual defence" NEAR/5 pact' page.html.gz
        monitor rules test --query 'title:Pyongyang' --since 2d --db monitor.db --json
    """
    if not paths and since is None:
        raise click.UsageError("give article PATHS, or --since DURATION to use stored "
                               "articles")
    ws, only = _target(watch_id, query)
    articles = matched = hits_total = 0
    for label, article in _articles(paths, since, db_path):
        if only is not None:
            hit = ws.match_one(only, article)
            hits = [hit] if hit else []
        else:
            hits = ws.match(article)
        articles += 1
        matched += bool(hits)
        hits_total += len(hits)
        if as_json:
            click.echo(json.dumps({"article": label, "url": article.url,
                                   "title": article.title, "source": article.source,
                                   "hits": [asdict(h) for h in hits]}, ensure_ascii=False))
            continue
        for hit in hits:
            click.echo(f"{label}: {hit.watch_id}  [{', '.join(hit.terms)}]")
            click.echo(f"    {hit.snippet}")
    if not as_json:
        click.echo(f"{matched} of {articles} article(s) hit, {hits_total} hit(s)")
    click.get_current_context().exit(0 if hits_total else 1)


@rules.command("explain")
@click.option("--watch", "watch_id", metavar="ID", help="The watch to explain.")
@click.option("--query", metavar="QUERY", help="An ad-hoc query to explain.")
@click.option("--json", "as_json", is_flag=True, help="Print the explanation as JSON.")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def explain(watch_id: str | None, query: str | None, as_json: bool, path: Path) -> None:
    """Show which parts of a watch or query were true or false for one article, and why.

    \b
    Example:
        monitor rules explain --watch russia-north-korea seeds/cbc-news_2024-06-19.html
        monitor rules explain --query '"mutual defence" NEAR/2 Ukraine' article.txt
    """
    if not watch_id and not query:
        raise click.UsageError("give --watch ID or --query QUERY")
    ws, only = _target(watch_id, query)
    article = _read_article(path)
    if article is None:
        raise RulesCommandError(f"{path}: no article to explain")
    from monitor.matching.explain import explain as explain_match

    result = explain_match(ws, article, only)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
    else:
        click.echo(result.render())


# --------------------------------------------------------------------------- articles

def page_files(paths: Iterable[Path], suffixes: tuple[str, ...] = PAGE_SUFFIXES) -> list[Path]:
    """The page files among paths: files as given, folders searched recursively.

    Shared by ``monitor replay`` and ``monitor rules test``.

    Args:
        paths: files and folders.
        suffixes: in folders, only files whose names end with one of these (case is
            ignored); default the saved-page suffixes ``.html``, ``.htm``, ``.html.gz``,
            ``.htm.gz``.

    Returns:
        The files in argument order, each folder's files sorted by path.

    Raises:
        click.BadParameter: a path does not exist.
    """
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*")
                                if p.is_file() and p.name.lower().endswith(suffixes)))
        elif path.is_file():
            files.append(path)
        else:
            raise click.BadParameter(f"{path}: no such file or folder", param_hint="PATH")
    return files


def extract_page(page: Page, options: ExtractOptions) -> Article | Rejection:
    """Extract an article from a page exactly as the pipeline does.

    Args:
        page: the page.
        options: the extraction limits (the config's ``extraction`` section).

    Returns:
        The article, or the rejection with its reason.
    """
    from monitor.extract import extract  # imported here: trafilatura is slow to import

    return extract(page, options)


def _extract_options() -> ExtractOptions:
    """The config's extraction limits, as the live pipeline uses them (defaults when
    there is no config)."""
    config = _config()
    return config.extraction.options() if config is not None else ExtractOptions()


def read_text_article(path: Path) -> Article:
    """Read a .txt article: first line headline, second standfirst, the rest body.

    Args:
        path: the file.

    Returns:
        The article (source "replay", a file:// URL, paragraphs joined by blank lines).
    """
    lines = path.read_text(encoding="utf-8").splitlines()
    title = lines[0].strip() if lines else ""
    standfirst = lines[1].strip() if len(lines) > 1 else None
    # the standfirst opens the body, as extraction does for HTML pages
    body = "\n\n".join(line.strip() for line in lines[1:] if line.strip())
    url = path.resolve().as_uri()
    return Article(url=url, request_url=url, source="replay", title=title, text=body,
                   description=standfirst or None)


def _read_article(path: Path) -> Article | None:
    """Read one article file; or report why it was skipped on stderr and return None.

    A saved page's article has the Page's source (its sidecar's ``source``, else
    ``"replay"``), so ``sources:`` filters and the output work as for live pages.
    """
    if path.name.lower().endswith(".txt"):
        return read_text_article(path)
    from monitor.extract import page_from_file

    try:
        page = page_from_file(path)
    except MonitorError as exc:
        click.echo(f"{path}: skipped ({exc})", err=True)
        return None
    result = extract_page(page, _extract_options())
    if isinstance(result, Rejection):
        click.echo(f"{path}: skipped ({result.reason}: {result.detail})", err=True)
        return None
    return result if result.source == page.source else replace(result, source=page.source)


def _articles(paths: tuple[Path, ...], since: timedelta | None,
              db_path: Path | None) -> Iterator[tuple[str, Article]]:
    """Yield (label, article): the files' articles (label: the path), then the stored
    ones (label: the URL)."""
    for path in page_files(paths, (*PAGE_SUFFIXES, ".txt")):
        article = _read_article(path)
        if article is not None:
            yield str(path), article
    if since is not None:
        yield from stored_articles(_db_path(db_path), since)


def stored_articles(db_path: Path, since: timedelta) -> Iterator[tuple[str, Article]]:
    """Yield (url, Article) for articles stored in the last ``since``.

    Args:
        db_path: the monitor's SQLite database.
        since: how far back to look, by the time each article was fetched.

    Raises:
        RulesCommandError, ConfigError: the database file does not exist, or cannot be
            opened or read as a monitor database.
    """
    from monitor.clock import parse_iso, utcnow
    from monitor.store import Store  # sqlite-utils: only when used

    if not db_path.is_file():  # Store would create an empty database
        raise RulesCommandError(f"database {db_path} not found (use --db PATH, or "
                                "'database:' in monitor.yaml)")
    try:
        store = Store(db_path)
    except sqlite3.Error as exc:
        raise RulesCommandError(f"database {db_path}: cannot open: {exc}") from None
    try:
        for row in store.articles_fetched_since(utcnow() - since):
            yield row["url"], Article(
                url=row["url"], request_url=row["request_url"] or row["url"],
                source=row["source"] or "", title=row["title"] or "",
                text=row["text"] or "", published=parse_iso(row["published"]),
                author=row["author"], language=row["language"],
                partial=bool(row["partial"]), comments=row["comments"],
                description=row["description"])
    except sqlite3.Error as exc:
        raise RulesCommandError(f"database {db_path}: cannot read articles: {exc}") from None
    finally:
        store.close()
