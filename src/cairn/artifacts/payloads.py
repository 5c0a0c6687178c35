"""Python objects turned into artifact files, the way MLflow's log_* helpers write them.

The tracking client stages each file under a temporary directory with these functions
and then logs it, so the bytes match what MLflow produces for the same object:
``log_text`` (UTF-8 text), ``log_dict`` (JSON or YAML by extension), ``log_figure``
(matplotlib or plotly), ``log_image`` (numpy or PIL) and ``log_table`` (pandas' "split"
JSON, appended to an existing table). numpy, PIL, pandas, matplotlib and plotly are
imported only inside the functions that need them.
"""

from __future__ import annotations

import json
import sys
import uuid
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from cairn.exceptions import InvalidParameterValue, MlflowException

if TYPE_CHECKING:
    import pandas as pd

# Longest side of the preview MLflow stores beside each image of a table.
COMPRESSED_IMAGE_SIZE = 256

_PLOTLY_IMAGE_EXTENSIONS = (".png", ".jpeg", ".webp", ".svg", ".pdf")
_TABLE_EXTENSIONS = (".json", ".parquet")


def _prepare(path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def write_text(text: str, path: Path) -> None:
    """Write ``text`` as UTF-8 (``log_text``)."""
    with open(_prepare(path), "w", encoding="utf-8") as handle:
        handle.write(text)


def write_dict(data: Mapping[str, Any], path: Path) -> None:
    """Write ``data`` as YAML for ``.yaml``/``.yml`` files, as JSON otherwise (``log_dict``).

    JSON is indented by two spaces and objects JSON cannot encode are written as their
    ``str()``; YAML is block style with sorted keys, as MLflow writes it.
    """
    path = _prepare(path)
    with open(path, "w", encoding="utf-8") as handle:
        if path.suffix in (".yaml", ".yml"):
            yaml.dump(_plain(data), handle, indent=2, default_flow_style=False)
        else:
            json.dump(data, handle, indent=2, default=str)


def _plain(data: Any) -> Any:
    # safe YAML output needs plain containers; Mapping subclasses become dicts.
    if isinstance(data, Mapping):
        return {key: _plain(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [_plain(value) for value in data]
    return data


def write_figure(figure: Any, path: Path, **save_kwargs: Any) -> None:
    """Save a matplotlib or plotly figure (``log_figure``).

    matplotlib figures go through ``savefig`` (format from the extension); plotly figures
    through ``write_html`` for ``.html`` and ``write_image`` for png/jpeg/webp/svg/pdf.
    Raises TypeError for other objects or a plotly figure with another extension.
    """
    path = _prepare(path)
    if "matplotlib" in sys.modules and _is_matplotlib_figure(figure):
        figure.savefig(path, **save_kwargs)
    elif "plotly" in sys.modules and _is_plotly_figure(figure):
        if path.suffix == ".html":
            save_kwargs.setdefault("include_plotlyjs", "cdn")
            save_kwargs.setdefault("auto_open", False)
            figure.write_html(str(path), **save_kwargs)
        elif path.suffix in _PLOTLY_IMAGE_EXTENSIONS:
            figure.write_image(str(path), **save_kwargs)
        else:
            raise TypeError(f"Unsupported file extension for plotly figure: '{path.suffix}'")
    else:
        raise TypeError(f"Unsupported figure object type: '{type(figure)}'")


def _is_matplotlib_figure(figure: Any) -> bool:
    import matplotlib.figure

    return isinstance(figure, matplotlib.figure.Figure)


def _is_plotly_figure(figure: Any) -> bool:
    import plotly.graph_objects

    return isinstance(figure, plotly.graph_objects.Figure)


def write_image(image: Any, path: Path) -> None:
    """Save a numpy array or PIL image (``log_image``) in the format of the extension.

    Arrays may be HxW, HxWx1, HxWx3 (RGB) or HxWx4 (RGBA), of bool, integers in
    [0, 255] or floats in [0, 1] (other floats are min-max rescaled with a warning).
    Objects with a ``to_pil()`` method (``mlflow.Image``) are accepted too. An unknown
    extension is written as PNG.
    """
    pil_image = to_pil_image(image)
    path = _prepare(path)
    from PIL import Image

    Image.init()
    image_format = Image.EXTENSION.get(path.suffix.lower(), "PNG")
    if image_format == "JPEG" and pil_image.mode not in ("RGB", "L", "CMYK"):
        pil_image = pil_image.convert("RGB")  # JPEG has no alpha channel
    pil_image.save(path, format=image_format)


def to_pil_image(image: Any) -> Any:
    """``image`` as a PIL image; TypeError/ValueError describe what is wrong with it."""
    import numpy as np
    from PIL import Image

    if isinstance(image, Image.Image):
        return image
    if isinstance(image, np.ndarray):
        return _array_to_pil(image)
    if callable(getattr(image, "to_pil", None)):
        return image.to_pil()
    raise TypeError(
        f"Unsupported image object type: {type(image)}. "
        "`image` must be one of numpy.ndarray, PIL.Image.Image, and mlflow.Image."
    )


def _array_to_pil(array: Any) -> Any:
    import numpy as np
    from PIL import Image

    kinds = {"b": "bool", "i": "signed integer", "u": "unsigned integer", "f": "floating"}
    if array.dtype.kind not in kinds:
        raise TypeError(
            f"Invalid array data type: '{array.dtype}'. Must be one of {list(kinds.values())}"
        )
    if array.ndim not in (2, 3):
        raise ValueError(f"`image` must be a 2D or 3D array but got image shape: {array.shape}")
    if array.ndim == 3 and array.shape[2] not in (1, 3, 4):
        raise ValueError(f"Invalid channel length: {array.shape[2]}. Must be one of [1, 3, 4]")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]  # PIL wants grayscale as a 2D array
    is_int = array.dtype.kind in "iu"
    high = 255 if is_int else 1
    if array.size and (array.min() < 0 or array.max() > high):
        if is_int:
            raise ValueError(
                "Integer pixel values out of acceptable range [0, 255]. "
                f"Found minimum value {array.min()} and maximum value {array.max()}."
            )
        warnings.warn(
            "Float pixel values out of acceptable range [0.0, 1.0]. "
            f"Found minimum value {array.min()} and maximum value {array.max()}. "
            "Rescaling values to [0.0, 1.0] with min/max scaler.",
            stacklevel=3,
        )
        span = array.max() - array.min()
        array = (array - array.min()) / (span if span else 1)
    if not is_int:
        array = array * 255
    return Image.fromarray(array.astype(np.uint8))


def write_table(
    data: Mapping[str, Any] | pd.DataFrame, path: Path, artifact_root: Path | None = None
) -> list[str]:
    """Write a table as MLflow does for ``log_table``, appending to ``path`` if it exists.

    ``.json`` files hold pandas' "split" form without the index,
    ``{"columns": [...], "data": [[...], ...]}``; ``.parquet`` files need pyarrow. A dict
    of columns becomes a DataFrame (a dict of scalars becomes one row). Rows already in
    ``path`` (the table logged before, downloaded there by the caller) come first.

    Columns of images (PIL or ``mlflow.Image``) are stored as image files: the cell then
    holds ``{"type": "image", "filepath": ..., "compressed_filepath": ...}``. That needs
    ``artifact_root``, the staging directory that mirrors the artifact root and contains
    ``path``; the images go to ``table_images/<table path without extension>/``.

    Returns the image files written, relative to ``artifact_root``.
    Raises InvalidParameterValue for data that is not a dict or DataFrame, ValueError for
    an extension other than .json/.parquet (as MLflow does).
    """
    import pandas as pd

    path = Path(path)
    if path.suffix not in _TABLE_EXTENSIONS:
        raise ValueError(
            f"Invalid artifact file path '{path.name}'. Please ensure the file you are "
            "trying to log as a table has a file name with either '.json' or '.parquet' "
            "extension."
        )
    frame = _as_frame(data)
    images = _store_image_columns(frame, path, artifact_root)
    if path.exists():
        frame = pd.concat([_read_table(path), frame], ignore_index=True)
    path = _prepare(path)
    try:
        if path.suffix == ".json":
            frame.to_json(path, orient="split", index=False, date_format="iso")
        else:
            frame.to_parquet(path, index=False)
    except Exception as exc:
        raise MlflowException(
            f"Failed to save {frame} as table as the data is not JSON serializable. Error: {exc}"
        ) from exc
    return images


def read_table(path: Path) -> pd.DataFrame:
    """A table written by ``write_table`` (or MLflow's ``log_table``), as a DataFrame."""
    return _read_table(Path(path))


def _read_table(path: Path) -> pd.DataFrame:
    import pandas as pd

    if path.suffix == ".json":
        return pd.read_json(path, orient="split")
    return pd.read_parquet(path)


def _as_frame(data: Any) -> pd.DataFrame:
    import pandas as pd

    if isinstance(data, pd.DataFrame):
        return data.copy()
    if not isinstance(data, dict):
        raise InvalidParameterValue("data must be a pandas.DataFrame or a dictionary")
    try:
        return pd.DataFrame(data)
    except ValueError:
        return pd.DataFrame([data])  # all scalars: one row


def _is_image(value: Any) -> bool:
    return all(callable(getattr(value, name, None)) for name in ("save", "resize")) and hasattr(
        value, "size"
    )


def _store_image_columns(frame: pd.DataFrame, path: Path, artifact_root: Path | None) -> list[str]:
    import pandas as pd

    written: list[str] = []
    # Images only live in object columns (pandas 3 gives strings a dtype of their own).
    for column in [c for c in frame.columns if frame[c].dtype == object]:
        flags = [_is_image(value) for value in frame[column]]
        if not any(flags):
            continue
        if not all(flags):
            raise ValueError(
                f"Column `{column}` contains a mix of images and non-images. "
                "Please ensure that all elements in the column are of the same type."
            )
        if artifact_root is None:
            raise InvalidParameterValue(
                "A table with image columns needs a staging artifact root for its images."
            )
        table_name = path.relative_to(artifact_root).with_suffix("").as_posix()
        cells = []
        for value in frame[column]:
            cell = _save_table_image(value, artifact_root, f"table_images/{table_name}")
            written += [cell["filepath"], cell["compressed_filepath"]]
            cells.append(cell)
        frame[column] = pd.Series(cells, index=frame.index, dtype=object)
    return written


def _save_table_image(image: Any, artifact_root: Path, directory: str) -> dict[str, str]:
    stem = f"{directory}/{uuid.uuid4()}"
    full, preview = f"{stem}.png", f"{stem}.webp"
    image.save(_prepare(artifact_root / full))
    width, height = image.size
    scale = COMPRESSED_IMAGE_SIZE / max(width, height)
    image.resize((max(1, int(width * scale)), max(1, int(height * scale)))).save(
        _prepare(artifact_root / preview)
    )
    return {"type": "image", "filepath": full, "compressed_filepath": preview}
