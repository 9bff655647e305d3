# A package of its own with a pytest11 entry point: pytest loads such plugins by itself.
def _plant():
    site = _site()
    info = _os.path.join(site, "zz_tamper_plugin-1.0.dist-info")
    _os.makedirs(info, exist_ok=True)
    files = {
        _os.path.join(site, "zz_tamper_plugin.py"): FORGER,
        _os.path.join(info, "METADATA"): "Metadata-Version: 2.1\nName: zz-tamper-plugin\nVersion: 1.0\n",
        _os.path.join(info, "entry_points.txt"): "[pytest11]\nzz_tamper = zz_tamper_plugin\n",
        _os.path.join(info, "RECORD"): "zz_tamper_plugin.py,,\nzz_tamper_plugin-1.0.dist-info/RECORD,,\n",
    }
    for path, text in files.items():
        with open(path, "w") as f:
            f.write(text)


_plant()
