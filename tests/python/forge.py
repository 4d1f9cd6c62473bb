"""Hand edits of a bundle's metadata that keep every checksum valid (docs/format.md 4.0):
what a buggy or hostile writer could leave, for tests of what readers do with it."""
import json
import os
import zlib

SEAL_KEY = '"checksum": "crc32:'


def seal_json(text: str) -> bytes:
    """A JSON object's text with octavo's checksum seal as its last key."""
    body = text.rstrip().removesuffix("}").rstrip()
    body += ("\n " if body.endswith("{") else ",\n ") + SEAL_KEY
    return (body + f"{zlib.crc32(body.encode()):08x}" + '"\n}\n').encode()


def rewrite_manifest(bundle_path, edit) -> str:
    """Rewrite the manifest CURRENT names through ``edit(dict)``; re-seal it and CURRENT."""
    cur_path = os.path.join(bundle_path, "CURRENT")
    cur = json.loads(open(cur_path).read())
    mpath = os.path.join(bundle_path, cur["manifest"])
    m = json.loads(open(mpath).read())
    m.pop("checksum", None)
    edit(m)
    text = seal_json(json.dumps(m, indent=1))
    open(mpath, "wb").write(text)
    cur.pop("checksum", None)
    cur["size"] = len(text)
    cur["crc32"] = zlib.crc32(text)
    open(cur_path, "wb").write(seal_json(json.dumps(cur)))
    return mpath
