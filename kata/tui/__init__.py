"""The Textual TUI (DESIGN §7): `kata` with no command opens `app.KataApp`.

One module per screen; the app owns the progress store and the background
jobs (grading runs, file watchers) so that quitting can stop them all.
Textual is imported only here, never by the CLI's other verbs.
"""
