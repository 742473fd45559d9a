"""The static site: index and gallery from a build, every link and image resolving to a file."""

import io
from pathlib import Path

from course_utils import instructor
from course_utils.instructor.site import broken_links, local_targets, title_and_idea
from tests.test_build import dirs, make_notebook
from tests.test_figures import NOTEBOOK


def test_site_from_a_build_has_no_broken_links(tmp_path):
    make_notebook(tmp_path / "nb" / "01_kinds.ipynb",
                  [NOTEBOOK[0], NOTEBOOK[1] % str(Path(__file__).parent),
                   "from course_utils.run import current\ncurrent().record(acc=0.875, loss=0.3, headline=['acc'])"])
    make_notebook(tmp_path / "nb" / "02_later.ipynb", ["x = 1"])
    assert instructor.main(["01", *dirs(tmp_path)], stream=io.StringIO()) == 0
    log = io.StringIO()
    assert instructor.main(["--site", *dirs(tmp_path)], stream=log) == 0, log.getvalue()
    site = tmp_path / "build" / "smoke" / "site"
    index, gallery = site / "index.html", site / "gallery.html"
    assert broken_links(index) == [] and broken_links(gallery) == []
    links = local_targets(index)
    assert "notebooks/01_kinds.html" in links and "gallery.html" in links and "site.css" in links
    images = [t for t in local_targets(gallery) if t.startswith("thumbs/")]
    assert len(images) == 6 and all((site / t).is_file() for t in images)
    text = index.read_text()
    assert "A tiny notebook" in text and "0.8750" in text and "loss" not in text   # the headline only
    assert "python -m course_utils.instructor 02_later" in text                         # not built yet
    assert "photos, normalised floats" in gallery.read_text()                        # captions from the run
    assert (site / "notebooks" / "01_kinds.html").read_text().count("<img") >= 1      # outputs embedded


def test_broken_links_are_found(tmp_path):
    page = tmp_path / "p.html"
    (tmp_path / "there.png").write_bytes(b"x")
    page.write_text('<a href="missing.html">x</a><img src="there.png"><a href="https://e.org">e</a>'
                    '<a href="#top">t</a>')
    assert broken_links(page) == ["missing.html"]


def test_title_and_idea_skip_the_badge(tmp_path):
    import nbformat
    from nbformat.v4 import new_markdown_cell, new_notebook
    nb = new_notebook(cells=[new_markdown_cell(
        "# 07 · Title here\n\n[![Open In Colab](x.svg)](y) <!-- colab-badge -->\n\nFirst **idea**. Second.")])
    nbformat.write(nb, tmp_path / "07_x.ipynb")
    assert title_and_idea(tmp_path / "07_x.ipynb") == ("07 · Title here", "First idea.")
