"""The Redis-backed identity gallery: three libraries (fusion, plate, vehicle), 0.9 thresholds.

- ``gallery.store``: the Redis data model and its atomic, race-free Lua writes.
- ``gallery.index``: per-library in-process indexes (exact, then IVF) kept in step by a stream.
- ``gallery.gallery``: match-or-enrol (method 1), restart and rebuild, batch enrolment.
- ``gallery.connect``: embedded or URL backends, retries, one clear error when Redis is gone.
- ``gallery.portable``: export and import as one checked file.
- ``gallery.search``: method 5's post-processing of search results (search by image itself,
  which composes detection and re-id, is the app's ``roadwatch.search``).
- ``gallery.bench``: ``roadwatch bench gallery``.
"""
