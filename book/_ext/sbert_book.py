"""Local Sphinx extension for the course book: executed notebooks in, tables of what ran out.

The book executes nothing (``execute_notebooks: off``). Each lesson page is built from the copy that
papermill executed (``_build/executed/NN_topic.ipynb``, written by ``tests/notebooks/test_execute.py``;
``$SBERT_LESSONS_EXECUTED`` names another folder):

- ``source-read`` merges the executed copy's outputs into the current source notebook, cell by cell, after
  checking that every code cell is unchanged since it ran (a stale or missing copy is a warning, an error
  under ``-W``), inserts papermill's injected-parameters cell after the ``parameters`` cell, and adds a note
  under the title stating the profile, device and library versions the page's numbers came from;
- a lesson page is rebuilt whenever its executed copy changes (``env-get-outdated``);
- ``sbert_executed_notebooks = "off"`` in the Sphinx config (or ``SBERT_LESSONS_EXECUTED=off``) builds the
  pages from the sources as they are, e.g. a student edition without outputs.

Directives:

``metrics-table``
    every figure recorded in ``_build/metrics.json``, grouped by chapter, with the environment that produced
    them stated once above the table (profile, device, library versions);
``runtime-table``
    each lesson's execution in this build (profile, device, seconds, budget, slowest cell), read from the
    executed copies;
``comparisons-table``
    every comparison recorded with ``report.record_comparison``: A − B, its 95 % interval, n and the verdict;
``recorded-comparison <key>``
    one recorded comparison written out as a sentence (the methods page's worked example);
``recorded-runtimes``
    runs recorded by hand-started builds on other machines (``book/runtimes.json``: e.g. the full profile on a
    CPU), each labelled with its profile and device.
``full-record-table``
    each lesson's entry in the committed full record (``records/full/metrics.json``, ``tools/full_record.py``):
    current, "full figures from an earlier version of this lesson" (stale) or "no full run recorded".

The full record (issue 27): a lesson page whose full record is stale or missing says so under its title. In
the full edition (``make book-full``, ``SBERT_LESSONS_EXECUTED=_build/executed-full``) a lesson with no full
executed copy is a warning, unless ``$SBERT_LESSONS_EXECUTED_FALLBACK`` names a folder to take it from
(``ALLOW_STALE=1``: the smoke copy), and its page says which profile it shows.

Pages holding a directive are rebuilt on every build; the tables are filled in after all documents are read.
"""

from __future__ import annotations

import html
import json
import os
from pathlib import Path

from docutils import nodes
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

logger = logging.getLogger(__name__)
LIB_KEYS = ("torch", "sentence-transformers", "transformers")


# --------------------------------------------------------------------------- executed copies
def executed_dir(root: Path) -> Path:
    env = os.environ.get("SBERT_LESSONS_EXECUTED")
    return Path(env if env and env.lower() != "off" else Path(root) / "_build" / "executed")


def _tags(cell) -> list:
    return (cell.get("metadata") or {}).get("tags") or []


def _src(cell) -> str:
    s = cell.get("source", "")
    return "".join(s) if isinstance(s, list) else s


def code_cells(nb: dict) -> list:
    """The notebook's own code cells (papermill's injected-parameters cell left out)."""
    return [c for c in nb["cells"] if c["cell_type"] == "code" and "injected-parameters" not in _tags(c)]


def stale_reason(source: dict, executed: dict) -> str | None:
    """Why ``executed`` is not an execution of ``source`` (``None`` when every code cell matches)."""
    a, b = code_cells(source), code_cells(executed)
    if len(a) != len(b):
        return f"{len(a)} code cells now, {len(b)} when it was executed"
    for i, (x, y) in enumerate(zip(a, b)):
        if _src(x).strip() != _src(y).strip():
            return f"code cell {i + 1} changed since it was executed"
    return None


def fallback_dir() -> Path | None:
    env = os.environ.get("SBERT_LESSONS_EXECUTED_FALLBACK")
    return Path(env) if env else None


def edition() -> str:
    """``full`` for the full edition (``make book-full``), else ``smoke`` (the copies of ``make notebooks``)."""
    return "full" if os.environ.get("SBERT_LESSONS_EDITION", "").lower() == "full" else "smoke"


_RECORD_STATUS: dict = {}


