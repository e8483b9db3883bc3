"""Publishing a file: temporary names that fit beside any target, create-only publishing, imports one way."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

from airflow.providers.common.compat.sdk import AirflowFailException
from airflow_provider_surveysphere import output
from airflow_provider_surveysphere.output import AtomicJsonLinesWriter, SurveySphereOutputExistsError

TEMPORARY = re.compile(r"\.surveysphere-[0-9a-f]{32}\.partial")


@pytest.mark.parametrize("length", [230, 255])
def test_any_valid_file_name_can_be_the_target(tmp_path, length):
    """Defect 11: the temporary sibling once added 42 bytes to the target's name (255 is the usual limit)."""
    name = "r" * (length - len(".jsonl")) + ".jsonl"
    with AtomicJsonLinesWriter(tmp_path / name) as writer:
        writer.write_records([{"id": 1}])
        (temporary,) = [p.name for p in tmp_path.iterdir()]
        assert TEMPORARY.fullmatch(temporary)  # hidden, and as short whatever the target is called
    assert [p.name for p in tmp_path.iterdir()] == [name]
    assert json.loads((tmp_path / name).read_text()) == {"id": 1}


def test_create_only_refuses_an_existing_target_and_leaves_it_as_it_was(tmp_path):
    target = tmp_path / "part.jsonl"
    target.write_bytes(b'{"id": "theirs"}\n')
    with pytest.raises(SurveySphereOutputExistsError, match=r"publishing: FileExistsError.*another writer") as caught:
        with AtomicJsonLinesWriter(target, overwrite=False) as writer:
            writer.write_records([{"id": "ours"}])
    assert isinstance(caught.value, AirflowFailException)
    assert [p.name for p in tmp_path.iterdir()] == ["part.jsonl"]  # no temporary file either
    assert target.read_bytes() == b'{"id": "theirs"}\n'


def test_create_only_loses_to_a_writer_that_published_meanwhile(tmp_path):
    target = tmp_path / "part.jsonl"
    with pytest.raises(SurveySphereOutputExistsError):
        with AtomicJsonLinesWriter(target, overwrite=False) as ours:
            ours.write_records([{"id": "ours"}])
            with AtomicJsonLinesWriter(target, overwrite=False) as theirs:
                theirs.write_records([{"id": "theirs"}])
    assert target.read_bytes() == b'{"id":"theirs"}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["part.jsonl"]


def test_create_only_publishes_a_new_name(tmp_path):
    with AtomicJsonLinesWriter(tmp_path / "part.jsonl", overwrite=False) as writer:
        writer.write_records([{"id": 1}, {"id": 2}])
    assert [p.name for p in tmp_path.iterdir()] == ["part.jsonl"]
    assert (tmp_path / "part.jsonl").read_bytes() == b'{"id":1}\n{"id":2}\n'


def test_output_modules_import_one_way():
    """No import cycle inside the output package (type-checking imports included)."""
    package = Path(output.__file__).parent
    graph = {}
    for module in package.glob("*.py"):
        names = set()
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(output.__name__ + "."):
                names.add(node.module.rsplit(".", 1)[1])
        graph[module.stem] = names - {module.stem}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(n == goal or (n not in seen and reaches(n, goal, seen | {n})) for n in graph.get(start, ()))

    assert [m for m in graph if m != "__init__" and reaches(m, m, set())] == []
