"""`apiary listening_cluster`: roll up new mentions' terms and cluster recent mentions now.

The same work the background tasks do (``trends.terms_rollup`` every ~30 s while mentions
arrive, ``trends.topics_cluster_all`` hourly), for the demo, a benchmark or a cron job.
Prints, per query, the clusters found and the embedding speed.
"""

from __future__ import annotations

import resource
import time

from django.core.management.base import BaseCommand, CommandError

from apiary.listening import trends
from apiary.listening.models import ListeningQuery


class Command(BaseCommand):
    help = "Roll up trending terms and cluster recent mentions into topics (per query)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--query", type=int, default=None, help="one query id (0 = all)")
        parser.add_argument("--days", type=int, default=trends.CLUSTER_DAYS)
        parser.add_argument("--sample", type=int, default=trends.SAMPLE_MAX)
        parser.add_argument("--no-rollup", action="store_true", help="skip the term rollup")

    def handle(self, *args, query, days, sample, no_rollup, **options) -> None:
        if not 1 <= days <= 90:
            raise CommandError("--days must be between 1 and 90")
        if not 10 <= sample <= 20_000:
            raise CommandError("--sample must be between 10 and 20000")
        if not no_rollup:
            t = time.perf_counter()
            rolled = 0
            while n := trends.terms_rollup_once(settle_seconds=0):
                rolled += n
            dt = time.perf_counter() - t
            rate = f" ({rolled / dt:,.0f}/s)" if rolled else ""
            self.stdout.write(f"terms: {rolled} new mentions rolled up in {dt:.1f} s{rate}")
        if query is None:
            ids = [0, *ListeningQuery.objects.filter(active=True).values_list("id", flat=True)]
        elif query == 0 or ListeningQuery.objects.filter(pk=query).exists():
            ids = [query]
        else:
            raise CommandError(f"no query {query}")
        for qid in ids:
            t = time.perf_counter()
            clusters = trends.topics_cluster(query_id=qid, days=days, sample=sample)
            dt = time.perf_counter() - t
            n = clusters[0].sample_size if clusters else 0
            self.stdout.write(
                f"query {qid}: {len(clusters)} topics from {n} mentions in {dt:.1f} s"
                + (f" ({n / dt:,.0f} mentions/s)" if n else "")
            )
            for c in clusters:
                new = " [new]" if c.is_new else ""
                self.stdout.write(f"  {c.size:5d}  {c.label}{new}")
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        self.stdout.write(f"peak memory: {rss:.0f} MB")