def full_record_status(root: Path) -> dict[str, tuple[str, str]]:
    """``{stem: (state, why)}`` of the committed full record against the working tree (read once a build)."""
    key = str(Path(root).resolve())
    if key not in _RECORD_STATUS:
        import sys

        tools = str(Path(root) / "tools")
        sys.path.insert(0, tools)
        try:
            import full_record

            _RECORD_STATUS[key] = full_record.statuses(root=Path(root))
        except Exception as exc:  # noqa: BLE001 -- a broken record is reported, the build goes on
            logger.warning(f"the full record could not be read: {exc}", type="sbert", subtype="record")
            _RECORD_STATUS[key] = {}
        finally:
            sys.path.remove(tools)
    return _RECORD_STATUS[key]


STATE_TEXT = {"current": "current", "stale": "full figures from an earlier version of this lesson",
              "missing": "no full run recorded"}


def record_note(state: str, why: str, fallback: bool = False) -> str:
    """The Markdown note under a lesson's title when its full record is stale or missing (or, in the full
    edition, when the page shows another profile's copy)."""
    lines = []
    if fallback:
        lines.append("**This page shows the smoke profile**: no full-profile execution of this lesson exists "
                     "yet, so the full edition was built with its smoke copy (`ALLOW_STALE=1`).")
    if state == "stale":
        lines.append(f"**Full profile**: {why}. Its figures in the full record are from an earlier version of "
                     "this lesson; they are not checked against the code as it is now.")
    elif state == "missing":
        lines.append("**Full profile**: no full run recorded for this lesson yet.")
    if not lines:
        return ""
    return ("::::{warning}\n:class: sbert-record\n" + " ".join(lines) +
            " See the [Execution report](../book/runtimes.md).\n::::\n")


def run_info(executed: dict) -> dict:
    return ((executed.get("metadata") or {}).get("sbert_lessons") or {}).get("run") or {}


def provenance_note(run: dict) -> str:
    """The Markdown note placed under a lesson's title: where its numbers came from."""
    if not run:
        return ""
    device = run.get("device") or "?"
    name = run.get("device_name")
    dev = f"{device} ({name})" if name and name.lower() != device.lower() else device
    libs = ", ".join(f"{k} {v}" for k, v in (run.get("versions") or {}).items() if k in LIB_KEYS)
    when = (run.get("executed_at") or "")[:10]
    secs = run.get("seconds")
    took = f" in {secs / 60:.1f} min" if isinstance(secs, (int, float)) else ""
    return ("::::{note}\n:class: sbert-provenance\n"
            f"**The numbers on this page** come from the **{run.get('profile', '?')}** profile on **{dev}**"
            f"{', with ' + libs if libs else ''}; the notebook was executed on {when}{took}. "
            "See [Setup](../book/setup.md) for the profiles and [Execution report](../book/runtimes.md) "
            "for every lesson's time.\n::::\n")


def merge_executed(source: dict, executed: dict) -> dict:
    """``source`` with the outputs of ``executed`` (which must not be stale) and its injected parameters."""
    merged = json.loads(json.dumps(source))
    for mine, ran in zip(code_cells(merged), code_cells(executed)):
        mine["outputs"] = ran.get("outputs", [])
        mine["execution_count"] = ran.get("execution_count")
        meta = ran.get("metadata") or {}
        for key in ("papermill", "execution"):
            if key in meta:
                mine.setdefault("metadata", {})[key] = meta[key]
    injected = [c for c in executed["cells"] if "injected-parameters" in _tags(c)]
    if injected:
        cells = merged["cells"]
        at = next((i + 1 for i, c in enumerate(cells) if "parameters" in _tags(c)), 0)
        cells[at:at] = injected
    for key in ("papermill", "sbert_lessons"):
        if key in executed.get("metadata", {}):
            merged["metadata"][key] = executed["metadata"][key]
    note = provenance_note(run_info(executed))
    if note and merged["cells"]:
        first_md = next((i for i, c in enumerate(merged["cells"]) if c["cell_type"] == "markdown"), None)
        at = 0 if first_md is None else first_md + 1
        merged["cells"].insert(at, {"cell_type": "markdown", "metadata": {}, "source": note,
                                    **({"id": "sbert-provenance"} if "id" in merged["cells"][0] else {})})
    return merged


