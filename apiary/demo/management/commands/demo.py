from django.core.management import call_command
from django.core.management.base import BaseCommand

from apiary.demo import generator


class Command(BaseCommand):
    help = "Migrate, load the demo data (idempotent) and serve Apiary with in-process workers."

    def add_arguments(self, parser):
        parser.add_argument("--seed", type=int, default=2026)
        parser.add_argument("--no-serve", action="store_true", help="Load data, do not serve.")
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def handle(self, *args, seed, no_serve, host, port, **options):
        call_command("migrate", interactive=False, verbosity=0)
        self.stdout.write("Database migrated.")
        generator.generate(seed=seed, progress=lambda line: self.stdout.write(f"  {line}"))
        self.stdout.write(
            self.style.SUCCESS(
                "\nDemo ready. Log in at http://%s:%s/ with\n"
                "  admin:        %s / %s\n"
                "  care agent:   care@apiary.local / %s\n"
                "  care manager: carelead@apiary.local / %s\n"
                "  community:    community@apiary.local / %s\n"
                "  analyst:      analyst@apiary.local / %s\n"
                "API docs: http://%s:%s/api/docs\n"
                % (
                    host,
                    port,
                    generator.ADMIN_EMAIL,
                    generator.DEMO_PASSWORD,
                    generator.DEMO_PASSWORD,
                    generator.DEMO_PASSWORD,
                    generator.DEMO_PASSWORD,
                    generator.DEMO_PASSWORD,
                    host,
                    port,
                )
            )
        )
        if not no_serve:
            call_command("serve", host=host, port=port)
