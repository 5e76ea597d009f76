"""Load the demo enterprise (idempotent)."""

from django.core.management.base import BaseCommand

from autonomy.demo import seed


class Command(BaseCommand):
    help = "Create the demo business units, personas, roles and agents (idempotent)."

    def handle(self, *args, **options):
        seed(self.stdout)
