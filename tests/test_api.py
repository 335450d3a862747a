"""The public surface and the light import."""

import subprocess
import sys

import slmselect

EXPECTED = {
    "recommend", "Recommendation", "Candidate", "profile_task", "TaskProfile", "load_db", "validate_db",
    "BenchmarkDB", "confirm", "ConfirmReport", "evaluate", "SlmselectError", "InputError", "ParameterError",
    "NoCandidatesError", "DatabaseError", "ConfirmError", "expand", "ExpandReport", "TeacherError", "__version__",
    "export", "register_model_source", "ModelSource", "HubModel", "LocalFolder", "GGUFFile", "PackagedGGUF",
    "ModelLoadError", "MissingDependencyError",
}


def test_all_is_exactly_the_public_surface():
    assert set(slmselect.__all__) == EXPECTED


def test_every_exported_name_resolves():
    for name in slmselect.__all__:
        assert getattr(slmselect, name) is not None, name


def test_exceptions_share_one_root():
    for name in ("InputError", "ParameterError", "NoCandidatesError", "DatabaseError", "ConfirmError", "TeacherError",
                 "MissingDependencyError"):
        assert issubclass(getattr(slmselect, name), slmselect.SlmselectError)


def test_import_does_not_load_torch_or_heavy_libraries():
    code = (
        "import sys, slmselect; "
        "heavy = [m for m in ('torch', 'transformers', 'peft', 'rich', 'sentence_transformers', 'datasets', 'sklearn') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_recommend_path_does_not_load_torch(tmp_path):
    code = (
        "import sys, slmselect; "
        "slmselect.recommend(description='classify support tickets by topic', include_local=False); "
        "print('torch' in sys.modules)"
    )
    env = {"SLMSELECT_CACHE_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
    assert out.stdout.strip() == "False"
