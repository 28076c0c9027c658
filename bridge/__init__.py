"""imagen-bridge: run Imagen AI edits from Lightroom Classic, scripts and the command line."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("imagen-bridge")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+source"

APP_NAME = "imagen-bridge"
