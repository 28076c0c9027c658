"""The Imagen v1 API: typed models, one client method per endpoint used, status polling."""

from bridge.imagen.client import ClientTimeouts, ImagenClient
from bridge.imagen.errors import (
    ImagenAuthError,
    ImagenError,
    ImagenTimeoutError,
    ImagenValidationError,
)
from bridge.imagen.models import (
    CropAspectRatio,
    EditOptions,
    FileLink,
    HdrOutputCompression,
    I2IEditOptions,
    MultipartUpload,
    Pagination,
    PartLink,
    PhotographyType,
    Profile,
    ProjectInfo,
    ProjectPage,
    SkyTemplate,
    Status,
)
from bridge.imagen.poll import wait_until_done

__all__ = [
    "ClientTimeouts",
    "CropAspectRatio",
    "EditOptions",
    "FileLink",
    "HdrOutputCompression",
    "I2IEditOptions",
    "ImagenAuthError",
    "ImagenClient",
    "ImagenError",
    "ImagenTimeoutError",
    "ImagenValidationError",
    "MultipartUpload",
    "Pagination",
    "PartLink",
    "PhotographyType",
    "Profile",
    "ProjectInfo",
    "ProjectPage",
    "SkyTemplate",
    "Status",
    "wait_until_done",
]
