"""What all crawls in one process share: config, store, watches and the core worker."""

from __future__ import annotations

import asyncio
import logging
import threading
import os
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from monitor.config import MonitorConfig, load_config
from monitor.extract import extract
from monitor.matching import check_watch_targets, load_watches, rules_fingerprint
from monitor.models import Page
from monitor.pipeline import Outcome, Pipeline
from monitor.store import Store

log = logging.getLogger(__name__)


class CrawlContext:
    """Config, store and the core pipeline, shared by every crawl in one process.

    The core pipeline (trafilatura extraction, matching, SQLite writes) is CPU-bound, so it
    runs on one worker thread of its own (``executor``), never in the reactor thread; it
    has its own database connection (``core_store``), which spiders also use, through
    the executor, for their writes. The reactor thread keeps a second connection
    (``store``) for the cheap reads spiders make (seen URLs, conditional-GET validators).

    Args:
        config: the validated monitor.yaml.

    Raises:
        RuleError: the rule files are invalid at start-up.
    """

    def __init__(self, config: MonitorConfig) -> None:
        self.config = config
        self.store = Store(config.database)
        self.store.sync_sources(config.sources)
        self.core_store = Store(config.database)
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="monitor-core")
        self.watches = self._load_watches()
        self._rules_print = rules_fingerprint(config.rules)
        self._reload_lock = threading.Lock()
        self.pipeline = Pipeline(self.core_store, lambda: self.watches,
                                 [c.name for c in config.channels],
                                 config.extraction.options())
        workers = config.extraction.workers
        if workers is None:
            workers = os.cpu_count() or 1
        #: Extraction (trafilatura, CPU-bound) in worker processes, or None for workers: 0.
        self.extractors = (ProcessPoolExecutor(workers, mp_context=get_context("spawn"))
                           if workers > 0 else None)

    def _load_watches(self):
        """Load the rule files and check that each watch's channels and sources exist.

        Raises:
            RuleError: the first problem, as ``file:line: problem``.
        """
        watches = load_watches(self.config.rules)
        problems = check_watch_targets(watches, [c.name for c in self.config.channels],
                                       [s.name for s in self.config.sources],
                                       config=str(self.config.path))
        if problems:
            raise problems[0]
        return watches

    @classmethod
    def from_path(cls, path: str | Path) -> "CrawlContext":
        """Build a context from a monitor.yaml path (used by ``scrapy crawl``)."""
        return cls(load_config(path))

    async def process(self, page: Page) -> Outcome:
        """Extract the page in a worker process, then match and store it on the core
        thread, and return the outcome. The same functions as ``Pipeline.process``;
        only where they run differs."""
        loop = asyncio.get_running_loop()
        if self.extractors is None:
            return await loop.run_in_executor(self.executor, self.pipeline.process, page)
        result = await loop.run_in_executor(self.extractors, extract, page,
                                            self.pipeline.options)
        return await loop.run_in_executor(self.executor, self.pipeline.process_extracted,
                                          page, result)

    def reload_rules(self) -> bool:
        """Reload the rule files if they changed since the last load.

        Returns:
            True when new rules are in force. A bad edit is logged with its file, line
            and problem, and the last good rules stay in force (returns False).
        """
        with self._reload_lock:
            fingerprint = rules_fingerprint(self.config.rules)
            if fingerprint == self._rules_print:
                return False
            self._rules_print = fingerprint
            try:
                watches = self._load_watches()
            except Exception as exc:  # RuleError, or an unreadable file mid-save
                log.error("rules not reloaded, keeping the last good rules: %s", exc)
                return False
            self.watches = watches
            log.info("rules reloaded: %d watches", len(watches))
            return True

    def close(self) -> None:
        """Wait for the core worker to finish its queue, then close both connections."""
        if self.extractors is not None:
            self.extractors.shutdown(wait=True, cancel_futures=True)
        self.executor.shutdown(wait=True)
        self.core_store.close()
        self.store.close()
