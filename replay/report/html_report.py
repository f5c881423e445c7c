"""report.html: one self-contained page that opens on the findings, each with its own path drawn.

Each finding shows its path through the state graph as a small inline SVG (html_finding_path.py),
recorded-prefix steps marked as in summary.md. The full explored graph waits behind a button, folded
by depth or by template (html_clusters.py) or unfolded; each view is graph/export.py's offline HTML
(its own script, no CDN), kept as JSON in the page and put into an iframe's ``srcdoc`` only when
asked for, so first paint stays light. Nothing is loaded from the network.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import networkx as nx
from venom_replay.graph.export import render_html
from venom_replay.replay.report.html_clusters import by_depth, by_template
from venom_replay.replay.report.html_finding_path import (
    ARROW_DEFS,
    PATH_STYLE,
    finding_path_svg,
)
from venom_replay.replay.report.json_report import agreement_line
from venom_replay.replay.report.outcome import outcome

_STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1b1f24;background:#f6f7f9}
header{padding:16px 24px;background:#20252d;color:#fff}
header h1{margin:0 0 4px;font-size:20px}
main{padding:16px 24px}
.stats{display:flex;gap:12px;flex-wrap:wrap;margin:8px 0 16px}
.stat{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:8px 14px}
.stat b{display:block;font-size:20px}
.bad{color:#b42318}.good{color:#067647}
details{background:#fff;border:1px solid #dde1e6;border-radius:6px;margin:8px 0;padding:8px 12px}
summary{cursor:pointer;font-weight:600}
ol li code{background:#eef1f4;padding:1px 4px;border-radius:3px}
pre{background:#0f1419;color:#e6e1cf;padding:8px;border-radius:4px;overflow:auto;max-height:300px;font-size:12px}
iframe{width:100%;height:640px;border:1px solid #dde1e6;border-radius:6px;background:#fff}
button{font:inherit;padding:6px 12px;border:1px solid #98a2b3;border-radius:6px;background:#fff;cursor:pointer}
button[aria-pressed=true]{background:#20252d;color:#fff}
.views{display:flex;gap:8px;margin:8px 0}
.prefix-step{color:#667085}
.warn{background:#fffaeb;border:1px solid #fedf89;border-radius:6px;padding:6px 10px;margin:4px 0}
"""


def _exchange_text(ex: dict[str, Any]) -> str:
    req, resp = ex["request"], ex["response"]
    lines = [f"{req['method']} {req['url']}"] + [f"{k}: {v}" for k, v in req["headers"]]
    if req["body"]:
        lines += ["", req["body"]]
    lines.append("")
    if resp is None:
        lines.append("(no response)")
    else:
        lines += [f"{resp['status']} {resp['reason']}"] + [f"{k}: {v}" for k, v in resp["headers"]]
        if resp["body"]:
            lines += ["", resp["body"]]
    return "\n".join(lines)


def _step_html(s: dict[str, Any]) -> str:
    status = s["status"] if s["status"] is not None else s.get("error", "no answer")
    call = f"<code>{html.escape(s['method'])} {html.escape(s['path'])}</code> → {html.escape(str(status))}"
    if s.get("recorded_prefix"):
        return f"<li class=prefix-step>{call} <em>(recorded prefix)</em></li>"
    return f"<li>{call}</li>"


def _finding_html(f: dict[str, Any]) -> str:
    steps = "".join(_step_html(s) for s in f["sequence"])
    exchanges = "".join(f"<pre>{html.escape(_exchange_text(ex))}</pre>" for ex in f["exchanges"])
    notes = "".join(f"<p class=warn>{html.escape(n)}</p>" for n in f.get("notes", []))
    return (
        f"<details open class=finding id=finding-{int(f['number'])}><summary>{int(f['number'])}. "
        f"<span class=bad>{html.escape(f['checker'])}</span>: {html.escape(f['message'])}"
        f" <small>(seen {int(f['count'])}×)</small></summary>{finding_path_svg(f)}"
        f"<details><summary>Bucket and minimal sequence</summary>"
        f"<p>Bucket <code>{html.escape(f['signature'])}</code>. Minimal sequence:</p><ol>{steps}</ol></details>{notes}"
        f"<p>Reproduce: <code>venom-replay reproduce report.json {f['number']}</code></p>"
        f"<details><summary>Requests and responses (secrets masked)</summary>{exchanges}</details></details>"
    )


