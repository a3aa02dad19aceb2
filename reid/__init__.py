"""Vehicle and plate re-identification networks (method 1 and 2 of SPEC.md).

Empty until the re-identification issue lands; nothing imports from it yet.
"""
