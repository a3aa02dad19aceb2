"""The gallery's Redis data model and its atomic writes (one Lua script per change).

Keys (``P`` = ``<namespace>:g1:``, versioned so a future layout can live beside this one):

- ``P next`` (string): the last identity number handed out (``INCR``).
- ``P id:<n>`` (hash): ``first_camera``, ``first_ts``, ``last_camera``, ``last_ts``,
  ``sightings``, ``plate``, ``plate_conf``, ``type``, ``colour``, ``snapshot``.
- ``P ex:<library>:<n>`` (string): up to ``max_exemplars`` float32 vectors, packed end to end.
- ``P changes`` (stream): one entry per enrolment or update: ``op``, ``id``, ``libraries``.

Libraries: ``fusion`` (256-d), ``plate`` (128-d), ``vehicle`` (128-d).

**Exemplar policy**: the first exemplar (the enrolment view) is kept for good; later ones
fill the remaining slots in arrival order and, once full, the oldest of them is replaced.
So an identity always keeps the view it was enrolled with and its most recent looks.

**Atomicity**: every write is one Lua script, which Redis runs without interleaving another
client's command; an identity is never half-written (no record without its exemplars or the
other way round), whatever happens to the writer.

**Race-free enrolment**: a worker that finds no match sends ``enrol`` with the stream position
its in-process index has seen. Inside the script, the enrolments that landed after that
position are compared with the new features (cosine over the same library, computed in Lua);
if one passes the library's threshold, the script records a sighting of it instead of
creating a new identity. Two workers that see the same new vehicle at once therefore end with
one identity, without a lock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import redis

LIBRARIES: dict[str, int] = {"fusion": 256, "plate": 128, "vehicle": 128}
F32 = npt.NDArray[np.float32]

_ENROL = """
-- KEYS: next, changes, prefix-holder (unused); ARGV: prefix, since, max_ex, now_json fields...
local prefix = ARGV[1]
local since = ARGV[2]
local max_ex = tonumber(ARGV[3])
local nlib = tonumber(ARGV[4])
local libs, vecs, thresholds = {}, {}, {}
local i = 5
for l = 1, nlib do
  libs[l] = ARGV[i]; vecs[l] = ARGV[i + 1]; thresholds[l] = tonumber(ARGV[i + 2]); i = i + 3
end
local camera, ts, plate, plate_conf, vtype, colour, snapshot =
  ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6]

local function dot(a, b, offset)
  local s = 0.0
  local n = string.len(a) / 4
  for k = 0, n - 1 do
    local x = struct.unpack('<f', a, 4 * k + 1)
    local y = struct.unpack('<f', b, offset + 4 * k)
    s = s + x * y
  end
  return s
end

-- enrolments newer than what the caller's index has seen: a twin may have just landed
local recent = redis.call('XRANGE', prefix .. 'changes', '(' .. since, '+')
local best_id, best_score, best_lib = nil, -2.0, nil
for _, entry in ipairs(recent) do
  local fields = entry[2]
  local op, id = nil, nil
  for f = 1, #fields, 2 do
    if fields[f] == 'op' then op = fields[f + 1] end
    if fields[f] == 'id' then id = fields[f + 1] end
  end
  if op == 'enrol' and id then
    for l = 1, nlib do
      local blob = redis.call('GET', prefix .. 'ex:' .. libs[l] .. ':' .. id)
      if blob then
        local size = string.len(vecs[l])
        for start = 1, string.len(blob), size do
          local s = dot(vecs[l], blob, start)
          if s > thresholds[l] and s > best_score then
            best_id, best_score, best_lib = id, s, libs[l]
          end
        end
      end
    end
    if best_id then break end
  end
end

local id
local op
if best_id then
  id = best_id
  op = 'sighting'
  redis.call('HSET', prefix .. 'id:' .. id, 'last_camera', camera, 'last_ts', ts)
  redis.call('HINCRBY', prefix .. 'id:' .. id, 'sightings', 1)
else
  id = tostring(redis.call('INCR', prefix .. 'next'))
  op = 'enrol'
  redis.call('HSET', prefix .. 'id:' .. id,
    'first_camera', camera, 'first_ts', ts, 'last_camera', camera, 'last_ts', ts, 'sightings', 1,
    'plate', plate, 'plate_conf', plate_conf, 'type', vtype, 'colour', colour, 'snapshot', snapshot)
  for l = 1, nlib do
    redis.call('SET', prefix .. 'ex:' .. libs[l] .. ':' .. id, vecs[l])
  end