def html_report(report: dict[str, Any], graph: nx.Graph | None) -> str:
    restored = report["db_restored"]
    restored_html = {True: "<b class=good>yes</b>", False: "<b class=bad>NO</b>", None: "<b>no database</b>"}[restored]
    stats = [
        ("states", report["states"]), ("transitions", report["transitions"]),
        ("findings", len(report["findings"])), ("stopped", report["stopped"]),
        ("seconds", report.get("elapsed_seconds")),
    ]
    agreement = report.get("replay_agreement")
    if agreement:
        stats.append(("recorded steps, same status class", f"{agreement['same_status_class']} of {agreement['steps']}"))
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        "<meta name=viewport content='width=device-width,initial-scale=1'>",
        "<title>venom-replay explore report</title>",
        f"<style>{_STYLE}{PATH_STYLE}</style></head><body>{ARROW_DEFS}",
        (f"<header><h1>venom-replay explore</h1>target {html.escape(report['target'])} · strategy "
        f"{html.escape(report['strategy'])} · depth {report['depth']}</header><main>"),
        "".join(f"<p class='warn bad'><b>{html.escape(line)}</b></p>" for line in outcome(report).problems),
        f"<h2>Findings ({len(report['findings'])})</h2>",
        "".join(_finding_html(f) for f in report["findings"]) or "<p class=good>No findings.</p>",
        "<h2>Run</h2><div class=stats>"
        + "".join(f"<div class=stat>{html.escape(k)}<b>{html.escape(str(v))}</b></div>" for k, v in stats)
        + f"<div class=stat>db restored{restored_html}</div></div>",
        f"<p>{html.escape(agreement_line(agreement) or 'the recording was not replayed')}</p>",
    ]
    if report.get("warnings"):
        parts.append("<h2>Warnings</h2>" + "".join(f"<div class=warn>{html.escape(w)}</div>" for w in report["warnings"]))
    if graph is not None:
        parts.append(_graph_section(graph))
    parts.append(f"<script type=application/json id=report-data>{_script_json(report)}</script>")
    parts.append("</main></body></html>")
    return "\n".join(parts)


_GRAPH_SCRIPT = """
document.getElementById('show-graph').addEventListener('click', function () {
  document.getElementById('graph-views').hidden = false;
  this.hidden = true;
  show('depth');
});
function show(view) {
  const frame = document.getElementById('graph-frame');
  frame.srcdoc = JSON.parse(document.getElementById('graph-' + view).textContent);
  for (const b of document.querySelectorAll('[data-view]')) b.setAttribute('aria-pressed', String(b.dataset.view === view));
}
for (const b of document.querySelectorAll('[data-view]')) b.addEventListener('click', () => show(b.dataset.view));
"""

_VIEWS = (("depth", "by depth", by_depth), ("template", "by template", by_template), ("all", "every state", None))


def _graph_section(graph: nx.Graph) -> str:
    """The explored graph behind a button; each folding is rendered now and drawn only when chosen."""
    parts = [(f"<h2>Explored state graph</h2><p>{graph.number_of_nodes()} states and {graph.number_of_edges()} "
             "transitions, folded by depth or by action (template), or every state; click a node or edge for "
             "details.</p><button id=show-graph type=button>Show the explored graph</button>"),
             "<div id=graph-views hidden><div class=views>"]
    parts += [f"<button type=button data-view={key} aria-pressed=false>{label}</button>" for key, label, _ in _VIEWS]
    parts.append("</div><iframe id=graph-frame title='explored state graph'></iframe></div>")
    for key, label, fold in _VIEWS:
        shown = fold(graph) if fold is not None else graph
        page = render_html(shown, f"explored state graph, {label}")
        parts.append(f"<script type=application/json id=graph-{key}>{_script_json(page)}</script>")
    parts.append(f"<script>{_GRAPH_SCRIPT}</script>")
    return "\n".join(parts)


def _script_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def write_html(report: dict[str, Any], graph: nx.Graph | None, directory: Path) -> Path:
    path = Path(directory) / "report.html"
    path.write_text(html_report(report, graph), encoding="utf-8")
    return path
