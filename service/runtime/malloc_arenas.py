"""Cap glibc's malloc arenas before the server starts its threads.

glibc gives each thread that meets a locked arena a new one, up to 8 per core, and an arena
keeps the memory its peak held: with uvicorn's thread pool decoding images of many sizes, RSS
crept up in steps for half an hour (bench/soak.py: 618 -> 846 MB, still rising) although
nothing leaked; with two arenas the same soak levelled off at 567 MB after 15 minutes. An
explicit ``MALLOC_ARENA_MAX`` in the environment wins (glibc read it at start-up).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os

logger = logging.getLogger(__name__)

M_ARENA_MAX = -8  # from glibc's malloc.h
DEFAULT_ARENAS = 2


def cap_malloc_arenas(arenas: int = DEFAULT_ARENAS) -> bool:
    """``mallopt(M_ARENA_MAX, arenas)`` unless MALLOC_ARENA_MAX is set or this is not glibc;
    True when the cap was set here."""
    if "MALLOC_ARENA_MAX" in os.environ:
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # musl and others: no mallopt, nothing to do
        return False
    if mallopt(M_ARENA_MAX, arenas) != 1:
        logger.warning("mallopt(M_ARENA_MAX, %d) was refused; RSS may creep", arenas)
        return False
    return True
