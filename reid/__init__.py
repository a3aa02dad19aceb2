"""Vehicle and plate re-identification (methods 1 and 2 of SPEC.md).

``backbone`` (seed 001), ``nets`` and ``losses`` (seed 004), ``data`` and ``train`` (joint
training), ``export`` (ONNX), ``embedder`` (onnxruntime inference and fusion), ``metrics``
and ``evaluate`` (held-out retrieval). See docs/REID.md.
"""
