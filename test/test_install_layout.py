"""What `ros2 launch` needs from an installed prefix: the ament index marker, share/ files and
executables in lib/<package>/ (pip ignores setup.cfg's install_scripts, so setup.py ships wrappers)."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = "ros2_llm_controller"


def _launch_executables() -> set[str]:
    names = set()
    for f in (ROOT / "launch").glob("*.launch.py"):
        for node in ast.walk(ast.parse(f.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Node":
                for kw in node.keywords:
                    if kw.arg == "executable":
                        value = kw.value
                        if isinstance(value, ast.Name):  # a module constant such as NODE_NAME
                            value = next(n.value for n in ast.walk(ast.parse(f.read_text()))
                                         if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", None) == value.id)
                        names.add(value.value)
    return names


def test_every_launched_executable_has_a_wrapper_and_a_module():
    names = _launch_executables()
    assert names == {"llm_controller", "sim_robot"}
    for name in names:
        wrapper = ROOT / "scripts" / name
        assert wrapper.is_file() and os.access(wrapper, os.X_OK), name
        module = next(line.split("-m ")[1].split()[0] for line in wrapper.read_text().splitlines()
                      if line.startswith("exec "))
        assert (ROOT / (module.replace(".", "/") + ".py")).is_file(), module


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_wheel_installs_the_ament_layout(tmp_path):
    """Inspect the wheel pip installs from (installing it here would replace the venv's own copy)."""
    import zipfile

    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    (wheel,) = tmp_path.glob("*.whl")
    with zipfile.ZipFile(wheel) as zf:
        infos = {i.filename.split(".data/data/", 1)[1]: i for i in zf.infolist() if ".data/data/" in i.filename}
        files = set(zf.namelist())
    assert f"share/ament_index/resource_index/packages/{PKG}" in infos
    for rel in ("package.xml", "config/controller.yaml", "launch/controller.launch.py", "launch/demo.launch.py"):
        assert f"share/{PKG}/{rel}" in infos, rel
    for name in ("llm_controller", "sim_robot"):
        info = infos.get(f"lib/{PKG}/{name}")
        assert info is not None, f"lib/{PKG}/{name} missing"
        assert (info.external_attr >> 16) & 0o111, f"lib/{PKG}/{name} is not executable in the wheel"
    # The shipped adapter travels inside the package (package_data), or `adapter: default` finds nothing.
    if (ROOT / PKG / "adapters" / "smollm2-robot" / "adapter_config.json").is_file():
        for f in ("adapter_config.json", "adapter_model.safetensors"):
            assert f"{PKG}/adapters/smollm2-robot/{f}" in files, f
    assert not any(name.startswith("training/") for name in files), "training/ is not part of the runtime package"


def test_the_venv_wrapper_runs_the_node():
    """`make setup` installs into the venv; its lib/ wrapper must start the node's entry point."""
    exe = Path(sys.prefix) / "lib" / PKG / "llm_controller"
    if not exe.is_file():
        pytest.skip(f"{exe} not installed (run `make setup`)")
    proc = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "--scripted" in proc.stdout and "--ros-args" in proc.stdout
