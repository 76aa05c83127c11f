"""Serves one Gymnasium environment to pathnet-envs over stdin/stdout.

pathnet-envs runs this as `python -c <the text of this file>`. Every message either way is a
frame: a little-endian u32 byte count, then that many bytes, the first of which says what it is.

Requests:
    b"M" + JSON {"id": str, "kwargs": {...}}      gymnasium.make(id, **kwargs); once, first
    b"R" + u8 has_seed + u64 seed + JSON options  env.reset(seed=..., options=...); no JSON: None
    b"S" + u8 0 + i64 action                      env.step for a Discrete action space
    b"S" + u8 1 + f32 * n                         env.step for a Box action space
    b"T" + f64 * n                                assigns env.unwrapped.state
    b"C"                                          env.close(), then exit
Replies:
    b"O" + payload       success
    b"E" + traceback     the call raised; the environment is still there
    b"U" + message       the environment cannot do what was asked
Payloads: "M" a JSON description of the spaces; "R" an observation, then the info entries;
"S" f64 reward + u8 terminated + u8 truncated + an observation + info entries; "T" and
"C" nothing. An observation is u8 dtype (0 uint8, 1 float32, 2 float64) + u32 count + the
values, flattened in C order. The info dict keeps only its numeric and boolean scalars, each
as u16 key length + UTF-8 key + u8 kind (0 bool, 1 int, 2 float) + 8 bytes (i64 or f64), so
that floats arrive bit for bit; an environment without info costs nothing per step.
"""

import faulthandler
import json
import math
import os
import struct
import sys
import traceback

U32 = struct.Struct("<I")
SEED = struct.Struct("<BQ")
I64 = struct.Struct("<q")
STEP_HEAD = struct.Struct("<dBB")
OBS_HEAD = struct.Struct("<BI")
KEY_LEN = struct.Struct("<H")
INFO_INT = struct.Struct("<Bq")
INFO_FLOAT = struct.Struct("<Bd")
I64_RANGE = range(-(2**63), 2**63)


class Unsupported(Exception):
    """Raised for requests the environment cannot serve; replied with b"U", no traceback."""


def read_frame(inp):
    head = inp.read(4)
    if len(head) < 4:
        return None
    (n,) = U32.unpack(head)
    body = inp.read(n)
    if len(body) < n:
        return None
    return body


def write_frame(out, *parts):
    out.write(U32.pack(sum(len(p) for p in parts)))
    for p in parts:
        out.write(p)
    out.flush()


