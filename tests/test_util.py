"""Small shared helpers (``marginlive._util``)."""
import os
import threading

from marginlive._util import quiet_native_stderr


def test_quiet_stderr_overlapping_in_two_threads_gives_fd2_back(capfd):
    """Two threads' quiet blocks overlapping (A enters, B enters, A leaves, B leaves), as a server's
    frame threads build MediaPipe graphs at once: native writes inside are hidden, and fd 2 is the
    terminal's again afterwards, not /dev/null."""
    before = os.fstat(2).st_ino
    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()

    def first():
        with quiet_native_stderr():
            a_in.set()
            b_in.wait(5)
            os.write(2, b"hidden from A\n")
        a_out.set()

    def second():
        a_in.wait(5)
        with quiet_native_stderr():
            b_in.set()
            a_out.wait(5)
            os.write(2, b"hidden from B\n")

    threads = [threading.Thread(target=f) for f in (first, second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    os.write(2, b"shown\n")
    assert os.fstat(2).st_ino == before
    assert capfd.readouterr().err == "shown\n"


def test_quiet_stderr_nested_in_one_thread():
    before = os.fstat(2).st_ino
    with quiet_native_stderr():
        with quiet_native_stderr():
            assert os.fstat(2).st_ino != before
        assert os.fstat(2).st_ino != before       # the outer block still quiet
    assert os.fstat(2).st_ino == before
