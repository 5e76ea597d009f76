"""When a person's rights change, their open sockets hear it (workflows.live).

Signals rather than calls in each service: memberships, permissions, groups and users are
changed by our services, by guardian's shortcuts and by the admin alike. Each sends
`rights.changed` to the person's own group after commit (autonomy.consumers re-decides
then): a sign-out (which also names the session that ended), a membership saved or
deleted, an object permission granted or taken (to a person, or to a group: each of its
members), a change of groups or global permissions, and any save of the user row but the
login timestamp (deactivation, a new password, superuser status).
"""

from django.contrib.auth import get_user_model, user_logged_out
from django.contrib.auth.models import Group
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver
from guardian.models import GroupObjectPermission, UserObjectPermission

from governance.models import Membership
from workflows.live import publish_rights_changed

User = get_user_model()


@receiver(user_logged_out, dispatch_uid="workflows.rights.signed_out")
def signed_out(sender, request, user, **kwargs) -> None:
    session = getattr(request, "session", None)
    ended = session.session_key if session is not None else None
    if user is not None:
        publish_rights_changed([user.pk], ended_session=ended)


@receiver(post_save, sender=Membership, dispatch_uid="workflows.rights.membership_saved")
@receiver(post_delete, sender=Membership, dispatch_uid="workflows.rights.membership_deleted")
@receiver(post_save, sender=UserObjectPermission, dispatch_uid="workflows.rights.perm_saved")
@receiver(post_delete, sender=UserObjectPermission, dispatch_uid="workflows.rights.perm_deleted")
def person_rights_changed(sender, instance, **kwargs) -> None:
    publish_rights_changed([instance.user_id])


@receiver(post_save, sender=GroupObjectPermission, dispatch_uid="workflows.rights.gsaved")
@receiver(post_delete, sender=GroupObjectPermission, dispatch_uid="workflows.rights.gdeleted")
def group_rights_changed(sender, instance, **kwargs) -> None:
    members = User.objects.filter(groups=instance.group_id).values_list("pk", flat=True)
    publish_rights_changed(members)


@receiver(m2m_changed, sender=User.groups.through, dispatch_uid="workflows.rights.groups")
@receiver(m2m_changed, sender=User.user_permissions.through, dispatch_uid="workflows.rights.perms")
@receiver(m2m_changed, sender=Group.permissions.through, dispatch_uid="workflows.rights.gperms")
def relation_changed(sender, instance, action, model, pk_set, **kwargs) -> None:
    if action not in ("post_add", "post_remove", "pre_clear"):
        return
    if isinstance(instance, User):
        publish_rights_changed([instance.pk])
    elif model is User:  # from the other side: a group's or a permission's people changed
        publish_rights_changed(pk_set or instance.user_set.values_list("pk", flat=True))
    elif isinstance(instance, Group):  # a group's permissions changed: each of its members
        publish_rights_changed(instance.user_set.values_list("pk", flat=True))


@receiver(post_save, sender=User, dispatch_uid="workflows.rights.user_saved")
@receiver(post_delete, sender=User, dispatch_uid="workflows.rights.user_deleted")
def user_changed(sender, instance, update_fields=None, **kwargs) -> None:
    if update_fields is not None and set(update_fields) <= {"last_login"}:
        return  # signing in changes nobody's rights
    publish_rights_changed([instance.pk])
