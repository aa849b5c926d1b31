"""The image's HEALTHCHECK asks /healthz on the port of whichever command the container runs."""

import pytest

from orderstate.cli import healthcheck_port

PYTHON = "/opt/orderstate/bin/python"
ORDERSTATE = "/opt/orderstate/bin/orderstate"


@pytest.mark.parametrize(
    ("args", "port"),
    [
        (["api"], 8080),
        (["api", "--port", "9000"], 9000),
        (["api", "--host", "127.0.0.1", "--port=9001"], 9001),
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
    assert healthcheck_port([PYTHON, ORDERSTATE, *args], api_port=8080) == port


def test_a_command_line_without_the_interpreter() -> None:
    assert healthcheck_port(["orderstate", "relay"], api_port=8000) == 9103
