"""The README's configuration table is the settings model, so the two cannot drift."""

from pathlib import Path

from orderstate.exports.configuration_reference import BEGIN, END, configuration_table

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_lists_every_setting_with_its_default() -> None:
    text = README.read_text()
    table = text[text.index(BEGIN) : text.index(END) + len(END)]
    assert table == configuration_table(), (
        "README configuration table is stale; run "
        "`.venv/bin/orderstate config-reference --write README.md`"
    )
