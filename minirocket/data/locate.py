"""Where data files are found, and where decoded copies are cached.

Data folders are searched in this order:

1. the ``--data-dir`` flag (``data_dir=`` in Python); when given, it is the only place
   searched, so that a mistyped path is an error rather than a silent switch to other data;
2. the environment variable ``MINIROCKET_DATA_DIR``;
3. the ``shared/datasets`` folder beside the source checkout
   (``<checkout>/../shared/datasets``).

Inside a data folder a dataset may sit in a subfolder named after it
(``<folder>/cifar10/cifar10_jpg_q75.tar.xz``) or directly in the folder
(``<folder>/cifar10_jpg_q75.tar.xz``). Adult alone has a last resort: a copy embedded in
the package (CC BY 4.0), used only when no folder holds it; the loader says so.

Decoded arrays are cached in ``cache_dir=``, else ``$MINIROCKET_CACHE_DIR``, else
``~/.cache/minirocket``. Nothing is ever written into a data folder.
"""
import dataclasses
import os
from pathlib import Path

from minirocket.errors import ArgumentTypeError, DataError, arg_error

DATA_DIR_ENV = "MINIROCKET_DATA_DIR"
CACHE_DIR_ENV = "MINIROCKET_CACHE_DIR"

SOURCE_FLAG = "--data-dir"
SOURCE_ENV = "$" + DATA_DIR_ENV
SOURCE_SHARED = "shared/datasets beside the checkout"
SOURCE_EMBEDDED = "copy embedded in the package"

EMBEDDED_DIR = Path(__file__).resolve().parent / "embedded"


def shared_datasets_dir():
    """The ``shared/datasets`` folder beside the source checkout (it may not exist).

    Returns
    -------
    pathlib.Path
        ``<checkout>/../shared/datasets``, where ``<checkout>`` is the folder holding the
        ``minirocket`` package source.
    """
    # locate.py -> data -> minirocket -> checkout; the shared folder is the checkout's sibling.
    return Path(__file__).resolve().parents[2].parent / "shared" / "datasets"


def default_cache_dir():
    """The cache folder used when none is given.

    Returns
    -------
    pathlib.Path
        ``$MINIROCKET_CACHE_DIR`` if set, else ``~/.cache/minirocket``.
    """
    env = os.environ.get(CACHE_DIR_ENV, "").strip()
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "minirocket"


def resolve_cache_dir(cache_dir=None):
    """Return ``cache_dir`` as a Path, or the default cache folder when it is None."""
    if cache_dir is None:
        return default_cache_dir()
    if not isinstance(cache_dir, (str, os.PathLike)):
        raise arg_error("cache_dir", "a folder path (str or os.PathLike) or None", cache_dir,
                        ArgumentTypeError)
    return Path(cache_dir).expanduser()


@dataclasses.dataclass(frozen=True)
class DataDir:
    """A data folder and the rule that selected it.

    Attributes
    ----------
    path : pathlib.Path
        The folder.
    source : str
        One of ``"--data-dir"``, ``"$MINIROCKET_DATA_DIR"``,
        ``"shared/datasets beside the checkout"``.
    """

    path: Path
    source: str


@dataclasses.dataclass(frozen=True)
class DataSource:
    """Where a dataset's files were found.

    Attributes
    ----------
    name : str
        Dataset name (``"cifar10"``, ``"fashion-mnist"``, ``"adult"``).
    folder : pathlib.Path
        The folder holding the files.
    files : tuple of pathlib.Path
        The files found, in the order the loader asked for them.
    source : str
        The rule that found them (see :class:`DataDir`), or
        ``"copy embedded in the package"``.
    message : str
        One line saying where the data came from, for a command line to print.
    """

    name: str
    folder: Path
    files: tuple
    source: str
    message: str

    @property
    def embedded(self):
        """True if the data is the copy shipped inside the package."""
        return self.source == SOURCE_EMBEDDED


