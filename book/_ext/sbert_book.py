"""Local Sphinx extension for the course book.

``metrics-table`` renders ``_build/metrics.json`` (every figure recorded by the notebooks, with the
profile, device and versions that produced it) as a table. The page that holds it is rebuilt on every
build, and the table is filled in after all notebooks have executed (``doctree-resolved``).
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from docutils import nodes
from sphinx.util.docutils import SphinxDirective


class metrics_placeholder(nodes.General, nodes.Element):
    pass


class MetricsTable(SphinxDirective):
    has_content = False

    def run(self):
        docs = getattr(self.env, "sbert_metrics_docs", set())
        docs.add(self.env.docname)
        self.env.sbert_metrics_docs = docs
        return [metrics_placeholder()]


def _fmt(v):
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e4 else f"{v:,.0f}"
    return str(v)


def _table(metrics: dict) -> str:
    if not metrics:
        return "<p><em>No figures recorded yet: build the book (or run <code>make test</code>).</em></p>"
    rows = []
    for key, e in sorted(metrics.items()):
        ref = _fmt(e.get("ref"))
        if ref and e.get("ref_source"):
            ref = f"{ref} <small>({html.escape(e['ref_source'])})</small>"
        versions = ", ".join(f"{k} {v}" for k, v in (e.get("versions") or {}).items()
                             if k in ("torch", "sentence-transformers"))
        rows.append(
            "<tr>" + "".join(f"<td>{c}</td>" for c in (
                f"<code>{html.escape(key)}</code>", html.escape(_fmt(e.get("value"))), ref,
                html.escape(e.get("profile", "")),
                html.escape(f"{e.get('device', '')} ({e.get('device_name', '')})"),
                html.escape(versions), html.escape(e.get("recorded_at", "")))) + "</tr>")
    head = "".join(f"<th>{h}</th>" for h in
                   ("figure", "measured", "reference", "profile", "device", "libraries", "recorded (UTC)"))
    return (f'<table class="table sbert-metrics"><thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')


def _resolve(app, doctree, docname):
    for node in list(doctree.findall(metrics_placeholder)):
        path = Path(app.srcdir) / "_build" / "metrics.json"
        metrics = json.loads(path.read_text()) if path.is_file() else {}
        node.replace_self(nodes.raw("", _table(metrics), format="html"))


def _always_outdated(app, env, added, changed, removed):
    return sorted(getattr(env, "sbert_metrics_docs", set()) - set(removed))


def _purge(app, env, docname):
    getattr(env, "sbert_metrics_docs", set()).discard(docname)


def _merge(app, env, docnames, other):
    env.sbert_metrics_docs = getattr(env, "sbert_metrics_docs", set()) | getattr(
        other, "sbert_metrics_docs", set())


def setup(app):
    app.add_node(metrics_placeholder)
    app.add_directive("metrics-table", MetricsTable)
    app.connect("doctree-resolved", _resolve)
    app.connect("env-get-outdated", _always_outdated)
    app.connect("env-purge-doc", _purge)
    app.connect("env-merge-info", _merge)
    return {"version": "0.1", "parallel_read_safe": True, "parallel_write_safe": True}
