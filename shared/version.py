"""The code version recorded in every artifacts manifest."""

from importlib.metadata import PackageNotFoundError, version

try:
    CODE_VERSION = version("cvqueue")
except PackageNotFoundError:  # running from a source tree that was not installed
    CODE_VERSION = "0.0.0+source"
