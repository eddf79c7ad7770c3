from __future__ import annotations

import pytest

from infra.cli.jobs import parse_args
from infra.errors import InputError


def test_values_are_json_when_they_parse() -> None:
    assert parse_args(["n=3", "name=rds", "flags=[1,2]", "on=true", "empty="]) == {
        "n": 3,
        "name": "rds",
        "flags": [1, 2],
        "on": True,
        "empty": "",
    }


@pytest.mark.parametrize(
    "pair", ["novalue", "=x", "bad-key=1", "a b=1"], ids=["no-sep", "no-key", "dash", "space"]
)
def test_bad_pairs_are_rejected(pair: str) -> None:
    with pytest.raises(InputError, match="expected key=value"):
        parse_args([pair])