def _wanted(app) -> bool:
    """Executed copies are required unless ``sbert_executed_notebooks = "off"`` (Sphinx config, e.g. a
    student edition built without outputs) or ``SBERT_LESSONS_EXECUTED=off``."""
    return str(app.config.sbert_executed_notebooks).lower() != "off" and \
        os.environ.get("SBERT_LESSONS_EXECUTED", "").lower() != "off"


def _on_source_read(app, docname, source):
    if not _wanted(app):
        return
    path = Path(app.env.doc2path(docname))
    if path.suffix != ".ipynb" or path.parent.name != "notebooks":
        return
    exe = executed_dir(app.srcdir) / path.name
    fallback = False
    if not exe.is_file() and fallback_dir() is not None and (fallback_dir() / path.name).is_file():
        exe, fallback = fallback_dir() / path.name, True
        logger.info(f"{docname}: no full executed copy; built from {exe} (ALLOW_STALE)")
    app.env.sbert_executed = getattr(app.env, "sbert_executed", {})
    app.env.sbert_executed[docname] = exe.stat().st_mtime if exe.is_file() else None
    if not exe.is_file():
        logger.warning(f"{docname}: no executed copy ({exe.name} in {exe.parent}); the book executes nothing, "
                       "so run `make notebooks` first", type="sbert", subtype="executed", location=docname)
        return
    src, ran = json.loads(source[0]), json.loads(exe.read_text())
    why = stale_reason(src, ran)
    if why:
        logger.warning(f"{docname}: the executed copy is stale ({why}); run `make notebooks` again",
                       type="sbert", subtype="executed", location=docname)
        return
    if not run_info(ran) or (ran.get("metadata", {}).get("papermill") or {}).get("exception"):
        logger.warning(f"{docname}: the executed copy did not finish (no run record, or an error); "
                       "run `make notebooks`", type="sbert", subtype="executed", location=docname)
        return
    merged = merge_executed(src, ran)
    state, why = full_record_status(Path(app.srcdir)).get(path.stem, ("current", ""))
    note = record_note(state, why, fallback)
    if note and merged["cells"]:
        cells = merged["cells"]
        at = next((i + 1 for i, c in enumerate(cells) if "class: sbert-provenance" in _src(c)),
                  next((i + 1 for i, c in enumerate(cells) if c["cell_type"] == "markdown"), 0))
        merged["cells"].insert(at, {"cell_type": "markdown", "metadata": {}, "source": note,
                                    **({"id": "sbert-record"} if "id" in merged["cells"][0] else {})})
    source[0] = json.dumps(merged)


def _executed_outdated(app, env, added, changed, removed):
    if not _wanted(app):
        return set()
    seen = getattr(env, "sbert_executed", {})
    out = set()
    for docname, mtime in seen.items():
        if docname in removed:
            continue
        exe = executed_dir(app.srcdir) / Path(env.doc2path(docname)).name
        if not exe.is_file() and fallback_dir() is not None:
            exe = fallback_dir() / exe.name
        now = exe.stat().st_mtime if exe.is_file() else None
        if now != mtime:
            out.add(docname)
    return out


# --------------------------------------------------------------------------- tables
class table_placeholder(nodes.General, nodes.Element):
    pass


def _directive(kind):
    class _D(SphinxDirective):
        has_content = False
        optional_arguments = 1

        def run(self):
            docs = getattr(self.env, "sbert_table_docs", set())
            docs.add(self.env.docname)
            self.env.sbert_table_docs = docs
            return [table_placeholder(kind=kind, key=self.arguments[0] if self.arguments else "")]

    return _D


def _fmt(v):
    if v is None:
        return ""
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        return f"{v:.4g}" if abs(v) < 1e4 else f"{v:,.0f}"
    return str(v)


def _env_key(e: dict) -> tuple:
    versions = e.get("versions") or {}
    return (e.get("profile", ""), e.get("device", ""), e.get("device_name", ""),
            tuple((k, versions[k]) for k in LIB_KEYS if k in versions))


def _env_text(key: tuple) -> str:
    profile, device, name, libs = key
    dev = f"{device} ({name})" if name and name.lower() != str(device).lower() else device
    return (f"profile <strong>{html.escape(profile)}</strong> on <strong>{html.escape(str(dev))}</strong>"
            + (", " + ", ".join(f"{html.escape(k)} {html.escape(v)}" for k, v in libs) if libs else ""))