def candidate_dirs(flag_value=None):
    """The data folders to search, in order, each with the rule that names it.

    Parameters
    ----------
    flag_value : str or os.PathLike or None
        The ``--data-dir`` value. When given, it is the only candidate.

    Returns
    -------
    list of DataDir
        Candidates that are set; they need not exist.
    """
    if flag_value is not None:
        if not isinstance(flag_value, (str, os.PathLike)) or str(flag_value).strip() == "":
            raise arg_error("data_dir", "a folder path (str or os.PathLike) or None",
                            flag_value, ArgumentTypeError)
        return [DataDir(Path(flag_value).expanduser(), SOURCE_FLAG)]
    out = []
    env = os.environ.get(DATA_DIR_ENV, "").strip()
    if env:
        out.append(DataDir(Path(env).expanduser(), SOURCE_ENV))
    if _in_checkout():
        out.append(DataDir(shared_datasets_dir(), SOURCE_SHARED))
    return out


def _in_checkout():
    """True when the package runs from a source checkout (an editable or in-place install).

    An installed copy lives in site-packages, where "beside the checkout" means nothing.
    """
    return (Path(__file__).resolve().parents[2] / "setup.py").is_file()


def resolve_data_dir(flag_value=None):
    """Pick the data folder: the flag, else ``$MINIROCKET_DATA_DIR``, else shared/datasets.

    Parameters
    ----------
    flag_value : str or os.PathLike or None
        The ``--data-dir`` value, or None when the flag was not given.

    Returns
    -------
    DataDir
        The first candidate folder that exists, and which rule named it.

    Raises
    ------
    DataError
        If no candidate folder exists; the message lists every place looked at.
    """
    cands = candidate_dirs(flag_value)
    for cand in cands:
        if cand.path.is_dir():
            return cand
    looked = "; ".join(f"{c.path} ({c.source})" for c in cands) or \
        f"nowhere ({DATA_DIR_ENV} unset and not run from a checkout)"
    raise DataError(f"no data folder found: looked in {looked}; pass --data-dir or set "
                    f"{DATA_DIR_ENV}")


def locate_dataset(name, alternatives, data_dir=None, *, embedded=False):
    """Find the files of a dataset.

    Parameters
    ----------
    name : str
        Dataset name, also the subfolder name searched in each data folder.
    alternatives : sequence of sequence of str
        Acceptable file sets, best first; each is a list of relative paths that must all
        exist (e.g. ``[["a.gz", "b.gz"], ["a", "b"]]`` accepts gzipped or plain copies).
    data_dir : str or os.PathLike or None
        The ``--data-dir`` value.
    embedded : bool
        If True and no folder holds the dataset, use the copy embedded in the package
        (``minirocket/data/embedded``). Only Adult ships one.

    Returns
    -------
    DataSource

    Raises
    ------
    DataError
        If the dataset is found nowhere; the one-line message lists every place looked at.
    """
    looked = []
    for cand in candidate_dirs(data_dir):
        for folder in (cand.path / name, cand.path):
            looked.append(f"{folder} ({cand.source})")
            found = _first_complete(folder, alternatives)
            if found is not None:
                return DataSource(name, folder, found, cand.source,
                                  f"{name}: using {folder} ({cand.source})")
    if embedded and data_dir is None:
        found = _first_complete(EMBEDDED_DIR, alternatives)
        if found is not None:
            return DataSource(
                name, EMBEDDED_DIR, found, SOURCE_EMBEDDED,
                f"{name}: no data folder holds it, using the {SOURCE_EMBEDDED} "
                f"(CC BY 4.0, see {EMBEDDED_DIR / 'ATTRIBUTION.md'})")
        looked.append(f"{EMBEDDED_DIR} ({SOURCE_EMBEDDED})")
    wanted = " or ".join("+".join(alt) for alt in alternatives)
    hint = "" if data_dir is not None else f"; pass --data-dir or set {DATA_DIR_ENV}"
    places = "; ".join(looked) or f"no folder ({DATA_DIR_ENV} unset, not run from a checkout)"
    raise DataError(f"dataset '{name}' not found: looked for {wanted} in {places}{hint}")


def _first_complete(folder, alternatives):
    if not folder.is_dir():
        return None
    for alt in alternatives:
        paths = tuple(folder / rel for rel in alt)
        if all(p.exists() for p in paths):
            return paths
    return None
