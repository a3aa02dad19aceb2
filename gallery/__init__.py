"""The Redis-backed identity gallery (three libraries, 0.9 thresholds).

Empty until the gallery issue lands; nothing imports from it yet.
"""
