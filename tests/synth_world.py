"""The tiny synthetic scenario shared by synth and reid tests (small frames, a few seconds)."""

TINY = """
name: tiny
duration_s: 8
fps: 5
cameras:
  - {id: entry, role: entry, view: front, resolution: [320, 180], hfov_deg: 14, height_m: 5, pitch_deg: 16,
     lanes: 1, near_m: 10, far_m: 70, lighting: day, scenery: highway}
  - {id: gate, role: gate, view: front, resolution: [400, 224], hfov_deg: 24, height_m: 6, pitch_deg: 8,
     lanes: 2, near_m: 12, far_m: 70, lighting: night, weather: rain, scenery: toll}
  - {id: exit, role: exit, view: rear, resolution: [320, 180], hfov_deg: 22, height_m: 5, pitch_deg: 8,
     lanes: 2, near_m: 10, far_m: 60, lighting: ir, weather: fog, scenery: city}
routes:
  - {cameras: [entry, gate, exit], weight: 0.6, travel_s: [1.5, 1.5]}
  - {cameras: [entry, exit], weight: 0.4, travel_s: [2.0]}
fleet:
  vehicles: 40
  arrivals_per_min: 240
  lookalike_fraction: 0.2
  clone_fraction: 0.1
  unreadable_fraction: 0.2
toll_entry: [entry]
toll_gate: [gate]
"""
