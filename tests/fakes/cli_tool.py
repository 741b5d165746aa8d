"""A fake command-line converter for the launcher's tests: ``python -m tests.fakes.cli_tool MODE OUT [ARGS]``.

MODE: ok (writes y = 2x + 1 as ONNX to OUT and prints what it saw: argv, cwd, an env var, whether
TensorFlow is loaded), exit3, text-exit, raise, segv, hang, connect (tries the network).
"""
import json
import os
import signal
import socket
import sys
import time


def main() -> None:
    mode, out = sys.argv[1], sys.argv[2]
    print(json.dumps({"argv": sys.argv, "cwd": os.getcwd(), "env": os.environ.get("FAKE_CLI_ENV"),
                      "name": __name__, "stdin": sys.stdin.read(), "tensorflow": "tensorflow" in sys.modules}))
    print("fake-cli: on stderr", file=sys.stderr)
    if mode == "ok":
        from tests.fakes.converters import tiny_onnx

        opset = int(sys.argv[3]) if len(sys.argv) > 3 else 13
        with open(out, "wb") as fh:
            fh.write(tiny_onnx(opset).SerializeToString())
    elif mode == "exit3":
        sys.exit(3)
    elif mode == "text-exit":
        sys.exit("error: unrecognized arguments: --fold_const")
    elif mode == "raise":
        raise ValueError("make_sure failure: Opset 99 is not supported yet")
    elif mode == "segv":
        os.kill(os.getpid(), signal.SIGSEGV)
        time.sleep(30)
    elif mode == "hang":
        time.sleep(600)
    elif mode == "connect":
        socket.create_connection(("192.0.2.1", 9), timeout=3)
        print("connected")


if __name__ == "__main__":
    main()
