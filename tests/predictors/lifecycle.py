"""Predictors that misbehave: crash, exit, hang, ignore cancels; and one that is async."""

import asyncio
import ctypes
import logging
import os
import signal
import sys
import time

from replicast import BaseRunner, CancelationException, Input, current_scope

SETUPS = 0


class Async(BaseRunner):
    """An async runner: run() is a coroutine."""

    async def setup(self) -> None:
        await asyncio.sleep(0.01)
        print("async setup done")

    async def run(self, seconds: float = Input(default=0.0, ge=0, le=60)) -> str:
        print("sleeping")
        await asyncio.sleep(seconds)
        return f"slept {seconds}"


class Crashes(BaseRunner):
    """Fails in the way it is told to; reports its process and how often it was set up."""

    def setup(self) -> None:
        global SETUPS
        SETUPS += 1
        print(f"setup number {SETUPS} in process {os.getpid()}")

    def run(self, how: str = Input(default="no", choices=[
            "no", "raise", "exit", "os-exit", "segfault", "kill"])) -> dict:
        print(f"about to {how}")
        if how == "raise":
            raise ValueError("the model raised this")
        if how == "exit":
            sys.exit(3)
        if how == "os-exit":
            os._exit(7)
        if how == "segfault":
            ctypes.string_at(0)
        if how == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        return {"pid": os.getpid(), "setups": SETUPS}


class Hangs(BaseRunner):
    """Sleeps far longer than anyone waits."""

    def run(self, seconds: float = 3600.0) -> str:
        print("going to sleep")
        time.sleep(seconds)
        return "woke up"


class Stubborn(BaseRunner):
    """Ignores cancels: only killing its process stops it."""

    def setup(self) -> None:
        print(f"stubborn setup in process {os.getpid()}")

    def run(self, stubborn: bool = True) -> int:
        if not stubborn:
            return os.getpid()
        print("refusing to stop")
        while True:
            try:
                time.sleep(3600)
            except CancelationException:
                print("ignored a cancel")


class Chatty(BaseRunner):
    """Logs every way a model can, and records metrics."""

    def run(self, lines: int = 3) -> str:
        logger = logging.getLogger("chatty")
        for number in range(lines):
            print(f"print {number}")
            logger.info("logging %d", number)
            sys.stderr.write(f"stderr {number}\n")
            os.write(1, f"fd {number}\n".encode())
        self.record_metric("lines", lines)
        self.record_metric("calls", 1, mode="incr")
        self.record_metric("calls", 1, mode="incr")
        current_scope().record_metric("timing.total", 0.5)
        current_scope().metrics.record("seen", "a", mode="append")
        current_scope().metrics.record("seen", "b", mode="append")
        return "done"


class SlowSetup(BaseRunner):
    """Takes a while to set up; predictions made meanwhile wait for it."""

    def setup(self) -> None:
        print("warming up")
        time.sleep(3)
        self.ready_at = time.time()
        print("warm")

    def run(self) -> float:
        return self.ready_at


class Redirects(BaseRunner):
    """Sends its own stdout elsewhere, as some libraries do."""

    def run(self) -> str:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        print("this goes nowhere")
        return "still answered"


class Forks(BaseRunner):
    """Leaves a child process of its own behind (which holds the pipes open)."""

    def setup(self) -> None:
        import subprocess

        self.helper = subprocess.Popen(["sleep", "300"])
        if os.fork() == 0:  # a bare fork keeps every pipe of the parent
            time.sleep(300)
            os._exit(0)

    def run(self, die: bool = False) -> int:
        if die:
            os._exit(9)
        return self.helper.pid


class DiesSoon(BaseRunner):
    """Sets up, then dies a moment later, every time."""

    def setup(self) -> None:
        import threading

        threading.Timer(0.2, lambda: os._exit(3)).start()

    def run(self) -> str:
        return "too late"


class Collected(BaseRunner):
    """Reports how many objects the collector's full passes leave alone (gc.freeze)."""

    def setup(self) -> None:
        self.loaded = [{"weights": index} for index in range(10000)]

    def run(self) -> int:
        import gc

        return gc.get_freeze_count()


class TimerSlack(BaseRunner):
    """Reports the timer slack (ns) of its process and of a process it starts."""

    def run(self) -> list[int]:
        import pathlib
        import subprocess

        own = int(pathlib.Path("/proc/self/timerslack_ns").read_text())
        report = "print(open('/proc/self/timerslack_ns').read())"
        started = subprocess.run([sys.executable, "-c", report], capture_output=True,
                                 text=True, check=True)
        return [own, int(started.stdout)]


class Talks(BaseRunner):
    """Prints its words; a thread of its own prints ``then`` a moment after the prediction."""

    def run(self, words: str = "", then: str = "") -> str:
        import threading

        print(words)
        if then:
            threading.Timer(0.05, lambda: sys.stdout.write(then)).start()
        return "ok"
