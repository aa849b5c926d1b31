"""The sampled profile of `make bench` (bench/stacks.py): py-spy's collapsed stacks read into
CPU by area, by function on top of the stack, and by step with everything it calls."""

import sys
from pathlib import Path

import pytest

# bench/ runs as a directory of scripts, whose modules import each other by their bare names.
sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))

import pipeline
from stacks import StackSummary, function_of, summarise

# Three distinct stacks as `py-spy record --format raw` writes them: frames root first, the
# count of samples last. Two lines differ only in the line a function was on.
_RAW = """\
<module> (orderstate/__main__.py:4);Worker.run (orderstate/worker/loop.py:160);\
_Batch.run (orderstate/projector/apply.py:178);decide (orderstate/domain/decide.py:130);\
BaseModel.model_copy (pydantic/main.py:410) 30
<module> (orderstate/__main__.py:4);Worker.run (orderstate/worker/loop.py:160);\
_Batch.run (orderstate/projector/apply.py:178);decide (orderstate/domain/decide.py:131) 10
<module> (orderstate/__main__.py:4);Worker.run (orderstate/worker/loop.py:161);\
_Batch.run (orderstate/projector/apply.py:200);\
BatchWrites.flush (orderstate/projector/writes.py:200);\
Connection._do_execute (asyncpg/connection.py:2066) 50
<module> (orderstate/__main__.py:4);Worker.run (orderstate/worker/loop.py:161);\
ABCMeta.__instancecheck__ (<frozen abc>:119) 10
"""


def _summary(tmp_path: Path) -> StackSummary:
    path = tmp_path / "worker.stacks"
    path.write_text(_RAW)
    return summarise(path, rate=100, areas=pipeline._CATEGORIES, steps=pipeline.PROFILE_STEPS)


def test_a_frame_names_its_function_without_the_line() -> None:
    assert function_of("BaseModel.model_copy (pydantic/main.py:410)") == (
        "pydantic/main.py:BaseModel.model_copy"
    )
    assert function_of("ABCMeta.__instancecheck__ (<frozen abc>:119)") == (
        "<frozen abc>:ABCMeta.__instancecheck__"
    )
    assert function_of(
        "decide (/work/x/.venv/lib/python3.11/site-packages/orderstate/domain/decide.py:1)"
    ) == ("orderstate/domain/decide.py:decide")


def test_samples_count_to_the_function_on_top_and_its_area(tmp_path: Path) -> None:
    summary = _summary(tmp_path)

    assert summary.samples == 100
    assert summary.cpu_s == 1.0
    assert dict(summary.own) == {
        "asyncpg/connection.py:Connection._do_execute": 50,
        "pydantic/main.py:BaseModel.model_copy": 30,
        "orderstate/domain/decide.py:decide": 10,
        "<frozen abc>:ABCMeta.__instancecheck__": 10,
    }
    assert dict(summary.by_area) == {
        "asyncpg (protocol, encode/decode)": 50,
        "pydantic (validate / serialise)": 30,
        "orderstate.domain (decide)": 10,
        "abc isinstance checks": 10,
    }


def test_a_step_counts_everything_it_calls(tmp_path: Path) -> None:
    inclusive = dict(_summary(tmp_path).inclusive)

    assert inclusive["orderstate/worker/loop.py:Worker.run"] == 100
    assert inclusive["orderstate/projector/apply.py:_Batch.run"] == 90
    assert inclusive["orderstate/domain/decide.py:decide"] == 40
    assert inclusive["orderstate/projector/writes.py:BatchWrites.flush"] == 50
    # Not a step asked for.
    assert "pydantic/main.py:BaseModel.model_copy" not in inclusive


def test_a_file_without_samples_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.stacks"
    path.write_text("")

    with pytest.raises(RuntimeError, match="no samples"):
        summarise(path, areas=pipeline._CATEGORIES, steps=pipeline.PROFILE_STEPS)
