"""``python kill_at.py N PATH_PART lusomix-args...``: run the lusomix command line in this process and kill
its whole process group (the run and its helper processes; start it in a new session) with SIGKILL
(kill -9: no handler, no cleanup) right after the Nth file published whose path contains PATH_PART.
Every lusomix writer publishes a finished file whole, by a rename on a local disk and by one upload to an
object store (s3fs), so this stops a pass at a precise point of its output: after some files of the pass
exist and before the others do. Only what this process publishes is counted (not a Ray worker's)."""

from __future__ import annotations

import os
import signal
import sys


def main() -> int:
    limit, part, argv = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
    seen = 0

    def counted(rename):
        def wrapper(src, dst, *args, **kwargs):
            nonlocal seen
            rename(src, dst, *args, **kwargs)
            if part in os.fspath(dst):
                seen += 1
                if seen >= limit:
                    os.killpg(os.getpgid(0), signal.SIGKILL)

        return wrapper

    os.replace, os.rename = counted(os.replace), counted(os.rename)  # shutil.move and fsspec's mv use os.rename
    try:
        import s3fs
    except ImportError:
        pass
    else:  # patched before any S3FileSystem exists: each instance's sync put_file wraps the class's _put_file
        upload = s3fs.S3FileSystem._put_file

        async def put_file(self, lpath, rpath, *args, **kwargs):
            nonlocal seen
            result = await upload(self, lpath, rpath, *args, **kwargs)
            if part in str(rpath):
                seen += 1
                if seen >= limit:
                    os.killpg(os.getpgid(0), signal.SIGKILL)
            return result

        s3fs.S3FileSystem._put_file = put_file
    from lusomix.pipeline.cli import main as lusomix

    return lusomix(argv)


if __name__ == "__main__":
    sys.exit(main())
