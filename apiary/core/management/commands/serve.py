import sys

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from apiary.core import workers


class Command(BaseCommand):
    help = "Serve Apiary over HTTP (ASGI, uvicorn) with background workers in the same process."

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--no-workers",
            action="store_true",
            help="Do not run background workers in this process (run `apiary worker` instead).",
        )

    def handle(self, *args, host, port, no_workers, **options):
        import uvicorn

        try:
            call_command("check", fail_level="ERROR")
        except (CommandError, SystemExit) as exc:
            raise CommandError(f"Refusing to start: {exc}") from exc
        running = [] if no_workers else workers.start_in_process()
        self.stdout.write(f"Apiary is serving on http://{host}:{port}/ (Ctrl+C to stop)")
        sys.stdout.flush()
        try:
            uvicorn.run(
                "apiary.asgi:application",
                host=host,
                port=port,
                lifespan="off",
                log_level="info",
                proxy_headers=False,
            )
        finally:
            workers.stop_all(running)
