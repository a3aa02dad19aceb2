"""The pipeline's stages, one module each, each with frozen input and output dataclasses.

``detect`` (``detectors.stage``) → :mod:`~roadwatch.stages.track` → :mod:`~roadwatch.stages.shots`
→ :mod:`~roadwatch.stages.recognise` (re-id + gallery) → :mod:`~roadwatch.stages.sightings`.
"""
