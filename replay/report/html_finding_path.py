"""One finding's path through the state graph, drawn on its own as an inline SVG.

The path is a chain (start state, one state after each step), so it is laid out as a vertical list:
one state circle per row and the step's call beside the arrow that leads to the next state (a long
run of recorded-prefix steps is one arrow). Rows have
a fixed height, so nothing can overlap and the drawing is readable at first paint whatever the length.
Every text comes from the target and is escaped.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

ROW_HEIGHT = 56
FOLD_PREFIX_AFTER = 2
RADIUS = 13
FONT_PX = 13
_CHAR_PX = 8.0  # monospace advance at FONT_PX, generous so the width never clips
_LEFT = 24
_TEXT_X = _LEFT + RADIUS + 18


@dataclass(frozen=True, slots=True)
class _Row:
    """One arrow of the drawing: one step, or a run of recorded-prefix steps folded into one."""

    first: int
    last: int
    text: str
    prefix: bool


def _status(step: dict[str, Any]) -> Any:
    return step["status"] if step.get("status") is not None else step.get("error", "no answer")


def _rows(steps: list[dict[str, Any]]) -> list[_Row]:
    """Steps as rows; a run of more than FOLD_PREFIX_AFTER recorded-prefix steps becomes one row (the
    list under the drawing still names each), so a long recorded session never hides what was explored."""
    rows: list[_Row] = []
    i = 0
    while i < len(steps):
        j = i
        while j < len(steps) - 1 and steps[j].get("recorded_prefix"):
            j += 1
        if j - i > FOLD_PREFIX_AFTER:
            rows.append(_Row(i + 1, j, f"{i + 1}–{j}. {j - i} steps of a recorded session", True))
            i = j
            continue
        step = steps[i]
        rows.append(_Row(i + 1, i + 1, f"{i + 1}. {step['method']} {step['path']} → {_status(step)}",
                         bool(step.get("recorded_prefix"))))
        i += 1
    return rows


def finding_path_svg(finding: dict[str, Any]) -> str:
    rows = _rows(finding["sequence"])
    longest = max((len(r.text) + (18 if r.prefix else 0) for r in rows), default=10)
    width = int(_TEXT_X + longest * _CHAR_PX + 16)
    height = ROW_HEIGHT * len(rows) + 2 * RADIUS + 12
    parts = [(f"<svg class=finding-path role=img aria-label='path of finding {int(finding['number'])}' "
             f"width={width} height={height} viewBox='0 0 {width} {height}' xmlns='http://www.w3.org/2000/svg'>")]
    for i, row in enumerate(rows):
        y0, y1 = RADIUS + 6 + i * ROW_HEIGHT, RADIUS + 6 + (i + 1) * ROW_HEIGHT
        kind = "finding" if i == len(rows) - 1 else "prefix" if row.prefix else "explored"
        parts.append(f"<line class='path-edge {kind}' x1={_LEFT} y1={y0 + RADIUS} x2={_LEFT} y2='{y1 - RADIUS - 2}' "
                     "marker-end='url(#arrow)'/>")
        label = f"<tspan>{html.escape(row.text)}</tspan>"
        if row.prefix:
            label += " <tspan class=prefix-mark>(recorded prefix)</tspan>"
        parts.append(f"<text class='path-label {kind}' data-first={row.first} data-last={row.last} x={_TEXT_X} "
                     f"y={(y0 + y1) // 2 + FONT_PX // 3} font-size={FONT_PX}>{label}</text>")
    for i, row in enumerate([None, *rows]):
        y = RADIUS + 6 + i * ROW_HEIGHT
        kind = "start" if row is None else "finding" if i == len(rows) else "state"
        name = "S" if row is None else str(row.last)  # S: the start state; state n follows step n
        parts.append(f"<g class='path-node {kind}'><circle cx='{_LEFT}' cy='{y}' r='{RADIUS}'/>"
                     f"<text x={_LEFT} y={y + 4} text-anchor=middle font-size={FONT_PX}>{name}</text></g>")
    parts.append("</svg>")
    return "".join(parts)


PATH_STYLE = """
.finding-path{display:block;margin:6px 0 10px;max-width:100%;overflow:visible}
.finding-path .path-edge{stroke:#475467;stroke-width:2}
.finding-path .path-edge.prefix{stroke:#98a2b3;stroke-dasharray:5 4}
.finding-path .path-edge.finding{stroke:#b42318}
.finding-path .path-label{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;fill:#1b1f24}
.finding-path .path-label.prefix{fill:#667085}
.finding-path .path-label.finding{fill:#b42318;font-weight:600}
.finding-path .prefix-mark{font-style:italic;fill:#667085;font-weight:400}
.finding-path .path-node circle{fill:#fff;stroke:#475467;stroke-width:2}
.finding-path .path-node.start circle{fill:#eef4ff;stroke:#3538cd}
.finding-path .path-node.finding circle{fill:#fee4e2;stroke:#b42318}
.finding-path .path-node text{font:600 13px system-ui,sans-serif;fill:#1b1f24}
"""

ARROW_DEFS = ("<svg width=0 height=0 style='position:absolute' aria-hidden=true><defs>"
              "<marker id=arrow viewBox='0 0 10 10' refX=9 refY=5 markerWidth=7 markerHeight=7 orient=auto>"
              "<path d='M0,0 L10,5 L0,10 z' fill='#475467'/></marker></defs></svg>")
