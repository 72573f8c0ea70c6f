"""Every error Runicorn raises on purpose, in one tree.

    RunicornError
    ├── StoreError                      the object store
    │   ├── InvalidObjectId  (ValueError)   a malformed id, quoted in the message
    │   ├── ObjectNotFound   (KeyError)     an id the store does not hold
    │   ├── CorruptObject                   bytes that do not hash to their name
    │   ├── UnsupportedFormat               a store/run/bundle version or extension we do not know
    │   ├── UnsafePath                      a name or link that would escape its target folder
    │   ├── TargetNotEmpty                  restore into a non-empty folder without force
    │   └── GcLocked                        another gc holds the lock
    ├── BundleError                     an export bundle that is damaged or hostile
    └── RunError                        runs and their folders
        ├── RunNotFound      (KeyError)     no run matches an id or prefix
        ├── AmbiguousRunId   (ValueError)   a prefix that matches several runs
        └── RunExists                       init with an existing id and no resume=True

Messages say what was wrong, with the bad value, and what to do about it.
Argument validation in the SDK raises the builtin ``TypeError``/``ValueError``
that Python users expect; these classes are for conditions of the data.
"""

from __future__ import annotations


class RunicornError(Exception):
    """Base class of every error Runicorn raises on purpose."""


class StoreError(RunicornError):
    """A problem with the content-addressed object store."""


class InvalidObjectId(StoreError, ValueError):
    """A string that is not a well-formed object id."""


class ObjectNotFound(StoreError, KeyError):
    """The store holds no object with this id (in ``objects/`` or the trash)."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0]) if self.args else "object not found"


class CorruptObject(StoreError):
    """An object's bytes do not hash to its name."""

    def __init__(self, object_id: str, actual: str | None = None, detail: str = ""):
        self.object_id = object_id
        self.actual = actual
        msg = f"object {object_id} is corrupt"
        if actual:
            msg += f": its bytes hash to {actual}"
        if detail:
            msg += f" ({detail})"
        super().__init__(msg + "; run `runicorn verify` to list every damaged object and the runs that need it")


class UnsupportedFormat(StoreError):
    """A format version or extension this version of Runicorn does not know."""


class UnsafePath(StoreError):
    """A path that would be written outside its target folder."""


class TargetNotEmpty(StoreError):
    """Restore refuses to write into a folder that already has files."""


class GcLocked(StoreError):
    """Another garbage collection holds the store's gc lock."""


class BundleError(RunicornError):
    """An export bundle that is damaged, truncated or hostile."""


class RunError(RunicornError):
    """A problem with a run or its folder."""


class RunNotFound(RunError, KeyError):
    """No run matches the given id or id prefix."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "run not found"


class AmbiguousRunId(RunError, ValueError):
    """An id prefix that matches more than one run."""


class RunExists(RunError):
    """A run with this id exists and ``resume=True`` was not given."""
