#!/usr/bin/python3
"""The notebooks in examples/notebooks, executed by Debian's nbclient on the locus kernel, their
outputs checked by MIME type and content.

    /usr/bin/python3 tests/notebook/test_notebooks.py KERNELS_DIR NOTEBOOKS_DIR

Prints "ok: ..." or "FAILED: ..." per check; the exit status is the number of failures.
"""
import os
import sys

os.environ["JUPYTER_PATH"] = os.path.join(sys.argv[1], "share", "jupyter")
NOTEBOOKS = sys.argv[2]

import nbformat  # noqa: E402
from nbclient import NotebookClient  # noqa: E402

from checks import check, png_size  # noqa: E402
import checks  # noqa: E402


def run(name):
    nb = nbformat.read(os.path.join(NOTEBOOKS, name), as_version=4)
    NotebookClient(nb, kernel_name="locus", timeout=180, resources={"metadata": {"path": NOTEBOOKS}}).execute()
    return [c for c in nb.cells if c.cell_type == "code"]


def outputs(cell, output_type):
    return [o for o in cell.outputs if o.output_type == output_type]


def main():
    try:
        cells = run("grounding.ipynb")
    except Exception as e:  # a cell's error (CellExecutionError) or a dead kernel
        check(False, "grounding.ipynb runs", e)
        cells = None
    if cells:
        check(True, "grounding.ipynb runs")
        shown = outputs(cells[0], "display_data")
        check(shown and "<progress" in shown[0].data["text/html"] and "4/4" in shown[0].data["text/plain"],
              "loading the model shows a progress bar, updated in place to its end", shown)
        photo = outputs(cells[1], "execute_result")
        size = png_size(photo[0].data["image/png"]) if photo else None
        check(size == (200, 120), "the photo shows as a PNG of its size", size)
        streams, result = outputs(cells[2], "stream"), outputs(cells[2], "execute_result")
        check(streams and result and "image/png" in result[0].data
              and result[0].data["text/plain"].startswith("".join(s.text for s in streams).strip()[:4]),
              "the answer streams, then shows with the photo", (streams, result and result[0].data.get("text/plain")))
        rows = outputs(cells[3], "execute_result")
        check(rows and "tensor f32 [" in rows[0].data["text/html"] and "<pre>" in rows[0].data["text/html"],
              "a large tensor shows its summary", rows)
        small = outputs(cells[4], "execute_result")
        check(small and "tensor f32 [4, 6]" in small[0].data["text/html"] and small[0].data["text/html"].count("<td>") == 24,
              "a small tensor shows its values in a table", small)
    try:
        cells = run("crop_and_ask.ipynb")
    except Exception as e:
        check(False, "crop_and_ask.ipynb runs", e)
        cells = None
    if cells:
        check(True, "crop_and_ask.ipynb runs")
        drawn = outputs(cells[1], "display_data")
        check(drawn and png_size(drawn[0].data["image/png"]) == (200, 120), "the box drawn on the photo", drawn)
        crop = outputs(cells[2], "execute_result")
        check(crop and png_size(crop[0].data["image/png"]) == (100, 60), "the crop shows as a PNG of the box's size",
              crop and png_size(crop[0].data["image/png"]))
        about = outputs(cells[3], "execute_result")
        check(about and about[0].data["text/plain"].startswith('"'), "the second answer is a string", about)
    return checks.failures


if __name__ == "__main__":
    sys.exit(main())
