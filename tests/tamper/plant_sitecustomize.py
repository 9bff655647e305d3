# sitecustomize.py in site-packages: imported by every interpreter of this install at startup.
with open(_os.path.join(_site(), "sitecustomize.py"), "w") as _f:
    _f.write(FORGER)
