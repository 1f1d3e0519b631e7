"""Write the dataset quality report: one self-contained HTML file with inline PNG plots.

One file (plots embedded as base64) so it can be attached to a pull request or
opened from a laptop without a server. matplotlib runs on the Agg backend, so no
display is needed.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from kgsynth.atomic import write_text_atomic
from kgsynth.evaluation.quality import QualityStats

if TYPE_CHECKING:
    from matplotlib.figure import Figure

COLORS = ("#3b6ea8", "#d98c2b", "#6aa84f")


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _grouped_bars(
    title: str, series: Sequence[tuple[str, dict[str, float]]], ylabel: str, percent: bool = False, by_size: bool = True
) -> str:
    import matplotlib.pyplot as plt

    keys = list(dict.fromkeys(k for _, d in series for k in d))
    if by_size:
        keys.sort(key=lambda k: -max(d.get(k, 0) for _, d in series))
    fig, ax = plt.subplots(figsize=(min(9.0, max(5.0, 0.55 * len(keys) * len(series) + 2)), 3.4))
    width = 0.8 / max(1, len(series))
    for i, (label, data) in enumerate(series):
        xs = [k + i * width for k in range(len(keys))]
        ax.bar(xs, [data.get(k, 0) for k in keys], width=width, label=label, color=COLORS[i % len(COLORS)])
    ax.set_xticks([k + width * (len(series) - 1) / 2 for k in range(len(keys))])
    ax.set_xticklabels(keys, rotation=35, ha="right", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    if percent:
        ax.yaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.legend(fontsize=8, bbox_to_anchor=(1.01, 1), loc="upper left")
    ax.grid(axis="y", alpha=0.3)
    return _png(fig)


def _shares(counts: dict[str, int]) -> dict[str, float]:
    total = sum(counts.values())
    return {k: v / total for k, v in counts.items()} if total else {}


def _length_plot(stats: Sequence[QualityStats]) -> str:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.2))
    top = max((max(s.length.words) for s in stats if s.length.words), default=1)
    bins = range(0, top + 5, max(1, (top + 5) // 30))
    for i, s in enumerate(stats):
        ax.hist(s.length.words, bins=bins, alpha=0.55, label=f"{s.label} (n={s.notes})", color=COLORS[i % len(COLORS)])
    ax.set_xlabel("words per note")
    ax.set_ylabel("notes")
    ax.set_title("Note length distribution", fontsize=10)
    ax.legend(fontsize=8)
    return _png(fig)


def _motif_stack(s: QualityStats) -> str:
    import matplotlib.pyplot as plt

    motifs = [m for m in s.relation_balance if m != "(all)"]
    types = sorted({t for m in motifs for t in s.relation_balance[m].counts})
    fig, ax = plt.subplots(figsize=(6, 0.5 * len(motifs) + 1.6))
    left = [0.0] * len(motifs)
    cmap = plt.get_cmap("tab20")
    for k, t in enumerate(types):
        vals = [_shares(s.relation_balance[m].counts).get(t, 0.0) for m in motifs]
        ax.barh(motifs, vals, left=left, label=t, color=cmap(k % 20))
        left = [a + b for a, b in zip(left, vals, strict=True)]
    ax.set_xlim(0, 1)
    ax.xaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.set_title(f"Relation types per motif: {s.label}", fontsize=10)
    ax.legend(fontsize=7, bbox_to_anchor=(1.01, 1), loc="upper left")
    return _png(fig)


def _fmt(v: object) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.3f}"
    return html.escape(str(v))


def _summary_rows(s: QualityStats) -> dict[str, object]:
    d = s.diversity
    rows: dict[str, object] = {
        "notes": s.notes,
        "motifs": len(s.motifs),
        "relation-type max/min ratio (all motifs)": s.relation_balance.get("(all)")
        and s.relation_balance["(all)"].max_min_ratio,
        "entity-type max/min ratio (all motifs)": s.entity_balance.get("(all)")
        and s.entity_balance["(all)"].max_min_ratio,
    }
    if s.coverage:
        rows.update(
            {
                "KG concepts mentioned": f"{s.coverage.concepts_used} / {s.coverage.concepts_in_kg}",
                "KG concept coverage": s.coverage.concept_coverage,
                "KG facts used": f"{s.coverage.facts_used} / {s.coverage.facts_in_kg}",
                "KG fact coverage": s.coverage.fact_coverage,
            }
        )
    rows.update({k: v for k, v in s.consistency.items() if not k.startswith("flag:")})
    rows.update(
        {
            "distinct-1": d.distinct_1,
            "distinct-2": d.distinct_2,
            "distinct-3": d.distinct_3,
            "mean pairwise embedding cosine (lower = more diverse)": d.mean_pairwise_cosine,
            f"near-duplicate pairs (trigram Jaccard ≥ {d.near_duplicate_threshold})": d.near_duplicate_pairs,
            "notes with a near duplicate": d.notes_with_near_duplicate,
            "exact duplicate texts": d.exact_duplicate_texts,
            "words per note: mean": s.length.mean_words,
            "words per note: median [p10, p90]": f"{s.length.median_words:.0f} [{s.length.p10_words:.0f}, "
            f"{s.length.p90_words:.0f}]",
        }
    )
    return rows


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{_fmt(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _balance_table(kind: str, stats: Sequence[QualityStats]) -> str:
    parts = []
    for s in stats:
        balance = s.relation_balance if kind == "relation" else s.entity_balance
        rows = [[m, b.max_min_ratio, ", ".join(f"{t} {n}" for t, n in b.counts.items())] for m, b in balance.items()]
        parts.append(f"<h3>{html.escape(s.label)}</h3>" + _table(["motif", "max/min", "counts"], rows))
    return "".join(parts)


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;max-width:1100px;color:#222}
h1{font-size:22px} h2{font-size:17px;border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:28px}
h3{font-size:14px;margin:12px 0 4px}
table{border-collapse:collapse;font-size:13px;margin:6px 0 12px}
td,th{border:1px solid #ddd;padding:4px 8px;text-align:left}
th{background:#f3f5f8} td:not(:first-child){font-variant-numeric:tabular-nums}
.plots{display:flex;flex-wrap:wrap;gap:12px} .plots img{max-width:100%;border:1px solid #eee}
.note{color:#666;font-size:12px}
"""


