"""A small deterministic regression model and the parsers that turn payloads into its rows.

The model is a fixed linear function of five numeric features plus a smooth nonlinearity.
Everything here is pure Python (no numpy), so both demo servers compute the very same floats;
any difference between their answers comes from the servers, never from this module.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence

FEATURES: tuple[str, ...] = ("age", "games", "points", "assists", "minutes")
WEIGHTS: tuple[float, ...] = (-0.173, 0.0417, 0.6131, 0.2873, 0.0911)
BIAS = 3.271
MAX_ROWS = 10_000

Row = tuple[float, ...]

MODEL_INFO: dict[str, object] = {
    "model_name": "juniors-regressor",
    "model_version": "1.4.2",
    "target_type": "regression",
    "target_name": "future_points",
    "language": "python",
    "features": list(FEATURES),
}


class ModelInputError(ValueError):
    """The payload cannot be turned into model rows; both servers answer it with 422."""


def predict_row(row: Row) -> float:
    """Score one row: a weighted sum plus a bounded scoring-efficiency term."""
    total = BIAS
    for weight, value in zip(WEIGHTS, row, strict=True):
        total += weight * value
    age, _games, points, assists, minutes = row
    efficiency = (points + 0.7 * assists) / (minutes + 1.0)
    return total + 2.5 * math.tanh(efficiency) - 0.01 * (age - 21.0) ** 2


def predict(rows: Sequence[Row]) -> list[float]:
    """Score every row, in order."""
    return [predict_row(row) for row in rows]


def _number(value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ModelInputError(f"{where}: {value!r} is not a number")
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise ModelInputError(f"{where}: {value!r} is not a number") from None
    else:
        number = float(value)
    if not math.isfinite(number):
        raise ModelInputError(f"{where}: {value!r} is not a finite number")
    return number


def _check_count(rows: list[Row]) -> list[Row]:
    if not rows:
        raise ModelInputError("no rows to score")
    if len(rows) > MAX_ROWS:
        raise ModelInputError(f"too many rows: {len(rows)} (at most {MAX_ROWS})")
    return rows


def rows_from_csv(text: str) -> list[Row]:
    """Parse CSV text: a header naming every feature (extra columns are ignored), then rows."""
    try:
        reader = csv.reader(io.StringIO(text), strict=True)
        records = [line for line in reader if any(cell.strip() for cell in line)]
    except csv.Error as exc:
        raise ModelInputError(f"malformed CSV: {exc}") from None
    if not records:
        raise ModelInputError("empty CSV: no header and no rows")
    header = [name.strip() for name in records[0]]
    missing = [name for name in FEATURES if name not in header]
    if missing:
        raise ModelInputError(f"missing columns: {', '.join(missing)}")
    positions = [header.index(name) for name in FEATURES]
    rows: list[Row] = []
    for number, record in enumerate(records[1:], start=1):
        if len(record) != len(header):
            raise ModelInputError(
                f"malformed CSV: row {number} has {len(record)} values, expected {len(header)}"
            )
        rows.append(
            tuple(
                _number(record[pos], f"row {number} column {name!r}")
                for pos, name in zip(positions, FEATURES, strict=True)
            )
        )
    return _check_count(rows)


def rows_from_csv_bytes(data: bytes) -> list[Row]:
    """Decode UTF-8 CSV bytes (a BOM is allowed) and parse them."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ModelInputError("CSV is not valid UTF-8") from None
    return rows_from_csv(text)


def rows_from_records(payload: object) -> list[Row]:
    """Rows from decoded JSON: ``{"data": [[...], ...]}`` or ``[{"feature": value}, ...]``."""
    if isinstance(payload, dict):
        if "data" not in payload:
            raise ModelInputError('JSON object must have a "data" key')
        data = payload["data"]
        if not isinstance(data, list):
            raise ModelInputError('"data" must be a list of rows')
        rows: list[Row] = []
        for number, item in enumerate(data, start=1):
            if not isinstance(item, list) or len(item) != len(FEATURES):
                raise ModelInputError(
                    f"data row {number} must be a list of {len(FEATURES)} numbers "
                    f"({', '.join(FEATURES)})"
                )
            rows.append(
                tuple(
                    _number(value, f"data row {number} column {name!r}")
                    for value, name in zip(item, FEATURES, strict=True)
                )
            )
        return _check_count(rows)
    if isinstance(payload, list):
        rows = []
        for number, item in enumerate(payload, start=1):
            if not isinstance(item, dict):
                raise ModelInputError(f"record {number} must be an object")
            missing = [name for name in FEATURES if name not in item]
            if missing:
                raise ModelInputError(f"record {number} is missing: {', '.join(missing)}")
            rows.append(
                tuple(_number(item[name], f"record {number} field {name!r}") for name in FEATURES)
            )
        return _check_count(rows)
    raise ModelInputError('JSON must be an object with "data" or a list of records')


def rows_from_json_bytes(data: bytes) -> list[Row]:
    """Decode a JSON body and parse its rows."""
    if not data.strip():
        raise ModelInputError("empty JSON body")
    try:
        payload = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelInputError(f"invalid JSON: {exc}") from None
    return rows_from_records(payload)