STYLE = ("<style>.sbert-table{table-layout:fixed;width:100%;max-width:100%}"
         ".sbert-table td{overflow-wrap:anywhere;white-space:normal}"
         ".sbert-table th{white-space:normal;overflow-wrap:normal;word-break:normal}"
         ".sbert-table code{white-space:normal;overflow-wrap:anywhere}"
         ".sbert-table tr.sbert-chapter th{background:var(--pst-color-surface,#f3f4f5);text-align:left}</style>")


def _chapter_docs(app) -> dict:
    """``{"03": ("notebooks/03_…", "3. Title")}`` from the documents Sphinx read."""
    out = {}
    for doc in sorted(app.env.found_docs):
        name = doc.rsplit("/", 1)[-1]
        if doc.startswith("notebooks/") and name[:2].isdigit():
            title = app.env.titles.get(doc)
            out[name[:2]] = (doc, title.astext() if title is not None else name)
    return out


def _link(app, fromdoc, todoc, text):
    try:
        uri = app.builder.get_relative_uri(fromdoc, todoc)
    except (AttributeError, NotImplementedError):  # not an HTML builder
        return html.escape(text)
    return f'<a class="reference internal" href="{html.escape(uri)}">{html.escape(text)}</a>'


def metrics_table(app, docname: str, metrics: dict) -> str:
    if not metrics:
        return "<p><em>No figures recorded yet: run <code>make notebooks</code>, then build the book.</em></p>"
    envs = []
    for e in metrics.values():
        k = _env_key(e)
        if k not in envs:
            envs.append(k)
    times = sorted(e.get("recorded_at", "") for e in metrics.values() if e.get("recorded_at"))
    span = (f" Recorded between {times[0][:16].replace('T', ' ')} and {times[-1][:16].replace('T', ' ')} UTC."
            if times else "")
    if len(envs) == 1:
        head_env = f"<p class='sbert-env'>Every figure below was measured with {_env_text(envs[0])}.{span}</p>"
    else:
        items = "".join(f"<li><strong>E{i + 1}</strong>: {_env_text(k)}</li>" for i, k in enumerate(envs))
        head_env = (f"<p class='sbert-env'>The figures below come from {len(envs)} environments "
                    f"(column <em>env</em>):{span}</p><ul>{items}</ul>")
    multi = len(envs) > 1
    chapters = _chapter_docs(app)
    groups: dict[str, list] = {}
    for key in sorted(metrics):
        groups.setdefault(key[2:4] if key.startswith("ch") and key[2:4].isdigit() else "", []).append(key)
    ncol = 4 if multi else 3
    rows = []
    for ch, keys in groups.items():
        doc, title = chapters.get(ch, (None, f"Chapter {ch}" if ch else "Other"))
        label = _link(app, docname, doc, title) if doc else html.escape(title)
        rows.append(f'<tr class="sbert-chapter"><th colspan="{ncol}">{label}</th></tr>')
        for key in keys:
            e = metrics[key]
            ref = html.escape(_fmt(e.get("ref")))
            if ref and e.get("ref_source"):
                ref = f"{ref} <small>({html.escape(e['ref_source'])})</small>"
            measured = html.escape(_fmt(e.get("value")))
            if e.get("ci95"):
                measured += f" <small>[{html.escape(_fmt(e['ci95'][0]))}, {html.escape(_fmt(e['ci95'][1]))}]</small>"
            if e.get("verdict"):
                measured += f"<br><small><em>{html.escape(e['verdict'])}</em></small>"
            cells = [f"<code>{html.escape(key)}</code>", measured, ref]
            if multi:
                cells.append(f"E{envs.index(_env_key(e)) + 1}")
            rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    widths = ("50%", "15%", "35%") if not multi else ("45%", "14%", "33%", "8%")
    cols = "".join(f'<col style="width:{w}">' for w in widths)
    head = "".join(f"<th>{h}</th>" for h in ("figure", "measured", "reference", "env")[:ncol])
    return (STYLE + head_env + f'<table class="table sbert-table sbert-metrics"><colgroup>{cols}</colgroup>'
            f'<thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>')


