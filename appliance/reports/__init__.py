"""Training reports: plots as PNG files and the model card as Markdown and one HTML page.

``write_plots`` draws (matplotlib loads only then), ``card_sections`` builds the card's
content (pure), ``render_markdown``/``render_html`` lay it out and ``write_card`` writes
both files. The HTML is self-contained: inline CSS and PNG data URIs, no network.
"""

from appliance.reports.card import (
    HTML_FILE,
    MARKDOWN_FILE,
    ModelCardError,
    ReportInputs,
    card_sections,
    render_html,
    render_markdown,
    write_card,
)
from appliance.reports.plots import PLOTS, write_plots

__all__ = [
    "HTML_FILE",
    "MARKDOWN_FILE",
    "PLOTS",
    "ModelCardError",
    "ReportInputs",
    "card_sections",
    "render_html",
    "render_markdown",
    "write_card",
    "write_plots",
]
