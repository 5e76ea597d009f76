"""No inline style anywhere: the strict CSP (style-src 'self') refuses style attributes and
<style> elements, so templates, our JavaScript and the HTML our Python builds style through
classes only (static/css/app.css and Bootstrap's)."""

import io
import json
import re
import tokenize
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
BASE = ROOT / "templates" / "base.html"
APPS = ("agents", "autonomy", "governance", "workflows")

# A style attribute (quoted, unquoted or built) or a <style> element.
INLINE_STYLE = re.compile(r"\bstyle\s*=|<style\b", re.IGNORECASE)
# JavaScript that writes a style attribute or styles an element directly.
SCRIPTED_STYLE = re.compile(r"""\.style\b|setAttribute\(\s*["']style["']|<style\b""")


def templates() -> list[Path]:
    folders = [ROOT / "templates", *(ROOT / app / "templates" for app in APPS)]
    return sorted(path for folder in folders for path in folder.rglob("*.html"))


def scripts() -> list[Path]:
    return sorted((ROOT / "static" / "js").rglob("*.js"))


def python_modules() -> list[Path]:
    return sorted(
        path
        for app in APPS
        for path in (ROOT / app).rglob("*.py")
        if "migrations" not in path.parts
    )


def string_literals(path: Path) -> list[tuple[int, str]]:
    """The text of every string literal in a Python module (f-strings' literal parts too)."""
    kinds = {tokenize.STRING, getattr(tokenize, "FSTRING_MIDDLE", tokenize.STRING)}
    tokens = tokenize.generate_tokens(io.StringIO(path.read_text()).readline)
    return [(token.start[0], token.string) for token in tokens if token.type in kinds]


def offenders(lines: list[tuple[int, str]], pattern: re.Pattern) -> list[str]:
    return [f"line {number}: {text.strip()}" for number, text in lines if pattern.search(text)]


def numbered(path: Path) -> list[tuple[int, str]]:
    return list(enumerate(path.read_text().splitlines(), start=1))


def test_the_scans_find_the_files_they_guard():
    assert ROOT / "templates" / "base.html" in templates()
    assert ROOT / "static" / "js" / "live.js" in scripts()
    assert ROOT / "workflows" / "rows.py" in python_modules()


@pytest.mark.parametrize("path", templates(), ids=lambda path: str(path.relative_to(ROOT)))
def test_no_template_has_an_inline_style(path):
    assert offenders(numbered(path), INLINE_STYLE) == []


@pytest.mark.parametrize("path", scripts(), ids=lambda path: str(path.relative_to(ROOT)))
def test_no_script_styles_an_element_inline(path):
    assert offenders(numbered(path), SCRIPTED_STYLE) == []


@pytest.mark.parametrize("path", python_modules(), ids=lambda path: str(path.relative_to(ROOT)))
def test_no_html_built_in_python_has_an_inline_style(path):
    assert offenders(string_literals(path), INLINE_STYLE) == []


def test_the_scans_would_catch_an_inline_style(tmp_path):
    module = tmp_path / "cell.py"
    module.write_text(
        "from django.utils.html import format_html\n"
        "CELL = format_html('<td style=\"color: red\">{}</td>', 1)\n"
        "name = f'<span style={1}>'\n"
    )
    assert len(offenders(string_literals(module), INLINE_STYLE)) == 2
    assert offenders([(1, 'status.style.color = "red";')], SCRIPTED_STYLE)
    assert offenders([(1, '<div class="x" STYLE="width: 3px">')], INLINE_STYLE)


def test_htmx_is_told_to_add_no_styles_of_its_own():
    meta = re.search(r"""<meta name="htmx-config" content='([^']*)'>""", BASE.read_text())
    config = json.loads(meta.group(1))
    assert config["includeIndicatorStyles"] is False  # else a <style> element in <head>
    assert "style" not in config["attributesToSettle"]  # else a style attribute on settle