def _comparison_sentence(c: dict, digits: int) -> str:
    return (f"{html.escape(c['a'])} − {html.escape(c['b'])} = {c['difference']:+.{digits}f}, 95 % interval "
            f"[{c['low']:+.{digits}f}, {c['high']:+.{digits}f}]")


def _digits(c: dict) -> int:
    return 2 if max(abs(c["a_value"]), abs(c["b_value"])) >= 10 else 3


def comparisons_table(app, docname: str, metrics: dict) -> str:
    """Every recorded comparison (``report.record_comparison``): A − B, its interval, n, method, verdict."""
    rows, chapters = [], _chapter_docs(app)
    found = {k: e for k, e in sorted(metrics.items()) if isinstance(e.get("comparison"), dict)}
    if not found:
        return "<p><em>No comparisons recorded yet: run <code>make notebooks</code>, then build the book.</em></p>"
    counts: dict[str, int] = {}
    for e in found.values():
        counts[e["verdict"]] = counts.get(e["verdict"], 0) + 1
    for key, e in found.items():
        c, ch = e["comparison"], key[2:4]
        doc = chapters.get(ch, (None, ""))[0]
        where = _link(app, docname, doc, f"ch. {int(ch)}") if doc else html.escape(ch)
        d = _digits(c)
        rows.append(f"<tr><td>{where}</td><td><code>{html.escape(key)}</code><br>{html.escape(c['metric'])}</td>"
                    f"<td>{_comparison_sentence(c, d)}</td><td>{c['n']}</td>"
                    f"<td><em>{html.escape(e['verdict'])}</em></td></tr>")
    detected = sum(1 for e in found.values() if e.get("detected"))
    head = (f"<p>{len(found)} comparisons recorded in this build ({profile_text(found)}): {detected} with a "
            f"detected difference, {len(found) - detected} with no detectable difference.</p>")
    cols = "".join(f'<col style="width:{w}">' for w in ("8%", "30%", "37%", "7%", "18%"))
    return (STYLE + head + f'<table class="table sbert-table sbert-comparisons"><colgroup>{cols}</colgroup>'
            "<thead><tr><th>lesson</th><th>comparison</th><th>A − B</th><th>n</th><th>verdict</th></tr>"
            f'</thead><tbody>{"".join(rows)}</tbody></table>')


def profile_text(entries: dict) -> str:
    profiles = sorted({e.get("profile", "?") for e in entries.values()})
    return "profile " + ", ".join(html.escape(p) for p in profiles)


def one_comparison(app, docname: str, metrics: dict, key: str) -> str:
    e = metrics.get(key)
    if not e or not isinstance(e.get("comparison"), dict):
        return (f"<p><em>The comparison <code>{html.escape(key)}</code> was not recorded in this build: run its "
                "lesson, then build the book.</em></p>")
    c, ch = e["comparison"], key[2:4]
    doc = _chapter_docs(app).get(ch, (None, f"chapter {ch}"))
    where = _link(app, docname, doc[0], doc[1]) if doc[0] else html.escape(doc[1])
    d = _digits(c)
    return (f"<p class='sbert-comparison'>Recorded in {where} ({html.escape(e.get('profile', '?'))} profile): "
            f"{html.escape(c['metric'])}, {html.escape(c['a'])} {c['a_value']:.{d}f} against {html.escape(c['b'])} "
            f"{c['b_value']:.{d}f}; {_comparison_sentence(c, d)}; n = {c['n']} ({html.escape(c['method'])}). "
            f"Verdict: <strong>{html.escape(e['verdict'])}</strong>.</p>")


def _slowest(nb: dict) -> tuple[float, int] | None:
    best = None
    for i, c in enumerate(code_cells(nb)):
        d = ((c.get("metadata") or {}).get("papermill") or {}).get("duration")
        if isinstance(d, (int, float)) and (best is None or d > best[0]):
            best = (d, i + 1)
    return best


