"""The committed contract under schemas/ is exactly what the models export."""

from pathlib import Path

from orderstate.exports.schemas import contract_diff, published_files

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"


def test_committed_schemas_match_the_models() -> None:
    diff = contract_diff(published_files(), SCHEMAS)
    assert diff == "", f"schemas/ is stale; run `make schemas` and commit:\n{diff}"