end
local libnames = table.concat(libs, ',')
local position = redis.call('XADD', prefix .. 'changes', '*', 'op', op, 'id', id, 'libraries', libnames)
return {id, op, tostring(best_score), best_lib or '', position}
"""

_ADD_EXEMPLAR = """
-- ARGV: prefix, id, max_ex, camera, ts, nlib, (lib, vec)*
local prefix, id, max_ex = ARGV[1], ARGV[2], tonumber(ARGV[3])
local camera, ts, nlib = ARGV[4], ARGV[5], tonumber(ARGV[6])
if redis.call('EXISTS', prefix .. 'id:' .. id) == 0 then return redis.error_reply('no identity ' .. id) end
local libs = {}
for l = 0, nlib - 1 do
  local lib, vec = ARGV[7 + 2 * l], ARGV[8 + 2 * l]
  libs[#libs + 1] = lib
  local key = prefix .. 'ex:' .. lib .. ':' .. id
  local blob = redis.call('GET', key) or ''
  local size = string.len(vec)
  local count = string.len(blob) / size
  if count < max_ex then
    blob = blob .. vec
  elseif max_ex == 1 then
    blob = blob
  else
    -- keep the first (enrolment) exemplar; drop the oldest of the others, append the new one
    blob = string.sub(blob, 1, size) .. string.sub(blob, 2 * size + 1) .. vec
  end
  redis.call('SET', key, blob)
end
redis.call('HSET', prefix .. 'id:' .. id, 'last_camera', camera, 'last_ts', ts)
redis.call('HINCRBY', prefix .. 'id:' .. id, 'sightings', 1)
local names = table.concat(libs, ',')
return redis.call('XADD', prefix .. 'changes', '*', 'op', 'update', 'id', id, 'libraries', names)
"""


@dataclass(frozen=True, slots=True)
class Sighting:
    """Where and when a vehicle was seen, and what was read of it."""

    camera: str
    timestamp: float
    plate: str = ""
    plate_confidence: float = 0.0
    vehicle_type: str = ""
    colour: str = ""
    snapshot: str = ""


@dataclass(frozen=True, slots=True)
class EnrolResult:
    """What the enrol script did: a new identity, or a sighting of a twin enrolled meanwhile."""

    identity: int
    new: bool
    score: float
    library: str
    position: str


def pack(vector: npt.ArrayLike, library: str) -> bytes:
    """A library's feature as float32 bytes, after checking its length and values.

    Raises:
        ValueError: Unknown library, wrong length, or a non-finite value.
    """
    if library not in LIBRARIES:
        raise ValueError(f"unknown library {library!r}; one of {', '.join(LIBRARIES)}")
    array = np.asarray(vector, np.float32).reshape(-1)
    if array.shape != (LIBRARIES[library],):
        raise ValueError(f"{library} features must have {LIBRARIES[library]} values, got {array.size}")
    if not np.isfinite(array).all():
        raise ValueError(f"{library} features hold NaN or infinite values")
    return array.astype("<f4").tobytes()


class GalleryStore:
    """Reads and atomic writes of the gallery's keys (see the module docstring)."""

    def __init__(self, client: redis.Redis, namespace: str = "rw", max_exemplars: int = 8) -> None:
        self.client = client
        self.prefix = f"{namespace}:g1:"
        self.max_exemplars = max_exemplars
        self._enrol = client.register_script(_ENROL)
        self._add = client.register_script(_ADD_EXEMPLAR)

    def enrol(
        self,
        features: Mapping[str, npt.ArrayLike],
        thresholds: Mapping[str, float],
        sighting: Sighting,
        since: str = "0-0",
    ) -> EnrolResult:
        """Create an identity with ``features`` unless a twin was enrolled after ``since``."""
        args: list[Any] = [self.prefix, since, self.max_exemplars, len(features)]
        for library, vector in features.items():
            args += [library, pack(vector, library), repr(float(thresholds[library]))]
        args += [
            sighting.camera,
            repr(float(sighting.timestamp)),
            sighting.plate,
            repr(float(sighting.plate_confidence)),
            sighting.vehicle_type,
            sighting.colour,
            sighting.snapshot,
        ]
        identity, op, score, library, position = self._enrol(args=args)
        return EnrolResult(int(identity), op == b"enrol", float(score), library.decode(), position.decode())

    def add_exemplars(self, identity: int, features: Mapping[str, npt.ArrayLike], sighting: Sighting) -> str:
        """Record a sighting of ``identity`` and keep its new features (exemplar policy above)."""
        args: list[Any] = [
            self.prefix,
            str(identity),
            self.max_exemplars,
            sighting.camera,
            repr(float(sighting.timestamp)),
            len(features),
        ]
        for library, vector in features.items():
            args += [library, pack(vector, library)]
        position: bytes = self._add(args=args)
        return position.decode()

    def record(self, identity: int) -> dict[str, str]:
        """The identity's hash, decoded (empty when unknown)."""
        raw: Any = self.client.hgetall(f"{self.prefix}id:{identity}")
        return {k.decode(): v.decode() for k, v in raw.items()}

    def exemplars(self, library: str, identity: int) -> F32:
        """``(K, D)`` exemplars of one identity in one library (K may be 0)."""
        blob: Any = self.client.get(f"{self.prefix}ex:{library}:{identity}") or b""
        return np.frombuffer(blob, "<f4").reshape(-1, LIBRARIES[library]).astype(np.float32)

    def identities(self) -> list[int]:
        """Every enrolled identity number, ascending."""
        keys: Any = self.client.scan_iter(f"{self.prefix}id:*", count=1000)
        return sorted(int(k.decode().rsplit(":", 1)[1]) for k in keys)

    def changes_since(self, position: str) -> list[tuple[str, str, int, list[str]]]:
        """Stream entries after ``position``: ``(position, op, identity, libraries)``."""
        entries: Any = self.client.xrange(f"{self.prefix}changes", min=f"({position}", max="+")
        out = []
        for entry_id, fields in entries:
            decoded = {k.decode(): v.decode() for k, v in fields.items()}
            libraries = decoded["libraries"].split(",")
            out.append((entry_id.decode(), decoded["op"], int(decoded["id"]), libraries))
        return out

    def last_position(self) -> str:
        """Position of the newest change ('0-0' when none)."""
        last: Any = self.client.xrevrange(f"{self.prefix}changes", count=1)
        return str(last[0][0].decode()) if last else "0-0"
