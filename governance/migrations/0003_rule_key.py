"""Rule.key: a rule's identity across the versions of its policy, so a limit keeps counting
when its policy is published again (governance.limits keys counters by it).

Existing rules are matched to the copies later versions made of them by policy and name:
a version's rule takes the key of the same-named rule (the n-th of that name, in position
order) of the latest earlier PUBLISHED version of its policy, which is what a new draft
copies. A rule with no such match (new, renamed, or in a policy's first version) gets a new
key. Historical rows take their rule's key (or one new key per deleted rule).
"""

import itertools
import uuid
from collections import defaultdict

from django.db import migrations, models


def backfill_keys(apps, schema_editor):
    Rule = apps.get_model("governance", "Rule")
    HistoricalRule = apps.get_model("governance", "HistoricalRule")
    rules = Rule.objects.select_related("version").order_by(
        "version__policy_id", "version__number", "position", "id"
    )
    published: dict[int, dict[str, list[uuid.UUID]]] = {}  # policy id -> name -> keys
    keys: dict[int, uuid.UUID] = {}
    for (policy_id, _), group in itertools.groupby(
        rules, key=lambda rule: (rule.version.policy_id, rule.version_id)
    ):
        group = list(group)
        earlier = published.get(policy_id, {})
        seen: dict[str, int] = defaultdict(int)
        names: dict[str, list[uuid.UUID]] = defaultdict(list)
        for rule in group:
            same = earlier.get(rule.name, [])
            nth = seen[rule.name]
            seen[rule.name] += 1
            rule.key = same[nth] if nth < len(same) else uuid.uuid4()
            names[rule.name].append(rule.key)
            keys[rule.pk] = rule.key
        if group[0].version.published_at is not None:
            published[policy_id] = names
        Rule.objects.bulk_update(group, ["key"], batch_size=500)
    history = list(HistoricalRule.objects.only("history_id", "id"))
    for row in history:
        row.key = keys.setdefault(row.id, uuid.uuid4())
    HistoricalRule.objects.bulk_update(history, ["key"], batch_size=500)


class Migration(migrations.Migration):
    dependencies = [
        ("governance", "0002_policies_switches_decisions"),
    ]

    operations = [
        migrations.AddField(
            model_name="rule",
            name="key",
            field=models.UUIDField(editable=False, null=True),
        ),
        migrations.AddField(
            model_name="historicalrule",
            name="key",
            field=models.UUIDField(editable=False, null=True),
        ),
        migrations.RunPython(backfill_keys, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="rule",
            name="key",
            field=models.UUIDField(default=uuid.uuid4, editable=False),
        ),
        migrations.AlterField(
            model_name="historicalrule",
            name="key",
            field=models.UUIDField(default=uuid.uuid4, editable=False),
        ),
        migrations.AddConstraint(
            model_name="rule",
            constraint=models.UniqueConstraint(
                fields=("version", "key"), name="unique_rule_key_per_version"
            ),
        ),
    ]
