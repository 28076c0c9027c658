"""Deterministic files the emulator hands back: XMP sidecars, DNGs, and JPEGs."""
