"""What a Plugin API call checks in the cache before it runs, in ONE round trip to Redis (one EVALSHA):

- it counts the call against this minute's and this UTC day's allowance (the keys and limits are `limits.py`'s);
- it reads the installation's state token, which changes whenever the installation's status, granted scopes or
  version change, so that the gateway may reuse the installation it read earlier in this process only while the
  token is unchanged (`gateway.load_context`);
- for a run the platform may cut off (a function, an event handler, a widget: not a lifecycle hook), it reads the
  installation's revocation flag, set while it is being deactivated or uninstalled.

The state token is a random string: `installation_changed` replaces it at once (so calls in flight, in every process,
stop trusting what they read) and again when the transaction that changed the row commits (so that nobody keeps a
copy read between the first replacement and the commit). A missing token (expired, flushed) is created by the
script itself, and a new random token can never match a copy read before: losing the key costs a database read,
never a stale answer.

On cache backends other than Redis (the embedded default: local memory, one process) the same is done with the
portable cache calls.
"""

from __future__ import annotations

import secrets
import time
import weakref
from dataclasses import dataclass

from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from django.db import transaction

from runtime.plugin_api import limits

REVOKED_KEY = "runtime:revoked:{}"
STATE_KEY = "plugin:state:{}"
STATE_TTL = 86400  # a token unused for a day is forgotten; the next call creates a new one

# KEYS: minute counter, day counter, state token, revocation flag (or an unused key); ARGV: minute TTL, day TTL,
# a fresh token (used if none exists), its TTL, 1 to read the revocation flag.
_ADMIT = """
local minute = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[1], 'NX')
local day = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[2], 'NX')
local state = redis.call('GET', KEYS[3])
if not state then
  state = ARGV[3]
  redis.call('SET', KEYS[3], state, 'EX', ARGV[4])
end
local revoked = 0
if ARGV[5] == '1' then
  revoked = redis.call('EXISTS', KEYS[4])
end
return {minute, day, state, revoked}
"""


@dataclass(frozen=True)
class Admission:
    calls_this_minute: int
    calls_today: int
    state: str  # the installation's current state token
    revoked: bool


# One redis-py client (and its registered script) per Django cache client: building a client copies ~170 response
# callbacks, too dear for every call. Weak keys: Django makes a cache client per thread.
_scripts: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _redis() -> RedisCache | None:
    backend = caches["default"]
    return backend if isinstance(backend, RedisCache) else None


def _script(backend: RedisCache):
    script = _scripts.get(backend._cache)
    if script is None:
        client = backend._cache.get_client(None, write=True)
        script = _scripts[backend._cache] = client.register_script(_ADMIT)
    return script


def admit(installation_id: str, *, revocable: bool) -> Admission:
    """Count one call and read the installation's state token (and, if `revocable`, its revocation flag)."""
    now = time.time()
    minute_key, day_key = limits.minute_key(installation_id, now), limits.day_key("rate", installation_id)
    state_key, revoked_key = STATE_KEY.format(installation_id), REVOKED_KEY.format(installation_id)
    backend = _redis()
    if backend is not None:
        key = backend.make_and_validate_key
        minute, day, state, revoked = _script(backend)(
            keys=[key(minute_key), key(day_key), key(state_key), key(revoked_key)],
            args=[limits.MINUTE_TTL, limits.DAY_TTL, secrets.token_hex(8), STATE_TTL, 1 if revocable else 0],
        )
        return Admission(int(minute), int(day), state.decode() if isinstance(state, bytes) else str(state),
                         bool(revoked))
    minute, day = limits.incr_many([(minute_key, 1, limits.MINUTE_TTL), (day_key, 1, limits.DAY_TTL)])
    cache.add(state_key, secrets.token_hex(8), timeout=STATE_TTL)
    state = cache.get(state_key) or ""
    return Admission(int(minute), int(day), state, bool(revocable and cache.get(revoked_key)))


def _new_state(installation_id: str) -> None:
    key, token = STATE_KEY.format(installation_id), secrets.token_hex(8)
    backend = _redis()
    if backend is not None:
        # Raw, like the script writes it (Django's cache.set would pickle the string).
        backend._cache.get_client(None, write=True).set(backend.make_and_validate_key(key), token, ex=STATE_TTL)
    else:
        cache.set(key, token, timeout=STATE_TTL)


def installation_changed(installation_id) -> None:
    """The installation's status, scopes or version changed (or are changing in the open transaction): every
    process re-reads it on its next Plugin API call. Services call this where they write those columns."""
    installation_id = str(installation_id)
    _new_state(installation_id)
    transaction.on_commit(lambda: _new_state(installation_id))


def revoke(installation_id) -> None:
    """Cut the Plugin API off for functions, event handlers and widgets in flight, in every process (deactivation,
    uninstallation); lifecycle hooks keep it."""
    cache.set(REVOKED_KEY.format(installation_id), True, timeout=None)


def restore(installation_id) -> None:
    cache.delete(REVOKED_KEY.format(installation_id))
