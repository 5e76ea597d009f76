"""`{% page_url "agent" slug %}`: the address of a page an app above registered
(governance.links.register_page), so governance's and agents' templates name no URL of an
app above them."""

from django import template

from governance import links

__all__ = ["page_url"]

register = template.Library()


@register.simple_tag
def page_url(page: str, *args) -> str:
    """The address of the registered `page` with `args`."""
    return links.page_url(page, *args)