def render_html(stats: Sequence[QualityStats], title: str = "kgsynth dataset quality report") -> str:
    """The report as one HTML string (first stats = the notes, the rest = baselines)."""
    import matplotlib

    matplotlib.use("Agg")
    summaries = [_summary_rows(s) for s in stats]
    keys = list(dict.fromkeys(k for d in summaries for k in d))
    summary = _table(["figure", *[s.label for s in stats]], [[k, *[d.get(k) for d in summaries]] for k in keys])
    rel_plot = _grouped_bars(
        "Relation types (share of relations)",
        [(s.label, _shares(s.relation_balance["(all)"].counts)) for s in stats if "(all)" in s.relation_balance],
        "share",
        percent=True,
    )
    ent_plot = _grouped_bars(
        "Entity types (share of entities)",
        [(s.label, _shares(s.entity_balance["(all)"].counts)) for s in stats if "(all)" in s.entity_balance],
        "share",
        percent=True,
    )
    div_plot = _grouped_bars(
        "Diversity (higher distinct-n, lower cosine = more diverse)",
        [
            (
                s.label,
                {
                    k: v
                    for k, v in {
                        "distinct-1": s.diversity.distinct_1,
                        "distinct-2": s.diversity.distinct_2,
                        "distinct-3": s.diversity.distinct_3,
                        "mean cosine": s.diversity.mean_pairwise_cosine,
                    }.items()
                    if v is not None
                },
            )
            for s in stats
        ],
        "score",
        by_size=False,
    )
    plots = [rel_plot, ent_plot, _motif_stack(stats[0]), _length_plot(stats), div_plot]
    consistency = [(s.label, {k: v for k, v in s.consistency.items() if v is not None}) for s in stats if s.consistency]
    if consistency:
        plots.append(_grouped_bars("Consistency rates", consistency, "rate", percent=True))
    coverage = [(s.label, s.coverage.by_group) for s in stats if s.coverage and s.coverage.by_group]
    if coverage:
        plots.append(_grouped_bars("KG coverage: share of each group's concepts mentioned", coverage, "share", True))
    images = "".join(f'<img src="data:image/png;base64,{p}">' for p in plots)
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>"
        f"<p class='note'>{' vs '.join(html.escape(f'{s.label}: {s.notes} notes') for s in stats)}. "
        "Balance ratios are max/min counts over the types present; coverage is against the graph store read.</p>"
        f"<h2>Summary</h2>{summary}<h2>Plots</h2><div class='plots'>{images}</div>"
        f"<h2>Relation-type balance per motif</h2>{_balance_table('relation', stats)}"
        f"<h2>Entity-type balance per motif</h2>{_balance_table('entity', stats)}"
        "</body></html>"
    )


def write_html(path: Path, content: str) -> None:
    """Atomic write: a reader never sees half a report."""
    write_text_atomic(path, content)
