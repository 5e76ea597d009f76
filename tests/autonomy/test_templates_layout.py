"""Templates stay readable: no line over 160 characters (wrap between attributes, before a
block-level tag, or at a space in text, where the rendered HTML stays the same)."""

from pathlib import Path

from django.conf import settings

ROOT = Path(settings.BASE_DIR)
APPS = ("agents", "autonomy", "governance", "workflows")
LIMIT = 160


def templates() -> list[Path]:
    folders = [ROOT / "templates", *(ROOT / app / "templates" for app in APPS)]
    return sorted(path for folder in folders for path in folder.rglob("*.html"))


def test_templates_are_found():
    assert len(templates()) > 20


def test_no_template_line_is_over_160_characters():
    long_lines = [
        f"{path.relative_to(ROOT)}:{number}: {len(line)} characters"
        for path in templates()
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if len(line) > LIMIT
    ]
    assert long_lines == [], "\n".join(long_lines)
