__all__ = ["__version__"]

# The version of all four daffi distributions is defined here, once. They share one version
# and pin each other exactly, and each sdist must build on its own, so every wheel reads its
# version from a file inside its own folder: the other three `__about__.py` files and the pins
# (`daffi-core==`, `daffi-controller==` in packages/*/pyproject.toml) are copies of this value.
# Never edit them by hand: `hatch run release:bump X.Y.Z` (tools/release.py) rewrites all of
# them and opens the CHANGELOG.md section of X.Y.Z, and tests/packaging/test_version.py fails
# when any of them, or the latest version in CHANGELOG.md, disagrees with this line.
__version__ = "0.1.0"
