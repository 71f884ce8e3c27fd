"""A started server keeps what start-up made out of the collector's full passes."""

from __future__ import annotations

import gc
import time
import weakref

from replicast.app import create_app
from replicast.config import Settings
from tests.support.threaded import threaded_server


class Cycle:
    me: object


def test_start_up_objects_are_frozen_once_the_server_has_started(tmp_path):
    # Each full pass would otherwise walk the modules, the app and its services again,
    # holding the event loop for tens of milliseconds every few thousand requests.
    gc.unfreeze()
    app = create_app(Settings(data_dir=tmp_path), announce=lambda text: None)
    left_over = None

    def garbage_then_start() -> None:
        nonlocal left_over
        gc.disable()  # until it has started: only the server's start-up may collect this
        garbage = Cycle()
        garbage.me = garbage
        left_over = weakref.ref(garbage)

    try:
        with threaded_server(app, garbage_then_start, freeze=True):
            give_up = time.monotonic() + 30
            while gc.get_freeze_count() == 0 and time.monotonic() < give_up:
                time.sleep(0.02)  # (frozen on the server's thread, just after it started)
            assert gc.get_freeze_count() > 10000
            assert left_over is not None and left_over() is None  # collected, not frozen
    finally:
        gc.enable()
        gc.unfreeze()  # this test process goes on collecting as before


def test_a_server_hosted_in_another_process_leaves_its_heap_alone(tmp_path):
    # replicast run hosts a server in the CLI's own process: that heap is not the
    # server's to freeze.
    gc.unfreeze()
    app = create_app(Settings(data_dir=tmp_path), announce=lambda text: None)
    with threaded_server(app):
        time.sleep(0.5)  # longer than freezing takes, were it done
        assert gc.get_freeze_count() == 0
