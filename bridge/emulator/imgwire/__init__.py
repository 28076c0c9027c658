"""An offline stand-in for Imgwire's Resource API (Images), mounted at ``/imgwire``.

Standard uploads with presigned PUTs, statuses ``PENDING`` -> ``PROCESSING`` -> ``READY`` or
``QUARANTINE``, idempotency keys, paging headers, bulk delete, bulk download jobs (archives
served by the emulator's object store) and upload via URL (loopback sources only), with the
shared fault injection. ``GET /imgwire/_emulator/records`` shows what was uploaded.
"""

from bridge.emulator.imgwire.config import ImgwireConfig
from bridge.emulator.imgwire.errors import fault_answer
from bridge.emulator.imgwire.routes import PREFIX, create_imgwire_app

__all__ = ["PREFIX", "ImgwireConfig", "create_imgwire_app", "fault_answer"]
