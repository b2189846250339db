__all__ = ["__version__"]

# A copy of daffi-core's version (packages/daffi-core/src/daffi_core/__about__.py says why):
# change it with `hatch run release:bump X.Y.Z`, never by hand.
__version__ = "0.1.0"
