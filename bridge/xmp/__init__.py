"""Pure XMP handling: safe parsing, embedded-XMP extraction, crs merge, develop settings.

No network, and nothing else of the bridge is imported here.
"""
