"""Objects turned into files: round trips, and byte-for-byte agreement with MLflow."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from cairn.artifacts import payloads
from cairn.exceptions import InvalidParameterValue

# --- text and dicts ---------------------------------------------------------------


def test_write_text_is_utf8_in_nested_directory(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "note.txt"
    payloads.write_text("héllo\nwörld ✓", path)
    assert path.read_bytes() == "héllo\nwörld ✓".encode()


@pytest.mark.parametrize("name", ["d.json", "d.txt", "d", "d.YAML"])
def test_write_dict_json_unless_yaml_extension(tmp_path: Path, name: str) -> None:
    data = {"b": 1, "a": [1, 2.5], "nested": {"x": None, "ok": True}}
    path = tmp_path / name
    payloads.write_dict(data, path)
    assert json.loads(path.read_text()) == data
    assert path.read_text().startswith('{\n  "b": 1')  # indented, insertion order


@pytest.mark.parametrize("name", ["d.yaml", "d.yml"])
def test_write_dict_yaml(tmp_path: Path, name: str) -> None:
    data = {"b": 1, "a": [1, 2], "nested": {"x": None}}
    path = tmp_path / name
    payloads.write_dict(data, path)
    assert yaml.safe_load(path.read_text()) == data
    assert path.read_text() == "a:\n- 1\n- 2\nb: 1\nnested:\n  x: null\n"


def test_write_dict_stringifies_what_json_cannot_hold(tmp_path: Path) -> None:
    payloads.write_dict({"path": Path("/x/y"), "s": {1}}, tmp_path / "d.json")
    assert json.loads((tmp_path / "d.json").read_text()) == {"path": "/x/y", "s": "{1}"}


# --- images -----------------------------------------------------------------------


def _read_image(path: Path) -> Any:
    from PIL import Image

    with Image.open(path) as image:
        image.load()
        return image.copy(), image.format


@pytest.mark.parametrize(
    ("shape", "dtype", "mode"),
    [
        ((20, 30), "uint8", "L"),
        ((20, 30, 1), "uint8", "L"),
        ((20, 30, 3), "uint8", "RGB"),
        ((20, 30, 4), "uint8", "RGBA"),
        ((20, 30, 3), "float64", "RGB"),
        ((20, 30), "bool", "L"),
        ((20, 30, 3), "int64", "RGB"),
    ],
)
def test_write_image_from_numpy(
    tmp_path: Path, shape: tuple[int, ...], dtype: str, mode: str
) -> None:
    import numpy as np

    array = np.zeros(shape, dtype=dtype)
    if dtype == "float64":
        array[..., 0] = 1.0  # full red
    elif dtype != "bool":
        array[...] = 200
    path = tmp_path / "img" / "a.png"
    payloads.write_image(array, path)

    image, image_format = _read_image(path)
    assert image_format == "PNG"
    assert image.size == (30, 20)  # PIL reports width x height
    assert image.mode == mode
    if dtype == "float64":
        assert image.getpixel((0, 0)) == (255, 0, 0)


def test_write_image_from_pil_and_other_formats(tmp_path: Path) -> None:
    from PIL import Image

    rgba = Image.new("RGBA", (7, 5), (10, 20, 30, 128))
    payloads.write_image(rgba, tmp_path / "a.png")
    payloads.write_image(rgba, tmp_path / "a.jpg")  # alpha dropped for JPEG
    payloads.write_image(rgba, tmp_path / "no-extension")
    assert _read_image(tmp_path / "a.png")[0].getpixel((0, 0)) == (10, 20, 30, 128)
    assert _read_image(tmp_path / "a.jpg")[1] == "JPEG"
    assert _read_image(tmp_path / "no-extension")[1] == "PNG"


def test_write_image_accepts_objects_with_to_pil(tmp_path: Path) -> None:
    from PIL import Image

    class Wrapped:
        def to_pil(self) -> Image.Image:
            return Image.new("RGB", (3, 4))

    payloads.write_image(Wrapped(), tmp_path / "w.png")
    assert _read_image(tmp_path / "w.png")[0].size == (3, 4)


def test_out_of_range_floats_are_rescaled_with_a_warning(tmp_path: Path) -> None:
    import numpy as np

    array = np.array([[-1.0, 3.0]])
    with pytest.warns(UserWarning, match="Rescaling"):
        payloads.write_image(array, tmp_path / "f.png")
    image, _ = _read_image(tmp_path / "f.png")
    assert [image.getpixel((0, 0)), image.getpixel((1, 0))] == [0, 255]


def test_invalid_images_are_refused_without_writing(tmp_path: Path) -> None:
    import numpy as np

    bad: list[tuple[Any, type[Exception]]] = [
        (np.full((2, 2), 300, dtype=np.int32), ValueError),
        (np.zeros((2, 2, 2), dtype=np.uint8), ValueError),
        (np.zeros((2,), dtype=np.uint8), ValueError),
        (np.array([["a"]]), TypeError),
        ("not an image", TypeError),
    ]
    for image, error in bad:
        with pytest.raises(error):
            payloads.write_image(image, tmp_path / "bad.png")
    assert not (tmp_path / "bad.png").exists()


# --- figures ----------------------------------------------------------------------


def test_write_matplotlib_figure(tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(4, 3), dpi=50)
    axes.plot([1, 2, 3], [3, 1, 2])
    try:
        payloads.write_figure(figure, tmp_path / "plots" / "line.png")
        payloads.write_figure(figure, tmp_path / "plots" / "line.svg")
    finally:
        plt.close(figure)

    image, image_format = _read_image(tmp_path / "plots" / "line.png")
    assert image_format == "PNG"
    assert image.size == (200, 150)
    assert "<svg" in (tmp_path / "plots" / "line.svg").read_text()


def test_write_figure_refuses_other_objects(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="Unsupported figure"):
        payloads.write_figure(object(), tmp_path / "x.png")


def test_write_plotly_figure(tmp_path: Path) -> None:
    go = pytest.importorskip("plotly.graph_objects")
    figure = go.Figure(data=[go.Bar(y=[1, 3, 2])])
    payloads.write_figure(figure, tmp_path / "bar.html")
    assert "plotly" in (tmp_path / "bar.html").read_text()
    with pytest.raises(TypeError, match="extension"):
        payloads.write_figure(figure, tmp_path / "bar.txt")


# --- tables -----------------------------------------------------------------------


def test_write_table_dict_and_frame_give_same_file(tmp_path: Path) -> None:
    import pandas as pd

    data = {"inputs": ["a", "b"], "score": [0.5, 1.0]}
    payloads.write_table(data, tmp_path / "d.json")
    payloads.write_table(pd.DataFrame(data), tmp_path / "f.json")
    assert (tmp_path / "d.json").read_bytes() == (tmp_path / "f.json").read_bytes()
    assert json.loads((tmp_path / "d.json").read_text()) == {
        "columns": ["inputs", "score"],
        "data": [["a", 0.5], ["b", 1.0]],
    }


def test_write_table_appends_rows(tmp_path: Path) -> None:
    path = tmp_path / "t" / "table.json"
    payloads.write_table({"a": [1, 2]}, path)
    payloads.write_table({"a": [3]}, path)
    assert json.loads(path.read_text())["data"] == [[1], [2], [3]]
    assert payloads.read_table(path)["a"].tolist() == [1, 2, 3]


def test_write_table_refuses_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"\.json"):
        payloads.write_table({"a": [1]}, tmp_path / "t.csv")
    with pytest.raises(InvalidParameterValue):
        payloads.write_table([1, 2], tmp_path / "t.json")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


def test_write_table_with_image_column(tmp_path: Path) -> None:
    from PIL import Image

    staging = tmp_path / "staging"
    table = staging / "eval" / "images.json"
    images = [Image.new("RGB", (512, 128)), Image.new("RGB", (64, 100))]
    written = payloads.write_table({"id": [1, 2], "img": images}, table, artifact_root=staging)

    cells = [row[1] for row in json.loads(table.read_text())["data"]]
    assert [cell["type"] for cell in cells] == ["image", "image"]
    assert written == [p for cell in cells for p in (cell["filepath"], cell["compressed_filepath"])]
    for cell, original in zip(cells, images, strict=True):
        assert cell["filepath"].startswith("table_images/eval/images/")
        assert _read_image(staging / cell["filepath"])[0].size == original.size
        preview = _read_image(staging / cell["compressed_filepath"])
        assert preview[1] == "WEBP"
        assert max(preview[0].size) == payloads.COMPRESSED_IMAGE_SIZE


def test_image_column_needs_a_staging_root_and_no_mixing(tmp_path: Path) -> None:
    from PIL import Image

    image = Image.new("RGB", (2, 2))
    with pytest.raises(InvalidParameterValue):
        payloads.write_table({"img": [image]}, tmp_path / "t.json")
    with pytest.raises(ValueError, match="mix"):
        payloads.write_table({"img": [image, "x"]}, tmp_path / "t.json", artifact_root=tmp_path)


# --- agreement with the reference MLflow -------------------------------------------

# Each case: artifact file -> Python expressions evaluated identically by both sides.
TABLE_CASES: dict[str, list[str]] = {
    "dir/appended.json": [
        "{'inputs': ['a', 'b'], 'score': [0.5, 1.0], 'n': [1, 2]}",
        "{'inputs': ['c'], 'score': [2.5], 'n': [3]}",
    ],
    "scalars.json": ["{'x': 'scalar', 'y': 1}"],
    "widening.json": ["{'a': [1]}", "{'b': ['z'], 'a': [2.5]}"],
    "frame.json": [
        "pd.DataFrame({'when': pd.to_datetime(['2024-01-02', '2024-03-04']),"
        " 'v': [float('nan'), 1e-9], 'u': ['é', None], 'flag': [True, False]})"
    ],
}
DICT_CASES = {
    "d.json": "{'b': 1, 'a': [1, 2], 'u': 'é', 'when': datetime.date(2024, 1, 2)}",
    "d.yaml": "{'b': 1, 'a': [1, 2], 'c': {'d': None}, 'u': 'é'}",
    "d.yml": "{'z': [{'k': 'v'}], 'a': 1.5}",
    "d.txt": "{'b': [True, None]}",
}
TEXT = "héllo\nwörld ✓"
IMAGE_CASES = {
    "img/gradient.png": "np.linspace(0.0, 1.0, 48).reshape(4, 4, 3)",
    "img/gray.png": "np.arange(30, dtype=np.uint8).reshape(5, 6, 1) * 8",
    "img/mask.png": "np.eye(4, dtype=bool)",
    "img/rgba.png": "np.full((3, 2, 4), 100, dtype=np.int16)",
}

_MLFLOW_SCRIPT = """
import datetime, json, os, sys
import mlflow, numpy as np, pandas as pd
mlflow.set_tracking_uri("file://" + sys.argv[1])
cases = json.loads(sys.argv[2])
with mlflow.start_run() as run:
    for name, exprs in cases["tables"].items():
        for expr in exprs:
            mlflow.log_table(eval(expr), name)
    for name, expr in cases["dicts"].items():
        mlflow.log_dict(eval(expr), name)
    mlflow.log_text(cases["text"], "t.txt")
    for name, expr in cases["images"].items():
        mlflow.log_image(eval(expr), name)
