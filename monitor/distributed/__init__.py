"""The distributed mode: many crawl workers and one writer, through Redis.

``monitor run --redis URL`` is the *writer*: it keeps the schedule (in SQLite, as in
the embedded mode), puts each due poll on a Redis stream, reads the workers' results
from another stream, writes them to the store, acknowledges each result only once it is
committed, and delivers the alerts. ``monitor worker --redis URL`` is a *worker*: the
same Scrapy crawl and spiders as the embedded mode, fed from the poll stream; it
fetches and extracts, and sends pages (extracted), link outcomes and poll results back.
Start as many workers as needed, on any machines that reach Redis and the sources.

What Redis itself provides (no coordinator of our own):

- a reliable queue: streams with consumer groups. A poll stays pending for the worker
  that took it until its result is on the results stream (``XADD`` and ``XACK`` in one
  ``MULTI``); a worker's heartbeat keeps its polls (``XCLAIM`` to itself); when a
  worker dies its polls go idle and the next worker that asks for work takes them over
  after ``distributed.visibility_timeout`` (``XAUTOCLAIM``). The writer reads results
  the same way and acknowledges them after the SQLite commit, so a writer killed between
  the two reads them again at its start (the store takes a page it already has as a
  duplicate: no second article, no second alert);
- seen links: one key per link that expires (``SET PX``), set by the writer after the
  commit, checked by the workers (``MGET``); put back from the store when Redis lost
  them. A link being fetched is claimed by its poll (``SET NX PX``; a poll handed to
  another worker after a crash keeps its claims);
- politeness per host for all workers together: a Lua script reserves the host's next
  request time (``crawl.download_delay`` apart), on Redis's own clock.

Modules: :mod:`monitor.distributed.queues` (the Redis keys and calls),
:mod:`monitor.distributed.worker` (the worker's crawl context, the shared host gate and
``monitor worker``), :mod:`monitor.distributed.writer` (the writer's engine for
``monitor run --redis``). Nothing here is imported by the embedded mode.
"""
