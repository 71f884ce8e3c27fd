"""A started server keeps what start-up made out of the collector's full passes."""

from __future__ import annotations

import gc
import socket
import threading
import time
import weakref

import uvicorn

from replicast.app import create_app
from replicast.config import Settings
from replicast.server import uvicorn_server


class Cycle:
    me: object


def test_start_up_objects_are_frozen_once_the_server_has_started(tmp_path):
    # Each full pass would otherwise walk the modules, the app and its services again,
    # holding the event loop for tens of milliseconds every few thousand requests.
    gc.unfreeze()
    app = create_app(Settings(data_dir=tmp_path), announce=lambda text: None)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, lifespan="on", log_config=None, log_level="critical")
    server = uvicorn_server(app, config, freeze=True)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    gc.disable()  # until it has started: only the server's start-up may collect this cycle
    try:
        garbage = Cycle()
        garbage.me = garbage
        left_over = weakref.ref(garbage)
        del garbage
        thread.start()
        give_up = time.monotonic() + 30
        while not server.started and time.monotonic() < give_up and thread.is_alive():
            time.sleep(0.02)
        assert server.started
        while gc.get_freeze_count() == 0 and time.monotonic() < give_up:
            time.sleep(0.02)  # (frozen on the server's thread, just after it started)
        assert gc.get_freeze_count() > 10000
        assert left_over() is None  # garbage is collected, not frozen for ever
    finally:
        gc.enable()
        server.should_exit = True
        thread.join(30)
        listener.close()
        gc.unfreeze()  # this test process goes on collecting as before


def test_a_server_hosted_in_another_process_leaves_its_heap_alone(tmp_path):
    # replicast run hosts a server in the CLI's own process: that heap is not the
    # server's to freeze.
    gc.unfreeze()
    app = create_app(Settings(data_dir=tmp_path), announce=lambda text: None)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, lifespan="on", log_config=None, log_level="critical")
    server = uvicorn_server(app, config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        give_up = time.monotonic() + 30
        while not server.started and time.monotonic() < give_up and thread.is_alive():
            time.sleep(0.02)
        assert server.started
        time.sleep(0.5)  # longer than freezing takes, were it done
        assert gc.get_freeze_count() == 0
    finally:
        server.should_exit = True
        thread.join(30)
        listener.close()
