"""The gallery's Redis data model and its atomic writes (one Lua script per change).

Keys (``P`` = ``<namespace>:g1:``, versioned so a future layout can live beside this one):

- ``P next`` (string): the last identity number handed out (``INCR``).
- ``P id:<n>`` (hash): ``first_camera``, ``first_ts``, ``last_camera``, ``last_ts``,
  ``sightings``, ``plate``, ``plate_conf``, ``type``, ``colour``, ``snapshot`` and ``seen``
  (the five newest sightings, ``"camera ts;camera ts;..."``, newest first).
- ``P ex:<library>:<n>`` (string): up to ``max_exemplars`` float32 vectors, packed end to end.
- ``P changes`` (stream, trimmed to about ``stream_max_len`` entries): one entry per change:
  ``op`` (``enrol``, ``sighting``, ``update``, ``remove``), ``id``, ``libraries``.
- ``P ivf:<library>`` (string): the IVF centroids every worker's index uses (float32).

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

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import redis

LIBRARIES: dict[str, int] = {"fusion": 256, "plate": 128, "vehicle": 128}
F32 = npt.NDArray[np.float32]

_SEEN = """
-- the five newest sightings, newest first: "camera ts;camera ts;..."
local function push_seen(key, camera, ts)
  local latest = camera .. ' ' .. ts
  local seen = redis.call('HGET', key, 'seen') or ''
  if seen == '' then  -- a new identity's only sighting is its first one (see record_fields)
    local first = redis.call('HMGET', key, 'first_camera', 'first_ts')
    seen = (first[1] or '') .. ' ' .. (first[2] or '')
  end
  latest = latest .. ';' .. seen
  local cut = 0
  for _ = 1, 5 do cut = string.find(latest, ';', cut + 1, true); if not cut then break end end
  if cut then latest = string.sub(latest, 1, cut - 1) end
  redis.call('HSET', key, 'last_camera', camera, 'last_ts', ts, 'seen', latest)
  redis.call('HINCRBY', key, 'sightings', 1)
end
"""

_ENROL = (
    _SEEN
    + """
-- Enrol a batch of items, each unless a twin was enrolled after the caller's stream position.
-- ARGV: prefix, since, maxlen, nlib, lib_1..lib_n, thr_1..thr_n, nitems, then per item:
--       vec_1..vec_n ('' = no feature in that library), lists_1..lists_n (the IVF list of each
--       exemplar, comma-separated; '' = not known), nfields, (field, value)*
local prefix, since, maxlen, nlib = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local libs, thresholds = {}, {}
for l = 1, nlib do libs[l] = ARGV[4 + l]; thresholds[l] = tonumber(ARGV[4 + nlib + l]) end
local nitems = tonumber(ARGV[5 + 2 * nlib])
local i = 6 + 2 * nlib

local function dot(a, b, offset)
  local s = 0.0
  for k = 0, string.len(a) / 4 - 1 do
    s = s + struct.unpack('<f', a, 4 * k + 1) * struct.unpack('<f', b, offset + 4 * k)
  end
  return s
end

-- identities enrolled after what the caller's index has seen: a twin may have just landed
local twins_needed = false
for l = 1, nlib do if thresholds[l] < 2 then twins_needed = true end end
local candidates = {}
local recent = redis.call('XRANGE', prefix .. 'changes', '(' .. since, '+',
  'COUNT', twins_needed and 2001 or 1)
