"""``apiary community <job>``: one-off community jobs the workers also run on their own.

    apiary community digest --daily | --weekly   send the digests that are due now
    apiary community mail                        send the due immediate notification e-mails
    apiary community sweep                       close visitor sessions idle for 30 minutes

Every job is idempotent: run from cron as well as by the ``community-mail`` and
``community-sessions`` workers, nothing is sent or closed twice (community/mail.py).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Community jobs: digest --daily|--weekly, mail, sweep."

    def add_arguments(self, parser):
        jobs = parser.add_subparsers(dest="job", required=True, metavar="JOB")
        digest = jobs.add_parser("digest", help="Send the daily or weekly digests due now.")
        which = digest.add_mutually_exclusive_group(required=True)
        which.add_argument("--daily", action="store_const", const="daily", dest="period")
        which.add_argument("--weekly", action="store_const", const="weekly", dest="period")
        jobs.add_parser("mail", help="Send the due immediate notification e-mails.")
        jobs.add_parser("sweep", help="Close visitor sessions idle for 30 minutes.")

    def handle(self, *args, **options):
        from apiary.community import mail
        from apiary.community.services.activity import sessions_sweep

        job = options["job"]
        if job == "digest":
            sent = mail.digests_send_due(period=options["period"])
            self.stdout.write(f"{options['period']} digests sent: {sent}")
        elif job == "mail":
            sent = mail.immediate_send_due()
            self.stdout.write(f"notification e-mails sent: {sent}")
        else:
            total = 0
            while (closed := sessions_sweep()) > 0:
                total += closed
            self.stdout.write(f"sessions closed: {total}")
