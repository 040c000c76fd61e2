"""``apiary recognition rebuild [--reset]`` / ``run`` / ``status``.

- ``rebuild`` reconciles every post with the ledger, recomputes every standing and backfills
  every badge (safe at any time: without ``--reset`` the ledger only gains corrections);
- ``run`` does one pass of the incremental job (what the ``recognition`` worker loop does);
- ``status`` prints the cursors and totals.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError


class Command(BaseCommand):
    help = "Community recognition: rebuild the points ledger, standings and badges, or run a pass."

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["rebuild", "run", "status"])
        parser.add_argument(
            "--reset",
            action="store_true",
            help="rebuild: empty the ledger and standings first (badge grants are kept)",
        )

    def handle(self, *args, action: str, reset: bool = False, **options):
        from apiary.recognition import services
        from apiary.recognition.models import BadgeGrant, JobCursor, MemberStanding, PointEntry

        if reset and action != "rebuild":
            raise CommandError("--reset only goes with rebuild")
        if action == "rebuild":
            out = services.recognition_rebuild(reset=reset, progress=self.stdout.write)
            self.stdout.write(
                self.style.SUCCESS(
                    f"Rebuilt: {out['posts']} posts, {out['entries']} ledger entries, "
                    f"{out['members']} standings, {out['grants']} new badges."
                )
            )
        elif action == "run":
            out = services.recognition_run()
            if out["skipped"]:
                self.stdout.write("Another process is running a pass; nothing done.")
            else:
                self.stdout.write(
                    f"{out['events']} events, {out['posts']} posts, {out['entries']} new entries, "
                    f"{out['members']} standings, {out['grants']} new badges."
                )
        else:
            for cursor in JobCursor.objects.order_by("name"):
                self.stdout.write(f"cursor {cursor.name}: {cursor.position} ({cursor.updated_at})")
            self.stdout.write(
                f"{PointEntry.objects.count()} ledger entries, "
                f"{MemberStanding.objects.count()} standings, "
                f"{BadgeGrant.objects.filter(revoked_at__isnull=True).count()} badges granted"
            )
