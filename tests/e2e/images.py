"""Root images made by the tests from a few host files: dash and the
libraries it loads, an os-release and marker files of the image's own. The
same content packs as a directory tree, an OCI image layout (a directory, or
a tarball of one) and a docker save tarball. Packed images have two layers;
the second removes a file of the first (.wh.), empties a directory of it
(.wh..wh..opq) and adds files, so that whiteouts are seen at work."""
import gzip
import hashlib
import io
import json
import os
import pathlib
import re
import subprocess
import tarfile

OS_RELEASE = 'PRETTY_NAME="brig test image"\nID=brigtest\n'


def _dash_and_libs():
    """(path in the image, host file) for dash, its libraries and its loader."""
    out = subprocess.run(["ldd", "/usr/bin/dash"], capture_output=True, text=True,
                         check=True).stdout
    files = [("usr/bin/dash", "/usr/bin/dash")]
    loader = None
    for line in out.splitlines():
        m = re.search(r"=> (/\S+)", line) or re.match(r"\s*(/\S+)", line)
        if not m:
            continue
        host = m.group(1)
        real = os.path.realpath(host)
        files.append(("usr/lib/" + os.path.basename(os.path.dirname(real)) + "/"
                      + os.path.basename(real), real))
        if "=>" not in line:
            loader = (host.lstrip("/"), "/usr/lib/" + os.path.basename(os.path.dirname(real))
                      + "/" + os.path.basename(real))
    return files, loader


def _entries(layer):
    """A layer's entries: (path, kind, content or target, mode)."""
    if layer == 2:
        return [("etc/.wh.old-marker", "file", b"", 0o644),
                ("etc/new-marker", "file", b"upper layer\n", 0o644),
                ("opt/data/.wh..wh..opq", "file", b"", 0o644),
                ("opt/data/c", "file", b"c from the upper layer\n", 0o644)]
    files, loader = _dash_and_libs()
    dirs = sorted({os.path.dirname(p) for p, _ in files} | {"etc", "opt", "opt/data"}
                  | ({os.path.dirname(loader[0])} if loader else set()))
    entries = [(d, "dir", None, 0o755) for d in dirs if d]
    entries += [(p, "file", pathlib.Path(h).read_bytes(), 0o755) for p, h in files]
    entries += [("usr/bin/sh", "link", "dash", 0o777),
                ("bin", "link", "usr/bin", 0o777),
                ("lib", "link", "usr/lib", 0o777),
                ("etc/os-release", "file", OS_RELEASE.encode(), 0o644),
                ("etc/image-marker", "file", b"from the image\n", 0o644),
                ("etc/old-marker", "file", b"lower layer\n", 0o644),
                ("opt/data/a", "file", b"a\n", 0o644),
                ("opt/data/b", "file", b"b\n", 0o644)]
    if loader and not loader[0].startswith("usr/lib/"):
        entries.append((loader[0], "link", loader[1], 0o777))
    return entries


def layer_tar(layer, extra=()):
    """The layer's tar, reproducible byte for byte."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, kind, data, mode in list(_entries(layer)) + list(extra):
            info = tarfile.TarInfo(path)
            info.mode, info.mtime, info.uid, info.gid = mode, 0, 0, 0
            if kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif kind == "link":
                info.type, info.linkname = tarfile.SYMTYPE, data
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def write_tree(path, extra=()):
    """Layer 1 as a directory tree at path."""
    path = pathlib.Path(path)
    with tarfile.open(fileobj=io.BytesIO(layer_tar(1, extra))) as tar:
        tar.extractall(path)
    return path


def _sha(data):
    return hashlib.sha256(data).hexdigest()


def _json(obj):
    return json.dumps(obj, sort_keys=True).encode()


def _pack(files, out):
    """files {name: bytes} as a tarball at out."""
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(files[name]), 0o644, 0
            tar.addfile(info, io.BytesIO(files[name]))
    return pathlib.Path(out)


def oci_files(extra=(), corrupt_layer=None):
    """The files of an OCI layout: layer 1 gzipped, layer 2 plain."""
    layers = [gzip.compress(layer_tar(1, extra), mtime=0), layer_tar(2)]
    diff_ids = ["sha256:" + _sha(layer_tar(1, extra)), "sha256:" + _sha(layers[1])]
    config = _json({"architecture": "amd64", "os": "linux",
                    "rootfs": {"type": "layers", "diff_ids": diff_ids}})
    manifest = _json({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": "sha256:" + _sha(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                    "digest": "sha256:" + _sha(layers[0]), "size": len(layers[0])},
                   {"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": "sha256:" + _sha(layers[1]), "size": len(layers[1])}]})
    index = _json({"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json",
         "digest": "sha256:" + _sha(manifest), "size": len(manifest)}]})
    files = {"oci-layout": b'{"imageLayoutVersion": "1.0.0"}', "index.json": index}
    for blob in [config, manifest] + layers:
        files["blobs/sha256/" + _sha(blob)] = blob
    if corrupt_layer is not None:
        name = "blobs/sha256/" + _sha(layers[corrupt_layer])
        files[name] = files[name][:-1] + bytes([files[name][-1] ^ 1])
    return files


def write_oci_dir(path, **kwargs):
    path = pathlib.Path(path)
    for name, data in oci_files(**kwargs).items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_bytes(data)
    return path


def write_oci_tar(out, **kwargs):
    return _pack(oci_files(**kwargs), out)


def write_docker_save(out, extra=()):
    """docker save's format before Docker 25: <id>/layer.tar, <config sha>.json,
    manifest.json."""
    layers = [layer_tar(1, extra), layer_tar(2)]
    config = _json({"architecture": "amd64", "os": "linux",
                    "rootfs": {"type": "layers",
                               "diff_ids": ["sha256:" + _sha(t) for t in layers]}})
    files = {_sha(config) + ".json": config}
    names = []
    for i, tar in enumerate(layers):
        name = f"{_sha(tar)[:16]}{i}/layer.tar"
        files[name] = tar
        names.append(name)
    files["manifest.json"] = _json([{"Config": _sha(config) + ".json",
                                     "RepoTags": ["brig/test:1"], "Layers": names}])
    return _pack(files, out)
