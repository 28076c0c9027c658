"""Delivery of exported JPEGs to Imgwire and ImageKit.

A caller (the ``deliver`` command, the job runner) builds :class:`DeliveryItem` s, with the
job id and photo index when there is a job, so retries and restarts reuse the same identity;
opens a client with :func:`open_client`; and gets back one :class:`DeliveryResult` per item
to persist. Everything checkable is checked before the first byte is sent
(:class:`DeliveryRefused` lists it all).
"""

from bridge.delivery.errors import DeliveryAuthError, DeliveryError, DeliveryRefused
from bridge.delivery.imagekit import ImagekitClient
from bridge.delivery.imagekit_rules import ImagekitOptions
from bridge.delivery.imgwire import ImgwireClient
from bridge.delivery.items import DeliveryItem
from bridge.delivery.results import DeliveryResult, Target
from bridge.delivery.run import DeliveryEvent, check_all, deliver_all
from bridge.delivery.targets import emulator_notice, open_client, uses_emulator

__all__ = [
    "DeliveryAuthError",
    "DeliveryError",
    "DeliveryEvent",
    "DeliveryItem",
    "DeliveryRefused",
    "DeliveryResult",
    "ImagekitClient",
    "ImagekitOptions",
    "ImgwireClient",
    "Target",
    "check_all",
    "deliver_all",
    "emulator_notice",
    "open_client",
    "uses_emulator",
]
