# Reads a subunit v2 stream (stestr last --subunit) on stdin and prints one JSON list of
# {"id", "status", "reason"}: status is testtools' (success, skip, fail, xfail, uxsuccess),
# reason the skip reason or the last lines of a failure's traceback.
import json
import sys

import subunit
import testtools


def text(content):
    if content is None:
        return ""
    return b"".join(content.iter_bytes()).decode("utf-8", "replace")


results = []


def on_test(test):
    details = test["details"]
    if test["status"] == "skip":
        reason = text(details.get("reason"))
    elif test["status"] in ("fail", "uxsuccess"):
        lines = text(details.get("traceback")).strip().splitlines()
        reason = "\n".join(lines[-6:])
    else:
        reason = ""
    results.append({"id": test["id"], "status": test["status"], "reason": reason})


stream = subunit.ByteStreamToStreamResult(sys.stdin.buffer, non_subunit_name="stdout")
result = testtools.StreamToDict(on_test)
result.startTestRun()
stream.run(result)
result.stopTestRun()
json.dump(results, sys.stdout)
