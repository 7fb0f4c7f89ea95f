"""Jinja2 templates for alert and digest messages.

The templates live here as strings (loaded with a ``DictLoader``) so they ship inside the
package without package-data configuration. Names ending in ``.html`` are autoescaped;
``.txt`` templates are not (they are plain text, never interpreted as markup).

Every template receives ``items``: a list of view dicts built by
:func:`monitor.alerts.render.alert_view` with the keys ``alert_id``, ``watch_id``,
``watch_name``, ``title``, ``url``, ``source`` (the outlet), ``source_name``,
``published``, ``terms`` (the matched words, a list) and
``segments`` (the snippet as ``(text, is_match)`` pairs). Digest templates also get
``title`` and ``count``.
"""

from __future__ import annotations

ALERT_TXT = """\
{% set a = items[0] -%}
{{ a.title }}
{% if a.updated %}{{ a.updated }}
{% endif %}
Watch:     {{ a.watch_name }} ({{ a.watch_id }})
Source:    {{ a.source }}
Published: {{ a.published }}
Matched:   {{ a.terms | join("; ") }}

{% if a.segments %}"{% for text, hit in a.segments %}{% if hit %}**{{ text }}**{% else %}{{ text }}{% endif %}{% endfor %}"

{% endif %}Read: {{ a.url }}

-- 
news-monitor alert {{ a.alert_id }}{% if a.source != a.source_name %} · found by source “{{ a.source_name }}”{% endif %}
"""

ALERT_HTML = """\
{% set a = items[0] -%}
<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>{{ a.title }}</title></head>
<body style="font-family: sans-serif; line-height: 1.4;">
<h2 style="margin-bottom: 0.3em;"><a href="{{ a.url }}">{{ a.title }}</a></h2>
{% if a.updated %}<p><b>{{ a.updated }}</b></p>
{% endif %}<table style="border-collapse: collapse;">
<tr><th align="left" style="padding-right: 1em;">Watch</th><td>{{ a.watch_name }} (<code>{{ a.watch_id }}</code>)</td></tr>
<tr><th align="left" style="padding-right: 1em;">Source</th><td>{{ a.source }}</td></tr>
<tr><th align="left" style="padding-right: 1em;">Published</th><td>{{ a.published }}</td></tr>
<tr><th align="left" style="padding-right: 1em;">Matched</th><td>{{ a.terms | join("; ") }}</td></tr>
</table>
{% if a.segments %}<blockquote style="border-left: 3px solid #ccc; margin: 1em 0; padding-left: 1em;">{% for text, hit in a.segments %}{% if hit %}<mark><b>{{ text }}</b></mark>{% else %}{{ text }}{% endif %}{% endfor %}</blockquote>
{% endif %}<p><a href="{{ a.url }}">{{ a.url }}</a></p>
<p style="color: #888; font-size: small;">news-monitor alert {{ a.alert_id }}{% if a.source != a.source_name %} &middot; found by source “{{ a.source_name }}”{% endif %}</p>
</body>
</html>
"""

DIGEST_TXT = """\
{{ title }}
{{ count }} alert{{ "" if count == 1 else "s" }}
{% for a in items %}
{{ loop.index }}. {{ a.title }}
{% if a.updated %}   {{ a.updated }}
{% endif %}   Watch:     {{ a.watch_name }} ({{ a.watch_id }})
   Source:    {{ a.source }}
   Published: {{ a.published }}
   Matched:   {{ a.terms | join("; ") }}
{% if a.segments %}   "{% for text, hit in a.segments %}{% if hit %}**{{ text }}**{% else %}{{ text }}{% endif %}{% endfor %}"
{% endif %}   Read: {{ a.url }}
{% endfor %}
-- 
news-monitor digest
"""

DIGEST_HTML = """\
<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>{{ title }}</title></head>
<body style="font-family: sans-serif; line-height: 1.4;">
<h1 style="font-size: 1.4em;">{{ title }}</h1>
<p>{{ count }} alert{{ "" if count == 1 else "s" }}</p>
<ol>
{% for a in items %}<li style="margin-bottom: 1em;">
<a href="{{ a.url }}"><b>{{ a.title }}</b></a><br>
{% if a.updated %}<b>{{ a.updated }}</b><br>
{% endif %}<small>{{ a.watch_name }} (<code>{{ a.watch_id }}</code>) &middot; {{ a.source }} &middot; {{ a.published }} &middot; {{ a.terms | join("; ") }} &middot; alert {{ a.alert_id }}</small>
{% if a.segments %}<br>{% for text, hit in a.segments %}{% if hit %}<mark><b>{{ text }}</b></mark>{% else %}{{ text }}{% endif %}{% endfor %}{% endif %}
</li>
{% endfor %}</ol>
<p style="color: #888; font-size: small;">news-monitor digest</p>
</body>
</html>
"""

TEMPLATES: dict[str, str] = {
    "alert.txt": ALERT_TXT,
    "alert.html": ALERT_HTML,
    "digest.txt": DIGEST_TXT,
    "digest.html": DIGEST_HTML,
}
