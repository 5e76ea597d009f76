"""Print a new API key for an agent, for automation (the secret is shown only here)."""

from django.core.management.base import BaseCommand, CommandError

from agents import services
from agents.models import Agent


class Command(BaseCommand):
    help = "Issue an API key for the agent with this slug and print it."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--name", default="", help="a label for the key")

    def handle(self, *args, slug, name, **options):
        agent = Agent.objects.filter(slug=slug).first()
        if agent is None:
            raise CommandError(f"No agent with slug {slug!r}.")
        try:
            _key, secret = services.issue_key(None, agent, name=name or "issued by CLI")
        except services.InvalidTransition as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(secret)