def runtime_table(app, docname: str) -> str:
    folder = executed_dir(app.srcdir)
    rows, envs = [], []
    chapters = _chapter_docs(app)
    for exe in sorted(folder.glob("[0-9][0-9]_*.ipynb")) if folder.is_dir() else []:
        nb = json.loads(exe.read_text())
        run = run_info(nb)
        if not run:
            continue
        k = (run.get("profile", ""), run.get("device", ""), run.get("device_name", ""),
             tuple((x, (run.get("versions") or {})[x]) for x in LIB_KEYS if x in (run.get("versions") or {})))
        if k not in envs:
            envs.append(k)
        doc, title = chapters.get(exe.name[:2], (None, exe.stem))
        slow = _slowest(nb)
        budget = run.get("budget_s")
        secs = run.get("seconds", 0.0)
        within = ("" if run.get("profile") != "smoke" or not budget else
                  ("within" if secs <= budget else ("over" if secs <= 2 * budget else "over 2x: fails the build")))
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in (
            _link(app, docname, doc, title) if doc else html.escape(title), f"{secs / 60:.1f} min",
            f"{budget / 60:.0f} min ({within})" if budget and run.get("profile") == "smoke" else "",
            f"cell {slow[1]}: {slow[0]:.0f} s" if slow else "",
            html.escape((run.get("executed_at") or "")[:16].replace("T", " ")), f"E{envs.index(k) + 1}")) + "</tr>")
    if not rows:
        return "<p><em>No executed notebooks found: run <code>make notebooks</code>, then build the book.</em></p>"
    env_html = ("<p class='sbert-env'>These lessons were executed for this build with " + _env_text(envs[0]) + ".</p>"
                if len(envs) == 1 else "<ul>" + "".join(f"<li><strong>E{i + 1}</strong>: {_env_text(k)}</li>"
                                                         for i, k in enumerate(envs)) + "</ul>")
    ncol = 6 if len(envs) > 1 else 5
    if ncol == 5:  # one environment, stated above the table: drop the env column
        rows = [r.rsplit("<td>", 1)[0] + "</tr>" for r in rows]
    head = "".join(f"<th>{h}</th>" for h in ("lesson", "wall time", "smoke budget", "slowest cell",
                                              "executed (UTC)", "env")[:ncol])
    cols = "".join(f'<col style="width:{w}">' for w in ("34%", "12%", "18%", "16%", "20%", "8%")[:ncol])
    return (STYLE + env_html + f'<table class="table sbert-table sbert-runtimes"><colgroup>{cols}</colgroup>'
            f'<thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>')


def recorded_runtimes(app, docname: str) -> str:
    path = Path(app.srcdir) / "book" / "runtimes.json"
    data = json.loads(path.read_text()) if path.is_file() else {}
    runs = data.get("runs", [])
    if not runs:
        return "<p><em>No other runs recorded yet.</em></p>"
    out = [STYLE]
    chapters = _chapter_docs(app)
    for run in runs:
        out.append(f"<p class='sbert-env'><strong>{html.escape(run['label'])}</strong>: profile "
                   f"<strong>{html.escape(run['profile'])}</strong> on <strong>{html.escape(run['device'])}</strong>"
                   f"{' (' + html.escape(run['note']) + ')' if run.get('note') else ''}.</p>")
        rows = []
        for stem, t in sorted(run.get("notebooks", {}).items()):
            doc, title = chapters.get(stem[:2], (None, stem))
            status = t.get("status", "ok")
            rows.append(f"<tr><td>{_link(app, docname, doc, title) if doc else html.escape(title)}</td>"
                        f"<td>{t['seconds'] / 60:.1f} min</td><td>{html.escape(status)}</td>"
                        f"<td>{html.escape(t.get('executed_at', '')[:16])}</td></tr>")
        out.append('<table class="table sbert-table"><thead><tr><th>lesson</th><th>wall time</th><th>status</th>'
                   f'<th>executed (UTC)</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')
    return "".join(out)


