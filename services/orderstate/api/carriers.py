"""The carriers ``GET /v2/carriers`` serves: code, name and the countries they deliver to.

The WooCommerce plugin validates a shipment's carrier against this list (the carrier's
``code`` and the order's shipping country among its ``countries``) before it creates the
shipment. The list shipped in ``carriers.json`` is orderstate's own, kept by hand; a shop
whose plugin stores other codes names its own file in ``ORDERSTATE_CARRIERS_FILE``.
"""

import json
from importlib import resources
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError

from orderstate.events.envelope import describe_validation_error
from orderstate.startup import StartupError

__all__ = ["Carrier", "CarrierListError", "load"]

Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]


class Carrier(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    code: str = Field(min_length=1, max_length=64, description="What a shipment names.")
    name: str = Field(min_length=1, max_length=128)
    countries: list[Country] = Field(
        min_length=1, description="ISO 3166-1 alpha-2 codes of the countries it delivers to."
    )


class CarrierListError(StartupError):
    pass


_LIST = TypeAdapter(list[Carrier])


def load(path: Path | None) -> list[Carrier]:
    """The file's list, or the shipped one; refused at start-up when it is not a valid list."""
    where = str(path) if path is not None else "the shipped carriers.json"
    try:
        if path is None:
            text = (resources.files("orderstate.api") / "carriers.json").read_text("utf-8")
        else:
            text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CarrierListError(f"carrier list {where}: {exc.strerror}") from None
    try:
        data = json.loads(text) if path is None or path.suffix == ".json" else yaml.safe_load(text)
        carriers = _LIST.validate_python(data)
    except (ValueError, yaml.YAMLError) as exc:
        detail = describe_validation_error(exc) if isinstance(exc, ValidationError) else str(exc)
        raise CarrierListError(f"carrier list {where} is not a valid list: {detail}") from None
    codes = [c.code for c in carriers]
    if len(codes) != len(set(codes)):
        raise CarrierListError(f"carrier list {where} names a code twice")
    return carriers
