"""The inbox's refusals: each says why nothing was changed, and how the API and pages answer."""

__all__ = ["AlreadyDecided", "ClaimedByOther", "InboxError", "NotAllowed", "OutOfScope"]


class InboxError(Exception):
    """A refused inbox operation; nothing was changed. `fields` names the bad inputs."""

    code = "invalid"

    def __init__(self, message: str, fields: dict[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields or {}


class NotAllowed(InboxError):
    """The person may see the escalation but not do this to it."""

    code = "not_allowed"


class OutOfScope(InboxError):
    """The escalation is not in a queue the person may work (answered as a 404)."""

    code = "not_found"


class AlreadyDecided(InboxError):
    """Someone (or the SLA) got there first."""

    code = "already_decided"


class ClaimedByOther(InboxError):
    """Another person has claimed the escalation."""

    code = "claimed"