class Bridge:
    def __init__(self):
        self.env = None
        self.np = None
        self.action_space = None
        self.closed = False

    def make(self, body):
        request = json.loads(body)
        env_id = request["id"]
        # Imported here, not at the top, so that a missing package is reported as a reply.
        import gymnasium as gym
        import numpy as np

        self.np = np
        if env_id.startswith("ALE/"):
            try:
                import ale_py

                gym.register_envs(ale_py)
            except ImportError:
                pass  # gymnasium.make then says that the ALE namespace is unknown
        self.env = gym.make(env_id, **request["kwargs"])
        spaces = gym.spaces
        self.action_space = self.env.action_space
        spec = self.env.spec
        description = {
            "gymnasium": gym.__version__,
            "max_episode_steps": spec.max_episode_steps if spec is not None else None,
            "observation": self.describe_observation(spaces, self.env.observation_space),
            "action": self.describe_action(spaces, self.action_space),
        }
        return json.dumps(description).encode()

    def bounds(self, low, high):
        np = self.np
        # Hex of little-endian float32, because JSON has no infinities.
        return (
            np.asarray(low, dtype="<f4").ravel().tobytes().hex(),
            np.asarray(high, dtype="<f4").ravel().tobytes().hex(),
        )

    def describe_observation(self, spaces, space):
        np = self.np
        if isinstance(space, spaces.Box):
            low, high = space.low, space.high
        elif isinstance(space, spaces.Discrete):
            low, high = space.start, space.start + space.n - 1
        elif isinstance(space, spaces.MultiBinary):
            low, high = np.zeros(space.shape), np.ones(space.shape)
        elif isinstance(space, spaces.MultiDiscrete):
            low, high = space.start, space.start + space.nvec - 1
        else:
            raise Unsupported(
                f"observation space {space} is not supported "
                "(only Box, Discrete, MultiBinary and MultiDiscrete are)"
            )
        low, high = self.bounds(low, high)
        return {"shape": list(space.shape), "low": low, "high": high, "repr": str(space)}

    def describe_action(self, spaces, space):
        np = self.np
        if isinstance(space, spaces.Discrete):
            return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
        if isinstance(space, spaces.Box) and np.issubdtype(space.dtype, np.floating):
            low, high = self.bounds(space.low, space.high)
            return {"type": "Box", "shape": list(space.shape), "low": low, "high": high}
        raise Unsupported(
            f"action space {space} is not supported (only Discrete and floating-point Box are)"
        )

    def observation(self, obs):
        np = self.np
        a = np.asarray(obs)
        if a.dtype == np.uint8:
            code = 0
        elif a.dtype == np.float32:
            code, a = 1, a.astype("<f4", copy=False)
        else:
            code, a = 2, a.astype("<f8")
        return OBS_HEAD.pack(code, a.size) + a.tobytes()

    def info(self, info):
        np = self.np
        parts = []
        for key, value in info.items():
            if isinstance(value, (np.ndarray, np.generic)) and value.ndim == 0:
                value = value.item()
            if isinstance(value, bool):
                entry = INFO_INT.pack(0, value)
            elif isinstance(value, int) and value in I64_RANGE:
                entry = INFO_INT.pack(1, value)
            elif isinstance(value, (int, float)) and math.isfinite(value):
                entry = INFO_FLOAT.pack(2, value)
            else:
                continue  # not a scalar our Info can hold
            key = str(key).encode()
            parts.append(KEY_LEN.pack(len(key)) + key + entry)
        return b"".join(parts)

    def reset(self, body):
        has_seed, seed = SEED.unpack_from(body)
        rest = body[SEED.size :]
        options = json.loads(rest) if rest else None
        obs, info = self.env.reset(seed=seed if has_seed else None, options=options)
        return self.observation(obs) + self.info(info)

    def step(self, body):
        np = self.np
        if body[0] == 0:
            (action,) = I64.unpack_from(body, 1)
        else:
            space = self.action_space
            action = np.frombuffer(body, dtype="<f4", offset=1)
            action = action.astype(space.dtype).reshape(space.shape)
        obs, reward, terminated, truncated, info = self.env.step(action)
        head = STEP_HEAD.pack(float(reward), bool(terminated), bool(truncated))
        return head + self.observation(obs) + self.info(info)

    def set_state(self, body):
        np = self.np
        unwrapped = self.env.unwrapped
        if not hasattr(unwrapped, "state"):
            raise Unsupported(f"{type(unwrapped).__name__} has no `state` attribute to set")
        new = np.frombuffer(body, dtype="<f8")
        if unwrapped.state is None:  # before the first reset
            unwrapped.state = new.copy()
            return b""
        old = np.asarray(unwrapped.state)
        if old.size != new.size:
            raise ValueError(f"state must have {old.size} values, got {new.size}")
        dtype = old.dtype if old.dtype.kind == "f" else np.float64
        unwrapped.state = new.astype(dtype).reshape(old.shape)
        return b""

    def close(self, body):
        if self.env is not None:
            self.env.close()
        self.closed = True
        return b""


def main():
    # The protocol owns the original stdout. Anything else written to file descriptor 1, by
    # Python or by an environment's C code (ALE prints a banner), goes to stderr instead.
    # A crash in an environment's C code then still leaves a Python traceback on stderr,
    # which the Rust side puts in its error.
    faulthandler.enable()
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    try:
        import fcntl

        # An Atari frame (100 KB) then fits the pipe in one go (Linux; best effort).
        fcntl.fcntl(out.fileno(), fcntl.F_SETPIPE_SZ, 1 << 20)
    except (ImportError, AttributeError, OSError):
        pass
    sys.stdout = sys.stderr
    inp = sys.stdin.buffer
    bridge = Bridge()
    handlers = {
        b"M": bridge.make,
        b"R": bridge.reset,
        b"S": bridge.step,
        b"T": bridge.set_state,
        b"C": bridge.close,
    }
    while not bridge.closed:
        request = read_frame(inp)
        if request is None:
            break  # the Rust side is gone
        op, body = request[:1], request[1:]
        try:
            reply = handlers[op](body)
        except Unsupported as e:
            write_frame(out, b"U", str(e).encode())
        except Exception:
            write_frame(out, b"E", traceback.format_exc().encode())
        else:
            write_frame(out, b"O", reply)


main()
