"""``python3 -m attnflow plot|animate|reproduce ...``: the Python side of ``attnflow plot``,
``attnflow animate`` and ``attnflow reproduce`` (the C++ command line runs this module)."""
import sys


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    commands = {"plot": "attnflow.plot", "animate": "attnflow.animate",
                "reproduce": "attnflow.reproduce"}
    if not argv or argv[0] not in commands:
        print("usage: python3 -m attnflow {plot,animate,reproduce} OUTDIR [options]  (--help after the command)",
              file=sys.stderr)
        return 2
    import importlib
    return importlib.import_module(commands[argv[0]]).main(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
