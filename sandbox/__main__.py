"""`python -m sandbox`: the sandbox AWS on a loopback port, until Ctrl-C."""

import argparse
import contextlib
import sys

from sandbox.app import serve


def main(argv=None):
    parser = argparse.ArgumentParser(description="The sandbox AWS for Portcullis.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5055)
    args = parser.parse_args(argv)
    try:
        server = serve(args.host, args.port)
    except ValueError as error:
        parser.error(str(error))
    print(f"Sandbox AWS on http://{args.host}:{server.server_port}", file=sys.stderr, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