print(run.info.artifact_uri.removeprefix("file://"))
"""


@pytest.fixture(scope="module")
def mlflow_artifacts(mlflow_python: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    store = tmp_path_factory.mktemp("mlflow-store")
    cases = json.dumps(
        {"tables": TABLE_CASES, "dicts": DICT_CASES, "text": TEXT, "images": IMAGE_CASES}
    )
    result = subprocess.run(
        [str(mlflow_python), "-c", textwrap.dedent(_MLFLOW_SCRIPT), str(store / "mlruns"), cases],
        capture_output=True,
        text=True,
        env={"MLFLOW_ALLOW_FILE_STORE": "true", "PATH": "/usr/bin:/bin", "HOME": str(store)},
        cwd=store,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return Path(result.stdout.strip().splitlines()[-1])


@pytest.mark.mlflow
@pytest.mark.parametrize("name", list(TABLE_CASES))
def test_tables_match_mlflow_byte_for_byte(
    mlflow_artifacts: Path, tmp_path: Path, name: str
) -> None:
    import datetime  # noqa: F401  (used by the expressions)

    import pandas as pd  # noqa: F401

    path = tmp_path / name
    for expr in TABLE_CASES[name]:
        payloads.write_table(eval(expr), path)
    assert path.read_text() == (mlflow_artifacts / name).read_text()


@pytest.mark.mlflow
@pytest.mark.parametrize("name", list(DICT_CASES))
def test_dicts_match_mlflow_byte_for_byte(
    mlflow_artifacts: Path, tmp_path: Path, name: str
) -> None:
    import datetime  # noqa: F401

    payloads.write_dict(eval(DICT_CASES[name]), tmp_path / name)
    assert (tmp_path / name).read_bytes() == (mlflow_artifacts / name).read_bytes()


@pytest.mark.mlflow
def test_text_matches_mlflow(mlflow_artifacts: Path, tmp_path: Path) -> None:
    payloads.write_text(TEXT, tmp_path / "t.txt")
    assert (tmp_path / "t.txt").read_bytes() == (mlflow_artifacts / "t.txt").read_bytes()


@pytest.mark.mlflow
@pytest.mark.parametrize("name", list(IMAGE_CASES))
def test_images_match_mlflow_pixel_for_pixel(
    mlflow_artifacts: Path, tmp_path: Path, name: str
) -> None:
    import numpy as np

    payloads.write_image(eval(IMAGE_CASES[name]), tmp_path / name)
    ours, theirs = _read_image(tmp_path / name)[0], _read_image(mlflow_artifacts / name)[0]
    assert (ours.mode, ours.size) == (theirs.mode, theirs.size)
    assert np.array_equal(np.asarray(ours), np.asarray(theirs))
