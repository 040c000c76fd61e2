import signal
import threading

from django.core.management.base import BaseCommand

from apiary.core import workers


class Command(BaseCommand):
    help = "Run Apiary's background workers (tasks; later the ingestion stream) until stopped."

    def handle(self, *args, **options):
        done = threading.Event()
        running = workers.start_in_process()

        def _stop(signum, frame):
            done.set()

        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGTERM, _stop)
        self.stdout.write(
            "Workers running: " + ", ".join(w.name for w in running) + " (Ctrl+C to stop)"
        )
        done.wait()
        workers.stop_all(running)
        self.stdout.write("Workers stopped.")
