"""Entities as highlighted HTML: the quickest way to *see* what a model found in a text.

The text is HTML-escaped piece by piece between entity offsets (never the entity markup), so a
``<`` in a chemical name or a ``&`` in a gene list cannot break the page, and each entity keeps
exactly the characters ``text[start:end]`` it was found at.
"""

from __future__ import annotations

import html
from typing import Mapping, Sequence

from .entities import Entity

# Light colours that keep black text readable; types not listed get one from PALETTE in order.
DEFAULT_COLORS = {"Chemical": "#a6e3a1", "Disease": "#f9c0c0", "Gene": "#a9d2f5"}
PALETTE = ("#f9e2af", "#cba6f7", "#94e2d5", "#fab387", "#b4befe", "#f5c2e7")


def entity_colors(types: Sequence[str], colors: Mapping[str, str] | None = None) -> dict[str, str]:
    """A colour for each entity type: ``colors`` first, then the defaults, then the palette."""
    chosen = {**DEFAULT_COLORS, **(colors or {})}
    spare = [color for color in PALETTE if color not in chosen.values()] or list(PALETTE)
    result = {}
    for i, entity_type in enumerate(sorted(set(types))):
        result[entity_type] = chosen.get(entity_type, spare[i % len(spare)])
    return result


def _mark(text: str, entity: Entity, color: str) -> str:
    title = html.escape(f"{entity.type} {entity.score:.2f}", quote=True)
    return (
        f'<mark class="entity" data-type="{html.escape(entity.type, quote=True)}" title="{title}" '
        f'style="background:{color};padding:0 2px;border-radius:3px">{html.escape(text)}'
        f'<sub style="font-size:0.65em;margin-left:2px">{html.escape(entity.type)}</sub></mark>'
    )


def render_entities_html(text: str, entities: Sequence[Entity], colors: Mapping[str, str] | None = None) -> str:
    """``text`` as HTML with each entity in a coloured ``<mark>``, and a legend of the types.

    Entities must not overlap (a pipeline's never do); they may come in any order.
    """
    ordered = sorted(entities, key=lambda entity: (entity.start, entity.end))
    palette = entity_colors([entity.type for entity in ordered], colors)
    parts: list[str] = []
    position = 0
    for entity in ordered:
        if entity.start < position:
            raise ValueError(f"entities overlap at character {entity.start}: {entity}")
        if not 0 <= entity.start <= entity.end <= len(text):
            raise ValueError(f"entity {entity} does not fit in a text of {len(text)} characters")
        parts.append(html.escape(text[position : entity.start]))
        parts.append(_mark(text[entity.start : entity.end], entity, palette[entity.type]))
        position = entity.end
    parts.append(html.escape(text[position:]))
    legend = " ".join(
        f'<span style="background:{color};padding:0 4px;border-radius:3px;margin-right:4px">{html.escape(entity_type)}</span>'
        for entity_type, color in palette.items()
    )
    body = "".join(parts).replace("\n", "<br>\n")
    return (
        '<div class="biobert-ner" style="line-height:1.9;font-family:sans-serif">'
        f'<div class="legend" style="margin-bottom:4px;font-size:0.85em">{legend or "no entities"}</div>'
        f'<div class="text">{body}</div></div>'
    )


def display_entities(text: str, entities: Sequence[Entity], colors: Mapping[str, str] | None = None):
    """Show :func:`render_entities_html` in a notebook (returns the ``IPython.display.HTML`` object)."""
    from IPython.display import HTML, display

    shown = HTML(render_entities_html(text, entities, colors))
    display(shown)
    return shown
