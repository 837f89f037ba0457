"""A JobSet pod's entrypoint: sets TF_CONFIG from the pod's index and the JobSet's hostnames, then runs
`src/server_main.py` with this script's arguments (deploy/jobset.yaml).

The JobSet gives pod i of its replicated job the hostname `<jobset>-<replicated job>-0-<i>.<subdomain>` (the
subdomain is the JobSet's name unless set), and Kubernetes gives an indexed job's pod its index in
JOB_COMPLETION_INDEX. Worker 0 is the chief. Environment: WORKERS (the job's pod count), JOBSET_NAME,
REPLICATED_JOB_NAME, JOB_COMPLETION_INDEX; optional SUBDOMAIN and TF_PORT (default 2222).
"""

import json
import os
import sys
from pathlib import Path


def tf_config(env: dict[str, str]) -> dict:
    """The TF_CONFIG of the pod that `env` describes."""
    name, job = env["JOBSET_NAME"], env["REPLICATED_JOB_NAME"]
    subdomain, port = env.get("SUBDOMAIN", name), env.get("TF_PORT", "2222")
    workers = [f"{name}-{job}-0-{index}.{subdomain}:{port}" for index in range(int(env["WORKERS"]))]
    return {"cluster": {"worker": workers}, "task": {"type": "worker", "index": int(env["JOB_COMPLETION_INDEX"])}}


def main():
    try:
        os.environ["TF_CONFIG"] = json.dumps(tf_config(os.environ))
    except (KeyError, ValueError) as error:
        sys.exit(f"error: deploy/jobset_entrypoint.py needs WORKERS, JOBSET_NAME, REPLICATED_JOB_NAME and "
                 f"JOB_COMPLETION_INDEX in its environment ({type(error).__name__}: {error})")
    server_main = Path(__file__).resolve().parent.parent / "src" / "server_main.py"
    os.execv(sys.executable, [sys.executable, str(server_main), *sys.argv[1:]])


if __name__ == "__main__":
    main()
