"""The Redis-backed identity gallery: three libraries (fusion, plate, vehicle), 0.9 thresholds.

Today: the data model and its atomic, race-free writes (``gallery.store``), exact in-process
indexes kept in step through the change stream (``gallery.index``), match-or-enrol
(``gallery.gallery``) and method 5's search post-processing (``gallery.search``). The
million-identity index, maintenance commands and search by image come with the rest of the
gallery issue.
"""
