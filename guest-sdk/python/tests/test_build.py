"""What `weir-guest build` reads from a project and the glue it writes."""

from pathlib import Path

import pytest

from weir_guest.build import APP_MODULE, BuildError, Project, glue_modules


def project(tmp_path: Path, table: str, name: str = 'name = "teams"') -> Path:
    (tmp_path / "pyproject.toml").write_text(f"[project]\n{name}\n\n[tool.weir-guest]\n{table}\n")
    return tmp_path


def test_a_pulled_source_exports_only_the_source(tmp_path: Path) -> None:
    loaded = Project.load(project(tmp_path, 'source = "teams.main:Teams"'))
    assert (loaded.name, loaded.source.module, loaded.source.attribute, loaded.push) == (
        "teams",
        "teams.main",
        "Teams",
        None,
    )
    glue = glue_modules(loaded)
    app = glue[f"{APP_MODULE}.py"]
    assert "from teams.main import Teams as _source_class" in app
    assert "Source = _export.SourceExport" in app
    assert "Push" not in app
    assert "from weir_guest._export import Burst as Burst" in glue["source.py"]
    for name, text in glue.items():
        compile(text, name, "exec")


def test_a_pushing_source_exports_its_handler_too(tmp_path: Path) -> None:
    loaded = Project.load(project(tmp_path, 'source = "teams:Teams"\npush = "hooks:TeamHook"'))
    app = glue_modules(loaded)[f"{APP_MODULE}.py"]
    assert "from hooks import TeamHook as _push_class" in app
    assert "Push = _export_push.PushExport" in app
    compile(app, APP_MODULE, "exec")


def test_the_folder_names_a_project_without_a_name(tmp_path: Path) -> None:
    assert Project.load(project(tmp_path, 'source = "a:B"', name="")).name == tmp_path.name


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("", 'add [tool.weir-guest] source = "module:Class"'),
        ('source = "teams"', "expected \"module:Class\", got 'teams'"),
        ('source = "source:Teams"', "is taken by the component's glue"),
        ('source = "a:B"\npush = 3', 'push: expected "module:Class", got 3'),
    ],
)
def test_a_bad_project_says_what_to_fix(tmp_path: Path, table: str, message: str) -> None:
    with pytest.raises(BuildError, match=message.replace("(", r"\(").replace("[", r"\[")):
        Project.load(project(tmp_path, table))


def test_a_module_named_source_is_refused(tmp_path: Path) -> None:
    (tmp_path / "source.py").write_text("")
    with pytest.raises(BuildError, match="would be shadowed"):
        Project.load(project(tmp_path, 'source = "a:B"'))


def test_a_folder_without_pyproject_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match=r"pyproject\.toml not found"):
        Project.load(tmp_path)
