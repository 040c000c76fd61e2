import signal
import threading

from django.core.management.base import BaseCommand, CommandError

from apiary.core import workers


class Command(BaseCommand):
    help = "Run Apiary's background workers (tasks; later the ingestion stream) until stopped."

    def add_arguments(self, parser):
        parser.add_argument(
            "--only",
            metavar="NAMES",
            help=(
                "Run only these workers, comma-separated (e.g. listening-consumer). "
                "Known: " + ", ".join(workers.WORKER_FACTORIES) + "."
            ),
        )

    def handle(self, *args, **options):
        names = None
        if options.get("only") is not None:
            names = [n.strip() for n in options["only"].split(",") if n.strip()]
            unknown = [n for n in names if n not in workers.WORKER_FACTORIES]
            valid = ", ".join(workers.WORKER_FACTORIES)
            if unknown:
                raise CommandError(
                    f"Unknown worker(s): {', '.join(unknown)}. Valid names: {valid}."
                )
            if not names:
                raise CommandError(f"--only needs at least one worker name. Valid names: {valid}.")
        done = threading.Event()
        running = workers.start_in_process(names)

        def _stop(signum, frame):
            done.set()

        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGTERM, _stop)
        self.stdout.write(
            "Workers running: " + ", ".join(w.name for w in running) + " (Ctrl+C to stop)"
        )
        self.stdout.flush()
        done.wait()
        workers.stop_all(running)
        self.stdout.write("Workers stopped.")
