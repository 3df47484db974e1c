from setuptools import find_packages, setup

setup(
    name="minirocket",
    version="0.1.0",
    description="Rocket Launching (Zhou et al., AAAI 2018) in NumPy with hand-written "
                "forward and backward passes, numba CPU kernels and a CuPy GPU path",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    license="MIT",
    python_requires=">=3.10",
    packages=find_packages(include=["minirocket", "minirocket.*"]),
    include_package_data=True,
    package_data={"minirocket.data": ["embedded/*.gz", "embedded/*.md"]},
    install_requires=[
        "numpy>=2.0,<2.6",
        "numba>=0.67,<0.69",
        "tqdm>=4.60",
        "pillow>=10.0",
        "tomli>=2.0; python_version < '3.11'",
    ],
    extras_require={
        "gpu": ["cupy-cuda13x>=14.2,<15"],
        "test": ["pytest>=8.0", "pytest-benchmark>=4.0"],
    },
    entry_points={"console_scripts": ["minirocket=minirocket.cli:main"]},
)
