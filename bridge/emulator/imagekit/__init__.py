"""An offline stand-in for ImageKit's upload and media APIs, mounted at ``/imagekit``.

``/imagekit/api/v1/files/upload`` (multipart, streamed to disk) and ``/imagekit/v1/files...``
(details, delete, bulk delete, list and search), as the official SDK calls them with its
``base_url`` set to ``http://127.0.0.1:PORT/imagekit``. ``GET /imagekit/_emulator/records``
shows what was uploaded.
"""

from bridge.emulator.imagekit.config import ImagekitConfig
from bridge.emulator.imagekit.errors import fault_answer
from bridge.emulator.imagekit.routes import PREFIX, create_imagekit_app

__all__ = ["PREFIX", "ImagekitConfig", "create_imagekit_app", "fault_answer"]
