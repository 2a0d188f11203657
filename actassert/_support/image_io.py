"""Reading natural images from files or cached http(s) URLs, and fitting them to a square."""

from __future__ import annotations

import hashlib
import io
import os
import re
from pathlib import Path

import numpy as np
import requests
from PIL import Image
from torchvision.transforms import InterpolationMode
from torchvision.transforms.v2 import functional as TF

from actassert.errors import ImageLoadError

__all__ = ["DEFAULT_CACHE_DIR", "cache_path", "fit_image", "is_url", "read_source"]

DEFAULT_CACHE_DIR = Path("~/.cache/actassert/images")
"""Where fetched images are kept when ``cache_dir`` is not given (``~`` expanded at use)."""

_SCHEMES = ("http://", "https://")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_url(source: str | os.PathLike[str]) -> bool:
    """True when ``source`` is a string that names a URL (``scheme://...``) rather than a path."""
    return isinstance(source, str) and _URL.match(source) is not None


def cache_path(url: str, cache_dir: str | os.PathLike[str] | None) -> Path:
    """The file that caches ``url``: ``<cache_dir>/<sha256 of the URL>``.

    Example:
        >>> cache_path("https://example.org/a.png", "/tmp/c").name[:12]
        '077c887d0943'
    """
    root = Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE_DIR.expanduser()
    return root / hashlib.sha256(url.encode("utf-8")).hexdigest()


def _fetch(url: str, timeout: float) -> bytes:
    fix = "check the URL in a browser, or download the file and pass its path"
    try:
        response = requests.get(url, timeout=timeout)
    except requests.exceptions.Timeout:
        raise ImageLoadError(f"{url}: no answer within timeout={timeout} s; raise timeout= or "
                             f"{fix}") from None
    except (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
            requests.exceptions.InvalidSchema) as err:
        raise ImageLoadError(f"{url!r} is not a valid URL ({err}); {fix}") from None
    except requests.exceptions.RequestException as err:
        what = "no answer within" if "timed out" in str(err) else "could not connect"
        raise ImageLoadError(f"{url}: {what} (timeout={timeout} s): {err}; {fix}") from None
    if response.status_code >= 400:
        raise ImageLoadError(f"{url}: the server answered HTTP {response.status_code} "
                             f"{response.reason}; {fix}")
    return response.content


def _decode(data: bytes, name: str, fix: str) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (OSError, Image.DecompressionBombError, ValueError) as err:
        raise ImageLoadError(f"{name}: not an image pillow can read ({type(err).__name__}: "
                             f"{err}); {fix}") from None
    return image.convert("RGB")


def read_source(source: str | os.PathLike[str], *, cache_dir: str | os.PathLike[str] | None,
                timeout: float) -> Image.Image:
    """Read one image (a path, or an http(s) URL through the cache) as an RGB pillow image.

    A URL is fetched only when its cache file is missing; the file is written (atomically) only
    after the bytes decoded as an image, so a bad answer is never cached.

    Raises:
        ImageLoadError: missing or unreadable file, bad URL, HTTP error, timeout, not an image.
    """
    if is_url(source):
        url = str(source)
        if not url.lower().startswith(_SCHEMES):
            raise ImageLoadError(f"{url!r}: only http:// and https:// URLs are fetched; download "
                                 "the file and pass its path instead")
        cached = cache_path(url, cache_dir)
        if cached.is_file():
            return _decode(cached.read_bytes(), url, f"delete the cache file {cached}")
        data = _fetch(url, timeout)
        image = _decode(data, url, "check that the URL points at the image itself, not a page")
        cached.parent.mkdir(parents=True, exist_ok=True)
        partial = cached.with_name(f"{cached.name}.{os.getpid()}.part")
        partial.write_bytes(data)
        os.replace(partial, cached)
        return image
    path = Path(source).expanduser()
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImageLoadError(f"{str(source)!r}: no such file (looked at {path.absolute()}); "
                             "check the path, or pass an http(s) URL") from None
    except IsADirectoryError:
        raise ImageLoadError(f"{str(source)!r} is a directory; pass the image files in it, "
                             "e.g. sorted(Path(dir).glob('*.jpg'))") from None
    except OSError as err:
        raise ImageLoadError(f"{str(source)!r}: cannot be read ({err.strerror or err}); check "
                             "its permissions") from None
    return _decode(data, str(source), "pass a PNG, JPEG or other file pillow can open")


def fit_image(image: Image.Image, size: int, fit: str) -> np.ndarray:
    """Resize with torchvision's transforms on a pillow image; returns ``uint8 [size, size, 3]``.

    ``"squash"`` is ``Resize((size, size))``; ``"crop"`` is ``Resize(size)`` followed by
    ``CenterCrop(size)`` (bilinear, pillow's antialiasing), so photos match the tutorial's
    preprocessing byte for byte.

    Example:
        >>> fit_image(Image.new("RGB", (40, 20)), 16, "crop").shape
        (16, 16, 3)
    """
    if fit == "squash":
        return np.asarray(TF.resize(image, [size, size], InterpolationMode.BILINEAR))
    resized = TF.resize(image, [size], InterpolationMode.BILINEAR)
    return np.asarray(TF.center_crop(resized, [size, size]))
