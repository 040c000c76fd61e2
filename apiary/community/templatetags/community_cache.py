"""``{% fragment_cache key [alias] %}…{% endfragment_cache %}``: keep the rendered block in
Django's cache (``alias``, default "default") under ``key``; with an empty key, just render it.

The view decides whether a block may be shared (see ``views_posts.comments_cache_key``: only
for anonymous visitors, whose pages are identical) and makes the key out of everything the
block shows, so a changed input is a different key and nothing needs invalidating. No timeout
argument: entries age out after ``FRAGMENT_TTL`` seconds or when the cache is full."""

from __future__ import annotations

from django import template
from django.core.cache import caches

register = template.Library()
FRAGMENT_TTL = 600


class FragmentCacheNode(template.Node):
    def __init__(self, nodelist, key, alias="default"):
        self.nodelist = nodelist
        self.key = key
        self.alias = alias

    def render(self, context):
        key = self.key.resolve(context)
        if not key:
            return self.nodelist.render(context)
        cache = caches[self.alias]
        html = cache.get(key)
        if html is None:
            html = self.nodelist.render(context)
            cache.set(key, html, FRAGMENT_TTL)
        return html


@register.tag("fragment_cache")
def fragment_cache(parser, token):
    bits = token.split_contents()
    if len(bits) not in (2, 3):
        raise template.TemplateSyntaxError("usage: {% fragment_cache key [alias] %}")
    nodelist = parser.parse(("endfragment_cache",))
    parser.delete_first_token()
    alias = bits[2].strip("\"'") if len(bits) == 3 else "default"
    return FragmentCacheNode(nodelist, parser.compile_filter(bits[1]), alias)
