"""An offline stand-in for the Imagen AI service: its v1 API, an S3-like store and fault injection.

It shares no code with the client side it stands in for, so the two can disagree and the
tests will notice.
"""
