"""ament_python package: builds with colcon and installs with pip alike.

data_files put the ament index marker, package.xml, launch/ and config/ under share/ros2_llm_controller, and the
node wrappers under lib/ros2_llm_controller/ where launch_ros looks for executables (pip ignores setup.cfg's
install_scripts). Editable installs skip data_files: use `pip install .` for a prefix that `ros2 launch` can use.
"""

from glob import glob

from setuptools import find_packages, setup

PACKAGE = "ros2_llm_controller"

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*"]),  # training/ runs from the checkout
    package_data={PACKAGE: ["adapters/*/*.json", "adapters/*/*.safetensors", "adapters/*/*.md",
                            "adapters/*/*.jinja", "adapters/*/*.txt"]},
    data_files=[
        ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
        (f"share/{PACKAGE}", ["package.xml"]),
        (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
        (f"share/{PACKAGE}/config", glob("config/*.yaml")),
        (f"lib/{PACKAGE}", glob("scripts/*")),
    ],
    install_requires=["setuptools", "pyyaml"],
    extras_require={"llm": ["torch", "transformers>=5", "peft", "gguf", "safetensors", "filelock"],
                    "train": ["trl>=1.16", "datasets", "accelerate", "matplotlib", "pandas", "tqdm"]},
    zip_safe=False,
    maintainer="ros2_llm_controller maintainers",
    maintainer_email="maintainers@ros2-llm-controller.dev",
    description="Drive a robot with plain language through a small, locally fine-tuned LLM (ROS 2 + LoRA SFT).",
    license="Apache-2.0",
    entry_points={"console_scripts": [f"ros2-llm-controller = {PACKAGE}.cli:main"]},
)
