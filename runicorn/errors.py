"""Every error Runicorn raises on purpose, in one tree that follows the layers.

    RunicornError                           exit code 1 unless a class says otherwise
    ├── UnsupportedFormat                   a store, run, timeline, tree or bundle version we do not know
    ├── StorageNotFound                     no storage root (no runs/ and no store/) where one was named
    ├── StoreError                          the object store (runicorn.store)
    │   ├── InvalidObjectId  (ValueError)       a malformed id, quoted in the message
    │   ├── ObjectNotFound   (KeyError)         an id the store does not hold
    │   ├── CorruptObject                       bytes that do not hash to their name
    │   ├── GcLocked                            another gc holds the lock
    │   └── GcRefused                           gc will not delete while it cannot see every reference
    ├── RestoreError                        writing stored content into a folder
    │   ├── UnsafePath                          a name or link that would escape its target folder
    │   └── TargetNotEmpty                      a non-empty target without force
    ├── BundleError                         an export bundle that is damaged or hostile
    └── RunError                            runs and their folders
        ├── RunNotFound      (KeyError)         no run matches an id, prefix or alias
        ├── AmbiguousRunId   (ValueError)       a prefix or alias that matches several runs
        ├── RunExists                           init with an existing id and no resume=True
        └── DamagedRun                          a run folder whose files cannot be read as the format says

Messages say what was wrong, with the bad value, and what to do about it.
Argument validation in the SDK raises the builtin ``TypeError``/``ValueError``
that Python users expect; these classes are for conditions of the data. Each
class carries the exit code the CLI uses for it, as click's exceptions do.
"""

from __future__ import annotations


class RunicornError(Exception):
    """Base class of every error Runicorn raises on purpose."""

    exit_code = 1


class UnsupportedFormat(RunicornError):
    """A format version or extension this version of Runicorn does not know."""


class StorageNotFound(RunicornError):
    """A storage root that holds neither runs nor a store: a mistyped path, not an empty root."""


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


class GcLocked(StoreError):
    """Another garbage collection holds the store's gc lock."""


class GcRefused(StoreError):
    """gc cannot see every reference (missing or unreadable objects, damaged run folders), so it deletes nothing."""


class RestoreError(RunicornError):
    """Stored content could not be written into the target folder as asked."""


class UnsafePath(RestoreError):
    """A path that would be written outside its target folder."""


class TargetNotEmpty(RestoreError):
    """Restore refuses to write into a folder that already has files."""


class BundleError(RunicornError):
    """An export bundle that is damaged, truncated or hostile."""


class RunError(RunicornError):
    """A problem with a run or its folder."""


class RunNotFound(RunError, KeyError):
    """No run matches the given id, id prefix or alias."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "run not found"


class AmbiguousRunId(RunError, ValueError):
    """An id prefix or alias that matches more than one run."""


class RunExists(RunError):
    """A run with this id exists and ``resume=True`` was not given."""


class DamagedRun(RunError):
    """A run folder whose files do not read as the run folder format says."""
