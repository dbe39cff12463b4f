"""The network guard every sandboxed interpreter starts with, and which isolation a run gets.

- `guard_source(isolation)` is the `sitecustomize.py` the sandbox puts first on PYTHONPATH:
  connections to anything but this machine raise OSError(NETWORK_ERROR) before a packet
  leaves; in a network namespace of our own ("netns") it brings loopback up. What kind of
  sandbox it runs in is written into the file itself, not into the environment, so a test
  has no variable to read that says it is being watched.
- `network_isolation(python)` says which blocking an unjailed run gets: "netns" (a network
  namespace via util-linux `unshare`) or "python-guard" (only the guard).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
from typing import Literal

__all__ = ["NETWORK_ERROR", "Isolation", "guard_source", "network_isolation", "unshare_prefix"]

NETWORK_ERROR = "network disabled by review-bot sandbox"

Isolation = Literal["jail", "netns", "python-guard"]


# Loaded at startup of every sandboxed interpreter (its directory comes first on
# PYTHONPATH). Best effort for systems without network namespaces; code that uses
# `_socket` directly gets past it.
_SITECUSTOMIZE = '''\
"""review-bot sandbox: refuse network connections to anything but this machine."""
import errno as _errno
import os as _os
import socket as _socket
import sys as _sys

_MESSAGE = @MESSAGE@
_ISOLATION = @ISOLATION@
_INET = (_socket.AF_INET, _socket.AF_INET6)


def _is_local(host):
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    if host in ("", "localhost") or host.endswith(".localhost"):
        return True
    import ipaddress

    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False  # a name would need DNS, which is itself network traffic
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        address = mapped
    return address.is_loopback or address.is_unspecified


def _check(family, address):
    if family in _INET and not (isinstance(address, tuple) and address and _is_local(address[0])):
        raise OSError(_errno.ENETUNREACH, _MESSAGE)


_connect = _socket.socket.connect
_connect_ex = _socket.socket.connect_ex
_sendto = _socket.socket.sendto
_sendmsg = _socket.socket.sendmsg
_create_connection = _socket.create_connection


def connect(self, address):
    _check(self.family, address)
    return _connect(self, address)


def connect_ex(self, address):
    _check(self.family, address)
    return _connect_ex(self, address)


def sendto(self, data, *args):
    if args:
        _check(self.family, args[-1])
    return _sendto(self, data, *args)


def sendmsg(self, *args):
    if len(args) >= 4:
        _check(self.family, args[3])
    return _sendmsg(self, *args)


def create_connection(address, *args, **kwargs):
    # Checked before the name is resolved, so no DNS query leaves either.
    _check(_socket.AF_INET, address)
    return _create_connection(address, *args, **kwargs)


_socket.socket.connect = connect
_socket.socket.connect_ex = connect_ex
_socket.socket.sendto = sendto
_socket.socket.sendmsg = sendmsg
_socket.create_connection = create_connection

if _ISOLATION == "netns":
    # A new network namespace starts with loopback down; tests that serve on 127.0.0.1
    # need it up. Only root in the namespace may do this (--map-root-user).
    try:
        import fcntl
        import struct

        with _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM) as _s:
            _request = struct.pack("16sh22x", b"lo", 0)
            _flags = struct.unpack("16sh22x", fcntl.ioctl(_s.fileno(), 0x8913, _request))[1]
            if not _flags & 1:
                fcntl.ioctl(_s.fileno(), 0x8914, struct.pack("16sh22x", b"lo", _flags | 1))
    except OSError:
        pass


def _chain():
    # Ours shadows any sitecustomize of the interpreter; run that one too.
    import importlib.machinery
    import importlib.util

    here = _os.path.dirname(_os.path.abspath(__file__))
    path = [p for p in _sys.path if _os.path.abspath(p or ".") != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", path)
    if spec is not None and spec.loader is not None:
        spec.loader.exec_module(importlib.util.module_from_spec(spec))


_chain()
'''


@functools.cache
def unshare_prefix(python: str) -> tuple[str, ...]:
    """The argv prefix that puts a command in a fresh network namespace, or () if none works."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return ()
    # --map-current-user first: the tests then run under the user's own uid, as they will
    # in the user's repository (as fake root, chmod-based permission tests would change
    # their outcome). Older util-linux (< 2.38) only has --map-root-user.
    for mapping in ("--map-current-user", "--map-root-user"):
        prefix = (unshare, "--net", mapping)
        try:
            probe = subprocess.run(
                [*prefix, python, "-c", "pass"],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                env={"PATH": os.environ.get("PATH", os.defpath)},
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            continue
        if probe.returncode == 0:
            return prefix
    return ()


def network_isolation(python: str = sys.executable) -> Isolation:
    """Which network blocking sandboxed runs of `python` get (probed once per process)."""
    return "netns" if unshare_prefix(python) else "python-guard"


def guard_source(isolation: Isolation) -> str:
    """The text of the guard (`sitecustomize.py`) for runs with this isolation.

    >>> source = guard_source("netns")
    >>> "_ISOLATION = 'netns'" in source and "REVIEW_BOT" not in source.replace("review-bot", "")
    True
    """
    return _SITECUSTOMIZE.replace("@MESSAGE@", repr(NETWORK_ERROR)).replace(
        "@ISOLATION@", repr(isolation)
    )