def full_record_table(app, docname: str) -> str:
    """Each lesson's entry in the committed full record: its state, run date, device, time and figures."""
    import sys

    root = Path(app.srcdir)
    status = full_record_status(root)
    if not status:
        return "<p><em>The full record (records/full/metrics.json) could not be read.</em></p>"
    sys.path.insert(0, str(root / "tools"))
    try:
        import full_record

        data = full_record.load(root / "records" / "full" / "metrics.json")
    finally:
        sys.path.remove(str(root / "tools"))
    chapters, rows = _chapter_docs(app), []
    for stem, (state, why) in status.items():
        e = data["lessons"].get(stem) or {}
        doc, title = chapters.get(stem[:2], (None, stem))
        secs = e.get("seconds")
        what = html.escape(STATE_TEXT[state]) if state != "stale" else html.escape(why)
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in (
            _link(app, docname, doc, title) if doc else html.escape(title),
            f"<strong>{what}</strong>" if state != "current" else what,
            html.escape((e.get("executed_at") or "")[:16].replace("T", " ")),
            html.escape(full_record.device_text(e)) if e else "",
            f"{secs / 60:.1f} min" if isinstance(secs, (int, float)) else "",
            str(len(e.get("figures") or {})) if e else "")) + "</tr>")
    current = sum(1 for s, _ in status.values() if s == "current")
    head = (f"<p>{current} of {len(status)} lessons have a full record current with their code.</p>")
    cols = "".join(f'<col style="width:{w}">' for w in ("26%", "30%", "14%", "14%", "8%", "8%"))
    return (STYLE + head + f'<table class="table sbert-table sbert-full-record"><colgroup>{cols}</colgroup>'
            "<thead><tr><th>lesson</th><th>full record</th><th>run (UTC)</th><th>device</th><th>wall time</th>"
            f'<th>figures</th></tr></thead><tbody>{"".join(rows)}</tbody></table>')


def _resolve(app, doctree, docname):
    for node in list(doctree.findall(table_placeholder)):
        kind = node["kind"]
        if kind in ("metrics", "comparisons", "comparison"):
            path = Path(os.environ.get("SBERT_LESSONS_METRICS") or Path(app.srcdir) / "_build" / "metrics.json")
            metrics = json.loads(path.read_text()) if path.is_file() else {}
            if kind == "metrics":
                body = metrics_table(app, docname, metrics)
            elif kind == "comparisons":
                body = comparisons_table(app, docname, metrics)
            else:
                body = one_comparison(app, docname, metrics, node["key"])
        elif kind == "runtimes":
            body = runtime_table(app, docname)
        elif kind == "full-record":
            body = full_record_table(app, docname)
        else:
            body = recorded_runtimes(app, docname)
        node.replace_self(nodes.raw("", body, format="html"))


def _always_outdated(app, env, added, changed, removed):
    return sorted(getattr(env, "sbert_table_docs", set()) - set(removed))


def _purge(app, env, docname):
    getattr(env, "sbert_table_docs", set()).discard(docname)
    getattr(env, "sbert_executed", {}).pop(docname, None)


def _merge(app, env, docnames, other):
    env.sbert_table_docs = getattr(env, "sbert_table_docs", set()) | getattr(other, "sbert_table_docs", set())
    env.sbert_executed = {**getattr(env, "sbert_executed", {}), **getattr(other, "sbert_executed", {})}


# --------------------------------------------------------------------------- page hygiene
def _config_inited(app, config):
    # pydata-sphinx-theme reads the colour mode from localStorage, falling back to html_context's
    # default_mode; left empty, a reader's first page logs "Got invalid theme mode" in the console.
    config.html_context.setdefault("default_mode", "auto")


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    """Drop script entries added twice (jupyter-book registers sphinx-thebe's inline config twice, and the
    second copy throws "Identifier 'THEBE_JS_URL' has already been declared" in every page)."""
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for js in scripts:
        key = (str(getattr(js, "filename", js) or ""), tuple(sorted((getattr(js, "attributes", None) or {}).items())))
        if key in seen:
            continue
        seen.add(key)
        kept.append(js)
    scripts[:] = kept


def setup(app):
    app.add_config_value("sbert_executed_notebooks", "required", "env")
    app.connect("config-inited", _config_inited)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    app.add_node(table_placeholder)
    app.add_directive("metrics-table", _directive("metrics"))
    app.add_directive("runtime-table", _directive("runtimes"))
    app.add_directive("comparisons-table", _directive("comparisons"))
    app.add_directive("recorded-comparison", _directive("comparison"))
    app.add_directive("recorded-runtimes", _directive("recorded"))
    app.add_directive("full-record-table", _directive("full-record"))
    app.connect("source-read", _on_source_read)
    app.connect("doctree-resolved", _resolve)
    app.connect("env-get-outdated", _always_outdated)
    app.connect("env-get-outdated", _executed_outdated)
    app.connect("env-purge-doc", _purge)
    app.connect("env-merge-info", _merge)
    return {"version": "0.2", "parallel_read_safe": True, "parallel_write_safe": True}
