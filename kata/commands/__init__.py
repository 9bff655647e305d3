"""One module per group of `kata` verbs; each exposes `register(subparsers)`.

Modules here must import only argparse-level things at import time so that
`kata --help` stays fast; heavy imports go inside the handlers.
"""
