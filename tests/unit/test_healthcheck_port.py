"""The image's HEALTHCHECK asks /healthz on the ops port of whichever command the container runs."""

import pytest

from orderstate.cli import healthcheck_port

PYTHON = "/opt/orderstate/bin/python"
ORDERSTATE = "/opt/orderstate/bin/orderstate"


@pytest.mark.parametrize(
    ("args", "port"),
    [
        (["api"], 9101),
        (["api", "--ops-port", "9400"], 9400),
        (["api", "--port", "9000"], 9101),
        (["api", "--host", "127.0.0.1", "--port=9001", "--ops-port=9401"], 9401),
        (["worker"], 9102),
        (["relay"], 9103),
        (["monitor"], 9104),
        (["run"], 9102),
        (["worker", "--ops-port", "9200"], 9200),
        (["relay", "--ops-port=9300"], 9300),
        (["worker", "--ops-port", "0"], None),
        (["migrate"], None),
        (["topics", "create"], None),
    ],
)
def test_the_port_follows_the_command(args: list[str], port: int | None) -> None:
    assert healthcheck_port([PYTHON, ORDERSTATE, *args]) == port


def test_a_command_line_without_the_interpreter() -> None:
    assert healthcheck_port(["orderstate", "relay"]) == 9103