if twins_needed then
  if #recent > 2000 then return redis.error_reply('STALE index: sync before enrolling') end
  for _, entry in ipairs(recent) do
    local f = entry[2]
    if f[2] == 'enrol' then candidates[#candidates + 1] = f[4] end
  end
end
local blobs = {}

local out = {}
for item = 1, nitems do
  local vecs, lists = {}, {}
  for l = 1, nlib do vecs[l] = ARGV[i]; lists[l] = ARGV[i + nlib]; i = i + 1 end
  i = i + nlib
  local nfields = tonumber(ARGV[i]); i = i + 1
  local first_field = i
  i = i + 2 * nfields

  local best_id, best_score, best_lib = nil, -2.0, ''
  for _, id in ipairs(candidates) do
    for l = 1, nlib do
      if thresholds[l] < 2 and vecs[l] ~= '' then
        local key = prefix .. 'ex:' .. libs[l] .. ':' .. id
        if blobs[key] == nil then blobs[key] = redis.call('GET', key) or '' end
        local blob, size = blobs[key], string.len(vecs[l])
        for start = 1, string.len(blob), size do
          local s = dot(vecs[l], blob, start)
          if s > thresholds[l] and s > best_score then best_id, best_score, best_lib = id, s, libs[l] end
        end
      end
    end
  end

  local id, op
  local names = {}
  for l = 1, nlib do if vecs[l] ~= '' then names[#names + 1] = libs[l] end end
  if best_id then
    id, op = best_id, 'sighting'
    local fields = {}
    for f = first_field, i - 1, 2 do fields[ARGV[f]] = ARGV[f + 1] end
    push_seen(prefix .. 'id:' .. id, fields['last_camera'] or '', fields['last_ts'] or '')
  else
    id, op = tostring(redis.call('INCR', prefix .. 'next')), 'enrol'
    redis.call('HSET', prefix .. 'id:' .. id, unpack(ARGV, first_field, i - 1))
    for l = 1, nlib do
      if vecs[l] ~= '' then
        redis.call('SET', prefix .. 'ex:' .. libs[l] .. ':' .. id, vecs[l])
        if lists[l] ~= '' then redis.call('HSET', prefix .. 'lists:' .. libs[l], id, lists[l]) end
      end
    end
  end
  local position = redis.call('XADD', prefix .. 'changes', 'MAXLEN', '~', maxlen, '*',
    'op', op, 'id', id, 'libraries', table.concat(names, ','))
  out[#out + 1] = {id, op, tostring(best_score), best_lib, position}
end
return {#recent, out}
"""
)

_ADD_EXEMPLAR = (
    _SEEN
    + """
-- ARGV: prefix, id, max_ex, camera, ts, maxlen, since, nlib, (lib, vec, list ('' = not known))*
local prefix, id, max_ex = ARGV[1], ARGV[2], tonumber(ARGV[3])
local camera, ts, maxlen, since, nlib = ARGV[4], ARGV[5], ARGV[6], ARGV[7], tonumber(ARGV[8])
if redis.call('EXISTS', prefix .. 'id:' .. id) == 0 then return redis.error_reply('no identity ' .. id) end
local newest = redis.call('XREVRANGE', prefix .. 'changes', '+', '-', 'COUNT', 1)
local follows = (#newest == 0 and since == '0-0') or (#newest == 1 and newest[1][1] == since)
local libs, blobs = {}, {}
for l = 0, nlib - 1 do
  local lib, vec, list = ARGV[9 + 3 * l], ARGV[10 + 3 * l], ARGV[11 + 3 * l]
  libs[#libs + 1] = lib
  local key = prefix .. 'ex:' .. lib .. ':' .. id
  local blob = redis.call('GET', key) or ''
  local size = string.len(vec)
  local count = string.len(blob) / size
  local lists_key = prefix .. 'lists:' .. lib
  local known = redis.call('HGET', lists_key, id) or ''
  local parts = {}
  for part in string.gmatch(known, '[^,]+') do parts[#parts + 1] = part end
  if count < max_ex then
    blob = blob .. vec
    parts[#parts + 1] = list
  elseif max_ex > 1 then
    -- keep the first (enrolment) exemplar; drop the oldest of the others, append the new one
    blob = string.sub(blob, 1, size) .. string.sub(blob, 2 * size + 1) .. vec
    table.remove(parts, 2)
    parts[#parts + 1] = list
  end
  redis.call('SET', key, blob)
  if list ~= '' and #parts == string.len(blob) / size then
    redis.call('HSET', lists_key, id, table.concat(parts, ','))
  else
    redis.call('HDEL', lists_key, id)
  end
  blobs[#blobs + 1] = blob
end
push_seen(prefix .. 'id:' .. id, camera, ts)
local position = redis.call('XADD', prefix .. 'changes', 'MAXLEN', '~', maxlen, '*',
  'op', 'update', 'id', id, 'libraries', table.concat(libs, ','))
return {position, blobs, follows and 1 or 0}
"""
)

_REMOVE = """
-- Remove whole identities last seen before a cutoff. ARGV: prefix, cutoff, maxlen, id*
local prefix, cutoff, maxlen = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local removed = {}
for a = 4, #ARGV do
  local id = ARGV[a]
  local seen = redis.call('HMGET', prefix .. 'id:' .. id, 'last_ts', 'first_ts')
  local ts = seen[1] or seen[2]  -- an identity seen once has no last_ts (record_fields)
  if ts and tonumber(ts) < cutoff then
    redis.call('DEL', prefix .. 'id:' .. id, prefix .. 'ex:fusion:' .. id, prefix .. 'ex:plate:' .. id,
      prefix .. 'ex:vehicle:' .. id)
    for _, lib in ipairs({'fusion', 'plate', 'vehicle'}) do
      redis.call('HDEL', prefix .. 'lists:' .. lib, id)
    end
    redis.call('XADD', prefix .. 'changes', 'MAXLEN', '~', maxlen, '*',
      'op', 'remove', 'id', id, 'libraries', 'fusion,plate,vehicle')
    removed[#removed + 1] = id
  end
end
return removed
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


class GalleryUnavailableError(Exception):
    """Redis did not answer after the configured retries (the message says where and why)."""


TRANSIENT = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.BusyLoadingError,
    ConnectionResetError,
    BrokenPipeError,
)


def where(client: redis.Redis) -> str:
    """The server a client talks to, for messages (no password)."""
    kwargs = client.connection_pool.connection_kwargs
    if kwargs.get("path"):
        return f"Redis at {kwargs['path']}"
    return f"Redis at {kwargs.get('host', '?')}:{kwargs.get('port', '?')}"


def reason(exc: BaseException) -> str:
    """The first line of an exception's message (its type name when it has none)."""
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def unavailable(server: str, exc: BaseException) -> GalleryUnavailableError:
    """The error a lost connection to ``server`` becomes once the client's retries are spent."""
    return GalleryUnavailableError(
        f"gallery: lost {server} (retries spent): {reason(exc)}; change not applied"
    )


def record_fields(sighting: Sighting) -> dict[str, str]:
    """The identity hash of a new identity first seen in ``sighting``, as stored.

    Empty fields are left out, and so are ``last_camera``, ``last_ts`` and ``seen`` until a
    second sighting: they equal the first sighting (:func:`complete_record` fills them in).
    That keeps the enrolment script short and the hash small.
    """
    fields = {
        "first_camera": sighting.camera,
        "first_ts": repr(float(sighting.timestamp)),
        "sightings": "1",
        "plate": sighting.plate,
        "plate_conf": repr(float(sighting.plate_confidence)) if sighting.plate else "",
        "type": sighting.vehicle_type,
        "colour": sighting.colour,
        "snapshot": sighting.snapshot,
    }
    return {field: value for field, value in fields.items() if value != ""}


def complete_record(stored: Mapping[str, str]) -> dict[str, str]:
    """A stored identity hash with the fields a single sighting leaves out filled in."""
    record = dict(stored)
    if record and "last_camera" not in record:
        record["last_camera"] = record.get("first_camera", "")
        record["last_ts"] = record.get("first_ts", "")
        record["seen"] = f"{record['last_camera']} {record['last_ts']}"
    return record


@dataclass(frozen=True, slots=True)
class EnrolBatch:
    """What one batch enrolment did, item by item.

    ``follows_since``: no other change landed between the caller's position and this batch,
    so a caller's index that applies the batch itself may move its position to the batch's end.
    """

    results: list[EnrolResult]
    follows_since: bool


@dataclass(frozen=True, slots=True)
class NewIdentity:
    """One item of a batch enrolment: its features (one or more exemplars per library) and record."""

    features: Mapping[str, npt.ArrayLike]
    record: Mapping[str, str]
    lists: Mapping[str, str] = field(default_factory=dict)  # IVF list per exemplar, "3,17" (optional)


class GalleryStore:
    """Reads and atomic writes of the gallery's keys (see the module docstring)."""

    def __init__(
        self,
        client: redis.Redis,
        namespace: str = "rw",
        max_exemplars: int = 8,
        stream_max_len: int = 1_000_000,
    ) -> None:
        self.client = client
        self.prefix = f"{namespace}:g1:"
        self.max_exemplars = max_exemplars
        self.stream_max_len = stream_max_len
        self._enrol = client.register_script(_ENROL)
        self._add = client.register_script(_ADD_EXEMPLAR)
        self._remove = client.register_script(_REMOVE)

    # -- writes -----------------------------------------------------------------------------

    def enrol_many(
        self,
        items: Sequence[NewIdentity],
        thresholds: Mapping[str, float] | None = None,
        since: str = "0-0",
    ) -> EnrolBatch:
        """Enrol a batch in one atomic script (items of one batch are taken to be distinct vehicles).

        Each item is compared only with identities enrolled after ``since`` by other writers
        (``thresholds`` names the libraries compared, by their cosine threshold; a value ≥ 2
        never matches; None: no comparison, e.g. an import).
        """
        if not items:
            return EnrolBatch([], True)
        return self.run_enrol(self.enrol_args(items, thresholds, since))

    def enrol_args(
        self, items: Sequence[NewIdentity], thresholds: Mapping[str, float] | None = None, since: str = "0-0"
    ) -> list[Any]:
        """The enrolment script's arguments for ``items`` (see :meth:`enrol_many`)."""
        libraries = sorted({library for item in items for library in item.features})
        unknown = set(libraries) - set(LIBRARIES)
        if unknown:
            raise ValueError(f"unknown libraries {sorted(unknown)}; one of {', '.join(LIBRARIES)}")
        limits = thresholds or {}
        args: list[Any] = [self.prefix, since, self.stream_max_len, len(libraries), *libraries]
        args += [repr(float(limits.get(library, 2.0))) for library in libraries]
        args.append(len(items))
        for item in items:
            args += [pack_many(item.features[lib], lib) if lib in item.features else b"" for lib in libraries]
            args += [item.lists.get(lib, "") for lib in libraries]
            args.append(len(item.record))
            for name, value in item.record.items():
                args += [name, value]
        return args

    def run_enrol(self, args: list[Any]) -> EnrolBatch:
        """Run the enrolment script on arguments :meth:`enrol_args` made."""
        behind, done = self._enrol(args=args)
        out = [
            EnrolResult(int(identity), op == b"enrol", float(score), library.decode(), position.decode())
            for identity, op, score, library, position in done
        ]
        return EnrolBatch(out, follows_since=int(behind) == 0)

    def add_exemplars(
        self,
        identity: int,
        features: Mapping[str, npt.ArrayLike],
        sighting: Sighting,
        lists: Mapping[str, int] | None = None,
        since: str = "",
    ) -> tuple[str, dict[str, bytes], bool]:
        """Record a sighting of ``identity`` and keep its new features (exemplar policy above).

        Returns the change's stream position, each library's exemplar blob as it now is, and
        whether the change directly follows ``since`` (no other change landed in between).
        """
        args: list[Any] = [
            self.prefix,
            str(identity),
            self.max_exemplars,
            sighting.camera,
            repr(float(sighting.timestamp)),
            self.stream_max_len,
            since,
            len(features),
        ]
        for library, vector in features.items():
            known = (lists or {}).get(library)
            args += [library, pack(vector, library), "" if known is None else str(known)]
        position, blobs, follows = self._add(args=args)
        return position.decode(), dict(zip(features, blobs, strict=True)), bool(follows)

    def prune(self, cutoff: float, batch: int = 500) -> list[int]:
        """Remove every identity last seen before ``cutoff`` (whole, one script per batch)."""
        removed: list[int] = []
        ids = self.identities()
        for start in range(0, len(ids), batch):
            chunk = [str(i) for i in ids[start : start + batch]]
            gone = self._remove(args=[self.prefix, repr(float(cutoff)), self.stream_max_len, *chunk])
            removed += [int(x) for x in gone]
        return removed

    def put_centroids(self, library: str, centroids: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Store IVF centroids unless another worker did first; returns the ones that hold."""
        key = f"{self.prefix}ivf:{library}"
        self.client.set(key, np.ascontiguousarray(centroids, "<f4").tobytes(), nx=True)
        held = self.centroids(library)
        assert held is not None
        return held

    # -- reads ------------------------------------------------------------------------------

    def centroids(self, library: str) -> npt.NDArray[np.float32] | None:
        """The IVF centroids workers share for ``library`` (None until one trained them)."""
        blob: Any = self.client.get(f"{self.prefix}ivf:{library}")
        if not blob:
            return None
        return np.frombuffer(blob, "<f4").reshape(-1, LIBRARIES[library]).astype(np.float32)

    def note_plate(self, identity: int, plate: str, confidence: float) -> bool:
        """Index ``plate`` as read on a known identity (``plates`` hash: text → identity, the
        latest reading wins) and give the identity's record this text if it has none; True if
        the record took it."""
        key = f"{self.prefix}id:{identity}"
        if not self.client.exists(key):
            return False
        self.client.hset(f"{self.prefix}plates", plate, str(identity))
        if not self.client.hsetnx(key, "plate", plate):
            return False
        self.client.hset(key, "plate_conf", repr(float(confidence)))
        return True

    def identity_of_plate(self, plate: str) -> int | None:
        """The identity a plate text was last read on (None if never)."""
        found: Any = self.client.hget(f"{self.prefix}plates", plate)
        return int(found) if found is not None else None

    def record(self, identity: int) -> dict[str, str]:
        """The identity's record, decoded and completed (empty when unknown)."""
        raw: Any = self.client.hgetall(f"{self.prefix}id:{identity}")
        return complete_record({k.decode(): v.decode() for k, v in raw.items()})

    def records(self, identities: Sequence[int], *, complete: bool = True) -> list[dict[str, str]]:
        """Records of several identities in one round trip (empty dicts for unknown ones);
        ``complete=False``: as stored (see :func:`record_fields`)."""
        pipe = self.client.pipeline(transaction=False)
        for identity in identities:
            pipe.hgetall(f"{self.prefix}id:{identity}")
        raw = [{k.decode(): v.decode() for k, v in r.items()} for r in pipe.execute()]
        return [complete_record(r) for r in raw] if complete else raw

    def exemplars(self, library: str, identity: int) -> F32:
        """``(K, D)`` exemplars of one identity in one library (K may be 0)."""
        blob: Any = self.client.get(f"{self.prefix}ex:{library}:{identity}") or b""
        return unpack(blob, library)

    def exemplar_blobs(self, library: str, identities: Sequence[int]) -> list[bytes]:
        """Raw exemplar blobs of several identities (``b''`` where none), one MGET."""
        if not identities:
            return []
        keys = [f"{self.prefix}ex:{library}:{identity}" for identity in identities]
        blobs: Any = self.client.mget(keys)
        return [blob or b"" for blob in blobs]

    def exemplars_with_lists(self, library: str, identities: Sequence[int]) -> list[tuple[bytes, str]]:
        """Exemplar blobs and their IVF lists ("3,17"; "" when not known) of several identities."""
        if not identities:
            return []
        pipe = self.client.pipeline(transaction=False)
        pipe.mget([f"{self.prefix}ex:{library}:{identity}" for identity in identities])
        pipe.hmget(f"{self.prefix}lists:{library}", [str(identity) for identity in identities])
        blobs, lists = pipe.execute()
        return [(b or b"", (lst or b"").decode()) for b, lst in zip(blobs, lists, strict=True)]

    def all_lists(self, library: str) -> dict[int, str]:
        """Every known IVF list string of a library (read with HSCAN, so Redis keeps serving)."""
        out: dict[int, str] = {}
        for key, value in self.client.hscan_iter(f"{self.prefix}lists:{library}", count=20_000):
            out[int(key)] = value.decode()
        return out

    def library_size(self, library: str) -> int:
        """Identities with exemplars in ``library`` (a key scan; nothing is read)."""
        keys: Any = self.client.scan_iter(f"{self.prefix}ex:{library}:*", count=5000)
        return sum(1 for _ in keys)

    def last_seen(self, identities: Sequence[int], batch: int = 5000) -> list[float]:
        """When each identity was last seen (its first sighting when seen once), pipelined."""
        out: list[float] = []
        for start in range(0, len(identities), batch):
            pipe = self.client.pipeline(transaction=False)
            for identity in identities[start : start + batch]:
                pipe.hmget(f"{self.prefix}id:{identity}", "last_ts", "first_ts")
            out += [float(last or first) for last, first in pipe.execute() if last or first]
        return out

    def last_id(self) -> int:
        """The highest identity number handed out so far (0 when none)."""
        value: Any = self.client.get(f"{self.prefix}next")
        return int(value or 0)

    def identities(self) -> list[int]:
        """Every enrolled identity number, ascending."""
        keys: Any = self.client.scan_iter(f"{self.prefix}id:*", count=5000)
        return sorted(int(k.decode().rsplit(":", 1)[1]) for k in keys)

    def changes_since(self, position: str, count: int = 10_000) -> list[tuple[str, str, int, list[str]]]:
        """Up to ``count`` stream entries after ``position``: ``(position, op, identity, libraries)``."""
        entries: Any = self.client.xrange(f"{self.prefix}changes", min=f"({position}", max="+", count=count)
        out = []
        for entry_id, fields in entries:
            libraries = fields[b"libraries"].decode().split(",") if fields[b"libraries"] else []
            out.append((entry_id.decode(), fields[b"op"].decode(), int(fields[b"id"]), libraries))
        return out

    def last_position(self) -> str:
        """Position of the newest change ('0-0' when none)."""
        last: Any = self.client.xrevrange(f"{self.prefix}changes", count=1)
        return str(last[0][0].decode()) if last else "0-0"

    def first_position(self) -> str:
        """Position of the oldest change the (trimmed) stream still holds ('0-0' when none)."""
        first: Any = self.client.xrange(f"{self.prefix}changes", count=1)
        return str(first[0][0].decode()) if first else "0-0"

    def has_position(self, position: str) -> bool:
        """Whether the change stream holds an entry at ``position``."""
        found: Any = self.client.xrange(f"{self.prefix}changes", min=position, max=position, count=1)
        return bool(found)

    def memory_bytes(self) -> int:
        """Memory the Redis server uses (``INFO memory``: ``used_memory``)."""
        info: Any = self.client.info("memory")
        return int(info["used_memory"])


def pack_many(vectors: npt.ArrayLike, library: str) -> bytes:
    """One feature ``(D,)`` or several ``(K, D)`` of a library as float32 bytes, end to end.

    Raises:
        ValueError: Unknown library, wrong length, no rows, or a non-finite value.
    """
    if library not in LIBRARIES:
        raise ValueError(f"unknown library {library!r}; one of {', '.join(LIBRARIES)}")
    array = np.asarray(vectors, np.float32)
    dim = LIBRARIES[library]
    if array.ndim not in (1, 2) or array.shape[-1] != dim or array.size == 0:
        raise ValueError(f"{library} features must have {dim} values per row, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{library} features hold NaN or infinite values")
    return array.astype("<f4").tobytes()


def unpack(blob: bytes, library: str) -> F32:
    """``(K, D)`` float32 features from a stored blob.

    Raises:
        ValueError: The blob's length is not a whole number of features.
    """
    dim = LIBRARIES[library]
    if len(blob) % (4 * dim):
        raise ValueError(
            f"{library} exemplar blob of {len(blob)} bytes is not a whole number of {dim}-d features"
        )
    return np.frombuffer(blob, "<f4").reshape(-1, dim).astype(np.float32)
