"""Who is calling: a person, an agent, or COE staff (the "COE" group, or superusers).

Which rows a caller may see is decided above, by governance.scoping; this module only
tells the kinds of caller apart, so that the toolkit's permission classes can ask.
"""

from django.contrib.auth.models import Group

__all__ = ["COE_GROUP", "coe_group", "is_agent", "is_coe"]

COE_GROUP = "COE"


def coe_group() -> Group:
    """The global group of Centre of Excellence staff."""
    group, _ = Group.objects.get_or_create(name=COE_GROUP)
    return group


def is_agent(principal) -> bool:
    return bool(getattr(principal, "is_agent", False))


def is_coe(user) -> bool:
    """COE staff: superusers and members of the COE group (cached on the user object)."""
    if user is None or not user.is_authenticated or is_agent(user) or not user.is_active:
        return False
    cached = getattr(user, "_autonomy_is_coe", None)
    if cached is None:
        cached = user.is_superuser or user.groups.filter(name=COE_GROUP).exists()
        user._autonomy_is_coe = cached
    return cached
