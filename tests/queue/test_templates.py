"""Templates on their own: parsing errors, each type's checks, argv built element by element."""

from __future__ import annotations

from pathlib import Path

import pytest

from runwatch.server.templates import ParamError, TemplateError, load_templates
from tests.queue.setup import write_templates


def test_a_permissive_pattern_alone_does_not_let_a_flag_through(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text(
        "[templates.t]\ncommand = ['prog', '{free}', '{dashed}']\n"
        "[templates.t.params.free]\ntype = 'string'\npattern = '.*'\n"
        "[templates.t.params.dashed]\ntype = 'string'\npattern = '-?[0-9]+'\n"
        "allow_leading_dash = true\n"
    )
    t = load_templates(path)["t"]
    with pytest.raises(ParamError, match="must not start with '-'") as info:
        t.validate({"free": "--output=/etc/passwd", "dashed": "-1"})
    assert info.value.name == "free"
    assert t.argv(t.validate({"free": "a b; c", "dashed": "-1"})) == ["prog", "a b; c", "-1"]
    with pytest.raises(ParamError, match="pattern"):
        t.validate({"free": "x", "dashed": "-1 --flag"})


def test_placeholders_are_replaced_inside_their_own_element(tmp_path: Path) -> None:
    t = load_templates(write_templates(tmp_path))["train"]
    params = t.validate({"data": "mnist.csv", "epochs": 7, "lr": 1})
    assert params["lr"] == 1.0 and isinstance(params["lr"], float)
    argv = t.argv(params)
    assert "--epochs=7" in argv and argv[argv.index("--lr") + 1] == "1.0"
    assert argv[argv.index("--data") + 1] == str((tmp_path / "datasets" / "mnist.csv").resolve())


def test_bounds_are_listed_in_their_parameters_type(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text(
        "[templates.t]\ncommand = ['prog', '{n}', '{x}']\n"
        "[templates.t.params.n]\ntype = 'int'\nmin = 1.0\nmax = 1000\n"
        "[templates.t.params.x]\ntype = 'float'\nmin = 0\nmax = 2.5\n"
    )
    n, x = load_templates(path)["t"].params
    listed = [(n.min, type(n.min)), (n.max, type(n.max))]
    assert listed == [(1, int), (1000, int)]
    assert [(x.min, type(x.min)), (x.max, type(x.max))] == [(0.0, float), (2.5, float)]
    with pytest.raises(ParamError, match=r"must be at least 1$"):
        n.validate(0)


def test_choices_compare_type_and_value(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text(
        "[templates.t]\ncommand = ['prog', '{n}']\n"
        "[templates.t.params.n]\ntype = 'choice'\nchoices = [1, 2]\n"
    )
    t = load_templates(path)["t"]
    assert t.validate({"n": 2}) == {"n": 2}
    for bad in (True, "1", 1.5):
        with pytest.raises(ParamError, match="one of: 1, 2"):
            t.validate({"n": bad})


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("[templates.t]\ncommand = 'prog --x'\n", "list of strings"),
        (
            "[templates.t]\ncommand = ['{p}']\n[templates.t.params.p]\ntype='choice'\n"
            "choices=['ls']\n",
            "cannot be a placeholder",
        ),
        ("[templates.t]\ncommand = ['p']\n[templates.t.params.x]\ntype = 'shell'\n", "type must"),
        ("[templates.t]\ncommand = ['p']\n[templates.t.params.x]\ntype = 'file'\n", "needs dir"),
        (
            "[templates.t]\ncommand = ['p']\n[templates.t.params.x]\ntype='string'\npattern='('\n",
            "bad pattern",
        ),
        ("[templates.t]\ncommand = ['p']\n[templates.t.params.x]\ntype='int'\nstep=2\n", "unknown"),
        ("[templates]\nt = 3\n", "each a table"),
        ("not toml [", "cannot read"),
    ],
)
def test_bad_templates_files_say_what_and_where(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "t.toml"
    path.write_text(body)
    with pytest.raises(TemplateError, match=message):
        load_templates(path)
